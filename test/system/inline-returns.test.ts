/**
 * Exception returns done inside the native run (Machine.inlineReturn through setReturnCallback)
 * must not change what the guest does: the same programs with the fast path declined (a
 * breakpoint that is never hit turns it off, as debugging does) give the same console, exit code,
 * instruction count and virtual time, byte for byte, in icount mode; and the fast path is taken.
 */
import { describe, expect, it } from 'vitest';
import { firmwarePath } from '../support/run-cmemu.js';
import { runToExit, type FinalState } from '../support/run-system.js';
import type { System } from '../../src/system/system.js';

const CASES: { board: string; programs: string[] }[] = [
  { board: 'mps2-an385', programs: ['irq_nesting', 'context_switch', 'masking', 'faults', 'mpu_userscs'] },
  { board: 'lm3s6965evb', programs: ['irq_nesting', 'context_switch', 'systick'] },
];

async function run(board: string, name: string, fastPath: boolean): Promise<FinalState & { inline: number }> {
  let inline = 0;
  const stats = (sys: System) => (sys.machine.native as unknown as { stats(): { inlineReturns: number } }).stats();
  const r = await runToExit(board, firmwarePath(board, name), {
    // An address no program reaches (the top of the system region): a breakpoint there is never hit.
    before: (sys) => (fastPath ? undefined : sys.setDebugBreakpoints([0xfffffff0])),
    after: (sys) => (inline = stats(sys).inlineReturns),
  });
  return { ...r, inline };
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
