/**
 * `make soak`: long runs that print figures (issue 11). bin/cmemu boards ping-pong through our
 * ivshmem server (firmware/tests/ivshmem_pingpong.c checks every sequence number and payload):
 *  1. SOAK_N (default 10^6) messages each way between two boards through `cmemu ivshmem-server`
 *     as a third process: lost / duplicated / corrupted counts, and each process's RSS and fd
 *     count at the start and the end;
 *  2. SOAK_PAIRS (default 8) pairs, 16 boards, on one server at once, SOAK_PAIR_N (default 10^5)
 *     messages each: every pair's result and round trip;
 *  3. SOAK_LINUX_N (default 10^5) messages between a board and QEMU's aarch64 Linux VM peer
 *     (src/bench/soak-linux.ts): counts, the guest's round trip, RSS and fds of the board, QEMU and
 *     this process (the server);
 *  4. the VM killed (SIGKILL) after SOAK_KILL_AFTER (default 10^4) round trips: the board reports
 *     it and keeps running; a new VM then runs SOAK_RESTART_N (default 10^4) on the stale memory.
 * Soaks 3 and 4 are skipped, loudly, only when the Linux peer's prerequisites cannot be had
 * (test/linux/linux-peer.test.ts does the same); SOAK_LINUX=0 leaves them out, SOAK_LINUX=only
 * runs only them.
 * Exit status 1 if any message was lost, duplicated or corrupted, or a board failed.
 * test/reliability/soak.test.ts runs a short version of 1 and 2 in `make test`,
 * test/linux/linux-peer.test.ts one of 3 and 4.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IvshmemServer } from '../host/ivshmem/server.js';
import { type Board, PingPongPair, parseRtt, wallMeanUs } from './pingpong.js';
import { describeSoak, linuxKillRestart, linuxSoak, linuxSoakOk } from './soak-linux.js';
import { LinuxFirmwarePair, linuxPeerPrerequisite } from '../cli/demo-linux.js';

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
  if (process.env.SOAK_LINUX !== 'only') {
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
  }
  if (process.env.SOAK_LINUX !== '0') {
    const ln = Number(process.env.SOAK_LINUX_N ?? 100_000);
    const killAfter = Number(process.env.SOAK_KILL_AFTER ?? 10_000);
    const rn = Number(process.env.SOAK_RESTART_N ?? 10_000);
    const missing = linuxPeerPrerequisite();
    if (missing) {
      const bar = '!'.repeat(100);
      console.log(`${bar}\n!!! soak 3 and 4 (Linux VM) SKIPPED: ${missing}\n${bar}`);
    } else {
      const pair = new LinuxFirmwarePair(1);
      try {
        console.log(`soak 3: ${ln} messages between a board (responder) and QEMU's aarch64 Linux VM (initiator) through one server`);
        const c = await linuxSoak(pair, ln);
        for (const l of describeSoak(c)) console.log(l);
        if (!linuxSoakOk(c)) ok = false;
        console.log(`soak 4: kill -9 of the Linux VM after ${killAfter} round trips, then a new VM runs ${rn} on the same board and memory`);
        const d = await linuxKillRestart(pair, killAfter, rn);
        console.log(`  killed after ${d.killedAfter} round trips; the server saw it leave: ${d.serverSawLeave}; the board said "${d.boardReport}" ` +
          `${d.reportMs.toFixed(0)} ms after the kill and ${d.boardRunning ? 'kept running' : 'STOPPED'}; sessions ${d.sessions[0]} -> ${d.sessions[1]}`);
        console.log(`  board while linked to the first VM: ${fmt(d.boardBefore)}; to the second: ${fmt(d.boardAfter)}`);
        for (const l of describeSoak(d.second)) console.log(l);
        const fw = d.second.firmware;
        const restartOk = d.serverSawLeave && d.boardRunning && d.sessions[0] !== d.sessions[1] && d.second.verdict === 'PASS' &&
          d.second.vm?.pass === true && d.second.vm.replies === rn && d.second.vm.lost === 0 && d.second.vm.corrupted === 0 &&
          fw !== null && fw.errors === 0 && fw.departures === 1;
        if (!restartOk) ok = false;
      } finally {
        await pair.close();
      }
    }
  }
  console.log(ok ? 'soak: PASS' : 'soak: FAIL');
  return ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === new URL(process.argv[1], 'file:').href) {
  main().then((c) => process.exit(c), (e) => {
    console.error(`soak: ${(e as Error).stack}`);
    process.exit(1);
  });
}
