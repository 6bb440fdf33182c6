// The embedded ivshmem server with our client: several peers in one process and in child
// processes, join/leave announcements, truly shared memory and eventfds, clients that die at any
// point or never read, and the client's refusals of bad servers.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connectIvshmem } from '../../src/host/ivshmem/client.js';
import type { IvshmemLink } from '../../src/devices/ivshmem-link.js';
import { MessageFramer, type Message } from '../../src/host/ivshmem/protocol.js';
import { IvshmemServer } from '../../src/host/ivshmem/server.js';
import { posix, PollBits } from '../../src/native/posix.js';
import { ROOT } from '../support/run-cmemu.js';

const px = posix();
const tmp = mkdtempSync(join(tmpdir(), 'cmemu-ivshmem-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const sockPath = () => join(tmp, `s${n++}`);

const servers: IvshmemServer[] = [];
const links: IvshmemLink[] = [];
afterEach(() => {
  for (const l of links.splice(0)) l.close();
  for (const s of servers.splice(0)) s.stop();
});

function server(opts: { size?: number; vectors?: number; shmName?: string; shmDir?: string } = {}): IvshmemServer {
  const s = new IvshmemServer().start({ socketPath: sockPath(), size: opts.size ?? 1 << 20, vectors: opts.vectors ?? 1, shmName: opts.shmName, shmDir: opts.shmDir });
  servers.push(s);
  return s;
}

async function connect(s: IvshmemServer, shmemSize?: number): Promise<IvshmemLink> {
  const l = await connectIvshmem(s.socketPath, { shmemSize, timeoutMs: 5000 });
  links.push(l);
  return l;
}

const tick = () => new Promise((r) => setImmediate(r));
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Read every message available on a raw client socket (fds closed unless kept). */
function drain(fd: number, f: MessageFramer, keepFds = false): { msgs: Message[]; eof: boolean } {
  const msgs: Message[] = [];
  for (;;) {
    const c = px.recvChunk(fd, f.need());
    if (c.again) return { msgs, eof: false };
    if (c.eof || c.error) return { msgs, eof: true };
    for (const m of f.push(c.data, c.fds)) {
      msgs.push(m);
      if (!keepFds) for (const x of m.fds) px.closeFd(x);
    }
  }
}

const fdCount = () => readdirSync('/proc/self/fd').length;

describe('IvshmemServer with our client', () => {
  it('creates its socket with mode 0600 and removes it on stop()', () => {
    const s = server();
    expect(statSync(s.socketPath).isSocket()).toBe(true);
    expect(statSync(s.socketPath).mode & 0o777).toBe(0o600);
    s.stop();
    expect(existsSync(s.socketPath)).toBe(false);
    s.stop(); // idempotent
  });

  it('rounds the size up to a power of two, as QEMU', async () => {
    const s = server({ size: 3 * 1024 * 1024 + 1 });
    expect(s.shmSize).toBe(4 << 20);
    const a = await connect(s);
    expect(a.shmSize).toBe(4 << 20);
    // shmem-size 3M against the 4M region: accepted, 3M mapped (see protocol.ts SIZE RULE).
    const b = await connect(s, 3 << 20);
    expect(b.shmSize).toBe(3 << 20);
    await expect(connectIvshmem(s.socketPath, { shmemSize: 8 << 20 })).rejects.toThrow(/smaller than shmem-size 8 MiB/);
  });

  it('assigns ids, announces joins and departures, shares memory and doorbells', async () => {
    const s = server({ vectors: 3 });
    const joins: [number, number][] = [];
    const leaves: number[] = [];
    s.on('join', (p, v) => joins.push([p, v]));
    s.on('leave', (p) => leaves.push(p));
    const a = await connect(s);
    const b = await connect(s);
    const c = await connect(s);
    expect([a.id, b.id, c.id]).toEqual([0, 1, 2]);
    expect(joins).toEqual([[0, 3], [1, 3], [2, 3]]);
    expect(a.ownVectorFds.length).toBe(3);
    expect(c.peers()).toEqual([0, 1]); // known from the greeting
    expect(c.peerVectors(0)).toBe(3);
    await until(() => a.peers().length === 2);
    const seenByA: [number, boolean][] = [];
    a.onPeerChange((p, j) => seenByA.push([p, j]));
    expect(a.peers()).toEqual([1, 2]);

    // One memory: a byte written through one mapping is seen through the others.
    new Uint8Array(a.shm)[12345] = 0xa5;
    expect(new Uint8Array(b.shm)[12345]).toBe(0xa5);
    expect(new Uint8Array(c.shm)[12345]).toBe(0xa5);

    // Doorbells: b rings c's vector 2; c's own eventfd for vector 2 has it.
    expect(b.notify(c.id, 2)).toBe(true);
    expect(px.pollFds([c.ownVectorFds[2]!], 1e9)[0]! & PollBits.In).toBeTruthy();
    expect(px.readEventFd(c.ownVectorFds[2]!)).toBe(1);
    expect(px.readEventFd(c.ownVectorFds[0]!)).toBe(0);
    // Self-notification.
    expect(a.notify(a.id, 1)).toBe(true);
    expect(px.readEventFd(a.ownVectorFds[1]!)).toBe(1);
    // Bounds: unknown peer, vector past the peer's count, nonsense.
    expect(a.notify(99, 0)).toBe(false);
    expect(a.notify(b.id, 3)).toBe(false);
    expect(a.notify(b.id, 0xffff)).toBe(false);
    expect(a.notify(-1, 0)).toBe(false);
    expect(a.notify(1.5, 0)).toBe(false);
    expect(a.notify(b.id, -1)).toBe(false);

    // b leaves: the others are told, its fds closed on their side.
    const before = fdCount();
    b.close();
    await until(() => a.peers().length === 1 && c.peers().length === 1);
    expect(leaves).toEqual([1]);
    expect(seenByA).toEqual([[1, false]]);
    expect(a.peerVectors(1)).toBe(0);
    expect(a.notify(1, 0)).toBe(false);
    // b's socket + 3 own eventfds + 3 copies in a and in c + the server's 3: all closed.
    // b: its socket, 3 own eventfds, 6 copies of a's and c's, the shared-memory guard's eventfd and its
    // 2 duplicates (posix guardShared); the server: b's socket and 3 eventfds; a and c: 3 copies each.
    expect(fdCount()).toBe(before - (1 + 3 + 6 + 3) - (1 + 3) - 3 - 3);

    // Ids skip those in use, then reuse freed ones only when the counter comes round.
    const d = await connect(s);
    expect(d.id).toBe(3);
    await until(() => a.peers().includes(3));
    expect(seenByA).toEqual([[1, false], [3, true]]);
  });

  it('fd accounting: connecting and closing links leaks nothing in the client or the server', async () => {
    const s = server({ vectors: 4 });
    const a = await connect(s);
    await connect(s);
    await until(() => a.peers().length === 1);
    const before = fdCount();
    for (let i = 0; i < 5; i++) {
      const x = await connectIvshmem(s.socketPath);
      await until(() => a.peers().length === 2);
      x.close();
      await until(() => a.peers().length === 1);
    }
    expect(fdCount()).toBe(before);
  });

  it('uses a POSIX shm object (-M) and unlinks it at stop, or an unlinked file in a directory (-m)', async () => {
    const name = `cmemu-test-${process.pid}-${n}`;
    const s = server({ shmName: name, size: 65536 });
    expect(existsSync(`/dev/shm/${name}`)).toBe(true);
    const a = await connect(s);
    expect(a.shmSize).toBe(65536);
    a.close();
    s.stop();
    expect(existsSync(`/dev/shm/${name}`)).toBe(false);

    const dir = mkdtempSync(join(tmp, 'shmdir-'));
    const t = server({ shmDir: dir, size: 65536 });
    const b = await connect(t);
    const c = await connect(t);
    new Uint8Array(b.shm)[1] = 7;
    expect(new Uint8Array(c.shm)[1]).toBe(7);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a socket path in use by a live server, and replaces a stale one', () => {
    const s = server();
    expect(() => new IvshmemServer().start({ socketPath: s.socketPath, size: 4096, vectors: 1 })).toThrow(/in use by a running server/);
    const file = join(tmp, 'plainfile');
    writeFileSync(file, 'x');
    expect(() => new IvshmemServer().start({ socketPath: file, size: 4096, vectors: 1 })).toThrow(/not a socket/);
    // A stale socket: bound, never listened on by anyone alive.
    const stale = sockPath();
    const fd = px.unixListen(stale);
    px.closeFd(fd);
    expect(existsSync(stale)).toBe(true);
    const t = new IvshmemServer().start({ socketPath: stale, size: 4096, vectors: 1 });
    servers.push(t);
    expect(statSync(stale).isSocket()).toBe(true);
  });

  it('survives clients that die at any point of the greeting, or with unread data', async () => {
    const s = server({ vectors: 2 });
    const a = await connect(s);
    const seen: [number, boolean][] = [];
    a.onPeerChange((p, j) => seen.push([p, j]));
    // Connect and die at once, before the server even accepted.
    for (let i = 0; i < 3; i++) px.closeFd(px.unixConnect(s.socketPath));
    // Connect, read part of the greeting (half a message), die.
    const half = px.unixConnect(s.socketPath);
    await until(() => !px.recvChunk(half, 4).again);
    px.closeFd(half);
    // Connect, read nothing, die with all of it unread.
    const unread = px.unixConnect(s.socketPath);
    await tick();
    await tick();
    px.closeFd(unread);
    // A client that sends data (clients never speak): dropped.
    const talker = px.unixConnect(s.socketPath);
    await tick();
    px.sendMsg(talker, 42n);
    await until(() => s.peers().length === 1);
    px.closeFd(talker);
    // The server still works, and a saw each of them come and go (the ones it heard of).
    const b = await connect(s);
    await until(() => a.peers().includes(b.id));
    expect(s.peers().map((p) => p.id)).toEqual([a.id, b.id]);
    expect(b.notify(a.id, 1)).toBe(true);
    expect(px.readEventFd(a.ownVectorFds[1]!)).toBe(1);
    // Each short-lived client a heard of joined, then left; b joined last and stays.
    expect(seen.at(-1)).toEqual([b.id, true]);
    const rest = seen.slice(0, -1);
    expect(rest.length % 2).toBe(0);
    for (let i = 0; i < rest.length; i += 2) expect([rest[i]![1], rest[i + 1]![1], rest[i]![0]]).toEqual([true, false, rest[i + 1]![0]]);
  });

  it('never blocks on a client that does not read: queues, then delivers everything in order', async () => {
    const s = server({ vectors: 64 });
    const slow = px.unixConnect(s.socketPath);
    await until(() => s.peers().length === 1);
    // 12 peers x 64 eventfds announced to a client that reads nothing: more than its socket buffer holds.
    const t0 = Date.now();
    const others: IvshmemLink[] = [];
    for (let i = 0; i < 12; i++) others.push(await connect(s));
    expect(Date.now() - t0).toBeLessThan(5000);
    // The server still answers (it was never blocked) and the slow client is still connected.
    expect(s.peers().length).toBe(13);
    const f = new MessageFramer();
    const msgs: Message[] = [];
    await until(() => {
      const r = drain(slow, f);
      msgs.push(...r.msgs);
      return msgs.length >= 3 + 64 + 12 * 64;
    });
    expect(msgs.slice(0, 3).map((m) => m.value)).toEqual([0n, 0n, -1n]);
    const ids = msgs.slice(3 + 64).map((m) => Number(m.value));
    expect(ids).toEqual(others.flatMap((o) => Array(64).fill(o.id)));
    expect(msgs.every((m, i) => m.fds.length === (i < 2 ? 0 : 1))).toBe(true);
    px.closeFd(slow);
    await until(() => s.peers().length === 12);
    // A newcomer's own greeting (3 + 13 x 64 messages) is itself too big for its socket buffer: the
    // server queues the rest, and the client waits for all of it.
    const late = await connect(s);
    expect(late.ownVectorFds.length).toBe(64);
    expect(late.peers()).toEqual(others.map((o) => o.id));
    expect(others.every((o) => late.peerVectors(o.id) === 64)).toBe(true);
  });

  it('peers in child processes share memory and doorbells with peers here', async () => {
    const s = server({ vectors: 2 });
    const here = await connect(s);
    const script = `
      import { connectIvshmem } from ${JSON.stringify(join(ROOT, 'dist/host/ivshmem/client.js'))};
      import { posix } from ${JSON.stringify(join(ROOT, 'dist/native/posix.js'))};
      const px = posix();
      const [path, role] = process.argv.slice(1);
      const l = await connectIvshmem(path);
      const shm = new Uint8Array(l.shm);
      process.stdout.write(JSON.stringify({ id: l.id, peers: l.peers() }) + '\\n');
      // Wait for a doorbell on vector 1 (blocking, as a real peer would), then answer.
      px.pollFds([l.ownVectorFds[1]], 10e9);
      px.readEventFd(l.ownVectorFds[1]);
      shm[100 + l.id] = 0x40 + l.id;
      l.notify(shm[0], 0);
      process.stdout.write(JSON.stringify({ done: true, saw: shm[1] }) + '\\n');
      l.close();
    `;
    const kids = [0, 1].map(() => {
      const ch = spawn(process.execPath, ['--input-type=module', '-e', script, s.socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      ch.stdout.on('data', (d) => (out += d));
      const exit = new Promise<number | null>((r) => ch.on('exit', r));
      return { ch, out: () => out, exit };
    });
    await until(() => here.peers().length === 2, 15000);
    const [p1, p2] = here.peers();
    const shm = new Uint8Array(here.shm);
    shm[0] = here.id; // who to answer
    shm[1] = 0x77;
    for (const p of [p1!, p2!]) {
      expect(here.notify(p, 1)).toBe(true);
      await until(() => px.readEventFd(here.ownVectorFds[0]!) > 0 || false, 10000);
    }
    expect(await kids[0]!.exit).toBe(0);
    expect(await kids[1]!.exit).toBe(0);
    expect(shm[100 + p1!]).toBe(0x40 + p1!);
    expect(shm[100 + p2!]).toBe(0x40 + p2!);
    for (const k of kids) expect(k.out()).toMatch(/"done":true,"saw":119/);
    await until(() => here.peers().length === 0);
  });
});

describe('connectIvshmem against bad servers', () => {
  /** A fake server: accepts one client and runs `script` on its socket. */
  async function fake(script: (client: number) => void | Promise<void>, opts: { timeoutMs?: number; shmemSize?: number } = {}) {
    const path = sockPath();
    const lfd = px.unixListen(path);
    const p = connectIvshmem(path, { timeoutMs: opts.timeoutMs ?? 2000, shmemSize: opts.shmemSize });
    let client = -1;
    await until(() => (client = px.unixAccept(lfd)) >= 0);
    await script(client);
    const r = await p.then(
      (l) => {
        links.push(l);
        return { link: l, error: undefined };
      },
      (e: Error) => ({ link: undefined, error: e.message }),
    );
    return { ...r, client, close: () => (px.closeFd(client), px.closeFd(lfd)), closeListen: () => px.closeFd(lfd) };
  }

  it('cannot connect: a clear message', async () => {
    await expect(connectIvshmem(join(tmp, 'nothing-here'))).rejects.toThrow(/cannot connect to .*nothing-here.*is the ivshmem server running/);
  });

  it('refuses an unknown protocol version', async () => {
    const r = await fake((c) => void px.sendMsg(c, 1n));
    expect(r.error).toMatch(/unsupported ivshmem protocol version 1/);
    r.close();
  });

  it('refuses an shm fd that is not shared memory (an eventfd), closing it', async () => {
    const before = fdCount();
    const e = px.createEventFd(0);
    const r = await fake((c) => {
      px.sendMsg(c, 0n);
      px.sendMsg(c, 5n);
      px.sendMsg(c, -1n, e);
    });
    expect(r.error).toMatch(/not a memfd, shm object or regular file: it is an anonymous inode/);
    r.close();
    px.closeFd(e);
    expect(fdCount()).toBe(before);
  });

  it('times out on an incomplete greeting, saying where it stopped', async () => {
    const m = px.memfdCreate('t');
    px.ftruncate(m, 4096);
    const r = await fake(
      (c) => {
        px.sendMsg(c, 0n);
        px.sendMsg(c, 5n);
        px.sendMsg(c, -1n, m);
      },
      { timeoutMs: 200 },
    );
    expect(r.error).toMatch(/no complete greeting .* within 200 ms \(after the shared memory, with 0 own vector/);
    r.close();
    px.closeFd(m);
  });

  it('the server closing mid-greeting, even mid-message', async () => {
    const r = await fake((c) => {
      px.sendMsg(c, 0n);
      px.closeFd(c);
    });
    expect(r.error).toMatch(/closed the connection during the greeting \(after the protocol version/);
    r.closeListen();
  });

  it('after the greeting: the server closing gives onClose; memory and doorbells stay', async () => {
    const s = server({ vectors: 1 });
    const a = await connect(s);
    const b = await connect(s);
    await until(() => a.peers().length === 1);
    const reasons: string[] = [];
    a.onClose((r) => reasons.push(r));
    s.stop();
    await until(() => reasons.length === 1);
    expect(reasons[0]).toMatch(/server closed the connection/);
    new Uint8Array(a.shm)[5] = 9;
    expect(new Uint8Array(b.shm)[5]).toBe(9);
    expect(a.notify(b.id, 0)).toBe(true);
    expect(px.readEventFd(b.ownVectorFds[0]!)).toBe(1);
  });

  it('after the greeting: a message we refuse closes the link with a reason', async () => {
    const m = px.memfdCreate('t');
    px.ftruncate(m, 4096);
    const e = px.createEventFd(0);
    let client = -1;
    const r = await fake((c) => {
      client = c;
      px.sendMsg(c, 0n);
      px.sendMsg(c, 5n);
      px.sendMsg(c, -1n, m);
      px.sendMsg(c, 5n, e);
    });
    expect(r.link).toBeDefined();
    const reasons: string[] = [];
    r.link!.onClose((x) => reasons.push(x));
    px.sendMsg(client, 70000n);
    await until(() => reasons.length === 1);
    expect(reasons[0]).toMatch(/peer id 70000 out of range/);
    r.close();
    px.closeFd(m);
    px.closeFd(e);
  });
});

describe('the host-only latency floor (src/bench/ivshmem-floor.ts)', () => {
  it('two peer processes ping-pong through our server and report median and p99', async () => {
    const { measureIvshmemFloor } = await import('../../src/bench/ivshmem-floor.js');
    const r = await measureIvshmemFloor({ iterations: 300, warmup: 30 });
    console.log(`ivshmem floor (poll): median ${r.medianUs.toFixed(1)} us, p99 ${r.p99Us.toFixed(1)} us`);
    expect(r.mode).toBe('poll');
    expect(r.iterations).toBe(300);
    expect(r.medianUs).toBeGreaterThan(0);
    expect(r.medianUs).toBeLessThan(2000);
    expect(r.p99Us).toBeGreaterThanOrEqual(r.medianUs);
  });
});
