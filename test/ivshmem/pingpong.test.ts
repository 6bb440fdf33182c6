/**
 * End to end: an ivshmem server and two boards as separate bin/cmemu processes running
 * firmware/tests/ivshmem_pingpong.c (protocol: docs/ivshmem-pingpong.md) in real-time mode.
 *  - 10 000 messages each way, every payload checked by the firmware: none lost or corrupted;
 *  - a peer killed mid-run: the survivor keeps running, reports the departure, and links up with
 *    a new partner on the same (now stale) shared memory;
 *  - the server killed mid-run: both boards keep running and each logs one line;
 *  - doorbells to a peer that does not exist and to vectors that do not exist: logged, ignored.
 * Boards: mps2-an385 + lm3s6965evb when cmemu has the second board and its firmware is built, else
 * two mps2-an385 (pickBoards).
 */
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { PingPongPair, parseRtt, pingpongElf, pickBoards } from '../../src/bench/pingpong.js';

const boards = pickBoards();

const pairs: PingPongPair[] = [];
function pair(...a: ConstructorParameters<typeof PingPongPair>): PingPongPair {
  const p = new PingPongPair(...a);
  pairs.push(p);
  return p;
}
afterEach(async () => {
  for (const p of pairs.splice(0)) {
    await p.close();
    expect(existsSync(p.dir)).toBe(false);
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const count = (s: string, re: RegExp) => (s.match(new RegExp(re.source, 'g')) ?? []).length;

describe(`ivshmem ping-pong between ${boards.join(' and ')}`, () => {
  it('has the ping-pong firmware built for both boards (make firmware)', () => {
    for (const b of boards) expect(existsSync(pingpongElf(b)), pingpongElf(b)).toBe(true);
  });
  it('10 000 messages each way, none lost or corrupted', async () => {
    const p = pair({ n: 10_000 });
    await p.start();
    await Promise.all([p.initiator.exited, p.responder.exited]);
    expect(p.initiator.out, p.initiator.tail()).toMatch(/ivshmem: completed 10000 messages, 0 errors, 0 departures\nPASS: ivshmem_pingpong/);
    expect(p.responder.out, p.responder.tail()).toMatch(/ivshmem: answered 10000 messages, 0 errors, 0 departures\nPASS: ivshmem_pingpong/);
    expect(p.initiator.exitCode).toBe(0);
    expect(p.responder.exitCode).toBe(0);
    const rtt = parseRtt(p.initiator.out);
    expect(rtt?.n).toBe(10_000);
    expect(p.initiator.err + p.responder.err).not.toMatch(/error|lockup|FAIL/i);
  }, 90_000);

  it('a responder killed mid-run: the initiator keeps running, reports it, and pairs with a new responder', async () => {
    const p = pair({ n: 1_000_000 });
    await p.start();
    await p.initiator.waitFor(/ivshmem: 1000 round trips/);
    const oldId = Number((await p.responder.waitFor(/ivshmem: id (\d+) role responder/))[1]);
    p.responder.kill('SIGKILL');
    const m = await p.initiator.waitFor(/ivshmem: peer (\d+) left \(([a-z ]+)\)/, 10_000);
    expect(Number(m[1])).toBe(oldId);
    expect(m[2]).toBe('disconnected');
    await sleep(300);
    expect(p.initiator.running).toBe(true);
    expect(p.initiator.out).toMatch(/ivshmem: id \d+ role initiator session 0x0002/); // restarted with a new session

    // A new responder on the same shared memory (stale slots and rings from the first one).
    const old = p.responder;
    await old.exited;
    p.respawnResponder();
    const before = count(p.initiator.out, /round trips/);
    await p.responder.waitFor(/ivshmem: link up with peer/, 20_000);
    await p.initiator.waitFor(new RegExp(`(?:[\\s\\S]*?ivshmem: \\d+ round trips){${before + 2}}`), 20_000);
    expect(p.initiator.out).not.toMatch(/ivshmem: error/);
    expect(p.responder.out).not.toMatch(/ivshmem: error/);
  }, 90_000);

  it('an initiator killed mid-run: the responder keeps running and reports it', async () => {
    const p = pair({ n: 1_000_000 });
    await p.start();
    await p.initiator.waitFor(/ivshmem: 1000 round trips/);
    const id = Number((await p.initiator.waitFor(/ivshmem: id (\d+) role initiator/))[1]);
    p.initiator.kill('SIGKILL');
    const m = await p.responder.waitFor(/ivshmem: peer (\d+) left \(disconnected\)/, 10_000);
    expect(Number(m[1])).toBe(id);
    await sleep(300);
    expect(p.responder.running).toBe(true);
    expect(p.responder.out).not.toMatch(/ivshmem: error/);
  }, 60_000);

  it('the server killed mid-run: both boards keep running, each logs one line', async () => {
    const p = pair({ n: 1_000_000, server: 'process' });
    await p.start();
    await p.initiator.waitFor(/ivshmem: 1000 round trips/);
    p.killServer();
    await Promise.all([p.initiator.waitFor(/ivshmem: server gone/, 10_000), p.responder.waitFor(/ivshmem: server gone/, 10_000)]);
    await sleep(500);
    for (const b of [p.initiator, p.responder]) {
      expect(b.running, b.tail()).toBe(true);
      expect(count(b.err, /server went away/), b.err).toBe(1);
      expect(b.err.split('\n').filter((l) => /ivshmem/.test(l) && !/-append/.test(l))).toHaveLength(1);
      expect(b.out).not.toMatch(/ivshmem: error|FAIL/);
    }
  }, 60_000);

  it('doorbells to a peer and to vectors that do not exist are logged and ignored', async () => {
    const p = pair({ n: 300, initiatorArgs: ['bogus'], responderArgs: ['bogus'], cmemuArgs: ['-d', 'guest_errors'] });
    await p.start();
    await Promise.all([p.initiator.exited, p.responder.exited]);
    for (const b of [p.initiator, p.responder]) {
      expect(b.out, b.tail()).toMatch(/ivshmem: rang 3 bogus doorbells/);
      expect(b.out, b.tail()).toMatch(/, 0 errors, 0 departures\nPASS: ivshmem_pingpong/);
      expect(b.exitCode).toBe(0);
      expect(b.err).toMatch(/DOORBELL to peer 65534 vector 0: no such peer, ignored/);
      expect(b.err).toMatch(/DOORBELL to peer \d+ vector 7: that peer has 1 vector, ignored/);
      expect(b.err).toMatch(/DOORBELL: own vector 9 does not exist/);
    }
  }, 60_000);
});
