/**
 * Our ivshmem server against hostile clients (issue 11), while two well-behaved links keep using
 * it: clients sending random bytes (with fds), clients that never read (queues bounded: dropped at
 * MAX_QUEUE), 1000 connect/disconnect cycles (half of them closing with the greeting unread: a
 * reset), a client holding the socket half-open, and the server under `ulimit -n 64`. The
 * well-behaved links are served throughout (doorbells delivered, joins and departures told), the
 * log says what happened in words, and the process's fd count returns to its baseline.
 * Seeds are fixed; FUZZ_ITER=N runs N times as many cases.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectIvshmem } from '../../src/host/ivshmem/client.js';
import { IvshmemServer, MAX_QUEUE } from '../../src/host/ivshmem/server.js';
import { posix, PollBits } from '../../src/native/posix.js';
import { ROOT } from '../support/run-cmemu.js';
import { Rng, iterations } from '../support/fuzz.js';

const px = posix();
const tmp = mkdtempSync(join(tmpdir(), 'cmemu-fuzz-ivs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fdCount = () => readdirSync('/proc/self/fd').length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw client socket; a full backlog (EAGAIN: the server, in this thread, has not accepted yet) is retried after a turn of the loop. */
async function rawConnect(path: string): Promise<number> {
  for (let i = 0; ; i++) {
    try {
      return px.unixConnect(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || i > 1000) throw e;
      await sleep(1);
    }
  }
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

describe('ivshmem server vs hostile clients', () => {
  it('keeps serving two good peers through random bytes, non-readers, 1000 connect/disconnect cycles and a half-open client; fds back to baseline', async () => {
    const rng = new Rng(31);
    const base = fdCount();
    const log: string[] = [];
    const s = new IvshmemServer().start({ socketPath: join(tmp, 'a.sock'), size: 1 << 16, vectors: 2, log: (l) => log.push(l) });
    const a = await connectIvshmem(s.socketPath);
    const b = await connectIvshmem(s.socketPath);
    await until(() => a.peers().includes(b.id), 'a to see b');
    let rung = 0;
    const ring = async () => {
      // One doorbell each way: delivered, nothing lost.
      expect(a.notify(b.id, 1)).toBe(true);
      expect(b.notify(a.id, 0)).toBe(true);
      expect(px.pollFds([b.ownVectorFds[1]!], 2e9)[0]! & PollBits.In).toBeTruthy();
      expect(px.pollFds([a.ownVectorFds[0]!], 2e9)[0]! & PollBits.In).toBeTruthy();
      expect(px.readEventFd(b.ownVectorFds[1]!)).toBe(1);
      expect(px.readEventFd(a.ownVectorFds[0]!)).toBe(1);
      rung++;
    };
    await ring();

    // 1. Random bytes (sometimes with fds), then close or stay.
    const stay: number[] = [];
    for (let i = 0; i < iterations(100); i++) {
      const c = await rawConnect(s.socketPath);
      const e = rng.chance(0.3) ? [px.createEventFd(0)] : [];
      px.sendRaw(c, rng.bytes(1 + rng.int(64)), e);
      for (const fd of e) px.closeFd(fd);
      if (rng.chance(0.5)) px.closeFd(c);
      else stay.push(c);
        if (i % 10 === 0) await ring();
    }
    await sleep(50);
    await ring();
    for (const c of stay.splice(0)) px.closeFd(c);

    // 2. Clients that never read: each gets the greeting plus every later join/leave queued; a
    //    flood of joins past MAX_QUEUE gets them dropped, not the server stuck.
    const mute = [await rawConnect(s.socketPath), await rawConnect(s.socketPath), await rawConnect(s.socketPath)];
    await sleep(20);
    // Each join/leave of a cycling client is 2 (vectors) + 1 messages to every mute client.
    const cycles = MAX_QUEUE; // 3 * MAX_QUEUE messages: past the socket buffer and the queue
    // In batches that live until the server has announced them (a client gone before its
    // greeting is never announced, so it would not load the mute ones).
    for (let i = 0; i < cycles; i += 50) {
      const batch: number[] = [];
      for (let k = 0; k < 50; k++) batch.push(await rawConnect(s.socketPath));
      await sleep(3);
      for (const c of batch) px.closeFd(c);
      await sleep(1);
    }
    await until(() => log.some((l) => /too slow: \d+ messages waiting/.test(l)), 'a mute client dropped as too slow');
    await ring();
    for (const c of mute) px.closeFd(c);

    // 3. 1000 connect/disconnect cycles: half close at once (greeting unread: a reset), half read a little first.
    for (let i = 0; i < iterations(1000); i++) {
      const c = await rawConnect(s.socketPath);
      if (rng.chance(0.5)) {
        await sleep(0);
        px.recvChunk(c, 1 + rng.int(8));
      }
      px.closeFd(c);
      if (i % 100 === 0) await ring();
    }

    // 4. Half-open: connected, reads its greeting once, then neither reads nor closes for a while.
    const half = await rawConnect(s.socketPath);
    await sleep(30);
    px.recvChunk(half, 8);
    for (let i = 0; i < 50; i++) {
      const c = await rawConnect(s.socketPath);
      px.closeFd(c);
    }
    await ring();
    px.closeFd(half);

    await until(() => s.peers().length === 2, 'the server to be back to the two good peers');
    await until(() => a.peers().length === 1 && b.peers().length === 1, 'a and b to see only each other');
    expect(a.peers()).toEqual([b.id]);
    expect(b.peers()).toEqual([a.id]);
    await ring();
    // What the log says about abrupt closes: words, not libuv codes.
    expect(log.some((l) => /^peer \d+: connection reset; freed$/.test(l)), log.slice(-20).join('\n')).toBe(true);
    expect(log.some((l) => /^peer \d+: sent data \(clients must not\); freed$/.test(l))).toBe(true);
    expect(log.filter((l) => /poll error|errno/.test(l))).toEqual([]);
    console.log(`fuzz-ivshmem-server: ${rung} doorbell round trips between the good peers; ${log.filter((l) => /freed$/.test(l)).length} clients freed; ` +
      `reasons ${JSON.stringify(Object.fromEntries([...log.filter((l) => /freed$/.test(l)).reduce((m, l) => m.set(l.replace(/^peer \d+: /, ''), (m.get(l.replace(/^peer \d+: /, '')) ?? 0) + 1), new Map<string, number>())]))}`);
    a.close();
    b.close();
    s.stop();
    await sleep(20);
    expect(fdCount()).toBe(base);
  }, 120_000);

  it('under ulimit -n 64 (bin/cmemu ivshmem-server): 100 clients exhaust its fds; it pauses accepting, then serves a good peer once they leave', async () => {
    const sock = join(tmp, 'lim.sock');
    const child = spawn('bash', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${join(ROOT, 'bin', 'cmemu')}" ivshmem-server -F -v -S "${sock}" -l 64K -n 1`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      await until(() => /listening on/.test(out), 'the server', 20_000);
      const cs: number[] = [];
      for (let i = 0; i < 100; i++) {
        try {
          cs.push(px.unixConnect(sock));
        } catch (e) {
          expect((e as NodeJS.ErrnoException).code).toBe('EAGAIN'); // backlog full: never blocks
        }
        if (i % 10 === 0) await sleep(5);
      }
      await until(() => /cannot accept: .*Too many open files.*; pausing for 100 ms|cannot create eventfds/.test(out), 'fd exhaustion to be logged');
      for (const c of cs) px.closeFd(c);
      await sleep(300);
      const good = await connectIvshmem(sock, { timeoutMs: 5000 });
      const other = await connectIvshmem(sock, { timeoutMs: 5000 });
      await until(() => good.peers().includes(other.id), 'the good peers to meet');
      expect(good.notify(other.id, 0)).toBe(true);
      expect(px.pollFds([other.ownVectorFds[0]!], 2e9)[0]! & PollBits.In).toBeTruthy();
      good.close();
      other.close();
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
  }, 60_000);
});
