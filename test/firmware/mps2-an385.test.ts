/**
 * Our firmware on mps2-an385, run with qemu-system-arm's arguments through the System API (the same
 * translation from argv as bin/cmemu; the process itself is tested in test/cli/),
 * in real-time and in icount mode. Each program checks itself and reports by exit code; in icount
 * mode the UART output must equal what qemu-system-arm 7.2 printed (firmware/expected/<board>/) and be the
 * same on every run.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, firmwarePath } from '../support/run-cmemu.js';
import { runArgs } from '../support/run-system.js';

const BOARD = 'mps2-an385';
const PROGRAMS: { name: string; exit: number; input?: string }[] = [
  { name: 'hello', exit: 0 },
  { name: 'context_switch', exit: 0 },
  { name: 'systick', exit: 0 },
  { name: 'irq_nesting', exit: 0 },
  { name: 'masking', exit: 0 },
  { name: 'faults', exit: 0 },
  { name: 'cpu_faults', exit: 0 },
  { name: 'unaligned', exit: 0 },
  { name: 'semihosting', exit: 3 },
  { name: 'uart_echo', exit: 0, input: 'abc\n' },
  { name: 'cmsdk_timer', exit: 0 },
  { name: 'watchdog', exit: 0 },
  { name: 'uart1', exit: 0 },
  { name: 'mpu_region', exit: 0 },
  { name: 'mpu_stackguard', exit: 0 },
  { name: 'mpu_userscs', exit: 0 },
];

const BASE = ['-M', BOARD, '-cpu', 'cortex-m3', '-nographic', '-semihosting-config', 'enable=on,target=native'];
const ICOUNT = ['-icount', 'shift=7,align=off,sleep=off'];

// Real-time runs go one at a time: they measure host time, and this suite must not overload a
// 2-core machine (icount runs do not depend on load and run side by side). On a shared VM the host
// can still stall us past a 1 ms SysTick period (steal time), which a program checking COUNTFLAG
// in every handler notices: such a test gets two more tries. The exact, load-independent check of
// the same programs is the icount suite below.
describe(`firmware on ${BOARD}, real time`, { retry: 2 }, () => {
  for (const p of PROGRAMS) {
    const elf = firmwarePath(BOARD, p.name);
    it(`${p.name} exits ${p.exit}`, async () => {
      expect(existsSync(elf), `${elf} is built by make firmware`).toBe(true);
      const r = await runArgs([...BASE, '-kernel', elf], { input: p.input });
      expect(r.stderr).not.toMatch(/error|lockup/i);
      expect(r.code, r.stdout + r.stderr).toBe(p.exit);
      expect(r.stdout).toContain(`PASS: ${p.name}`);
      // Input must reach a guest idling in WFI as soon as it is there, not when some unrelated
      // event-loop timer fires (a bug once made uart_echo take 8 s; it needs ~0.2 s).
      if (p.input !== undefined) expect(r.ms, 'time to echo piped input').toBeLessThan(4000);
    });
  }
});

describe.concurrent(`firmware on ${BOARD}, icount`, () => {
  // bench_idle (make bench's idle guest: 14 s of guest time) only here: in real time it would take 14 s.
  // bench_irq (30 000 exception entries per guest second): its tick and interrupt counts as QEMU's.
  for (const p of [...PROGRAMS, { name: 'bench_loop', exit: 0 }, { name: 'bench_idle', exit: 0 }, { name: 'bench_irq', exit: 0 }]) {
    const elf = firmwarePath(BOARD, p.name);
    it(`${p.name} matches qemu-system-arm byte for byte and is deterministic`, async () => {
      const args = [...BASE, ...ICOUNT, '-kernel', elf];
      const input = 'input' in p ? p.input : undefined;
      const [a, b] = [await runArgs(args, { input }), await runArgs(args, { input })];
      expect(a.code, a.stdout + a.stderr).toBe(p.exit);
      expect(b.stdout).toBe(a.stdout);
      const expected = join(ROOT, 'firmware', 'expected', BOARD, `${p.name}.txt`);
      expect(existsSync(expected), `${expected} holds qemu-system-arm's output`).toBe(true);
      expect(a.stdout).toBe(readFileSync(expected, 'latin1'));
    });
  }
});
