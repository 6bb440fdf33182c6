/**
 * `npm run bench` / `make bench`: cmemu next to qemu-system-arm on the same ELF, in the same run.
 * Figures are wall-clock medians over several runs; machines are shared and noisy, so read the ratios.
 * Then the ivshmem round trip: the firmware ping-pong between two boards (each a bin/cmemu process)
 * next to the host-only floor (two native peers ringing eventfds through the same server).
 * `node dist/bench/run.js ivshmem` runs only that part. BENCH_PP_N: messages per ping-pong run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PingPongPair, parseRtt, pickBoards, wallMeanUs } from './pingpong.js';
import { type FloorResult, measureFloor } from './ivshmem-floor.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cmemu = join(root, 'bin', 'cmemu');
const QEMU = '/usr/bin/qemu-system-arm';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PP_N = Number(process.env.BENCH_PP_N ?? 5000);
const only = process.argv[2];

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
if (only === undefined) {
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
}

// ---- ivshmem round trip --------------------------------------------------------------------------

/** The host-only floor: two native peers ringing eventfds through the same server (ivshmem-floor.ts). */
async function floor(iterations: number): Promise<FloorResult & { source: string }> {
  return { ...(await measureFloor(iterations)), source: 'ivshmem-floor.ts' };
}

async function pingpongOnce(boards: [string, string]): Promise<{ medianUs: number; p99Us: number; wallMeanUs: number }> {
  const pair = new PingPongPair({ n: PP_N, boards });
  try {
    await pair.start();
    await Promise.race([
      Promise.all([pair.initiator.exited, pair.responder.exited]),
      new Promise((_, reject) => setTimeout(() => reject(new Error('ping-pong: no result within 120 s')), 120_000)),
    ]);
    const rtt = parseRtt(pair.initiator.out);
    if (pair.initiator.exitCode !== 0 || pair.responder.exitCode !== 0 || !rtt) {
      throw new Error(`ping-pong failed (initiator exit ${pair.initiator.exitCode}, responder exit ${pair.responder.exitCode}):\n${pair.initiator.tail(600)}`);
    }
    return { ...rtt, wallMeanUs: wallMeanUs(pair.initiator, PP_N) ?? NaN };
  } finally {
    await pair.close();
  }
}

if (only === undefined || only === 'ivshmem') {
  const boards = pickBoards();
  const fw: { medianUs: number; p99Us: number; wallMeanUs: number }[] = [];
  const fl: (FloorResult & { source: string })[] = [];
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    fw.push(await pingpongOnce(boards));
    fl.push(await floor(PP_N));
  }
  const fwMed = median(fw.map((r) => r.medianUs));
  const fwP99 = median(fw.map((r) => r.p99Us));
  const flMed = median(fl.map((r) => r.medianUs));
  const flP99 = median(fl.map((r) => r.p99Us));
  const name = `ivshmem round trip, us (median of ${fw.length} runs x ${PP_N} msgs)`;
  process.stdout.write(`\n${name.padEnd(58)} ${'median'.padStart(9)} ${'p99'.padStart(9)}\n`);
  process.stdout.write(`${`firmware ping-pong, ${boards.join(' <-> ')}, SysTick`.padEnd(58)} ${fwMed.toFixed(1).padStart(9)} ${fwP99.toFixed(1).padStart(9)}\n`);
  process.stdout.write(`${'  same by the host clock: mean (link up to last reply)'.padEnd(58)} ${median(fw.map((r) => r.wallMeanUs)).toFixed(1).padStart(9)} ${'-'.padStart(9)}\n`);
  process.stdout.write(`${`host-only floor, eventfds + ppoll (${fl[0]!.source})`.padEnd(58)} ${flMed.toFixed(1).padStart(9)} ${flP99.toFixed(1).padStart(9)}\n`);
  process.stdout.write(`${'firmware host-clock mean / floor median'.padEnd(58)} ${(median(fw.map((r) => r.wallMeanUs)) / flMed).toFixed(2).padStart(9)} ${'-'.padStart(9)}\n`);
  process.stdout.write(`${'firmware SysTick / floor (target <= 2)'.padEnd(58)} ${(fwMed / flMed).toFixed(2).padStart(9)} ${(fwP99 / flP99).toFixed(2).padStart(9)}\n`);
}
