import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants as fsc, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ChardevSpec } from '../src/cli/qemu-args.js';
import { BufferBackend, ChardevError, openCharBackend, socketAddress, type CharBackend, type StdinLike } from '../src/host/chardev.js';

const dir = mkdtempSync(join(tmpdir(), 'cmemu-chardev-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const open: CharBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});
function track<T extends CharBackend>(b: T): T {
  open.push(b);
  return b;
}
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const str = (d: Uint8Array) => Buffer.from(d).toString('latin1');
const tick = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function collector(b: CharBackend): { text: () => string } {
  let got = '';
  b.onData((d) => (got += str(d)));
  return { text: () => got };
}

function socketReader(sock: net.Socket): { text: () => string } {
  let got = '';
  sock.on('data', (d) => (got += d.toString('latin1')));
  return { text: () => got };
}

// ---- fakes for stdio ---------------------------------------------------------------------------
class FakeStdin extends EventEmitter implements StdinLike {
  isTTY: boolean;
  isRaw = false;
  rawCalls: boolean[] = [];
  paused = false;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  setRawMode(m: boolean): void {
    this.isRaw = m;
    this.rawCalls.push(m);
  }
  resume(): void {
    this.paused = false;
  }
  pause(): void {
    this.paused = true;
  }
  type(s: string): void {
    this.emit('data', Buffer.from(s, 'latin1'));
  }
}
class FakeStdout {
  chunks: Uint8Array[] = [];
  calls = 0;
  constructor(public isTTY = false) {}
  write(d: Uint8Array, cb?: (err?: Error | null) => void): boolean {
    this.calls++;
    this.chunks.push(Uint8Array.from(d));
    setImmediate(() => cb?.());
    return true;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
}

const stdio = (over: Partial<Extract<ChardevSpec, { backend: 'stdio' }>> = {}): ChardevSpec => ({ id: 'con', mux: false, backend: 'stdio', signal: true, ...over });

describe('BufferBackend', () => {
  it('collects output and feeds input (early input is kept for the first reader)', async () => {
    const b = new BufferBackend();
    b.feed('early');
    b.write(bytes('hello '));
    b.write(bytes('world'));
    expect(b.text()).toBe('hello world');
    const got: string[] = [];
    b.onData((d) => got.push(str(d)));
    b.feed(bytes('late'));
    expect(got).toEqual(['early', 'late']);
    expect(str(b.take())).toBe('hello world');
    expect(b.text()).toBe('');
    await b.flush();
    await b.close();
    b.write(bytes('x'));
    expect(b.text()).toBe('');
  });
});

describe('null', () => {
  it('swallows output, never produces input', async () => {
    const b = track(openCharBackend({ id: 'n', mux: false, backend: 'null' }));
    const c = collector(b);
    b.write(bytes('gone'));
    await b.ready;
    await b.flush();
    expect(c.text()).toBe('');
  });
});

describe('stdio', () => {
  it('coalesces small writes into one host write, flush() waits for it', async () => {
    const out = new FakeStdout();
    const b = track(openCharBackend(stdio(), { stdin: new FakeStdin(false), stdout: out }));
    for (let i = 0; i < 1000; i++) b.write(bytes(String(i % 10)));
    expect(out.calls).toBe(0);
    await b.flush();
    expect(out.calls).toBe(1);
    expect(out.text()).toHaveLength(1000);
    b.write(bytes('a'));
    await tick();
    expect(out.calls).toBe(2);
  });
  it('a big burst is handed over without waiting for the event loop', () => {
    const out = new FakeStdout();
    const b = track(openCharBackend(stdio(), { stdin: new FakeStdin(false), stdout: out }));
    b.write(new Uint8Array(70 * 1024));
    expect(out.calls).toBe(1);
  });
  it('the caller may reuse its buffer after write()', async () => {
    const out = new FakeStdout();
    const b = track(openCharBackend(stdio(), { stdin: new FakeStdin(false), stdout: out }));
    const buf = bytes('A');
    b.write(buf);
    buf[0] = 0x42;
    b.write(buf);
    await b.flush();
    expect(out.text()).toBe('AB');
  });
  it('non-TTY: no raw mode, bytes pass untouched both ways', async () => {
    const inp = new FakeStdin(false);
    const out = new FakeStdout(false);
    const b = track(openCharBackend(stdio(), { stdin: inp, stdout: out }));
    const c = collector(b);
    inp.type('ab\x03\x01x');
    expect(c.text()).toBe('ab\x03\x01x');
    b.write(bytes('l1\nl2\n'));
    await b.flush();
    expect(out.text()).toBe('l1\nl2\n');
    expect(inp.rawCalls).toEqual([]);
  });
  it('TTY: raw mode on open, restored on close; output bytes untouched (the tty does ONLCR)', async () => {
    const inp = new FakeStdin(true);
    const out = new FakeStdout(true);
    const b = openCharBackend(stdio(), { stdin: inp, stdout: out });
    expect(inp.isRaw).toBe(true);
    b.write(bytes('a\nb\r\n'));
    await b.flush();
    expect(out.text()).toBe('a\nb\r\n');
    await b.close();
    expect(inp.rawCalls).toEqual([true, false]);
    expect(inp.paused).toBe(true);
    inp.type('ignored after close');
  });
  it('raw: false keeps the terminal cooked', () => {
    const inp = new FakeStdin(true);
    track(openCharBackend(stdio(), { stdin: inp, stdout: new FakeStdout(true), raw: false }));
    expect(inp.rawCalls).toEqual([]);
  });
  it('signal=on in raw mode: Ctrl-C restores the terminal and raises SIGINT; Ctrl-\\ SIGQUIT', () => {
    const inp = new FakeStdin(true);
    const sigs: string[] = [];
    const b = track(openCharBackend(stdio(), { stdin: inp, stdout: new FakeStdout(true), onSignal: (s) => sigs.push(s + (inp.isRaw ? ' raw' : ' cooked')) }));
    const c = collector(b);
    inp.type('ab\x03cd');
    expect(c.text()).toBe('ab');
    expect(sigs).toEqual(['SIGINT cooked']);
    // the terminal is cooked again: from now on the tty driver itself would raise signals
    inp.type('\x03');
    expect(c.text()).toBe('ab\x03');
    const inp2 = new FakeStdin(true);
    track(openCharBackend(stdio(), { stdin: inp2, stdout: new FakeStdout(true), onSignal: (s) => sigs.push(s) }));
    inp2.type('\x1c');
    expect(sigs).toEqual(['SIGINT cooked', 'SIGQUIT']);
  });
  it('signal=off: Ctrl-C goes to the guest', () => {
    const inp = new FakeStdin(true);
    const sigs: string[] = [];
    const b = track(openCharBackend(stdio({ signal: false }), { stdin: inp, stdout: new FakeStdout(true), onSignal: (s) => sigs.push(s) }));
    const c = collector(b);
    inp.type('\x03');
    expect(c.text()).toBe('\x03');
    expect(sigs).toEqual([]);
  });
  it('input before the first reader is kept', () => {
    const inp = new FakeStdin(false);
    const b = track(openCharBackend(stdio(), { stdin: inp, stdout: new FakeStdout() }));
    inp.type('early');
    const c = collector(b);
    inp.type('+late');
    expect(c.text()).toBe('early+late');
  });
});

describe('mux=on escapes (Ctrl-a)', () => {
  function muxed() {
    const inp = new FakeStdin(false);
    const out = new FakeStdout(false);
    const quits: number[] = [];
    const notes: string[] = [];
    const b = track(openCharBackend(stdio({ mux: true }), { stdin: inp, stdout: out, onQuit: () => quits.push(1), log: (m) => notes.push(m) }));
    const c = collector(b);
    return { inp, out, quits, notes, b, c };
  }
  it('C-a x prints "QEMU: Terminated" and quits', async () => {
    const m = muxed();
    m.inp.type('hi\x01x');
    expect(m.c.text()).toBe('hi');
    expect(m.quits).toEqual([1]);
    await m.b.flush();
    expect(m.out.text()).toBe('QEMU: Terminated\n\r');
  });
  it('C-a C-a sends one C-a; other escapes are swallowed', () => {
    const m = muxed();
    m.inp.type('a\x01\x01b\x01tc\x01s\x01bd');
    expect(m.c.text()).toBe('a\x01bcd');
    expect(m.quits).toEqual([]);
  });
  it('an escape split across reads still works', () => {
    const m = muxed();
    m.inp.type('a\x01');
    m.inp.type('x');
    expect(m.quits).toEqual([1]);
  });
  it('C-a h prints help', async () => {
    const m = muxed();
    m.inp.type('\x01h');
    await m.b.flush();
    expect(m.out.text()).toContain('C-a x    exit emulator');
    expect(m.out.text()).toContain('C-a h    print this help');
  });
  it('C-a c notes once that there is no monitor', () => {
    const m = muxed();
    m.inp.type('\x01c\x01cz');
    expect(m.c.text()).toBe('z');
    expect(m.notes).toEqual(['cmemu: C-a c: the QEMU monitor is not implemented; staying on the serial console']);
  });
  it('C-a c also goes to the -d logger under unimp, every time', () => {
    const inp = new FakeStdin(false);
    const lines: string[] = [];
    const logger = { enabled: (c: string) => c === 'unimp', log: (c: string, m: string) => lines.push(`${c}: ${m}`) };
    track(openCharBackend(stdio({ mux: true }), { stdin: inp, stdout: new FakeStdout(), log: () => {}, logger }));
    inp.type('\x01c\x01c');
    expect(lines).toEqual(['unimp: chardev: C-a c: no QEMU monitor to switch to', 'unimp: chardev: C-a c: no QEMU monitor to switch to']);
  });
});

describe('file', () => {
  it('truncates (QEMU default) and writes', async () => {
    const p = join(dir, 'out.txt');
    writeFileSync(p, 'old content that must go');
    const b = openCharBackend({ id: 'f', mux: false, backend: 'file', path: p, append: false });
    b.write(bytes('new'));
    b.write(bytes(' data'));
    await b.flush();
    expect(readFileSync(p, 'latin1')).toBe('new data');
    b.write(bytes('!'));
    await b.close();
    expect(readFileSync(p, 'latin1')).toBe('new data!');
  });
  it('append=on appends', async () => {
    const p = join(dir, 'app.txt');
    writeFileSync(p, 'keep|');
    const b = openCharBackend({ id: 'f', mux: false, backend: 'file', path: p, append: true });
    b.write(bytes('more'));
    await b.close();
    expect(readFileSync(p, 'latin1')).toBe('keep|more');
  });
  it('open failure is a ChardevError', () => {
    const p = join(dir, 'no', 'such', 'dir.txt');
    expect(() => openCharBackend({ id: 'f', mux: false, backend: 'file', path: p, append: false })).toThrow(
      new ChardevError(`chardev 'f': could not open '${p}': No such file or directory`),
    );
  });
});

describe('pipe', () => {
  const mkfifo = (p: string) => execFileSync('mkfifo', [p]);
  it('PATH.in / PATH.out FIFOs', async () => {
    const base = join(dir, 'fifo1');
    mkfifo(`${base}.in`);
    mkfifo(`${base}.out`);
    const b = track(openCharBackend({ id: 'p', mux: false, backend: 'pipe', path: base }));
    const c = collector(b);
    // the peer: read PATH.out, write PATH.in
    const reader = new net.Socket({ fd: openSync(`${base}.out`, fsc.O_RDONLY | fsc.O_NONBLOCK), readable: true, writable: false });
    const r = socketReader(reader);
    const writer = new net.Socket({ fd: openSync(`${base}.in`, fsc.O_WRONLY | fsc.O_NONBLOCK), readable: false, writable: true });
    b.write(bytes('to host'));
    await b.flush();
    await until(() => r.text() === 'to host', 'pipe output');
    writer.write('to guest');
    await until(() => c.text() === 'to guest', 'pipe input');
    reader.destroy();
    writer.destroy();
    // output written while nobody reads the FIFO is kept in it, not lost
    b.write(bytes('later'));
    await b.flush();
    const reader2 = new net.Socket({ fd: openSync(`${base}.out`, fsc.O_RDONLY | fsc.O_NONBLOCK), readable: true, writable: false });
    const r2 = socketReader(reader2);
    await until(() => r2.text() === 'later', 'buffered pipe output');
    reader2.destroy();
  });
  it('a single FIFO PATH is used both ways (so output loops back, as in QEMU)', async () => {
    const p = join(dir, 'fifo2');
    mkfifo(p);
    const b = track(openCharBackend({ id: 'p', mux: false, backend: 'pipe', path: p }));
    const c = collector(b);
    b.write(bytes('echo'));
    await until(() => c.text() === 'echo', 'loop-back');
  });
  it('falls back to PATH when only one of PATH.in / PATH.out exists', async () => {
    const p = join(dir, 'fifo3');
    mkfifo(p);
    mkfifo(`${p}.in`);
    const b = track(openCharBackend({ id: 'p', mux: false, backend: 'pipe', path: p }));
    const c = collector(b);
    b.write(bytes('x'));
    await until(() => c.text() === 'x', 'PATH used');
  });
  it('a regular file as PATH: output appended, no input', async () => {
    const p = join(dir, 'plain');
    writeFileSync(p, '');
    const b = openCharBackend({ id: 'p', mux: false, backend: 'pipe', path: p });
    b.write(bytes('abc'));
    await b.close();
    expect(readFileSync(p, 'latin1')).toBe('abc');
  });
  it('missing path is a ChardevError', () => {
    const p = join(dir, 'nope');
    expect(() => openCharBackend({ id: 'p', mux: false, backend: 'pipe', path: p })).toThrow(
      new ChardevError(`chardev 'p': could not open '${p}': No such file or directory`),
    );
  });
});

type SockSpec = Extract<ChardevSpec, { backend: 'socket' }>;
const unixSpec = (path: string, over: Partial<SockSpec> = {}): ChardevSpec => ({
  id: 's', mux: false, backend: 'socket', address: { type: 'unix', path }, server: true, wait: true, nodelay: false, reconnect: 0, ...over,
});

function connectUnix(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path }, () => resolve(s));
    s.on('error', reject);
  });
}

describe('socket server (unix)', () => {
  it('wait=on: ready only when a client connects; both directions work', async () => {
    const p = join(dir, 's1.sock');
    const notes: string[] = [];
    const b = track(openCharBackend(unixSpec(p), { log: (m) => notes.push(m) }));
    let isReady = false;
    void b.ready.then(() => (isReady = true));
    await until(() => existsSync(p), 'socket file');
    await sleep(30);
    expect(isReady).toBe(false);
    expect(notes).toEqual([`cmemu: waiting for connection on: disconnected:unix:${p},server=on`]);
    const client = await connectUnix(p);
    await b.ready;
    const fromHost = socketReader(client);
    const c = collector(b);
    b.write(bytes('hello client'));
    await until(() => fromHost.text() === 'hello client', 'server output');
    client.write('hello guest');
    await until(() => c.text() === 'hello guest', 'server input');
    client.destroy();
  });
  it('wait=off: ready at once; output with no client is dropped (as QEMU); next client gets new output', async () => {
    const p = join(dir, 's2.sock');
    const b = track(openCharBackend(unixSpec(p, { wait: false })));
    await b.ready;
    b.write(bytes('lost'));
    await b.flush();
    const client = await connectUnix(p);
    const r = socketReader(client);
    await sleep(20);
    b.write(bytes('seen'));
    await until(() => r.text() === 'seen', 'output after connect');
    // disconnect: output dropped again; a new client is served
    await new Promise<void>((res) => {
      client.once('close', () => res());
      client.destroy();
    });
    await sleep(20);
    b.write(bytes('dropped'));
    await b.flush();
    const client2 = await connectUnix(p);
    const r2 = socketReader(client2);
    await sleep(20);
    b.write(bytes('again'));
    await until(() => r2.text() === 'again', 'second client');
    client2.destroy();
  });
  it('one client at a time: a second one is refused while the first is connected', async () => {
    const p = join(dir, 's3.sock');
    const b = track(openCharBackend(unixSpec(p, { wait: false })));
    await b.ready;
    const first = await connectUnix(p);
    await sleep(20);
    const second = net.createConnection({ path: p });
    second.on('error', () => {});
    await new Promise<void>((res) => second.once('close', () => res()));
    const r = socketReader(first);
    b.write(bytes('only first'));
    await until(() => r.text() === 'only first', 'first client still served');
    first.destroy();
  });
  it('replaces a stale socket file and removes it on close', async () => {
    const p = join(dir, 's4.sock');
    // a process that dies while listening leaves its socket file behind
    execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(p)}, () => process.exit(0))`]);
    expect(existsSync(p)).toBe(true);
    const b = openCharBackend(unixSpec(p, { wait: false }));
    await b.ready;
    await b.close();
    expect(existsSync(p)).toBe(false);
  });
  it('refuses to replace a regular file', async () => {
    const p = join(dir, 's5.sock');
    writeFileSync(p, 'not a socket');
    const b = track(openCharBackend(unixSpec(p, { wait: false })));
    await expect(b.ready).rejects.toThrow(`chardev 's': cannot listen on unix:${p},server=on: Address already in use`);
    expect(readFileSync(p, 'latin1')).toBe('not a socket');
  });
  it('mux=on applies the escapes to socket input too', async () => {
    const p = join(dir, 's6.sock');
    const quits: number[] = [];
    const b = track(openCharBackend(unixSpec(p, { wait: false, mux: true }), { onQuit: () => quits.push(1) }));
    await b.ready;
    const client = await connectUnix(p);
    const c = collector(b);
    client.write('ok\x01x');
    await until(() => quits.length === 1, 'C-a x over a socket');
    expect(c.text()).toBe('ok');
    client.destroy();
  });
});

describe('socket client (unix)', () => {
  it('connects, exchanges data; output written before the connection completes is not lost', async () => {
    const p = join(dir, 'c1.sock');
    let peer: net.Socket | null = null;
    const srv = net.createServer((s) => (peer = s));
    await new Promise<void>((r) => srv.listen(p, () => r()));
    const b = track(openCharBackend(unixSpec(p, { server: false, wait: false })));
    b.write(bytes('early '));
    await b.ready;
    await until(() => peer !== null, 'accept');
    const r = socketReader(peer!);
    b.write(bytes('bytes'));
    await until(() => r.text() === 'early bytes', 'client output');
    const c = collector(b);
    peer!.write('in');
    await until(() => c.text() === 'in', 'client input');
    await b.close();
    await new Promise<void>((res) => srv.close(() => res()));
  });
  it('connection failure rejects ready with a ChardevError', async () => {
    const p = join(dir, 'c2-missing.sock');
    const b = track(openCharBackend(unixSpec(p, { server: false, wait: false })));
    await expect(b.ready).rejects.toThrow(new ChardevError(`chardev 's': Failed to connect to '${p}': No such file or directory`));
  });
  it('reconnect=N: start-up does not fail; it connects when the server appears', async () => {
    const p = join(dir, 'c3.sock');
    const notes: string[] = [];
    const b = track(openCharBackend(unixSpec(p, { server: false, wait: false, reconnect: 1 }), { log: (m) => notes.push(m) }));
    await b.ready;
    expect(notes[0]).toBe(`cmemu: chardev 's': Failed to connect to '${p}': No such file or directory (retrying every 1 s)`);
    let peer: net.Socket | null = null;
    const srv = net.createServer((s) => (peer = s));
    await new Promise<void>((r) => srv.listen(p, () => r()));
    await until(() => peer !== null, 'reconnect', 4000);
    const r = socketReader(peer!);
    await sleep(20);
    b.write(bytes('back'));
    await until(() => r.text() === 'back', 'output after reconnect');
    await b.close();
    await new Promise<void>((res) => srv.close(() => res()));
  });
});

describe('socket (tcp)', () => {
  it('server binds only the given host', async () => {
    const spec: ChardevSpec = { id: 't', mux: false, backend: 'socket', address: { type: 'tcp', host: '127.0.0.1', port: 0 }, server: true, wait: false, nodelay: true, reconnect: 0 };
    const b = track(openCharBackend(spec));
    await b.ready;
    const a = socketAddress(b) as net.AddressInfo;
    expect(a.address).toBe('127.0.0.1');
    expect(a.port).toBeGreaterThan(0);
    const client = await new Promise<net.Socket>((res) => {
      const s = net.createConnection({ host: '127.0.0.1', port: a.port }, () => res(s));
    });
    const r = socketReader(client);
    const c = collector(b);
    await sleep(20);
    b.write(bytes('tcp out'));
    client.write('tcp in');
    await until(() => r.text() === 'tcp out' && c.text() === 'tcp in', 'tcp exchange');
    client.destroy();
  });
  it('client connects to a tcp server', async () => {
    let peer: net.Socket | null = null;
    const srv = net.createServer((s) => (peer = s));
    await new Promise<void>((r) => srv.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    const b = track(openCharBackend({ id: 't', mux: false, backend: 'socket', address: { type: 'tcp', host: '127.0.0.1', port }, server: false, wait: false, nodelay: false, reconnect: 0 }));
    await b.ready;
    await until(() => peer !== null, 'accept');
    const r = socketReader(peer!);
    b.write(bytes('hi'));
    await until(() => r.text() === 'hi', 'tcp client output');
    await b.close();
    await new Promise<void>((res) => srv.close(() => res()));
  });
  it('connection refused', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const b = track(openCharBackend({ id: 't', mux: false, backend: 'socket', address: { type: 'tcp', host: '127.0.0.1', port }, server: false, wait: false, nodelay: false, reconnect: 0 }));
    await expect(b.ready).rejects.toThrow(`chardev 't': Failed to connect to '127.0.0.1:${port}': Connection refused`);
  });
});
