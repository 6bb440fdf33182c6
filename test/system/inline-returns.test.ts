/**
 * Exception returns done inside the native run (Machine.inlineReturn through setReturnCallback)
 * must not change what the guest does: the same programs with the fast path declined (a
 * breakpoint that is never hit turns it off, as debugging does) give the same console, exit code,
 * instruction count and virtual time, byte for byte, in icount mode; and the fast path is taken.
 */
import { describe, expect, it } from 'vitest';
import { firmwarePath } from '../support/run-cmemu.js';
import { runArgs } from '../support/run-system.js';
import type { System } from '../../src/system/system.js';

const ICOUNT = ['-icount', 'shift=7,align=off,sleep=off'];
const CASES: { board: string; programs: string[] }[] = [
  { board: 'mps2-an385', programs: ['irq_nesting', 'context_switch', 'masking', 'faults', 'mpu_userscs'] },
  { board: 'lm3s6965evb', programs: ['irq_nesting', 'context_switch', 'systick'] },
];

interface Seen {
  stdout: string;
  code: number | null;
  instructions: number;
  now: number;
  inline: number;
}

async function run(board: string, name: string, fastPath: boolean): Promise<Seen> {
  const args = ['-M', board, '-nographic', '-semihosting-config', 'enable=on,target=native', ...ICOUNT, '-kernel', firmwarePath(board, name)];
  let instructions = 0;
  let now = 0;
  let inline = 0;
  const stats = (sys: System) => (sys.machine.native as unknown as { stats(): { inlineReturns: number } }).stats();
  const r = await runArgs(args, {
    // An address no program reaches (the top of the system region): a breakpoint there is never hit.
    before: (sys) => (fastPath ? undefined : sys.setDebugBreakpoints([0xfffffff0])),
    after: (sys) => {
      instructions = sys.instructions();
      now = sys.now();
      inline = stats(sys).inlineReturns;
    },
  });
  return { stdout: r.stdout, code: r.code, instructions, now, inline };
}

describe.concurrent('exception returns inside the native run', () => {
  for (const { board, programs } of CASES) {
    for (const name of programs) {
      it(`${board} ${name}: the same console, instructions and virtual time with and without the fast path`, async () => {
        const fast = await run(board, name, true);
        const slow = await run(board, name, false);
        expect(fast.code, fast.stdout).toBe(0);
        expect(fast.stdout).toContain(`PASS: ${name}`);
        expect(slow.inline).toBe(0);
        expect(fast.inline).toBeGreaterThan(0);
        expect({ ...fast, inline: 0 }).toEqual({ ...slow, inline: 0 });
      });
    }
  }
});
