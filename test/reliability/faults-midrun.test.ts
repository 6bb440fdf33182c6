/**
 * Faults in the middle of a ping-pong between two bin/cmemu boards (issue 11), beside the kill -9
 * cases of test/ivshmem/pingpong.test.ts (responder, initiator, server) and the truncated shared
 * memory of shm-truncate.test.ts:
 *  - a peer stopped (SIGSTOP) for 5 s, then continued: the other keeps running, nobody reports a
 *    departure or an error, and the round trips resume where they stopped;
 *  - the server's socket unlinked under it: the boards keep ping-ponging (their connections are
 *    open), a newcomer gets a one-line "no such socket", and a new server can take the path.
 */
import { unlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { PingPongPair } from '../../src/bench/pingpong.js';
import { IvshmemServer } from '../../src/host/ivshmem/server.js';
import { firmwarePath, runCmemu } from '../support/run-cmemu.js';

const pairs: PingPongPair[] = [];
afterEach(async () => {
  for (const p of pairs.splice(0)) await p.close();
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const trips = (s: string) => Math.max(0, ...[...s.matchAll(/ivshmem: (\d+) round trips/g)].map((m) => Number(m[1])));

describe('faults mid-run', () => {
  it('SIGSTOP of the responder for 5 s, then SIGCONT: both keep running and the ping-pong resumes', async () => {
    const p = new PingPongPair({ n: 1_000_000 });
    pairs.push(p);
    await p.start();
    await p.initiator.waitFor(/ivshmem: 1000 round trips/, 30_000);
    p.responder.child.kill('SIGSTOP');
    await sleep(500);
    const during = trips(p.initiator.out);
    await sleep(4500);
    expect(trips(p.initiator.out)).toBe(during); // stalled, not running ahead
    expect(p.initiator.running).toBe(true);
    p.responder.child.kill('SIGCONT');
    await p.initiator.waitFor(new RegExp(`ivshmem: ${(Math.floor(during / 1000) + 2) * 1000} round trips`), 30_000);
    for (const b of [p.initiator, p.responder]) {
      expect(b.running, b.tail()).toBe(true);
      expect(b.out).not.toMatch(/ivshmem: error|left|FAIL/);
    }
  }, 90_000);

  it('the server socket unlinked under it: the boards go on, a newcomer gets one line, a new server can take the path', async () => {
    const p = new PingPongPair({ n: 1_000_000 });
    pairs.push(p);
    await p.start();
    await p.initiator.waitFor(/ivshmem: 1000 round trips/, 30_000);
    unlinkSync(p.socketPath);
    const before = trips(p.initiator.out);
    await p.initiator.waitFor(new RegExp(`ivshmem: ${(Math.floor(before / 1000) + 2) * 1000} round trips`), 30_000);
    const r = await runCmemu(['-M', 'mps2-an385', '-nographic', '-chardev', `socket,path=${p.socketPath},id=ivs`, '-device', 'ivshmem-flat,chardev=ivs', '-kernel', firmwarePath('mps2-an385', 'hello')], { timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cmemu: [^\n]*no such socket: is the ivshmem server running\?\)\n$/);
    const s2 = new IvshmemServer().start({ socketPath: p.socketPath, size: 1 << 16, vectors: 1 });
    s2.stop();
    for (const b of [p.initiator, p.responder]) {
      expect(b.running, b.tail()).toBe(true);
      expect(b.out).not.toMatch(/ivshmem: error|left|FAIL/);
    }
  }, 90_000);
});
