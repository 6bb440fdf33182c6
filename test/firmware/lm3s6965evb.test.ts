/**
 * Our firmware on lm3s6965evb, run with qemu-system-arm's arguments through the System API (the same
 * translation from argv as bin/cmemu; the process itself is tested in test/cli/),
 * in real-time and in icount mode (-icount shift=6, the board's shift, as Zephyr's qemu_cortex_m3 runs
 * it). Each program checks itself and reports by exit code; in icount mode the UART output must equal
 * what qemu-system-arm 7.2 printed (firmware/expected/lm3s6965evb/) and be the same on every run.
 * Programs reading input get it from firmware/tests/[<board>/]<prog>.input on stdin.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, firmwarePath } from '../support/run-cmemu.js';
import { runArgs } from '../support/run-system.js';

const BOARD = 'lm3s6965evb';
const input = (prog: string): string | undefined => {
  for (const f of [join(ROOT, 'firmware', 'tests', BOARD, `${prog}.input`), join(ROOT, 'firmware', 'tests', `${prog}.input`)])
    if (existsSync(f)) return readFileSync(f, 'latin1');
  return undefined;
};
// Portable programs, then this board's own (firmware/tests/lm3s6965evb/).
const PROGRAMS: { name: string; exit: number; input?: string }[] = [
  'hello', 'context_switch', 'systick', 'irq_nesting', 'masking', 'faults', 'semihosting', 'uart_echo',
  'cpu_faults', 'unaligned', 'gptm', 'stellaris_uart', 'sysctl',
].map((name) => ({ name, exit: name === 'semihosting' ? 3 : 0, input: input(name) }));

const BASE = ['-M', BOARD, '-cpu', 'cortex-m3', '-nographic', '-semihosting-config', 'enable=on,target=native'];
const ICOUNT = ['-icount', 'shift=6,align=off,sleep=off'];
// sysctl measures three seconds of virtual time, gptm some 300 ms; in icount mode sysctl polls for
// those seconds (~47 million instructions).
const TIMEOUT_MS = 90_000;

// Real-time runs go one at a time with two retries, as for mps2-an385 (host steal time); gptm and
// sysctl compare timers with each other and accept a generous margin.
describe(`firmware on ${BOARD}, real time`, { retry: 2 }, () => {
  for (const p of PROGRAMS) {
    const elf = firmwarePath(BOARD, p.name);
    it(`${p.name} exits ${p.exit}`, { timeout: TIMEOUT_MS + 5_000 }, async () => {
      expect(existsSync(elf), `${elf} is built by make firmware`).toBe(true);
      const r = await runArgs([...BASE, '-kernel', elf], { input: p.input, timeoutMs: TIMEOUT_MS });
      expect(r.stderr).not.toMatch(/error|lockup/i);
      expect(r.code, r.stdout + r.stderr).toBe(p.exit);
      expect(r.stdout).toContain(`PASS: ${p.name}`);
    });
  }
});

describe.concurrent(`firmware on ${BOARD}, icount`, () => {
  // bench_idle (make bench's idle guest: 14 s of guest time) only here: in real time it would take 14 s.
  // bench_irq (30 000 exception entries per guest second): its tick and interrupt counts as QEMU's.
  for (const p of [...PROGRAMS, ...['bench_loop', 'bench_idle', 'bench_irq'].map((name) => ({ name, exit: 0, input: undefined }))]) {
    const elf = firmwarePath(BOARD, p.name);
    it(`${p.name} matches qemu-system-arm byte for byte and is deterministic`, { timeout: 2 * TIMEOUT_MS + 10_000 }, async () => {
      const args = [...BASE, ...ICOUNT, '-kernel', elf];
      const opts = { input: p.input, timeoutMs: TIMEOUT_MS };
      const [a, b] = [await runArgs(args, opts), await runArgs(args, opts)];
      expect(a.code, a.stdout + a.stderr).toBe(p.exit);
      expect(b.stdout).toBe(a.stdout);
      const expected = join(ROOT, 'firmware', 'expected', BOARD, `${p.name}.txt`);
      expect(existsSync(expected), `${expected} holds qemu-system-arm's output`).toBe(true);
      expect(a.stdout).toBe(readFileSync(expected, 'latin1'));
    });
  }
  it('covers every program with an expected output', () => {
    const names = new Set([...PROGRAMS.map((p) => p.name), 'bench_loop', 'bench_idle', 'bench_irq']);
    const expected = readdirSync(join(ROOT, 'firmware', 'expected', BOARD)).filter((f) => f.endsWith('.txt'));
    expect(expected.map((f) => f.slice(0, -4)).filter((n) => !names.has(n))).toEqual([]);
  });
});
