/**
 * `npm run bench` / `make bench`: cmemu next to qemu-system-arm on the same ELF, in the same run.
 * Figures are wall-clock medians over several runs; machines are shared and noisy, so read the ratios.
 * Then the ivshmem round trip: the firmware ping-pong between two boards (each a bin/cmemu process)
 * next to the host-only floor (two native peers ringing eventfds through the same server).
 * `node dist/bench/run.js ivshmem` runs only that part, `... speed` only the speed table, `... startup` only
 * the start-up figures, `... idle` only the idle guest in icount mode (bench_idle: guest seconds per host
 * second), `... irq` only the interrupt-heavy guest. BENCH_PP_N: messages per ping-pong run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PingPongPair, parseRtt, pickBoards, wallMeanUs } from './pingpong.js';
import { type FloorResult, measureFloor } from './ivshmem-floor.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cmemu = join(root, 'bin', 'cmemu');
const QEMU = '/usr/bin/qemu-system-arm';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PP_N = Number(process.env.BENCH_PP_N ?? 5000);
const only = process.argv[2];

const BARE = join(root, 'build', 'bench', 'bare');
const ICOUNT = ['-icount', 'shift=7,align=off,sleep=off'];

/** One run to its exit: wall ms and stdout; a wrong exit status or a missing `expectOut` throws. */
function spawnTimed(cmd: string, args: string[], expectOut: string, okStatus = [0]): { ms: number; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!okStatus.includes(r.status ?? -1) || !r.stdout.includes(expectOut)) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.slice(-300)}`);
  }
  return { ms, stdout: r.stdout };
}

function timeRun(cmd: string, args: string[], expectOut: string, okStatus = [0]): number {
  return spawnTimed(cmd, args, expectOut, okStatus).ms;
}

/** Process start to the first complete line on stdout (ms), then waits for the exit. */
function firstLine(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], env });
    let at = NaN;
    let buf = '';
    p.stdout.setEncoding('latin1');
    p.stdout.on('data', (d: string) => {
      if (!Number.isNaN(at)) return;
      buf += d;
      if (buf.includes('\n')) at = Number(process.hrtime.bigint() - t0) / 1e6;
    });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 && !Number.isNaN(at) ? resolve(at) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}`))));
  });
}

/** Peak RSS (MB) of one run, from GNU time. */
function peakRssMb(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const r = spawnSync('/usr/bin/time', ['-f', 'maxrss %M', cmd, ...args], { encoding: 'latin1', stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000, env });
  const m = /maxrss (\d+)/.exec(r.stderr);
  return m ? Number(m[1]) / 1024 : NaN;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const pad = (x: string, n: number) => x.padStart(n);
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

const haveQemu = existsSync(QEMU);
const haveBare = existsSync(BARE);
if (only === undefined || only === 'speed' || only === 'startup') {
  if (!haveQemu) process.stdout.write(`note: ${QEMU} is missing: no QEMU column (make deps installs it)\n`);
  if (!haveBare) process.stdout.write(`note: ${BARE} is missing: no bare-engine column (make bare builds it)\n`);
  const base = ['-M', 'mps2-an385', '-cpu', 'cortex-m3', '-nographic', '-semihosting-config', 'enable=on,target=native'];
  const elfOf = (prog: string) => join(root, 'firmware', 'build', 'mps2-an385', `${prog}.elf`);
  // Each engine's fixed cost (process start to exit on hello.elf), for the ratios net of it.
  const hello = elfOf('hello');
  const fixed = { cm: [] as number[], bare: [] as number[], q: [] as number[] };
  for (let i = 0; i < Math.max(RUNS, 5); i++) {
    fixed.cm.push(timeRun(process.execPath, [cmemu, ...base, '-kernel', hello], 'PASS: hello'));
    if (haveBare) fixed.bare.push(timeRun(BARE, ['--virtual-tlb', hello], 'PASS: hello'));
    if (haveQemu) fixed.q.push(timeRun(QEMU, [...base, '-kernel', hello], 'PASS: hello'));
  }
  // The least of the runs: a fixed cost is what a run cannot go below (a loaded machine only adds).
  const fixCm = Math.min(...fixed.cm);
  const fixBare = haveBare ? Math.min(...fixed.bare) : NaN;
  const fixQ = haveQemu ? Math.min(...fixed.q) : NaN;
  process.stdout.write(
    `median of ${RUNS} alternating runs; wall ms (guest MIPS); bare = the same libunicorn.a with no hooks (native/bench/bare.c)\n` +
      `ratios are speeds (reference time / cmemu time: > 1 means cmemu is faster); "net": each engine's hello.elf run\n` +
      `(process start to exit, least of the runs: cmemu ${f0(fixCm)} ms, bare ${f0(fixBare)} ms, qemu ${f0(fixQ)} ms) taken off its time first\n` +
      `${'workload, mode'.padEnd(24)} ${pad('cmemu', 13)} ${pad('bare', 13)} ${pad('qemu', 13)} ${pad('cm/bare', 8)} ${pad('cm/qemu', 8)} ${pad('bare/qemu', 9)} ${pad('net c/b', 8)} ${pad('net c/q', 8)}\n`,
  );
  const workloads = [
    { prog: 'bench_short', marker: 'PASS: bench_short', note: 'short blocks (CoreMark-shaped)' },
    { prog: 'bench_loop', marker: 'bench_loop', note: 'long blocks' },
  ];
  for (const w of only === 'startup' ? [] : workloads) {
    const elf = elfOf(w.prog);
    // Guest instructions, once (for MIPS), from the bare engine in the mode it is timed in; every
    // timed bare run must print the program's PASS line, as cmemu's and QEMU's must.
    let insns = NaN;
    if (haveBare) {
      const r = spawnSync(BARE, ['--count', '--virtual-tlb', elf], { encoding: 'latin1', stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
      const m = /bare: (\d+) instructions/.exec(r.stderr);
      if (m) insns = Number(m[1]);
    }
    const t = { rt: [] as number[], ic: [] as number[], qrt: [] as number[], qic: [] as number[], bare: [] as number[] };
    const marker = w.prog === 'bench_loop' ? 'PASS: bench_loop' : w.marker;
    for (let i = 0; i < RUNS; i++) {
      t.rt.push(timeRun(process.execPath, [cmemu, ...base, '-kernel', elf], marker));
      if (haveQemu) t.qrt.push(timeRun(QEMU, [...base, '-kernel', elf], marker));
      if (haveBare) t.bare.push(timeRun(BARE, ['--virtual-tlb', elf], marker));
      t.ic.push(timeRun(process.execPath, [cmemu, ...base, ...ICOUNT, '-kernel', elf], marker));
      if (haveQemu) t.qic.push(timeRun(QEMU, [...base, ...ICOUNT, '-kernel', elf], marker));
    }
    const bare = haveBare ? median(t.bare) : NaN;
    const mips = (ms: number) => (Number.isFinite(insns) ? insns / ms / 1000 : NaN);
    const cell = (ms: number) => pad(`${f0(ms)} (${f0(mips(ms))})`, 13);
    for (const [mode, cm, q] of [['real time', median(t.rt), haveQemu ? median(t.qrt) : NaN], ['icount', median(t.ic), haveQemu ? median(t.qic) : NaN]] as const) {
      const name = `${w.prog}, ${mode}`;
      const netB = (bare - fixBare) / (cm - fixCm);
      const netQ = (q - fixQ) / (cm - fixCm);
      process.stdout.write(
        `${name.padEnd(24)} ${cell(cm)} ${cell(bare)} ${cell(q)} ${pad(f2(bare / cm), 8)} ${pad(f2(q / cm), 8)} ${pad(f2(q / bare), 9)} ${pad(f2(netB), 8)} ${pad(f2(netQ), 8)}\n`,
      );
    }
    process.stdout.write(`  (${w.note}, ${Number.isFinite(insns) ? (insns / 1e6).toFixed(0) + 'M' : '?'} insns)\n`);
  }
  // Start-up: process start to the first UART line of hello.elf, real time; peak RSS.
  // NODE_EXTRA_CA_CERTS (set on some CI and sandbox machines) makes Node parse that CA file before
  // it runs anything: ~70 ms here, which cmemu (no TLS) does not need. The figure is without it, and
  // Node's own start (`node -e ...` printing a line) is printed as the floor.
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const su = { cm: [] as number[], q: [] as number[], node: [] as number[] };
  for (let i = 0; i < Math.max(RUNS, 7); i++) {
    su.cm.push(await firstLine(process.execPath, [cmemu, ...base, '-kernel', hello], env));
    if (haveQemu) su.q.push(await firstLine(QEMU, [...base, '-kernel', hello]));
    su.node.push(await firstLine(process.execPath, ['-e', 'console.log(1)'], env));
  }
  const cmSu = median(su.cm);
  const qSu = haveQemu ? median(su.q) : NaN;
  process.stdout.write(`\n${'start-up to first UART line, ms'.padEnd(44)} ${pad('cmemu', 8)} ${pad('qemu', 8)} ${pad('cm/qemu', 8)}\n`);
  process.stdout.write(`${'  hello.elf, real time (target <= 2)'.padEnd(44)} ${pad(f0(cmSu), 8)} ${pad(f0(qSu), 8)} ${pad(f2(cmSu / qSu), 8)}\n`);
  process.stdout.write(`${'  floor: node -e, printing one line'.padEnd(44)} ${pad(f0(median(su.node)), 8)} ${pad('', 8)} ${pad(f2(median(su.node) / qSu), 8)}\n`);
  if (process.env.NODE_EXTRA_CA_CERTS) process.stdout.write('  (NODE_EXTRA_CA_CERTS is set here; the cmemu and node figures are without it: Node parses that CA file first, ~70 ms here)\n');
  const rssC = peakRssMb(process.execPath, [cmemu, ...base, '-kernel', elfOf('bench_short')], env);
  const rssQ = haveQemu ? peakRssMb(QEMU, [...base, '-kernel', elfOf('bench_short')]) : NaN;
  process.stdout.write(`${'peak RSS, MB: bench_short (target <= 1.3)'.padEnd(44)} ${pad(f0(rssC), 8)} ${pad(f0(rssQ), 8)} ${pad(f2(rssC / rssQ), 8)}\n`);
}

// ---- idle guest in icount mode ---------------------------------------------------------------------

if (only === undefined || only === 'idle') {
  // bench_idle: a line per 500 ms of guest time, WFI between SysTick ticks at 100 Hz then 10 kHz (shaped
  // like Zephyr's synchronization sample under twister). With sleep=off a sleeping guest's clock jumps
  // to the next deadline at once, so host time is the cost of each idle period.
  const args = (board: string) => ['-M', board, '-cpu', 'cortex-m3', '-nographic', '-semihosting-config', 'enable=on,target=native', ...ICOUNT,
    '-kernel', join(root, 'firmware', 'build', board, 'bench_idle.elf')];
  const guestS = (out: string) => (out.match(/^thread_[ab]: /gm)?.length ?? 0) * 0.5;
  process.stdout.write(`\n${'idle guest, icount (bench_idle), guest s per host s'.padEnd(52)} ${pad('cmemu', 8)} ${pad('qemu', 8)} ${pad('cm/qemu', 8)}\n`);
  for (const board of ['mps2-an385', 'lm3s6965evb']) {
    const run = (cmd: string, a: string[]): number => {
      const r = spawnTimed(cmd, a, 'PASS: bench_idle');
      return guestS(r.stdout) / (r.ms / 1e3);
    };
    const cm: number[] = [];
    const q: number[] = [];
    for (let i = 0; i < Math.max(RUNS, 3); i++) {
      cm.push(run(process.execPath, [cmemu, ...args(board)]));
      if (haveQemu) q.push(run(QEMU, args(board)));
    }
    const c = median(cm);
    const qq = haveQemu ? median(q) : NaN;
    process.stdout.write(`${`  ${board}, ${ICOUNT[1]} (target >= 1)`.padEnd(52)} ${pad(f2(c), 8)} ${pad(f2(qq), 8)} ${pad(f2(c / qq), 8)}\n`);
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
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all([pair.initiator.exited, pair.responder.exited]),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('ping-pong: no result within 120 s')), 120_000);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
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
  process.stdout.write(`${'firmware SysTick / floor (targets: median <= 2, p99 <= 3)'.padEnd(58)} ${(fwMed / flMed).toFixed(2).padStart(9)} ${(fwP99 / flP99).toFixed(2).padStart(9)}\n`);
}

// ---- interrupt-heavy guest ------------------------------------------------------------------------

// bench_irq: 10 kHz SysTick, each tick a preempting external interrupt and a PendSV context switch
// (30 000 exception entries per guest second), never idle: host time per guest second, icount.
if (only === undefined || only === 'irq') {
  if (!haveQemu) process.stdout.write(`note: ${QEMU} is missing: no QEMU column\n`);
  process.stdout.write(`\n${'interrupt-heavy guest (bench_irq: 2 s of guest time, icount), ms'.padEnd(58)} ${pad('cmemu', 8)} ${pad('qemu', 8)} ${pad('cm/qemu', 8)}\n`);
  for (const board of ['mps2-an385', 'lm3s6965evb']) {
    const elf = join(root, 'firmware', 'build', board, 'bench_irq.elf');
    const args = ['-M', board, '-nographic', '-semihosting-config', 'enable=on,target=native', ...ICOUNT, '-kernel', elf];
    const t = { cm: [] as number[], q: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      t.cm.push(timeRun(process.execPath, [cmemu, ...args], 'PASS: bench_irq'));
      if (haveQemu) t.q.push(timeRun(QEMU, args, 'PASS: bench_irq'));
    }
    const cm = median(t.cm);
    const q = haveQemu ? median(t.q) : NaN;
    // A speed ratio, as in the table above: > 1 means cmemu is faster.
    process.stdout.write(`${`  ${board} (speed: qemu time / cmemu time)`.padEnd(58)} ${pad(f0(cm), 8)} ${pad(f0(q), 8)} ${pad(f2(q / cm), 8)}\n`);
  }
}
