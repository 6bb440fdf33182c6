/**
 * `npm run bench` / `make bench`: cmemu next to qemu-system-arm on the same ELF, in the same run.
 * Figures are wall-clock medians over several runs; machines are shared and noisy, so read the ratios.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cmemu = join(root, 'bin', 'cmemu');
const QEMU = '/usr/bin/qemu-system-arm';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function timeRun(cmd: string, args: string[], expectOut: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 || !r.stdout.includes(expectOut)) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.slice(-300)}`);
  }
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const cases = [
  { name: 'bench_loop (CRC, sort, memcpy; ~300M insns), real time', extra: [] as string[], prog: 'bench_loop', marker: 'PASS: bench_loop' },
  { name: 'bench_loop, -icount shift=7,align=off,sleep=off', extra: ['-icount', 'shift=7,align=off,sleep=off'], prog: 'bench_loop', marker: 'PASS: bench_loop' },
  { name: 'hello (start-up cost), real time', extra: [], prog: 'hello', marker: 'PASS: hello' },
];

const haveQemu = existsSync(QEMU);
if (!haveQemu) process.stdout.write(`note: ${QEMU} is missing: printing cmemu figures only (make deps installs it)\n`);
process.stdout.write(`${'case'.padEnd(58)} ${'cmemu ms'.padStart(9)} ${'qemu ms'.padStart(9)} ${'cmemu/qemu'.padStart(11)}\n`);
for (const c of cases) {
  const elf = join(root, 'firmware', 'build', 'mps2-an385', `${c.prog}.elf`);
  const args = ['-M', 'mps2-an385', '-cpu', 'cortex-m3', '-nographic', '-semihosting-config', 'enable=on,target=native', ...c.extra, '-kernel', elf];
  const cm: number[] = [];
  const qm: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    cm.push(timeRun(process.execPath, [cmemu, ...args], c.marker));
    if (haveQemu) qm.push(timeRun(QEMU, args, c.marker));
  }
  const a = median(cm);
  const b = haveQemu ? median(qm) : NaN;
  process.stdout.write(`${c.name.padEnd(58)} ${a.toFixed(0).padStart(9)} ${haveQemu ? b.toFixed(0).padStart(9) : '-'.padStart(9)} ${haveQemu ? (a / b).toFixed(2).padStart(11) : '-'.padStart(11)}\n`);
}
