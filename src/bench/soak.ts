/**
 * `make soak`: long runs that print figures (issue 11). bin/cmemu boards ping-pong through our
 * ivshmem server (firmware/tests/ivshmem_pingpong.c checks every sequence number and payload):
 *  1. SOAK_N (default 10^6) messages each way between two boards through `cmemu ivshmem-server`
 *     as a third process: lost / duplicated / corrupted counts, and each process's RSS and fd
 *     count at the start and the end;
 *  2. SOAK_PAIRS (default 8) pairs, 16 boards, on one server at once, SOAK_PAIR_N (default 10^5)
 *     messages each: every pair's result and round trip.
 * Exit status 1 if any message was lost, duplicated or corrupted, or a board failed.
 * test/reliability/soak.test.ts runs a short version of both in `make test`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IvshmemServer } from '../host/ivshmem/server.js';
import { type Board, PingPongPair, parseRtt, wallMeanUs } from './pingpong.js';

export interface ProcFigures {
  rssKiB: number;
  fds: number;
}

export function procFigures(pid: number | undefined): ProcFigures | null {
  if (pid === undefined) return null;
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
    return { rssKiB: m ? Number(m[1]) : -1, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return null;
  }
}

export interface PairResult {
  n: number;
  completed: number | null;
  answered: number | null;
  errors: number;
  departures: number;
  passed: boolean;
  rttMedianUs: number | null;
  wallMeanUs: number | null;
}

/** What the two consoles said at the end: the firmware counts every lost, duplicated or corrupted message as an error. */
export function pairResult(p: PingPongPair, n: number): PairResult {
  const ci = p.initiator.out.match(/ivshmem: completed (\d+) messages, (\d+) errors, (\d+) departures/);
  const cr = p.responder.out.match(/ivshmem: answered (\d+) messages, (\d+) errors, (\d+) departures/);
  const both = [p.initiator, p.responder];
  return {
    n,
    completed: ci ? Number(ci[1]) : null,
    answered: cr ? Number(cr[1]) : null,
    errors: (ci ? Number(ci[2]) : 0) + (cr ? Number(cr[2]) : 0) + both.reduce((s, b) => s + (b.out.match(/ivshmem: error/g) ?? []).length, 0),
    departures: (ci ? Number(ci[3]) : 0) + (cr ? Number(cr[3]) : 0),
    passed: both.every((b) => /PASS: ivshmem_pingpong/.test(b.out) && b.exitCode === 0),
    rttMedianUs: parseRtt(p.initiator.out)?.medianUs ?? null,
    wallMeanUs: wallMeanUs(p.initiator, n),
  };
}

export const pairOk = (r: PairResult) => r.passed && r.errors === 0 && r.completed === r.n && r.answered === r.n && r.departures === 0;

/** Run one pair through a `cmemu ivshmem-server` process, sampling the three processes every 200 ms. */
export async function soakPair(n: number): Promise<{ result: PairResult; start: Record<string, ProcFigures | null>; end: Record<string, ProcFigures | null>; seconds: number }> {
  const p = new PingPongPair({ n, server: 'process' });
  try {
    await p.start();
    await p.initiator.waitFor(/ivshmem: link up/, 60_000);
    const t0 = performance.now();
    const pids = (): Record<string, number | undefined> => ({ initiator: p.initiator.child.pid, responder: p.responder.child.pid, server: p.serverProc?.child.pid });
    const sample = () => Object.fromEntries(Object.entries(pids()).map(([k, pid]) => [k, procFigures(pid)]));
    // The start: once the boards are past their set-up (an engine makes its idle wait's eventfd the
    // first time the guest sleeps, which under load can come after "link up").
    await new Promise((r) => setTimeout(r, 300));
    const start = sample();
    let end = start;
    // The end: the last sample with all three up and the run not yet over (an exiting process's figures mean nothing).
    const timer = setInterval(() => {
      if (/ivshmem: completed/.test(p.initiator.out)) return;
      const s = sample();
      if (Object.values(s).every((f) => f && f.fds > 0 && f.rssKiB > 0)) end = s;
    }, 200);
    await Promise.all([p.initiator.exited, p.responder.exited]);
    clearInterval(timer);
    return { result: pairResult(p, n), start, end, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await p.close();
  }
}

/** `pairs` pairs (2 * pairs boards) on one in-process server at once. */
export async function soakPairs(pairs: number, n: number): Promise<{ results: PairResult[]; seconds: number }> {
  const dirPairs: PingPongPair[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'cmemu-soak-'));
  const socketPath = join(dir, 'ivshmem.sock');
  const server = new IvshmemServer().start({ socketPath, size: 4 << 20, vectors: 1 });
  try {
    for (let k = 0; k < pairs; k++) dirPairs.push(new PingPongPair({ n, socketPath, region: k }));
    const t0 = performance.now();
    await Promise.all(dirPairs.map((p) => p.start()));
    await Promise.all(dirPairs.flatMap((p) => [p.initiator.exited, p.responder.exited]));
    return { results: dirPairs.map((p) => pairResult(p, n)), seconds: (performance.now() - t0) / 1000 };
  } finally {
    for (const p of dirPairs) await p.close();
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (f: ProcFigures | null) => (f ? `RSS ${(f.rssKiB / 1024).toFixed(1)} MiB, ${f.fds} fds` : 'gone');

async function main(): Promise<number> {
  const n = Number(process.env.SOAK_N ?? 1_000_000);
  const pairs = Number(process.env.SOAK_PAIRS ?? 8);
  const pn = Number(process.env.SOAK_PAIR_N ?? 100_000);
  let ok = true;
  console.log(`soak 1: ${n} messages each way between two boards through cmemu ivshmem-server`);
  const a = await soakPair(n);
  const r = a.result;
  const lost = r.n - (r.completed ?? 0);
  console.log(`  completed ${r.completed}, answered ${r.answered}, lost ${lost}, errors (duplicated/corrupted/out of order) ${r.errors}, departures ${r.departures}, ${a.seconds.toFixed(1)} s, ` +
    `round trip median ${r.rttMedianUs?.toFixed(1)} us (firmware), wall mean ${r.wallMeanUs?.toFixed(1)} us`);
  for (const k of ['initiator', 'responder', 'server']) console.log(`  ${k.padEnd(9)} start: ${fmt(a.start[k] ?? null)}; end: ${fmt(a.end[k] ?? null)}`);
  if (!pairOk(r)) ok = false;
  console.log(`soak 2: ${pairs} pairs (${2 * pairs} boards) on one server, ${pn} messages each`);
  const b = await soakPairs(pairs, pn);
  b.results.forEach((x, i) => {
    console.log(`  pair ${i}: ${pairOk(x) ? 'PASS' : 'FAIL'} completed ${x.completed}, errors ${x.errors}, departures ${x.departures}, round trip median ${x.rttMedianUs?.toFixed(1)} us, wall mean ${x.wallMeanUs?.toFixed(1)} us`);
    if (!pairOk(x)) ok = false;
  });
  console.log(`  ${b.seconds.toFixed(1)} s for ${pairs * pn} round trips in all`);
  console.log(ok ? 'soak: PASS' : 'soak: FAIL');
  return ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === new URL(process.argv[1], 'file:').href) {
  main().then((c) => process.exit(c), (e) => {
    console.error(`soak: ${(e as Error).stack}`);
    process.exit(1);
  });
}
