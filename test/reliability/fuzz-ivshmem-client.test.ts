/**
 * The ivshmem client against a scripted hostile server (issue 11): every message kind, out of
 * order, duplicated, with fds of every type (memfd of odd sizes, read-only memfd, directory,
 * FIFO, socket, eventfd, /dev/null, regular file, several at once), split across reads at any
 * byte, before and after the greeting, then thousands of peers joining and leaving. Each case
 * must end in a one-line IvshmemConnectError or a working link (onClose with a reason for what it
 * refuses later); no exception escapes, nothing hangs, and the process's fd count returns to its
 * baseline. Seeds are fixed; FUZZ_ITER=N runs N times as many cases.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectIvshmem, IvshmemConnectError } from '../../src/host/ivshmem/client.js';
import { posix } from '../../src/native/posix.js';
import { Rng, iterations } from '../support/fuzz.js';

const px = posix();
const tmp = mkdtempSync(join(tmpdir(), 'cmemu-fuzz-ivc-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fdCount = () => readdirSync('/proc/self/fd').length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let nSock = 0;

const FIFO = join(tmp, 'fifo');
execFileSync('mkfifo', [FIFO]);
const FILE = join(tmp, 'file');
writeFileSync(FILE, Buffer.alloc(8192));

type FdKind = 'memfd' | 'memfd0' | 'memfdOdd' | 'memfdRO' | 'dir' | 'fifo' | 'socket' | 'eventfd' | 'devnull' | 'file';
const KINDS: FdKind[] = ['memfd', 'memfd0', 'memfdOdd', 'memfdRO', 'dir', 'fifo', 'socket', 'eventfd', 'devnull', 'file'];

/** Make an fd of a kind; the caller closes it (after sending: the receiver has its own copy). */
function makeFd(kind: FdKind, extra: number[]): number {
  switch (kind) {
    case 'memfd':
    case 'memfd0':
    case 'memfdOdd':
    case 'memfdRO': {
      const fd = px.memfdCreate('fuzz');
      px.ftruncate(fd, kind === 'memfd0' ? 0 : kind === 'memfdOdd' ? 1000 : 64 * 1024);
      if (kind !== 'memfdRO') return fd;
      const ro = openSync(`/proc/self/fd/${fd}`, 'r');
      px.closeFd(fd);
      return ro;
    }
    case 'dir':
      return openSync(tmp, 'r');
    case 'fifo':
      return openSync(FIFO, constants.O_RDWR | constants.O_NONBLOCK);
    case 'socket': {
      const [a, b] = px.socketPair();
      extra.push(b);
      return a;
    }
    case 'eventfd':
      return px.createEventFd(0);
    case 'devnull':
      return openSync('/dev/null', 'r+');
    case 'file':
      return openSync(FILE, 'r+');
  }
}

interface Msg {
  value: bigint;
  fds: FdKind[];
}

function le64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt.asIntN(64, v), true);
  return b;
}

/** A plausible greeting (version, id, shm, peers' vectors, own vectors), then damage. */
function script(rng: Rng): { msgs: Msg[]; later: Msg[]; garbage: Uint8Array | null; closeAtEnd: boolean; what: string[] } {
  const what: string[] = [];
  const ownId = rng.chance(0.9) ? rng.int(8) : Number(BigInt.asUintN(32, BigInt(rng.edgy32())));
  const vectors = 1 + rng.int(3);
  const msgs: Msg[] = [{ value: 0n, fds: [] }, { value: BigInt(ownId), fds: [] }, { value: -1n, fds: ['memfd'] }];
  const peers = rng.int(4);
  for (let p = 0; p < peers; p++) for (let v = 0; v < vectors; v++) msgs.push({ value: BigInt(10 + p), fds: ['eventfd'] });
  for (let v = 0; v < vectors; v++) msgs.push({ value: BigInt(ownId), fds: ['eventfd'] });
  const damage = rng.chance(0.3) ? 0 : 1 + rng.int(3);
  for (let d = 0; d < damage; d++) {
    const i = rng.int(msgs.length);
    switch (rng.int(7)) {
      case 0:
        msgs[i] = { ...msgs[i]!, value: BigInt.asIntN(64, BigInt(rng.edgy32()) * (rng.chance(0.5) ? 1n : -1n) * (rng.chance(0.2) ? 1n << 32n : 1n)) };
        what.push(`msg ${i} value ${msgs[i]!.value}`);
        break;
      case 1:
        msgs[i] = { ...msgs[i]!, fds: [rng.pick(KINDS)] };
        what.push(`msg ${i} fd ${msgs[i]!.fds[0]}`);
        break;
      case 2:
        msgs[i] = { ...msgs[i]!, fds: [...msgs[i]!.fds, ...Array.from({ length: 1 + rng.int(5) }, () => rng.pick(KINDS))] };
        what.push(`msg ${i} ${msgs[i]!.fds.length} fds`);
        break;
      case 3: {
        const j = rng.int(msgs.length);
        [msgs[i], msgs[j]] = [msgs[j]!, msgs[i]!];
        what.push(`swap ${i} ${j}`);
        break;
      }
      case 4:
        msgs.splice(i, 1);
        what.push(`drop ${i}`);
        break;
      case 5:
        msgs.splice(i, 0, { ...msgs[i]! });
        what.push(`dup ${i}`);
        break;
      default:
        msgs[i] = { ...msgs[i]!, fds: [] };
        what.push(`msg ${i} without fd`);
    }
  }
  // After the greeting: joins, departures (own id, unknown peers), a second shm, bad ids, another vector of a kind.
  const later = rng.int(6);
  const after: Msg[] = [];
  for (let k = 0; k < later; k++) {
    const kind = rng.int(5);
    if (kind === 0) after.push({ value: BigInt(20 + rng.int(4)), fds: ['eventfd'] });
    else if (kind === 1) after.push({ value: BigInt(rng.chance(0.3) ? ownId : 10 + rng.int(14)), fds: [] });
    else if (kind === 2) after.push({ value: -1n, fds: [rng.pick(KINDS)] });
    else if (kind === 3) after.push({ value: BigInt(rng.edgy32()) << BigInt(rng.int(40)), fds: rng.chance(0.5) ? [rng.pick(KINDS)] : [] });
    else after.push({ value: BigInt(10 + rng.int(4)), fds: [rng.pick(KINDS)] });
  }
  if (later) what.push(`${later} later`);
  const garbage = rng.chance(0.15) ? rng.bytes(1 + rng.int(20)) : null;
  if (garbage) what.push(`${garbage.length} garbage bytes`);
  const closeAtEnd = rng.chance(0.4);
  if (closeAtEnd) what.push('close');
  return { msgs, later: after, garbage, closeAtEnd, what };
}

/** Send the messages as one byte stream cut at random places; each message's fds ride on the chunk holding its first byte (or, rarely, any chunk). */
async function deliver(sock: number, rng: Rng, msgs: Msg[], garbage: Uint8Array | null): Promise<void> {
  const bytes: number[] = [];
  const fdAt = new Map<number, FdKind[]>();
  for (const m of msgs) {
    const at = rng.chance(0.05) ? Math.max(0, bytes.length - rng.int(8)) : bytes.length;
    if (m.fds.length) fdAt.set(at, [...(fdAt.get(at) ?? []), ...m.fds]);
    bytes.push(...le64(m.value));
  }
  if (garbage) bytes.push(...garbage);
  const split = rng.chance(0.5);
  let i = 0;
  while (i < bytes.length) {
    let n = split ? 1 + rng.int(12) : bytes.length - i;
    // A chunk never starts past an fd's byte without carrying it.
    for (const at of fdAt.keys()) if (at > i && at < i + n) n = at - i;
    const kinds = fdAt.get(i) ?? [];
    const extra: number[] = [];
    const fds = kinds.map((k) => makeFd(k, extra));
    const r = px.sendRaw(sock, Uint8Array.from(bytes.slice(i, i + n)), fds);
    for (const fd of [...fds, ...extra]) closeSync(fd);
    if (r < 0) return; // the client hung up
    i += r;
    if (split && rng.chance(0.3)) await sleep(rng.int(3));
  }
}

describe('ivshmem client vs a hostile server', () => {
  it(`${iterations(120)} scripted servers (seed 21): a one-line refusal or a working link, no fd left behind`, async () => {
    const rng = new Rng(21);
    const base = fdCount();
    const tally = { refused: 0, linked: 0, closedLater: 0 };
    const reasons = new Map<string, number>();
    for (let c = 0; c < iterations(120); c++) {
      const path = join(tmp, `s${nSock++}`);
      const lfd = px.unixListen(path);
      const s = script(rng);
      const label = `case ${c} (${s.what.join(', ') || 'clean'})`;
      const p = connectIvshmem(path, { timeoutMs: 250 }).then(
        (l) => ({ l, e: undefined }),
        (e: unknown) => ({ l: undefined, e }),
      );
      let sock = -1;
      for (let t = 0; t < 1000 && sock < 0; t++) {
        sock = px.unixAccept(lfd);
        if (sock < 0) await sleep(1);
      }
      expect(sock, label).toBeGreaterThanOrEqual(0);
      await deliver(sock, rng, s.msgs, null);
      // The rest once the client has taken the greeting as complete (the socket quiet for 25 ms).
      if (s.later.length || s.garbage) {
        await sleep(40);
        await deliver(sock, rng, s.later, s.garbage);
      }
      if (s.closeAtEnd) px.closeFd(sock);
      const { l: link, e } = await p;
      if (e !== undefined) {
        expect(e, label).toBeInstanceOf(IvshmemConnectError);
        expect((e as Error).message, label).not.toMatch(/\n/);
        const key = (e as Error).message.replace(/^ivshmem: [^:]+: /, '').replace(/\d+/g, 'N').slice(0, 70);
        reasons.set(key, (reasons.get(key) ?? 0) + 1);
        tally.refused++;
      }
      if (link) {
        tally.linked++;
        let closed: string | undefined;
        link.onClose((r) => (closed = r));
        await sleep(30);
        if (closed !== undefined) {
          tally.closedLater++;
          expect(closed, label).not.toMatch(/\n/);
        }
        // Ring everyone on every vector it may have: never throws, never blocks.
        for (const peer of [link.id, ...link.peers(), 99, 0xffff]) for (let v = 0; v < 4; v++) link.notify(peer, v);
        expect(link.shm.byteLength, label).toBeGreaterThan(0);
        new Uint8Array(link.shm)[0] = 1; // the memory is really there
        link.close();
      }
      if (!s.closeAtEnd) px.closeFd(sock);
      px.closeFd(lfd);
    }
    await sleep(50);
    console.log(`fuzz-ivshmem-client: ${JSON.stringify(tally)}; refusals: ${JSON.stringify(Object.fromEntries(reasons))}`);
    expect(tally.refused).toBeGreaterThan(10);
    expect(tally.linked).toBeGreaterThan(10);
    expect(fdCount()).toBe(base);
  }, 120_000);

  it('a blocking FIFO as a doorbell fd is refused (it used to be accepted: the 8193rd doorbell blocked the emulator for good)', async () => {
    const path = join(tmp, `s${nSock++}`);
    const lfd = px.unixListen(path);
    const p = connectIvshmem(path, { timeoutMs: 2000 }).then(
      () => 'linked',
      (e: Error) => e.message,
    );
    let sock = -1;
    while ((sock = px.unixAccept(lfd)) < 0) await sleep(1);
    const shm = makeFd('memfd', []);
    const fifo = openSync(FIFO, 'r+'); // blocking
    const own = px.createEventFd(0);
    px.sendMsg(sock, 0n);
    px.sendMsg(sock, 3n);
    px.sendMsg(sock, -1n, shm);
    px.sendMsg(sock, 4n, fifo);
    px.sendMsg(sock, 3n, own);
    expect(await p).toMatch(/^ivshmem: .*: the vector fd for peer 4 is not an eventfd: it is .*fifo$/);
    for (const fd of [sock, lfd, shm, own]) px.closeFd(fd);
    closeSync(fifo);
  });

  it('a server that never accepts (backlog full): a one-line error at the timeout (the connect used to block the emulator for good)', async () => {
    const path = join(tmp, `s${nSock++}`);
    const lfd = px.unixListen(path, 0);
    const held: number[] = [];
    for (let i = 0; i < 4; i++) {
      try {
        held.push(px.unixConnect(path));
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('EAGAIN');
      }
    }
    const t0 = Date.now();
    await expect(connectIvshmem(path, { timeoutMs: 300 })).rejects.toThrow(/^ivshmem: cannot connect to .*: Resource temporarily unavailable \(the server accepted no connection within 300 ms: its backlog is full\)$/);
    expect(Date.now() - t0).toBeLessThan(2000);
    for (const fd of [...held, lfd]) px.closeFd(fd);
  });

  it(`${iterations(5000)} peers joining and leaving after the greeting (seed 22): the link's view matches the server's word, fds return to baseline`, async () => {
    const rng = new Rng(22);
    const base = fdCount();
    const path = join(tmp, `s${nSock++}`);
    const lfd = px.unixListen(path);
    const p = connectIvshmem(path, { timeoutMs: 2000 });
    let sock = -1;
    while ((sock = px.unixAccept(lfd)) < 0) await sleep(1);
    const shm = makeFd('memfd', []);
    const own = px.createEventFd(0);
    px.sendMsg(sock, 0n);
    px.sendMsg(sock, 7n);
    px.sendMsg(sock, -1n, shm);
    px.sendMsg(sock, 7n, own);
    const link = await p;
    const joined = new Set<number>();
    let events = 0;
    link.onPeerChange(() => events++);
    const present = new Set<number>();
    let sent = 0;
    for (let i = 0; i < iterations(5000); i++) {
      // Join a new peer, or leave a random present one (never our own id 7).
      let id = 8 + rng.int(60000);
      if (present.size > 40 || (present.size && rng.chance(0.45))) {
        id = [...present][rng.int(present.size)]!;
        px.sendMsg(sock, BigInt(id));
        present.delete(id);
      } else if (!present.has(id)) {
        const e = px.createEventFd(0);
        px.sendMsg(sock, BigInt(id), e);
        px.closeFd(e);
        present.add(id);
        joined.add(id);
      }
      if (++sent % 200 === 0) await sleep(1); // let the client read (the socket buffer is finite)
    }
    for (let t = 0; t < 200; t++) {
      await sleep(5);
      if (link.peers().length === present.size && [...present].every((x) => link.peers().includes(x))) break;
    }
    expect(link.peers().sort((a, b) => a - b)).toEqual([...present].sort((a, b) => a - b));
    expect(events).toBeGreaterThan(iterations(5000) / 2);
    link.close();
    px.closeFd(sock);
    px.closeFd(lfd);
    px.closeFd(shm);
    px.closeFd(own);
    await sleep(20);
    expect(fdCount()).toBe(base);
  }, 120_000);
});
