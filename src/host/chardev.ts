/**
 * Character backends: what QEMU's -chardev / -serial strings become. A backend moves bytes
 * between a guest front end (a UART) and the host: stdio, a file, a named pipe, a socket, or
 * nothing. The spec comes from `parseQemuArgs` (src/cli/qemu-args.ts).
 *
 * Behaviour kept from QEMU:
 *  - stdio on a TTY goes raw (no echo, no line editing) and is restored on close and on exit;
 *    output post-processing stays on ('\n' → '\r\n' by the terminal: libuv's raw mode keeps
 *    OPOST|ONLCR, as QEMU does). With signal=on (default), Ctrl-C / Ctrl-\ still kill the emulator.
 *  - mux=on: input passes through the Ctrl-a escapes: `C-a x` quits ("QEMU: Terminated"),
 *    `C-a h`/`C-a ?` prints help, `C-a C-a` sends a literal C-a; `C-a c` (switch to the
 *    monitor) only prints a note: there is no monitor. Other escapes are ignored, as QEMU.
 *  - file: truncated on open (append=on appends); output only.
 *  - pipe: PATH.in (input) and PATH.out (output) if both open, else PATH both ways; opened
 *    read-write so opening never blocks and a writer going away is not an EOF.
 *  - socket server: one client at a time (others are refused while one is connected). With
 *    wait=on, `ready` resolves only when the first client has connected. OUTPUT WRITTEN WHILE NO
 *    CLIENT IS CONNECTED IS DISCARDED, as QEMU does (tcp_chr_write fails with EIO and the UART
 *    drops the byte); input and output resume with the next client.
 *  - socket client: connects at start-up; failure rejects `ready` (QEMU refuses to start),
 *    unless reconnect=N, in which case it retries every N seconds in the background. Output
 *    written before the connection is established is queued, not lost; output while
 *    disconnected (between reconnects) is discarded, as for a server.
 *  - tcp servers bind only the host in the spec (the parser turns an empty host into
 *    127.0.0.1, where QEMU would listen on every interface).
 *
 * Output is coalesced: small writes are gathered and handed to the host once per event-loop
 * turn (or when 64 KiB pile up). `flush()` resolves when everything written so far has been
 * handed to the OS; on process exit pending stdio/file output is written synchronously.
 */
import { closeSync, constants as fsc, existsSync, fstatSync, lstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import * as net from 'node:net';
import type { LogCategory, Logger } from '../log/logger.js';

/** Where a socket chardev listens or connects. */
export type SocketAddress =
  | { type: 'unix'; path: string }
  /** host defaults to 127.0.0.1 when empty (QEMU would listen on every interface). */
  | { type: 'tcp'; host: string; port: number };

/** A character backend definition (QEMU's -chardev), after defaults are applied. */
export type ChardevSpec = {
  id: string;
  /** mux=on: several front ends (serial + monitor) share it; input goes through the Ctrl-a escapes. */
  mux: boolean;
} & (
  | { backend: 'stdio'; /** signal=on: Ctrl-C kills the emulator (QEMU default); off: Ctrl-C goes to the guest. */ signal: boolean }
  | { backend: 'null' }
  | { backend: 'file'; path: string; /** append=on; QEMU's default truncates. */ append: boolean }
  | { backend: 'pipe'; path: string }
  | {
      backend: 'socket';
      address: SocketAddress;
      server: boolean;
      /** Server only: block start-up until a client connects (QEMU default: on). */
      wait: boolean;
      nodelay: boolean;
      /** Client only: seconds between reconnection attempts (0 = never). */
      reconnect: number;
    }
);

export type ChardevBackendKind = ChardevSpec['backend'];


export interface CharBackend {
  /** Queue bytes for the host side (the caller may reuse `data` afterwards). */
  write(data: Uint8Array): void;
  /** Receive bytes from the host side. Input that arrives before the first callback is kept for it. */
  onData(cb: (data: Uint8Array) => void): void;
  /** Resolves when the backend is usable (a wait=on server has its client; a client is connected). */
  readonly ready: Promise<void>;
  /** Resolves when all output written so far has been handed to the OS. */
  flush(): Promise<void>;
  /** Flush, release the host resources, restore the terminal. Idempotent. */
  close(): Promise<void>;
}

export class ChardevError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChardevError';
  }
}

/** The minimal stdin we need (process.stdin, or a test double). */
export interface StdinLike {
  on(event: 'data', cb: (chunk: Buffer | string) => void): unknown;
  removeListener(event: 'data', cb: (chunk: Buffer | string) => void): unknown;
  resume?(): unknown;
  pause?(): unknown;
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  isRaw?: boolean;
}

/** The minimal stdout we need (process.stdout, or a test double). */
export interface StdoutLike {
  write(data: Uint8Array, cb?: (err?: Error | null) => void): boolean;
  isTTY?: boolean;
}

export interface CharBackendOptions {
  /** `C-a x` on a mux=on chardev. Default: flush and process.exit(0). */
  onQuit?: () => void;
  /** One-line notes always shown to the user (waiting for a connection, C-a c, socket errors). Default: stderr. */
  log?: (msg: string) => void;
  /** `-d`-gated detail: 'unimp' for every C-a c, 'trace' for socket connects/disconnects. */
  logger?: Logger;
  /** stdio: put a TTY stdin in raw mode. Default: stdin.isTTY. */
  raw?: boolean;
  stdin?: StdinLike;
  stdout?: StdoutLike;
  /** stdio raw mode with signal=on: Ctrl-C / Ctrl-\ arrived. Default: re-raise the signal on this process. */
  onSignal?: (sig: 'SIGINT' | 'SIGQUIT') => void;
}

const COALESCE_LIMIT = 64 * 1024;
const CTRL_A = 0x01;

// ---------------------------------------------------------------------------------------------
// Exit hook: pending output of synchronous sinks is written, terminals are restored.
// ---------------------------------------------------------------------------------------------

const liveBackends = new Set<BaseBackend>();
let exitHookInstalled = false;
function track(b: BaseBackend): void {
  liveBackends.add(b);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const x of liveBackends) x.exitSync();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Base: input delivery, mux escapes, coalesced output
// ---------------------------------------------------------------------------------------------

abstract class BaseBackend implements CharBackend {
  ready: Promise<void> = Promise.resolve();
  protected closed = false;
  private readonly callbacks: ((data: Uint8Array) => void)[] = [];
  private early: Uint8Array[] = [];
  private pending: Uint8Array | null = null;
  private pendingLen = 0;
  private scheduled: NodeJS.Immediate | null = null;
  private inFlight: Promise<void> = Promise.resolve();
  private muxEscape = false;
  private monitorNoted = false;

  constructor(
    protected readonly mux: boolean,
    protected readonly opts: CharBackendOptions,
  ) {
    track(this);
  }

  protected log(msg: string): void {
    (this.opts.log ?? ((m: string) => process.stderr.write(m + '\n')))(msg);
  }

  protected detail(cat: LogCategory, msg: string): void {
    const l = this.opts.logger;
    if (l?.enabled(cat)) l.log(cat, msg);
  }

  onData(cb: (data: Uint8Array) => void): void {
    this.callbacks.push(cb);
    if (this.early.length) {
      const e = this.early;
      this.early = [];
      for (const d of e) cb(d);
    }
  }

  /** Bytes from the host: through the mux escapes, then to the front ends. */
  protected deliver(data: Uint8Array): void {
    if (this.closed || data.length === 0) return;
    const out = this.mux ? this.muxFilter(data) : data;
    if (out.length === 0) return;
    if (this.callbacks.length === 0) {
      this.early.push(out.slice());
      return;
    }
    for (const cb of this.callbacks) cb(out);
  }

  private muxFilter(data: Uint8Array): Uint8Array {
    const out: number[] = [];
    for (const ch of data) {
      if (this.muxEscape) {
        this.muxEscape = false;
        switch (ch) {
          case CTRL_A:
            out.push(CTRL_A);
            break;
          case 0x68: // h
          case 0x3f: // ?
            this.writeText(
              '\n\rC-a h    print this help\n\rC-a x    exit emulator\n\rC-a c    switch between console and monitor (no monitor in cmemu)\n\rC-a C-a  sends C-a\n\r',
            );
            break;
          case 0x78: // x
            this.writeText('QEMU: Terminated\n\r');
            this.quit();
            return new Uint8Array(out);
          case 0x63: // c
            this.detail('unimp', 'chardev: C-a c: no QEMU monitor to switch to');
            if (!this.monitorNoted) {
              this.monitorNoted = true;
              this.log('cmemu: C-a c: the QEMU monitor is not implemented; staying on the serial console');
            }
            break;
          default:
            break; // s, t, b and anything else: ignored
        }
      } else if (ch === CTRL_A) {
        this.muxEscape = true;
      } else out.push(ch);
    }
    return new Uint8Array(out);
  }

  private quit(): void {
    this.kick(); // "QEMU: Terminated" goes out before whatever the quit handler prints
    if (this.opts.onQuit) {
      this.opts.onQuit();
      return;
    }
    void this.flush().finally(() => process.exit(0));
  }

  protected writeText(s: string): void {
    this.write(Buffer.from(s, 'latin1'));
  }

  write(data: Uint8Array): void {
    if (this.closed || data.length === 0) return;
    if (!this.pending) this.pending = new Uint8Array(Math.max(4096, data.length));
    if (this.pendingLen + data.length > this.pending.length) {
      const grown = new Uint8Array(Math.max(this.pending.length * 2, this.pendingLen + data.length));
      grown.set(this.pending.subarray(0, this.pendingLen));
      this.pending = grown;
    }
    this.pending.set(data, this.pendingLen);
    this.pendingLen += data.length;
    if (this.pendingLen >= COALESCE_LIMIT) this.kick();
    else if (!this.scheduled) this.scheduled = setImmediate(() => this.kick());
  }

  /** Hand the pending bytes to the sink (sinks keep order: sync ones trivially, async ones queue). */
  private kick(): void {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    if (this.pendingLen === 0) return;
    const chunk = this.pending!.slice(0, this.pendingLen);
    this.pendingLen = 0;
    if (this.pending!.length > 4 * COALESCE_LIMIT) this.pending = null;
    const r = this.sink(chunk);
    if (r) {
      const prev = this.inFlight;
      this.inFlight = prev.then(() => r).catch((e: Error) => this.log(`cmemu: chardev write failed: ${e.message}`));
    }
  }

  async flush(): Promise<void> {
    this.kick();
    await this.inFlight;
  }

  /** On process exit: write what is pending if the sink can do it synchronously; restore terminals. */
  exitSync(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    if (this.pendingLen && this.syncSinkAvailable()) {
      const chunk = this.pending!.slice(0, this.pendingLen);
      this.pendingLen = 0;
      try {
        this.sink(chunk);
      } catch {
        /* exiting anyway */
      }
    }
    this.restore();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      liveBackends.delete(this);
      this.restore();
      await this.release();
    }
  }

  /** Write one coalesced chunk; return a promise if the write completes later. */
  protected abstract sink(chunk: Uint8Array): void | Promise<void>;
  protected syncSinkAvailable(): boolean {
    return false;
  }
  protected restore(): void {}
  protected async release(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------
// null
// ---------------------------------------------------------------------------------------------

class NullBackend extends BaseBackend {
  protected sink(): void {}
}

// ---------------------------------------------------------------------------------------------
// stdio
// ---------------------------------------------------------------------------------------------

class StdioBackend extends BaseBackend {
  private readonly stdin: StdinLike;
  private readonly stdout: StdoutLike;
  private rawEngaged = false;
  private readonly listener: (chunk: Buffer | string) => void;

  constructor(
    mux: boolean,
    private readonly signal: boolean,
    opts: CharBackendOptions,
  ) {
    super(mux, opts);
    this.stdin = opts.stdin ?? process.stdin;
    this.stdout = opts.stdout ?? process.stdout;
    const wantRaw = opts.raw ?? !!this.stdin.isTTY;
    if (wantRaw && this.stdin.isTTY && this.stdin.setRawMode) {
      this.stdin.setRawMode(true);
      this.rawEngaged = true;
    }
    this.listener = (chunk) => this.input(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    this.stdin.on('data', this.listener);
    this.stdin.resume?.();
  }

  private input(data: Uint8Array): void {
    if (this.rawEngaged && this.signal) {
      for (let i = 0; i < data.length; i++) {
        const c = data[i];
        if (c === 0x03 || c === 0x1c) {
          if (i) this.deliver(data.subarray(0, i));
          const sig = c === 0x03 ? 'SIGINT' : 'SIGQUIT';
          this.exitSync();
          if (this.opts.onSignal) this.opts.onSignal(sig);
          else process.kill(process.pid, sig);
          return;
        }
      }
    }
    this.deliver(data);
  }

  /** Bytes go out untouched: the terminal driver does '\n' → '\r\n' (OPOST|ONLCR stay on in raw mode). */
  protected sink(chunk: Uint8Array): void | Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.stdout.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** process.stdout is synchronous on Linux for files, pipes and TTYs: a write at exit gets out. */
  protected override syncSinkAvailable(): boolean {
    return true;
  }

  protected override restore(): void {
    if (this.rawEngaged) {
      this.rawEngaged = false;
      try {
        this.stdin.setRawMode?.(false);
      } catch {
        /* terminal gone */
      }
    }
  }

  protected override async release(): Promise<void> {
    this.stdin.removeListener('data', this.listener);
    this.stdin.pause?.();
  }
}

// ---------------------------------------------------------------------------------------------
// file (output only)
// ---------------------------------------------------------------------------------------------

class FileBackend extends BaseBackend {
  private fd: number;
  constructor(id: string, mux: boolean, path: string, append: boolean, opts: CharBackendOptions) {
    super(mux, opts);
    try {
      this.fd = openSync(path, append ? 'a' : 'w', 0o666);
    } catch (e) {
      liveBackends.delete(this);
      throw new ChardevError(`chardev '${id}': could not open '${path}': ${errText(e)}`);
    }
  }
  /** Regular files: synchronous writes keep order and survive process exit. */
  protected sink(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
  }
  protected override syncSinkAvailable(): boolean {
    return this.fd >= 0;
  }
  protected override async release(): Promise<void> {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

// ---------------------------------------------------------------------------------------------
// stream-backed (pipes, sockets)
// ---------------------------------------------------------------------------------------------

function streamWrite(s: net.Socket, chunk: Uint8Array): Promise<void> {
  return new Promise<void>((resolve) => {
    // Errors surface on the socket's 'error' event; a failed write resolves so flush() never hangs.
    s.write(chunk, () => resolve());
  });
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const map: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    ECONNREFUSED: 'Connection refused',
    EADDRINUSE: 'Address already in use',
    EISDIR: 'Is a directory',
    ENOTDIR: 'Not a directory',
  };
  return (err.code && map[err.code]) || err.message || String(e);
}

class PipeBackend extends BaseBackend {
  private readonly inSock: net.Socket | null;
  private readonly outSock: net.Socket | null;
  private outFd = -1;

  constructor(id: string, mux: boolean, path: string, opts: CharBackendOptions) {
    super(mux, opts);
    let fdIn = -1;
    let fdOut = -1;
    const open = (p: string): number => openSync(p, fsc.O_RDWR | fsc.O_NONBLOCK);
    try {
      try {
        fdIn = open(`${path}.in`);
        fdOut = open(`${path}.out`);
      } catch {
        if (fdIn >= 0) closeSync(fdIn);
        if (fdOut >= 0) closeSync(fdOut);
        fdIn = fdOut = open(path);
      }
    } catch (e) {
      liveBackends.delete(this);
      throw new ChardevError(`chardev '${id}': could not open '${path}': ${errText(e)}`);
    }
    const isFifo = (fd: number): boolean => fstatSync(fd).isFIFO();
    if (!isFifo(fdIn) || !isFifo(fdOut)) {
      // Not a FIFO (a regular file, say): output is appended to it, there is no input.
      if (fdIn !== fdOut) closeSync(fdIn);
      this.inSock = null;
      this.outSock = null;
      this.outFd = fdOut;
      return;
    }
    const mk = (fd: number, readable: boolean): net.Socket => {
      const s = new net.Socket({ fd, readable, writable: true });
      s.on('error', (e) => this.log(`cmemu: chardev '${id}': ${e.message}`));
      return s;
    };
    if (fdIn === fdOut) {
      this.inSock = this.outSock = mk(fdIn, true);
    } else {
      this.inSock = mk(fdIn, true);
      this.outSock = mk(fdOut, false);
    }
    this.inSock.on('data', (d: Buffer) => this.deliver(d));
  }

  protected sink(chunk: Uint8Array): void | Promise<void> {
    if (this.outSock) return streamWrite(this.outSock, chunk);
    if (this.outFd >= 0) {
      let off = 0;
      while (off < chunk.length) off += writeSync(this.outFd, chunk, off, chunk.length - off);
    }
  }

  protected override syncSinkAvailable(): boolean {
    return this.outFd >= 0;
  }

  protected override async release(): Promise<void> {
    const socks = new Set([this.inSock, this.outSock].filter((s): s is net.Socket => !!s));
    await Promise.all(
      [...socks].map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            s.once('close', () => resolve());
            s.destroy();
          }),
      ),
    );
    if (this.outFd >= 0) closeSync(this.outFd);
    this.outFd = -1;
  }
}

type SocketSpec = Extract<ChardevSpec, { backend: 'socket' }>;

export function describeSocket(spec: SocketSpec): string {
  const a = spec.address.type === 'unix' ? `unix:${spec.address.path}` : `tcp:${spec.address.host}:${spec.address.port}`;
  return spec.server ? `${a},server=on` : a;
}

class SocketBackend extends BaseBackend {
  private client: net.Socket | null = null;
  private server: net.Server | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private unixPathToRemove: string | null = null;
  private lastError: unknown = null;

  constructor(
    private readonly spec: SocketSpec,
    opts: CharBackendOptions,
  ) {
    super(spec.mux, opts);
    this.ready = spec.server ? this.listen() : this.connect(true);
    this.ready.catch(() => {}); // the caller awaits it; never an unhandled rejection
  }

  private listen(): Promise<void> {
    const { spec } = this;
    return new Promise<void>((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: false });
      this.server = server;
      server.maxConnections = 1; // QEMU serves one client at a time
      let first = true;
      server.on('connection', (sock) => {
        this.adopt(sock);
        if (first && spec.wait) resolve();
        first = false;
      });
      server.on('error', (e: NodeJS.ErrnoException) => {
        reject(new ChardevError(`chardev '${spec.id}': cannot listen on ${describeSocket(spec)}: ${errText(e)}`));
      });
      const onListening = (): void => {
        if (spec.wait) this.log(`cmemu: waiting for connection on: disconnected:${describeSocket(spec)}`);
        else resolve();
      };
      if (spec.address.type === 'unix') {
        const p = spec.address.path;
        // QEMU unlinks a stale socket before binding; we only remove sockets, never other files.
        try {
          if (existsSync(p) && lstatSync(p).isSocket()) unlinkSync(p);
        } catch {
          /* bind will report it */
        }
        this.unixPathToRemove = p;
        server.listen(p, onListening);
      } else {
        server.listen({ host: spec.address.host, port: spec.address.port, exclusive: true }, onListening);
      }
    });
  }

  /** Address a tcp server actually bound (port 0 = any free port). */
  address(): net.AddressInfo | string | null {
    return this.server?.address() ?? null;
  }

  private connect(initial: boolean): Promise<void> {
    const { spec } = this;
    return new Promise<void>((resolve, reject) => {
      const sock =
        spec.address.type === 'unix' ? net.createConnection({ path: spec.address.path }) : net.createConnection({ host: spec.address.host, port: spec.address.port });
      this.client = sock; // writes before 'connect' are queued by the socket, not lost
      let connected = false;
      sock.once('connect', () => {
        connected = true;
        this.detail('trace', `chardev '${spec.id}': connected to ${describeSocket(spec)}`);
        if (spec.address.type === 'tcp') sock.setNoDelay(spec.nodelay);
        resolve();
      });
      this.wire(sock, () => {
        this.client = null;
        if (!connected) {
          const msg = `chardev '${spec.id}': Failed to connect to '${spec.address.type === 'unix' ? spec.address.path : `${spec.address.host}:${spec.address.port}`}': ${errText(this.lastError)}`;
          if (initial && !spec.reconnect) reject(new ChardevError(msg));
          else if (initial) {
            this.log(`cmemu: ${msg} (retrying every ${spec.reconnect} s)`);
            resolve();
          }
        } else if (!spec.reconnect) {
          this.log(`cmemu: chardev '${spec.id}': connection closed`);
        }
        if (spec.reconnect && !this.closed) {
          this.reconnectTimer = setTimeout(() => {
            this.reconnectTimer = null;
            if (!this.closed) void this.connect(false);
          }, spec.reconnect * 1000);
        }
      });
    });
  }

  private wire(sock: net.Socket, onGone: () => void): void {
    sock.on('data', (d: Buffer) => this.deliver(d));
    sock.on('error', (e) => {
      this.lastError = e;
    });
    sock.on('close', onGone);
  }

  private adopt(sock: net.Socket): void {
    if (this.spec.address.type === 'tcp') sock.setNoDelay(this.spec.nodelay);
    this.client = sock;
    this.detail('trace', `chardev '${this.spec.id}': client connected to ${describeSocket(this.spec)}`);
    this.wire(sock, () => {
      if (this.client === sock) this.client = null;
      this.detail('trace', `chardev '${this.spec.id}': client disconnected; output is dropped until the next one`);
    });
  }

  protected sink(chunk: Uint8Array): void | Promise<void> {
    const c = this.client;
    // No client (server waiting, or disconnected): dropped, as QEMU. A client socket still
    // connecting queues the bytes itself.
    if (!c || c.destroyed) return;
    return streamWrite(c, chunk);
  }

  protected override async release(): Promise<void> {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const c = this.client;
    this.client = null;
    if (c && !c.destroyed) {
      await new Promise<void>((resolve) => {
        c.once('close', () => resolve());
        c.end();
        setTimeout(() => c.destroy(), 200).unref();
      });
    }
    if (this.server) {
      const s = this.server;
      this.server = null;
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    if (this.unixPathToRemove) {
      try {
        if (existsSync(this.unixPathToRemove) && lstatSync(this.unixPathToRemove).isSocket()) unlinkSync(this.unixPathToRemove);
      } catch {
        /* gone */
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// In-memory backend for tests
// ---------------------------------------------------------------------------------------------

/** Collects output in memory; `feed()` plays input. Writes are recorded at once (no coalescing delay). */
export class BufferBackend implements CharBackend {
  readonly ready = Promise.resolve();
  private readonly chunks: Uint8Array[] = [];
  private readonly callbacks: ((data: Uint8Array) => void)[] = [];
  private early: Uint8Array[] = [];
  closed = false;

  write(data: Uint8Array): void {
    if (!this.closed) this.chunks.push(data.slice());
  }
  onData(cb: (data: Uint8Array) => void): void {
    this.callbacks.push(cb);
    const e = this.early;
    this.early = [];
    for (const d of e) cb(d);
  }
  /** Input from the "host". */
  feed(data: Uint8Array | string): void {
    const d = typeof data === 'string' ? Buffer.from(data, 'latin1') : data.slice();
    if (this.callbacks.length === 0) this.early.push(d);
    else for (const cb of this.callbacks) cb(d);
  }
  /** All output so far. */
  output(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
  /** All output so far as latin1 text. */
  text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
  /** Output so far, then forget it. */
  take(): Uint8Array {
    const o = this.output();
    this.chunks.length = 0;
    return o;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {
    this.closed = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Factory
// ---------------------------------------------------------------------------------------------

/**
 * Open the host side of a chardev. Synchronous failures (a file that cannot be opened) throw
 * ChardevError; socket set-up completes later: await `ready` (it rejects with ChardevError).
 * Open each chardev once, even when several front ends share it (mux=on).
 */
export function openCharBackend(spec: ChardevSpec, opts: CharBackendOptions = {}): CharBackend {
  switch (spec.backend) {
    case 'null':
      return new NullBackend(spec.mux, opts);
    case 'stdio':
      return new StdioBackend(spec.mux, spec.signal, opts);
    case 'file':
      return new FileBackend(spec.id, spec.mux, spec.path, spec.append, opts);
    case 'pipe':
      return new PipeBackend(spec.id, spec.mux, spec.path, opts);
    case 'socket':
      return new SocketBackend(spec, opts);
  }
}

/** The bound address of a socket server backend (e.g. to find the port after port=0), or null. */
export function socketAddress(b: CharBackend): net.AddressInfo | string | null {
  return b instanceof SocketBackend ? b.address() : null;
}
