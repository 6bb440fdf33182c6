/**
 * One peer's connection to an ivshmem server (ours, src/devices/ivshmem/server.ts, or QEMU's
 * contrib/ivshmem-server): `connectIvshmem` implements the IvshmemLink contract (link.ts) over
 * the pure protocol machine (protocol.ts) and the native POSIX plumbing (src/native/posix.ts).
 *
 * Everything is asynchronous and event-driven: the socket is watched by a uv_poll handle on
 * Node's own loop (no thread, no timer polling); the greeting and every later message are read
 * with non-blocking recvmsg as they arrive. Nothing here can kill the process: a bad server gets
 * a rejected promise (during the greeting) or an `onClose` reason (after).
 *
 * After the server closes the connection (or is refused), the link keeps the shared memory and
 * every eventfd it holds: peers still running can still be rung and still ring us; only joins and
 * departures are no longer known. `close()` releases the fds; the mapping is released by the GC
 * once nothing (the CPU's mapping of it included) uses the buffer.
 */
import { posix, Ready, type FdWatch, type PosixApi } from '../../native/posix.js';
import { SILENT, type Logger } from '../../log/logger.js';
import type { ConnectOptions, IvshmemLink } from '../../devices/ivshmem-link.js';
import { IvshmemClientProtocol, MAX_PEER_ID, MAX_VECTORS, MessageFramer, type Step } from './protocol.js';

/** During the greeting, the socket counts as quiet after this long without new data (ms). */
const GREETING_SETTLE_MS = 25;
/** Default greeting timeout (ms). */
export const DEFAULT_GREETING_TIMEOUT_MS = 5000;

export class IvshmemConnectError extends Error {
  override name = 'IvshmemConnectError';
}

class ClientLink implements IvshmemLink {
  private readonly peerCbs: ((peer: number, joined: boolean) => void)[] = [];
  private readonly closeCbs: ((reason: string) => void)[] = [];
  private readonly shmLostCbs: ((message: string) => void)[] = [];
  /** privateFrom already reported (see checkShm). */
  private reportedFrom = -1;
  shmEventFd: number | undefined;
  private sock: number;
  private watch: FdWatch | null;
  private closed = false;
  private readonly framer = new MessageFramer();
  shm: ArrayBuffer = new ArrayBuffer(0);
  /** Why the server connection ended (undefined while it is up). */
  serverGone: string | undefined;

  constructor(
    private readonly px: PosixApi,
    private readonly proto: IvshmemClientProtocol,
    sock: number,
    private readonly log: Logger,
    private readonly path: string,
  ) {
    this.sock = sock;
    this.watch = null;
  }

  get id(): number {
    return this.proto.id;
  }
  get shmSize(): number {
    return this.shm.byteLength;
  }
  get ownVectorFds(): readonly number[] {
    return this.proto.ownVectorFds;
  }
  peerVectors(peer: number): number {
    if (peer === this.proto.id) return this.proto.ownVectorFds.length;
    return this.proto.vectorFds(peer).length;
  }
  peers(): number[] {
    return this.proto.peers();
  }
  notify(peer: number, vector: number): boolean {
    if (this.closed) return false;
    if (!Number.isInteger(peer) || peer < 0 || peer > MAX_PEER_ID) return false;
    if (!Number.isInteger(vector) || vector < 0 || vector >= MAX_VECTORS) return false;
    const fds = this.proto.vectorFds(peer);
    if (vector >= fds.length) return false;
    try {
      this.px.writeEventFd(fds[vector]!, 1);
      return true;
    } catch (e) {
      this.trace(`notify(${peer}, ${vector}) failed: ${(e as Error).message}`);
      return false;
    }
  }
  onPeerChange(cb: (peer: number, joined: boolean) => void): void {
    this.peerCbs.push(cb);
  }
  onClose(cb: (reason: string) => void): void {
    this.closeCbs.push(cb);
  }
  onShmLost(cb: (message: string) => void): void {
    this.shmLostCbs.push(cb);
  }
  checkShm(): void {
    if (this.closed || this.shm.byteLength === 0) return;
    const st = this.px.sharedStatus(this.shm);
    if (!st || st.privateFrom < 0 || (this.reportedFrom >= 0 && st.privateFrom >= this.reportedFrom)) return;
    this.reportedFrom = st.privateFrom;
    const size = this.shm.byteLength;
    const hex = (v: number) => '0x' + v.toString(16);
    const msg =
      `the shared-memory object was truncated under the board (it is ${st.objectSize < 0 ? 'unreadable' : `${st.objectSize} bytes`} now, ` +
      `the mapping ${size}): bytes ${hex(st.privateFrom)}-${hex(size - 1)} are private zero pages from now on, no longer shared with the peers`;
    this.trace(msg);
    for (const cb of this.shmLostCbs) cb(msg);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropSocket();
    for (const fd of this.proto.releaseAll()) this.px.closeFd(fd);
    if (this.shm.byteLength) this.px.unguardShared(this.shm);
    if (this.shmEventFd !== undefined) this.px.closeFd(this.shmEventFd);
    this.shmEventFd = undefined;
  }

  // --- the connection ---------------------------------------------------------------------------

  /** Start watching the socket; `onGreeting` is called once with the outcome of the greeting. */
  start(onGreeting: (err: string | null) => void): void {
    let greeted = false;
    const finishGreeting = (err: string | null) => {
      if (greeted) return;
      greeted = true;
      onGreeting(err);
    };
    // The protocol never says how many vectors we have: the greeting is complete when the socket
    // goes quiet. A server that sends its messages one by one (under load, with pauses between
    // them) must not look done after the first vector, so during the greeting "quiet" means no
    // new data for GREETING_SETTLE_MS after a drained read.
    let settle: NodeJS.Timeout | null = null;
    const onReadable = (settled: boolean) => {
      if (settle) {
        clearTimeout(settle);
        settle = null;
      }
      if (!greeted && !settled) {
        const outcome = this.readAvailable(false);
        if (outcome.fatal !== undefined) finishGreeting(outcome.fatal);
        else if (this.sock >= 0) settle = setTimeout(() => onReadable(true), GREETING_SETTLE_MS);
        return;
      }
      handle(this.readAvailable(true));
    };
    const handle = (outcome: { ready: boolean; fatal?: string }) => {
      if (outcome.ready) {
        try {
          this.mapShm();
        } catch (e) {
          outcome.fatal = `cannot map the shared memory: ${(e as Error).message}`;
        }
        if (!outcome.fatal) finishGreeting(null);
      }
      if (outcome.fatal !== undefined) {
        if (!greeted) {
          finishGreeting(outcome.fatal);
        } else {
          this.serverLost(outcome.fatal);
        }
      }
    };
    this.watch = new this.px.FdWatch(this.sock, () => onReadable(false));
    this.watch.start(Ready.Readable);
  }

  /** Read until EAGAIN (or EOF/error); apply every step. */
  private readAvailable(endBurst = true): { ready: boolean; fatal?: string } {
    let ready = false;
    for (;;) {
      if (this.sock < 0) return { ready };
      const chunk = this.px.recvChunk(this.sock, this.framer.need());
      if (chunk.again) {
        if (!endBurst) return { ready };
        const s = this.proto.endOfBurst();
        const r = this.apply(s);
        if (r !== undefined) return { ready, fatal: r };
        return { ready: ready || s.ready };
      }
      if (chunk.error !== undefined || chunk.eof) {
        const partial = this.framer.partial();
        for (const fd of this.framer.discard()) this.px.closeFd(fd);
        for (const fd of chunk.fds) this.px.closeFd(fd);
        const why = chunk.error !== undefined ? `connection error: ${chunk.error}` : 'the server closed the connection';
        const where = this.proto.phase === 'ready' ? '' : ` during the greeting (${this.proto.describeProgress()})`;
        return { ready, fatal: `${why}${where}${partial ? ` in the middle of a message (${partial} of 8 bytes)` : ''}` };
      }
      if (chunk.truncated) {
        for (const fd of chunk.fds) this.px.closeFd(fd);
        for (const fd of this.framer.discard()) this.px.closeFd(fd);
        return { ready, fatal: 'the fds passed with a message were truncated (MSG_CTRUNC)' };
      }
      for (const msg of this.framer.push(chunk.data, chunk.fds)) {
        const r = this.apply(this.proto.feed(msg));
        if (r !== undefined) return { ready, fatal: r };
      }
    }
  }

  /** Carry out a step; returns the fatal error, if any. */
  private apply(s: Step): string | undefined {
    for (const fd of s.close) this.px.closeFd(fd);
    for (const w of s.warnings) this.trace(w);
    if (s.error !== undefined) return s.error;
    if (s.left.length || s.joined.length) this.checkShm();
    for (const p of s.left) {
      this.trace(`peer ${p} left`);
      for (const cb of this.peerCbs) cb(p, false);
    }
    for (const p of s.joined) {
      this.trace(`peer ${p} joined with ${this.proto.vectorFds(p).length} vector(s)`);
      for (const cb of this.peerCbs) cb(p, true);
    }
    return undefined;
  }

  private mapShm(): void {
    const fd = this.proto.takeShmFd();
    try {
      this.shm = this.px.mmapShared(fd, this.proto.mapSize, true);
      // Whoever can write the object can shrink it: guard the mapping against SIGBUS (sharedStatus).
      this.shmEventFd = this.px.createEventFd(0);
      this.px.guardShared(this.shm, fd, this.shmEventFd);
    } finally {
      this.px.closeFd(fd); // the mapping outlives the fd
    }
    this.trace(
      `connected to ${this.path}: id ${this.id}, ${this.shm.byteLength} bytes of shared memory` +
        `${this.proto.shmObjectSize !== this.shm.byteLength ? ` (of ${this.proto.shmObjectSize})` : ''}, ` +
        `${this.ownVectorFds.length} vector(s), peers [${this.peers().join(', ')}]`,
    );
  }

  private serverLost(reason: string): void {
    if (this.serverGone !== undefined) return;
    this.serverGone = reason;
    this.trace(`server connection closed: ${reason}`);
    this.dropSocket();
    for (const cb of this.closeCbs) cb(reason);
  }

  private dropSocket(): void {
    if (this.watch) {
      this.watch.close();
      this.watch = null;
    }
    if (this.sock >= 0) {
      this.px.closeFd(this.sock);
      this.sock = -1;
    }
    for (const fd of this.framer.discard()) this.px.closeFd(fd);
  }

  private trace(msg: string): void {
    if (this.log.enabled('trace')) this.log.log('trace', `ivshmem: ${msg}`);
  }

  /** The greeting failed: release everything. */
  abort(): void {
    this.close();
  }
}

/**
 * Connect to the ivshmem server listening on `path` and complete the greeting. Resolves with the
 * link once the own id, the shared memory and the own eventfds have arrived; rejects with an
 * `IvshmemConnectError` naming the problem (cannot connect, refused greeting, timeout).
 */
export function connectIvshmem(path: string, opts: ConnectOptions = {}): Promise<IvshmemLink> {
  const px = posix();
  const log = opts.log ?? SILENT;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_GREETING_TIMEOUT_MS;
  if (opts.shmemSize !== undefined && !(Number.isSafeInteger(opts.shmemSize) && opts.shmemSize > 0)) {
    return Promise.reject(new IvshmemConnectError(`ivshmem: bad shmem-size ${opts.shmemSize}`));
  }
  const t0 = Date.now();
  const fail = (e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code;
    const hint =
      code === 'ENOENT' ? ' (no such socket: is the ivshmem server running?)'
      : code === 'ECONNREFUSED' ? ' (nobody listens there: a stale socket?)'
      : code === 'EAGAIN' ? ` (the server accepted no connection within ${timeoutMs} ms: its backlog is full)`
      : '';
    return new IvshmemConnectError(`ivshmem: cannot connect to ${path}: ${(e as Error).message}${hint}`);
  };
  // A full backlog (EAGAIN: many boards starting at once, or a server that stopped accepting) is
  // retried until the greeting timeout; the connect itself never blocks.
  const connectNow = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const attempt = () => {
        try {
          resolve(px.unixConnect(path));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN' && Date.now() - t0 < timeoutMs) setTimeout(attempt, 10);
          else reject(fail(e));
        }
      };
      attempt();
    });
  return connectNow().then((sock) => greet(px, path, sock, opts, log, Math.max(1, timeoutMs - (Date.now() - t0))));
}

function greet(px: PosixApi, path: string, sock: number, opts: ConnectOptions, log: Logger, timeoutMs: number): Promise<IvshmemLink> {
  const proto = new IvshmemClientProtocol({ shmemSize: opts.shmemSize, inspectFd: (fd) => px.fdInfo(fd), checkVectorFd: (fd) => px.prepareEventFd(fd) });
  const link = new ClientLink(px, proto, sock, log, path);
  return new Promise<IvshmemLink>((resolve, reject) => {
    const timer = setTimeout(() => {
      link.abort();
      reject(new IvshmemConnectError(`ivshmem: no complete greeting from ${path} within ${opts.timeoutMs ?? DEFAULT_GREETING_TIMEOUT_MS} ms (${proto.describeProgress()})`));
    }, timeoutMs);
    link.start((err) => {
      clearTimeout(timer);
      if (err === null) {
        resolve(link);
      } else {
        link.abort();
        reject(new IvshmemConnectError(`ivshmem: ${path}: ${err}`));
      }
    });
  });
}
