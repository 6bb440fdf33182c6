// The client side of the ivshmem server protocol as a pure state machine (no sockets, made-up fd
// numbers), plus the native framing path: real recvmsg with SCM_RIGHTS over a socketpair.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  IvshmemClientProtocol,
  MessageFramer,
  type Message,
  type ShmFdInfo,
  type Step,
} from '../../src/host/ivshmem/protocol.js';
import { posix } from '../../src/native/posix.js';

const MiB = 1 << 20;

function msg(value: number | bigint, ...fds: number[]): Message {
  return { value: BigInt(value), fds };
}

function bytes(value: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(value), true);
  return b;
}

/** A machine whose "shm fd" 100 is a 4 MiB memfd; fd 200 is a socket. */
function machine(shmemSize?: number, info: Record<number, ShmFdInfo> = {}) {
  const known: Record<number, ShmFdInfo> = {
    100: { kind: 'memfd', size: 4 * MiB, detail: '/memfd:ivshmem (deleted)' },
    101: { kind: 'shm', size: 4 * MiB, detail: '/dev/shm/ivshmem' },
    102: { kind: 'file', size: 4 * MiB, detail: '/tmp/x/ivshmem.abc (deleted)' },
    200: { kind: 'other', size: 0, detail: 'a socket (socket:[1234])' },
    201: { kind: 'other', size: 0, detail: 'an anonymous inode (anon_inode:[eventfd])' },
    ...info,
  };
  return new IvshmemClientProtocol({
    shmemSize,
    inspectFd: (fd) => {
      const i = known[fd];
      if (!i) throw new Error(`EBADF ${fd}`);
      return i;
    },
  });
}

/** Feed messages, collecting every step's effects; stops at the first error. */
function run(p: IvshmemClientProtocol, msgs: Message[]): Step {
  const all: Step = { close: [], joined: [], left: [], warnings: [], ready: false };
  for (const m of msgs) {
    const s = p.feed(m);
    merge(all, s);
    if (s.error) return all;
  }
  return all;
}

function merge(all: Step, s: Step): void {
  all.close.push(...s.close);
  all.joined.push(...s.joined);
  all.left.push(...s.left);
  all.warnings.push(...s.warnings);
  all.ready ||= s.ready;
  if (s.error) all.error = s.error;
}

/** A greeting for own id 3 with peers 1 (fds 11, 12) and own fds 31, 32: 2 vectors each. */
function greeting(): Message[] {
  return [msg(0), msg(3), msg(-1, 100), msg(1, 11), msg(1, 12), msg(3, 31), msg(3, 32)];
}

function greeted(shmemSize?: number): IvshmemClientProtocol {
  const p = machine(shmemSize);
  const s = run(p, greeting());
  expect(s.error).toBeUndefined();
  expect(p.endOfBurst().ready).toBe(true);
  return p;
}

describe('the greeting', () => {
  it('version, id, shm, the peers, own vectors; ready at the end of the burst', () => {
    const p = machine();
    const s = run(p, greeting());
    expect(s).toMatchObject({ close: [], joined: [], left: [], ready: false });
    expect(s.error).toBeUndefined();
    expect(p.phase).toBe('vectors');
    const e = p.endOfBurst();
    expect(e.ready).toBe(true);
    expect(p.phase).toBe('ready');
    expect(p.id).toBe(3);
    expect(p.shmFd).toBe(100);
    expect(p.mapSize).toBe(4 * MiB);
    expect(p.ownVectorFds).toEqual([31, 32]);
    expect(p.peers()).toEqual([1]);
    expect(p.vectorFds(1)).toEqual([11, 12]);
    expect(e.joined).toEqual([]); // present from the start, not "joined"
  });

  it('is not ready before an own vector arrived, however long the pause', () => {
    const p = machine();
    run(p, [msg(0), msg(3), msg(-1, 100), msg(1, 11)]);
    expect(p.endOfBurst().ready).toBe(false);
    expect(p.describeProgress()).toMatch(/0 own vector\(s\) and 1 peer/);
    p.feed(msg(3, 31));
    expect(p.endOfBurst().ready).toBe(true);
  });

  it('is not ready while it has fewer own vectors than a peer (the rest is still queued at the server)', () => {
    const p = machine();
    run(p, [msg(0), msg(3), msg(-1, 100), msg(1, 11), msg(1, 12), msg(3, 31)]);
    expect(p.endOfBurst().ready).toBe(false);
    p.feed(msg(3, 32));
    expect(p.endOfBurst().ready).toBe(true);
  });

  it('accepts a shm object and a regular file as well as a memfd', () => {
    for (const fd of [101, 102]) {
      const p = machine();
      const s = run(p, [msg(0), msg(0), msg(-1, fd), msg(0, 7)]);
      expect(s.error).toBeUndefined();
      expect(p.endOfBurst().ready).toBe(true);
    }
  });

  it('refuses another protocol version, naming it (and closes its fds)', () => {
    const p = machine();
    const s = run(p, [msg(1, 5)]);
    expect(s.error).toMatch(/unsupported ivshmem protocol version 1/);
    expect(s.close).toEqual([5]);
    expect(p.phase).toBe('failed');
    // Nothing more is accepted; fds still get closed.
    const again = p.feed(msg(0, 6));
    expect(again.error).toBeDefined();
    expect(again.close).toEqual([6]);
  });

  it('refuses an old server that sends its id first', () => {
    expect(run(machine(), [msg(4), msg(-1, 100)]).error).toMatch(/version 4/);
  });

  it('refuses an own id out of range', () => {
    expect(run(machine(), [msg(0), msg(65536)]).error).toMatch(/own peer id 65536 out of range \(0\.\.65535\)/);
    expect(run(machine(), [msg(0), msg(-2)]).error).toMatch(/own peer id -2 out of range/);
    expect(run(machine(), [msg(0), msg(1n << 40n)]).error).toMatch(/out of range/);
    const ok = machine();
    run(ok, [msg(0), msg(65535), msg(-1, 100), msg(65535, 9)]);
    expect(ok.endOfBurst().ready).toBe(true);
    expect(ok.id).toBe(65535);
  });

  it('refuses a greeting without the shm fd', () => {
    const s = run(machine(), [msg(0), msg(2), msg(-1)]);
    expect(s.error).toMatch(/no shared-memory fd/);
    expect(run(machine(), [msg(0), msg(2), msg(2, 31)]).error).toMatch(/expected the shared-memory message \(-1 with an fd\), got 2 with an fd/);
  });

  it('refuses an shm fd that is not memfd, shm or a regular file, saying what it is', () => {
    const s = run(machine(), [msg(0), msg(2), msg(-1, 200)]);
    expect(s.error).toMatch(/not a memfd, shm object or regular file: it is a socket/);
    expect(s.close).toEqual([200]);
    expect(run(machine(), [msg(0), msg(2), msg(-1, 201)]).error).toMatch(/anonymous inode/);
    expect(run(machine(), [msg(0), msg(2), msg(-1, 999)]).error).toMatch(/cannot inspect the shared-memory fd: EBADF/);
  });

  it('size rule: at least shmem-size; larger is fine and only shmem-size is mapped', () => {
    const small = run(machine(8 * MiB), [msg(0), msg(2), msg(-1, 100)]);
    expect(small.error).toMatch(/4 MiB \(4194304 bytes\), smaller than shmem-size 8 MiB \(8388608 bytes\)/);
    expect(small.close).toEqual([100]);
    // QEMU's server rounds -l 3M up to 4M: shmem-size=3M must still work.
    const p = machine(3 * MiB);
    run(p, [msg(0), msg(2), msg(-1, 100), msg(2, 31)]);
    expect(p.endOfBurst().ready).toBe(true);
    expect(p.mapSize).toBe(3 * MiB);
    expect(p.shmObjectSize).toBe(4 * MiB);
    const exact = machine(4 * MiB);
    run(exact, [msg(0), msg(2), msg(-1, 100), msg(2, 31)]);
    expect(exact.mapSize).toBe(4 * MiB);
    const empty = run(machine(undefined, { 103: { kind: 'memfd', size: 0, detail: '' } }), [msg(0), msg(2), msg(-1, 103)]);
    expect(empty.error).toMatch(/empty/);
  });

  it('closes surplus fds (several in one message) and keeps the first', () => {
    const p = machine();
    const s = run(p, [msg(0, 50), msg(2, 51, 52), msg(-1, 100, 53), msg(2, 31, 54, 55)]);
    expect(s.error).toBeUndefined();
    expect(s.close).toEqual([50, 51, 52, 53, 54, 55]);
    expect(s.warnings.length).toBe(4);
    expect(p.endOfBurst().ready).toBe(true);
    expect(p.shmFd).toBe(100);
    expect(p.ownVectorFds).toEqual([31]);
  });

  it('refuses more than 64 vectors for a peer, and for itself', () => {
    const p = machine();
    const msgs = [msg(0), msg(3), msg(-1, 100)];
    for (let i = 0; i < 65; i++) msgs.push(msg(1, 1000 + i));
    const s = run(p, msgs);
    expect(s.error).toMatch(/peer 1 has more than 64 vectors/);
    expect(s.close).toEqual([1064]);
    // Every fd the machine kept is handed back for closing.
    const kept = p.releaseAll();
    expect(kept.sort((a, b) => a - b)).toEqual([...Array.from({ length: 64 }, (_, i) => 1000 + i), 100].sort((a, b) => a - b));

    const q = machine();
    const own = [msg(0), msg(3), msg(-1, 100)];
    for (let i = 0; i < 65; i++) own.push(msg(3, 2000 + i));
    expect(run(q, own).error).toMatch(/own id 3 has more than 64 vectors/);
  });

  it('refuses a second shm message', () => {
    const p = machine();
    run(p, greeting());
    const s = p.feed(msg(-1, 101));
    expect(s.error).toMatch(/second shared-memory message/);
    expect(s.close).toEqual([101]);
  });
});

describe('after the greeting', () => {
  it('a newcomer is announced once it has as many vectors as we have', () => {
    const p = greeted();
    expect(p.feed(msg(7, 71)).joined).toEqual([]);
    expect(p.peers()).toEqual([1]);
    expect(p.feed(msg(7, 72)).joined).toEqual([7]);
    expect(p.peers()).toEqual([1, 7]);
    expect(p.endOfBurst().joined).toEqual([]);
  });

  it('a newcomer with fewer vectors is announced at the end of the burst', () => {
    const p = greeted();
    expect(p.feed(msg(8, 81)).joined).toEqual([]);
    expect(p.endOfBurst().joined).toEqual([8]);
    expect(p.vectorFds(8)).toEqual([81]);
  });

  it('a departure closes the peer fds and reports it', () => {
    const p = greeted();
    const s = p.feed(msg(1));
    expect(s.left).toEqual([1]);
    expect(s.close).toEqual([11, 12]);
    expect(p.peers()).toEqual([]);
    expect(p.vectorFds(1)).toEqual([]);
  });

  it('a departure for our own id is ignored with a warning: the peer list stays intact', () => {
    const p = greeted();
    const s = p.feed(msg(3));
    expect(s.error).toBeUndefined();
    expect(s.close).toEqual([]);
    expect(s.warnings[0]).toMatch(/own id 3 leaving: ignored/);
    expect(p.ownVectorFds).toEqual([31, 32]);
    expect(p.peers()).toEqual([1]);
  });

  it('a departure of an unknown peer is ignored', () => {
    const p = greeted();
    const s = p.feed(msg(42));
    expect(s.error).toBeUndefined();
    expect(s.left).toEqual([]);
    expect(s.warnings[0]).toMatch(/unknown peer 42/);
  });

  it('refuses a peer id out of range', () => {
    const p = greeted();
    const s = p.feed(msg(70000, 5));
    expect(s.error).toMatch(/peer id 70000 out of range/);
    expect(s.close).toEqual([5]);
    expect(greeted().feed(msg(-5)).error).toMatch(/peer id -5 out of range/);
  });

  it('releaseAll hands back every fd still held', () => {
    const p = greeted();
    p.feed(msg(7, 71));
    expect(p.releaseAll().sort((a, b) => a - b)).toEqual([11, 12, 31, 32, 71, 100]);
    expect(p.releaseAll()).toEqual([]);
  });
});

describe('framing', () => {
  it('reassembles messages split at every byte, with the fds on the message they came with', () => {
    const f = new MessageFramer();
    const stream = [...bytes(0), ...bytes(3), ...bytes(-1)];
    const out: Message[] = [];
    for (let i = 0; i < stream.length; i++) {
      expect(f.need()).toBe(8 - (i % 8));
      out.push(...f.push(Uint8Array.of(stream[i]!), i === 16 ? [100] : []));
    }
    expect(out).toEqual([msg(0), msg(3), msg(-1, 100)]);
    expect(f.partial()).toBe(0);
  });

  it('several messages in one chunk, several fds on one message, a partial message discarded', () => {
    const f = new MessageFramer();
    const chunk = new Uint8Array([...bytes(5), ...bytes(6), ...bytes(7).subarray(0, 3)]);
    expect(f.push(chunk, [1, 2, 3])).toEqual([msg(5, 1, 2, 3), msg(6)]);
    expect(f.partial()).toBe(3);
    expect(f.push(new Uint8Array(0), [9])).toEqual([]);
    expect(f.discard()).toEqual([9]);
    expect(f.partial()).toBe(0);
  });

  it('decodes signed 64-bit little-endian values', () => {
    const f = new MessageFramer();
    expect(f.push(bytes(-1))[0]!.value).toBe(-1n);
    expect(f.push(bytes(65535))[0]!.value).toBe(65535n);
    expect(f.push(bytes(-(1n << 63n)))[0]!.value).toBe(-(1n << 63n));
  });
});

describe('native recvChunk / sendMsg over a socketpair', () => {
  const px = posix();
  const openFds = () => new Set(readdirSync('/proc/self/fd'));

  it('passes fds, splits partial reads, reports EAGAIN and EOF, leaks nothing', () => {
    const before = openFds();
    const [a, b] = px.socketPair();
    const e1 = px.createEventFd(0);
    const e2 = px.createEventFd(0);
    expect(px.recvChunk(b, 8)).toMatchObject({ again: true, eof: false, fds: [] });
    expect(px.sendMsg(a, 7n, e1)).toBe(8);
    expect(px.sendMsg(a, -1, e2)).toBe(8);
    expect(px.sendMsg(a, 9n)).toBe(8);
    // Read the first message in two parts: its fd comes with the first part.
    const p1 = px.recvChunk(b, 3);
    expect(p1.data.length).toBe(3);
    expect(p1.fds.length).toBe(1);
    const p2 = px.recvChunk(b, 5);
    expect(p2.data.length).toBe(5);
    expect(p2.fds.length).toBe(0);
    const f = new MessageFramer();
    f.push(p1.data, p1.fds);
    const [m1] = f.push(p2.data, p2.fds);
    expect(m1!.value).toBe(7n);
    // The passed fd is the same eventfd: a write through it is seen through ours.
    px.writeEventFd(m1!.fds[0]!, 5);
    expect(px.readEventFd(e1)).toBe(5);
    // Reading up to the end of a message never takes the next message's fd.
    const c2 = px.recvChunk(b, 8);
    expect(c2.fds.length).toBe(1);
    expect(new DataView(c2.data.buffer, c2.data.byteOffset).getBigInt64(0, true)).toBe(-1n);
    const c3 = px.recvChunk(b, 8);
    expect(c3.fds).toEqual([]);
    expect(px.fdInfo(c2.fds[0]!).kind).toBe('other');
    for (const fd of [m1!.fds[0]!, c2.fds[0]!, e1, e2]) px.closeFd(fd);
    px.closeFd(a);
    expect(px.recvChunk(b, 8)).toMatchObject({ eof: true, again: false });
    px.closeFd(b);
    expect(openFds()).toEqual(before);
  });

  it('sendMsg to a closed peer returns -EPIPE instead of raising SIGPIPE', () => {
    const [a, b] = px.socketPair();
    px.closeFd(b);
    expect(px.sendMsg(a, 1n)).toBe(-32);
    px.closeFd(a);
  });

  it('sendMsg returns -EAGAIN when the peer does not read', () => {
    const [a, b] = px.socketPair();
    const e = px.createEventFd(0);
    let n = 0;
    let r = 8;
    while ((r = px.sendMsg(a, BigInt(n), n % 2 ? e : -1)) === 8) n++;
    expect(r).toBe(-11);
    expect(n).toBeGreaterThan(10);
    // Drain: every fd received is closed (the kernel also drops in-flight fds on close).
    for (;;) {
      const c = px.recvChunk(b, 4096);
      for (const fd of c.fds) px.closeFd(fd);
      if (c.again) break;
    }
    for (const fd of [a, b, e]) px.closeFd(fd);
  });
});

describe('native shared memory, fd checks and readiness callbacks', () => {
  const px = posix();

  it('memfd + ftruncate + two MAP_SHARED mappings are one memory; munmapShared detaches', () => {
    const fd = px.memfdCreate('cmemu-test');
    px.ftruncate(fd, 65536);
    expect(px.fdInfo(fd)).toMatchObject({ kind: 'memfd', size: 65536 });
    const a = px.mmapShared(fd, 65536);
    const b = px.mmapShared(fd, 4096);
    px.closeFd(fd); // mappings outlive the fd
    new Uint8Array(a)[4095] = 0x5a;
    expect(new Uint8Array(b)[4095]).toBe(0x5a);
    expect(px.munmapShared(b)).toBe(true);
    expect(b.byteLength).toBe(0);
    expect(px.munmapShared(b)).toBe(false);
    expect(px.munmapShared(new ArrayBuffer(8))).toBe(false);
    expect(new Uint8Array(a)[4095]).toBe(0x5a);
    expect(px.munmapShared(a)).toBe(true);
  });

  it('fdInfo tells shm objects, files, sockets and eventfds apart', () => {
    const name = `cmemu-proto-${process.pid}`;
    const s = px.shmOpen(name, true, true);
    expect(() => px.shmOpen(name, true, true)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    px.ftruncate(s, 8192);
    expect(px.fdInfo(s)).toMatchObject({ kind: 'shm', size: 8192 });
    expect(px.shmUnlink(name)).toBe(true);
    expect(px.shmUnlink(name)).toBe(false);
    px.closeFd(s);
    const f = px.openUnlinkedIn(process.cwd());
    expect(px.fdInfo(f).kind).toMatch(/^(file|shm)$/);
    px.closeFd(f);
    const [x, y] = px.socketPair();
    expect(px.fdInfo(x)).toMatchObject({ kind: 'other', detail: expect.stringMatching(/^a socket/) });
    const e = px.createEventFd(0);
    expect(px.fdInfo(e)).toMatchObject({ kind: 'other', detail: expect.stringMatching(/eventfd/) });
    for (const fd of [x, y, e]) px.closeFd(fd);
    expect(() => px.fdInfo(e)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('FdWatch calls back on the event loop when a socket becomes readable, not before', async () => {
    const [a, b] = px.socketPair();
    const events: number[] = [];
    const w = new px.FdWatch(b, (ev) => {
      events.push(ev);
      px.recvChunk(b, 8);
    });
    w.start(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual([]);
    px.sendMsg(a, 1n);
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual([1]);
    w.stop();
    px.sendMsg(a, 2n);
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual([1]);
    w.close();
    w.close();
    expect(() => w.start(1)).toThrow(/closed/);
    px.closeFd(a);
    px.closeFd(b);
  });

  it('pollFds blocks until readable or the timeout', () => {
    const e = px.createEventFd(0);
    const t0 = process.hrtime.bigint();
    expect(px.pollFds([e], 20e6)).toEqual([0]);
    expect(Number(process.hrtime.bigint() - t0) / 1e6).toBeGreaterThanOrEqual(19);
    px.writeEventFd(e, 1);
    expect(px.pollFds([e], -1)).toEqual([1]);
    px.closeFd(e);
  });
});
