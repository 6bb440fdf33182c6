/**
 * Parity with qemu-system-arm: every firmware program built for every board (firmware/build/<board>/
 * <prog>.elf, discovered, not listed here) runs under qemu-system-arm and under cmemu with the
 * same arguments (cmemu through the System API, with the CLI's own argv translation: runArgs), in icount mode with the board's shift (firmware/qemu-run.sh --icount-shift), and
 * must print the same UART output, byte for byte, and exit with the same code.
 *
 * - Only programs that run on their own: those `make -C firmware BOARD=<board> list` names (the
 *   Makefile's PROGS); others that are built (ivshmem_pingpong needs a peer) are reported and skipped.
 * - Programs with input (firmware/tests/[<board>/]<prog>.input) get it on stdin, with the serial port on
 *   stdio directly (-monitor none -serial stdio: QEMU 7.2's stdio multiplexer loses piped input now
 *   and then); the others run with plain -nographic.
 * - At most two emulator processes at a time (a 2-core machine): each program runs QEMU and cmemu side
 *   by side, programs one after another. bench_loop is included, with a 180 s timeout per run.
 * - Skipped, loudly, when qemu-system-arm is not installed; a board cmemu does not list in `-M help`
 *   is skipped loudly too.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CMEMU, ROOT, haveQemu, runProcess, type RunResult } from '../support/run-cmemu.js';
import { runArgs } from '../support/run-system.js';

const FIRMWARE = join(ROOT, 'firmware');
const QEMU = '/usr/bin/qemu-system-arm';
const TIMEOUT_MS = 60_000;
const SLOW: Record<string, number> = { bench_loop: 180_000 };
const MAX_PROCS = 2;

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: FIRMWARE, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return '';
  }
}

const boards = existsSync(join(FIRMWARE, 'build'))
  ? readdirSync(join(FIRMWARE, 'build')).filter((b) => readdirSync(join(FIRMWARE, 'build', b)).some((f) => f.endsWith('.elf'))).sort()
  : [];
const cmemuBoards = sh(process.execPath, [CMEMU, '-M', 'help']);

let running = 0;
const waiting: (() => void)[] = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  while (running >= MAX_PROCS) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function inputOf(board: string, prog: string): string | undefined {
  for (const f of [join(FIRMWARE, 'tests', board, `${prog}.input`), join(FIRMWARE, 'tests', `${prog}.input`)])
    if (existsSync(f)) return f;
  return undefined;
}

/** The first differing line with two lines of context on each side. */
function shortDiff(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  const from = Math.max(0, i - 2);
  const out = [`first difference at line ${i + 1}:`];
  for (let k = from; k < i; k++) out.push(`  ${JSON.stringify(x[k])}`);
  for (let k = i; k < Math.min(x.length, i + 3); k++) out.push(`- ${JSON.stringify(x[k])}  (qemu-system-arm)`);
  for (let k = i; k < Math.min(y.length, i + 3); k++) out.push(`+ ${JSON.stringify(y[k])}  (cmemu)`);
  return out.join('\n');
}

if (!haveQemu()) {
  console.warn(`\n*** qemu-parity: ${QEMU} is not installed: the parity tests are SKIPPED ***\n`);
}

/** `q` is `c` with some bytes missing (in order): what a reference that dropped output looks like. */
function lostBytesOf(q: string, c: string): boolean {
  if (q.length >= c.length) return false;
  let j = 0;
  for (let i = 0; i < c.length && j < q.length; i++) if (c[i] === q[j]) j++;
  return j === q.length;
}

describe.skipIf(!haveQemu())('parity with qemu-system-arm (icount mode)', () => {
  it('finds boards with firmware built', () => {
    expect(boards.length, 'firmware/build/<board>/*.elf: run make firmware').toBeGreaterThan(0);
  });
  for (const board of boards) {
    const supported = new RegExp(`^${board}\\s`, 'm').test(cmemuBoards);
    const shift = sh(join(FIRMWARE, 'qemu-run.sh'), ['--icount-shift', board]);
    const standalone = new Set(sh('make', ['--no-print-directory', '-s', `BOARD=${board}`, 'list']).split(/\s+/).filter(Boolean));
    const built = readdirSync(join(FIRMWARE, 'build', board)).filter((f) => f.endsWith('.elf')).map((f) => f.slice(0, -4)).sort();
    describe.concurrent(`${board} (-icount shift=${shift})`, () => {
      it('knows the board\'s icount shift', () => expect(shift).toMatch(/^\d+$/));
      // Firmware is built for a board cmemu must model: a missing board is a failure, not a skip.
      it('is a board cmemu lists (-M help)', () => expect(supported, cmemuBoards).toBe(true));
      for (const prog of built) {
        if (!standalone.has(prog)) {
          it.skip(`${prog}: not a standalone program (not in make list)`, () => {});
          continue;
        }
        const test = it;
        const timeout = SLOW[prog] ?? TIMEOUT_MS;
        test(`${prog}: same UART output and exit code as qemu-system-arm`, { timeout: timeout + 10_000 }, async () => {
          const input = inputOf(board, prog);
          const serial = input ? ['-nographic', '-monitor', 'none', '-serial', 'stdio'] : ['-nographic'];
          const args = ['-M', board, '-cpu', 'cortex-m3', ...serial, '-semihosting-config', 'enable=on,target=native',
            '-icount', `shift=${shift},align=off,sleep=off`, '-kernel', join(FIRMWARE, 'build', board, `${prog}.elf`)];
          const text = input ? readFileSync(input, 'latin1') : undefined;
          const opts = { input: text, timeoutMs: timeout };
          let [q, c]: RunResult[] = await Promise.all([
            limited(() => runProcess(QEMU, args, opts)),
            limited(() => runArgs(args, opts)),
          ]);
          // The reference itself: on a loaded machine qemu-system-arm now and then exits (semihosting)
          // before its stdio chardev wrote the last bytes (seen: mpu_userscs without its final '\n'),
          // or resets the machine (watchdog) with bytes still in flight (seen: "waiting for the
          // watch" + the next boot's banner, 19 bytes gone). Its output has only lost bytes then:
          // it is a subsequence of cmemu's. Run it again, up to twice, while that is so. cmemu must
          // still equal a qemu-system-arm run byte for byte.
          for (let again = 0; again < 2 && c.stdout !== q.stdout && lostBytesOf(q.stdout, c.stdout); again++) {
            q = await limited(() => runProcess(QEMU, args, opts));
          }
          expect(q.signal, `qemu-system-arm timed out or was killed\n${q.stderr}`).toBeNull();
          if (c.stdout !== q.stdout) expect.fail(`${board}/${prog}: UART output differs (exit codes: qemu ${q.code}, cmemu ${c.code}, after ${c.ms} ms)\n${shortDiff(q.stdout, c.stdout)}\ncmemu stderr: ${c.stderr.slice(0, 500)}`);
          expect(c.code, `exit code (qemu-system-arm: ${q.code}); cmemu stderr: ${c.stderr.slice(0, 500)}`).toBe(q.code);
        });
      }
    });
  }
});
