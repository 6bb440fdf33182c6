/**
 * `make bench` (fourth part) / `node dist/bench/trace.js`: what -d in_asm and -d exec cost, under
 * cmemu and qemu-system-arm with the same flags, on bench_short (short blocks, CoreMark's shape),
 * icount mode, the log to /dev/null. Wall seconds, median of BENCH_TRACE_RUNS (default 1) runs,
 * alternating, and QEMU's time over cmemu's (above 1: cmemu is faster).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNS = Number(process.env.BENCH_TRACE_RUNS ?? 1);
const elf = join(root, 'firmware', 'build', 'mps2-an385', 'bench_short.elf');
const base = ['-M', 'mps2-an385', '-nographic', '-kernel', elf, '-semihosting-config', 'enable=on,target=native', '-icount', 'shift=7,align=off,sleep=off'];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const haveQemu = existsSync('/usr/bin/qemu-system-arm');

function time(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0 || !String(r.stdout).includes('PASS: bench_short')) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${String(r.stderr).slice(0, 500)}`);
  return s;
}

console.log(`\nTraces: bench_short on mps2-an385, icount, -D /dev/null, wall seconds (median of ${RUNS})`);
console.log('| flags | cmemu | qemu-system-arm | qemu / cmemu |');
console.log('|---|---|---|---|');
for (const flags of [[], ['-d', 'in_asm'], ['-d', 'exec']]) {
  const c: number[] = [];
  const q: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    c.push(time(join(root, 'bin', 'cmemu'), [...base, ...flags, '-D', '/dev/null']));
    if (haveQemu) q.push(time('qemu-system-arm', [...base, ...flags, '-D', '/dev/null']));
  }
  const name = flags.length ? flags.join(' ') : '(none)';
  const cm = median(c);
  const qm = haveQemu ? median(q) : NaN;
  console.log(`| ${name} | ${cm.toFixed(2)} | ${haveQemu ? qm.toFixed(2) : 'n/a'} | ${haveQemu ? (qm / cm).toFixed(2) : 'n/a'} |`);
}
