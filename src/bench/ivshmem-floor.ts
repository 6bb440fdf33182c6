/**
 * The host-only latency floor of an ivshmem doorbell round trip: two native peers (two Node
 * processes, no emulation) connected to the same server ping-pong through each other's vector-0
 * eventfds. The firmware ping-pong in the bench is read against this figure.
 *
 *   node dist/bench/ivshmem-floor.js [--iterations N] [--warmup N] [--spin]
 *
 * Both peers wait natively, never on JS timers: by default blocked in ppoll(2) on their eventfd
 * (as a sleeping guest's host thread would be); with --spin they busy-read it (the lower bound).
 * The ping peer writes its id into the shared memory (u32 0) so the pong peer knows whom to answer,
 * and u32 1 = 1 tells it to stop: eventfd counters coalesce, so messages live in memory, not in
 * doorbell counts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectIvshmem } from '../host/ivshmem/client.js';
import type { IvshmemLink } from '../devices/ivshmem-link.js';
import { IvshmemServer } from '../host/ivshmem/server.js';
import { loadNative } from '../native/cpu.js';
import { posix } from '../native/posix.js';

export interface FloorOptions {
  /** Measured round trips (default 2000). */
  iterations?: number;
  /** Round trips run first and not measured (default 200). */
  warmup?: number;
  /** Busy-read the eventfds instead of blocking in poll (default false). */
  spin?: boolean;
}

export interface FloorResult {
  mode: 'poll' | 'spin';
  iterations: number;
  medianUs: number;
  p99Us: number;
  minUs: number;
  maxUs: number;
}

const here = fileURLToPath(import.meta.url);
/** The compiled file the peers run (this file when already compiled; dist/ when run from the sources by vitest). */
const peerScript = here.endsWith('.ts') ? join(dirname(here), '..', '..', 'dist', 'bench', 'ivshmem-floor.js') : here;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

/** Block until the eventfd has a count, then consume it. */
function wait(fd: number, spin: boolean): void {
  const px = posix();
  if (spin) {
    while (px.readEventFd(fd) === 0) {
      /* spin */
    }
    return;
  }
  while (px.readEventFd(fd) === 0) px.pollFds([fd], -1);
}

async function waitForPeer(link: IvshmemLink): Promise<number> {
  if (link.peers().length > 0) return link.peers()[0]!;
  return new Promise((res) => link.onPeerChange((p, joined) => joined && res(p)));
}

async function pongPeer(socket: string, spin: boolean): Promise<void> {
  const link = await connectIvshmem(socket);
  const mem = new Uint32Array(link.shm, 0, 2);
  process.stdout.write('ready\n');
  await waitForPeer(link); // its eventfds must be known before we block
  const own = link.ownVectorFds[0]!;
  for (;;) {
    wait(own, spin);
    if (Atomics.load(mem, 1) === 1) break;
    link.notify(Atomics.load(mem, 0), 0);
  }
  link.close();
}

async function pingPeer(socket: string, iterations: number, warmup: number, spin: boolean): Promise<void> {
  const px = loadNative();
  const link = await connectIvshmem(socket);
  const mem = new Uint32Array(link.shm, 0, 2);
  Atomics.store(mem, 0, link.id);
  const peer = await waitForPeer(link);
  const own = link.ownVectorFds[0]!;
  const rtt: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const t0 = px.monotonicNs();
    if (!link.notify(peer, 0)) throw new Error(`cannot ring peer ${peer}`);
    wait(own, spin);
    if (i >= warmup) rtt.push((px.monotonicNs() - t0) / 1e3);
  }
  Atomics.store(mem, 1, 1);
  link.notify(peer, 0);
  rtt.sort((a, b) => a - b);
  const r: FloorResult = {
    mode: spin ? 'spin' : 'poll',
    iterations,
    medianUs: quantile(rtt, 0.5),
    p99Us: quantile(rtt, 0.99),
    minUs: rtt[0]!,
    maxUs: rtt[rtt.length - 1]!,
  };
  process.stdout.write(JSON.stringify(r) + '\n');
  link.close();
}

function runPeer(args: string[]): { ch: ChildProcess; lines: Promise<string>; firstLine: Promise<string>; exit: Promise<number | null> } {
  const ch = spawn(process.execPath, [peerScript, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let gotLine: (l: string) => void;
  const firstLine = new Promise<string>((r) => (gotLine = r));
  ch.stdout!.setEncoding('utf8');
  ch.stdout!.on('data', (d: string) => {
    out += d;
    if (out.includes('\n')) gotLine(out.slice(0, out.indexOf('\n')));
  });
  const exit = new Promise<number | null>((r) => ch.on('exit', (c) => r(c)));
  return { ch, lines: exit.then(() => out), firstLine, exit };
}

/** Measure the floor: a server here, two peer processes. */
export async function measureIvshmemFloor(opts: FloorOptions = {}): Promise<FloorResult> {
  const iterations = opts.iterations ?? 2000;
  const warmup = opts.warmup ?? 200;
  const spin = opts.spin ?? false;
  const dir = mkdtempSync(join(tmpdir(), 'cmemu-floor-'));
  const socket = join(dir, 'ivshmem.sock');
  const server = new IvshmemServer().start({ socketPath: socket, size: 4096, vectors: 1 });
  const mode = spin ? ['--spin'] : [];
  const pong = runPeer(['--peer', 'pong', '--socket', socket, ...mode]);
  let ping: ReturnType<typeof runPeer> | undefined;
  const timeout = setTimeout(() => {
    pong.ch.kill('SIGKILL');
    ping?.ch.kill('SIGKILL');
  }, 60_000 + iterations * 10);
  try {
    const first = await Promise.race([pong.firstLine, pong.exit.then(() => 'exited')]);
    if (first !== 'ready') throw new Error('ivshmem floor: the pong peer did not start');
    ping = runPeer(['--peer', 'ping', '--socket', socket, '--iterations', String(iterations), '--warmup', String(warmup), ...mode]);
    const [out, pingCode, pongCode] = await Promise.all([ping.lines, ping.exit, pong.exit]);
    if (pingCode !== 0 || pongCode !== 0) throw new Error(`ivshmem floor: peers exited with ${pingCode}/${pongCode}`);
    return JSON.parse(out.trim().split('\n').pop()!) as FloorResult;
  } finally {
    clearTimeout(timeout);
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `make bench`'s entry point (src/bench/run.ts): the blocking (poll) floor over `iterations` round trips. */
export function measureFloor(iterations: number): Promise<FloorResult> {
  return measureIvshmemFloor({ iterations });
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const spin = argv.includes('--spin');
  const role = arg(argv, '--peer');
  if (role === 'pong') return pongPeer(arg(argv, '--socket')!, spin);
  if (role === 'ping') return pingPeer(arg(argv, '--socket')!, Number(arg(argv, '--iterations')), Number(arg(argv, '--warmup')), spin);
  const iterations = Number(arg(argv, '--iterations') ?? 2000);
  const warmup = Number(arg(argv, '--warmup') ?? 200);
  const r = await measureIvshmemFloor({ iterations, warmup, spin });
  process.stdout.write(
    `ivshmem doorbell round trip, two host peers (${r.mode}, ${r.iterations} round trips): ` +
      `median ${r.medianUs.toFixed(1)} us, p99 ${r.p99Us.toFixed(1)} us (min ${r.minUs.toFixed(1)}, max ${r.maxUs.toFixed(1)})\n`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === here) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (e: Error) => {
      process.stderr.write(`ivshmem-floor: ${e.message}\n`);
      process.exit(1);
    },
  );
}
