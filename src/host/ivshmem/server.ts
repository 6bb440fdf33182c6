/**
 * An ivshmem server, protocol-compatible with QEMU's contrib/ivshmem-server (QEMU's
 * ivshmem-doorbell/ivshmem-plain and our ivshmem-flat connect to it), usable in-process (tests,
 * `make demo`) and behind `cmemu ivshmem-server` (src/cli/ivshmem-server.ts).
 *
 * What a client gets on connect (docs/ivshmem.md): 0 (version) · its id · -1 with the shared
 * memory fd · every other peer's id with its eventfds (one message per vector) · its own id with its
 * own eventfds. The others then get the newcomer's id with its eventfds; when a client leaves,
 * the others get its id without fd. Ids come from a counter that skips ids still in use (as QEMU;
 * unlike QEMU the counter wraps at 65536, so ids always fit the 16-bit DOORBELL field).
 *
 * Like QEMU's server it runs in one thread on the event loop (uv_poll handles on the sockets, no
 * timers). Unlike it, a slow client never blocks nor loses messages: sends are non-blocking and
 * queue (each queued fd duplicated, so a peer leaving meanwhile cannot close it under us) until the
 * socket is writable again; a client whose queue passes MAX_QUEUE messages, whose socket fails,
 * or that sends anything (clients never speak) is dropped with a log line and a departure notice.
 *
 * Shared memory: a POSIX shm object (`shmName`, as -M; unlinked at stop only if this server created
 * it), an unlinked file in a directory (`shmDir`, as -m), or by default a memfd. Its size is
 * `size` rounded up to a power of two, as QEMU's server does.
 */
import { EventEmitter } from 'node:events';
import { fstatSync, lstatSync, unlinkSync } from 'node:fs';
import { posix, Ready, Errno, type FdWatch, type PosixApi } from '../../native/posix.js';
import { MAX_PEER_ID, MAX_VECTORS, PROTOCOL_VERSION } from './protocol.js';

export interface IvshmemServerOptions {
  /** The UNIX socket to listen on (created 0600; a stale socket nobody listens on is replaced). */
  socketPath: string;
  /** A POSIX shared-memory object name (as QEMU's -M). */
  shmName?: string;
  /** A directory to create the shared memory file in, unlinked at once (as QEMU's -m). */
  shmDir?: string;
  /** Bytes, rounded up to a power of two. */
  size: number;
  /** Eventfds per peer, 1..64. */
  vectors: number;
  /** Verbose log lines (QEMU's -v messages, in our words). */
  log?: (line: string) => void;
}

/** A message queued for a slow client. `fd` is our own duplicate (closed once sent or dropped). */
interface Pending {
  value: bigint;
  fd: number;
}

interface Peer {
  id: number;
  sock: number;
  watch: FdWatch;
  vectors: number[];
  queue: Pending[];
  /** Set when the connection failed: the peer is freed by `reap`, outside any loop over peers. */
  dead?: string;
  /** The others were told about it: they must be told it left. */
  announced: boolean;
  /** 'join' was emitted: 'leave' will be. */
  joinEmitted?: boolean;
}

/** Why a send failed, in words (was `send failed (errno 32)`). */
function sendFailure(r: number): string {
  if (r >= 0) return `short send (${r} bytes)`;
  if (-r === Errno.EPIPE) return 'connection closed (it went away)';
  if (-r === Errno.ECONNRESET) return 'connection reset';
  return `send failed (errno ${-r})`;
}

/** A receive error's text (strerror), in the log's words. */
function recvFailure(err: string): string {
  if (/reset by peer/i.test(err)) return 'connection reset';
  if (/broken pipe/i.test(err)) return 'connection closed (it went away)';
  return `connection error: ${err}`;
}

/** A client is dropped when this many messages wait for it. */
export const MAX_QUEUE = 4096;

/** QEMU's pow2ceil. */
export function pow2ceil(n: number): number {
  if (n <= 1) return 1;
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export interface IvshmemServer {
  on(event: 'join', cb: (peer: number, vectors: number) => void): this;
  on(event: 'leave', cb: (peer: number, reason: string) => void): this;
  once(event: 'join', cb: (peer: number, vectors: number) => void): this;
  once(event: 'leave', cb: (peer: number, reason: string) => void): this;
}

export class IvshmemServer extends EventEmitter {
  private readonly px: PosixApi = posix();
  private listenFd = -1;
  private listenWatch: FdWatch | null = null;
  private listenIno = -1;
  private shmFd = -1;
  private shmCreatedName: string | null = null;
  private readonly peerList: Peer[] = [];
  private curId = 0;
  private acceptPause: NodeJS.Timeout | null = null;
  private opts!: IvshmemServerOptions;
  private running = false;
  /** The shared memory's size in bytes (after rounding). */
  shmSize = 0;
  /** What backs the shared memory, for logs ("memfd", "shm object /ivshmem", "file in /dir"). */
  shmDescription = '';

  get socketPath(): string {
    return this.opts.socketPath;
  }
  get vectors(): number {
    return this.opts.vectors;
  }

  /** Connected peers and their vector counts, in connection order. */
  peers(): { id: number; vectors: number }[] {
    return this.peerList.filter((p) => !p.dead).map((p) => ({ id: p.id, vectors: p.vectors.length }));
  }

  /**
   * Create the shared memory and listen. Throws (and leaves nothing behind) on bad options, a
   * socket path in use by a live server or by something that is not a socket, or a failing call.
   */
  start(opts: IvshmemServerOptions): this {
    if (this.running) throw new Error('ivshmem server: already started');
    if (!Number.isInteger(opts.vectors) || opts.vectors < 1 || opts.vectors > MAX_VECTORS) {
      throw new RangeError(`ivshmem server: vectors must be 1..${MAX_VECTORS}, not ${opts.vectors}`);
    }
    if (!Number.isSafeInteger(opts.size) || opts.size < 1) throw new RangeError(`ivshmem server: bad size ${opts.size}`);
    if (opts.shmName !== undefined && opts.shmDir !== undefined) throw new Error('ivshmem server: shmName and shmDir exclude each other');
    this.opts = opts;
    this.shmSize = pow2ceil(opts.size);
    try {
      this.openShm();
      this.listen();
    } catch (e) {
      this.releaseShm();
      throw e;
    }
    this.running = true;
    this.log(`listening on ${opts.socketPath}: ${this.shmDescription}, ${this.shmSize} bytes, ${opts.vectors} vector(s) per peer`);
    return this;
  }

  /** Disconnect every client, remove the socket (if it is still ours) and the shm object this server created. Idempotent. */
  stop(): void {
    if (this.acceptPause) clearTimeout(this.acceptPause);
    this.acceptPause = null;
    for (const p of this.peerList.splice(0)) this.freeResources(p);
    if (this.listenWatch) this.listenWatch.close();
    this.listenWatch = null;
    if (this.listenFd >= 0) {
      this.px.closeFd(this.listenFd);
      this.listenFd = -1;
      try {
        // Only our own socket: another server may have replaced a path we no longer listen on.
        if (lstatSync(this.opts.socketPath).ino === this.listenIno) unlinkSync(this.opts.socketPath);
      } catch {
        /* already gone */
      }
    }
    this.releaseShm();
    if (this.running) this.log('stopped');
    this.running = false;
  }

  // --- set-up -----------------------------------------------------------------------------------

  private openShm(): void {
    const { shmName, shmDir } = this.opts;
    if (shmName !== undefined) {
      try {
        this.shmFd = this.px.shmOpen(shmName, true, true);
        this.shmCreatedName = shmName;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        this.shmFd = this.px.shmOpen(shmName, false, false); // reuse it, as QEMU does
        // ...but only our own, closed to others: an object someone else made (or opened up)
        // would let them read and write every peer's memory, or shrink it under the boards.
        const st = fstatSync(this.shmFd);
        const uid = process.getuid?.() ?? st.uid;
        if (st.uid !== uid || (st.mode & 0o077) !== 0) {
          throw new Error(
            `ivshmem server: shm object ${shmName} exists ${st.uid !== uid ? `and belongs to uid ${st.uid}` : `with mode 0${(st.mode & 0o777).toString(8)}`}: ` +
              'refusing to share memory others can open (remove it, or chmod 600 it if it is yours)',
          );
        }
      }
      this.shmDescription = `shm object ${shmName}${this.shmCreatedName ? '' : ' (existing)'}`;
    } else if (shmDir !== undefined) {
      this.shmFd = this.px.openUnlinkedIn(shmDir);
      this.shmDescription = `unlinked file in ${shmDir}`;
    } else {
      this.shmFd = this.px.memfdCreate('ivshmem');
      this.shmDescription = 'memfd';
    }
    if (this.px.fdInfo(this.shmFd).size !== this.shmSize) this.px.ftruncate(this.shmFd, this.shmSize);
  }

  private releaseShm(): void {
    if (this.shmFd >= 0) this.px.closeFd(this.shmFd);
    this.shmFd = -1;
    if (this.shmCreatedName !== null) this.px.shmUnlink(this.shmCreatedName);
    this.shmCreatedName = null;
  }

  private listen(): void {
    const path = this.opts.socketPath;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      st = undefined;
    }
    if (st) {
      if (!st.isSocket()) throw new Error(`ivshmem server: ${path} exists and is not a socket`);
      let live = false;
      try {
        this.px.closeFd(this.px.unixConnect(path));
        live = true;
      } catch (e) {
        // ECONNREFUSED: stale. EAGAIN: a live server whose backlog is full (never steal it).
        live = (e as NodeJS.ErrnoException).code === 'EAGAIN';
      }
      if (live) throw new Error(`ivshmem server: ${path} is in use by a running server`);
      this.log(`removing stale socket ${path}`);
      unlinkSync(path);
    }
    this.listenFd = this.px.unixListen(path, 16);
    this.listenIno = lstatSync(path).ino;
    this.listenWatch = new this.px.FdWatch(this.listenFd, () => this.acceptAll());
    this.listenWatch.start(Ready.Readable);
  }

  // --- clients ----------------------------------------------------------------------------------

  private acceptAll(): void {
    for (;;) {
      let fd: number;
      try {
        fd = this.px.unixAccept(this.listenFd);
      } catch (e) {
        // Out of fds: stop accepting for a moment instead of spinning on a readable socket.
        this.log(`cannot accept: ${(e as Error).message}; pausing for 100 ms`);
        this.listenWatch?.stop();
        this.acceptPause = setTimeout(() => {
          this.acceptPause = null;
          this.listenWatch?.start(Ready.Readable);
        }, 100);
        return;
      }
      if (fd < 0) return;
      this.newPeer(fd);
      this.reap();
    }
  }

  private nextId(): number {
    const used = new Set(this.peerList.map((p) => p.id));
    for (let i = 0; i <= MAX_PEER_ID; i++) {
      const id = this.curId;
      this.curId = (this.curId + 1) & MAX_PEER_ID;
      if (!used.has(id)) return id;
    }
    return -1;
  }

  private newPeer(sock: number): void {
    const id = this.nextId();
    if (id < 0) {
      this.log('no free peer id (65536 peers connected): connection refused');
      this.px.closeFd(sock);
      return;
    }
    const vectors: number[] = [];
    try {
      for (let i = 0; i < this.opts.vectors; i++) vectors.push(this.px.createEventFd(0));
    } catch (e) {
      this.log(`cannot create eventfds: ${(e as Error).message}: connection refused`);
      for (const fd of vectors) this.px.closeFd(fd);
      this.px.closeFd(sock);
      return;
    }
    const peer: Peer = { id, sock, vectors, queue: [], announced: false, watch: null as unknown as FdWatch };
    peer.watch = new this.px.FdWatch(sock, (events, status) => this.onPeerSocket(peer, events, status));
    peer.watch.start(Ready.Readable);
    this.log(`accepted a connection: peer id ${id}`);

    // The greeting, then the newcomer to the others, the others to the newcomer, itself to itself.
    this.send(peer, BigInt(PROTOCOL_VERSION), -1);
    this.send(peer, BigInt(id), -1);
    this.send(peer, -1n, this.shmFd);
    const others = this.peerList.filter((p) => !p.dead);
    this.peerList.push(peer);
    if (peer.dead) return; // reap() frees it; nobody was told about it
    peer.announced = true;
    for (const o of others) for (const fd of vectors) this.send(o, BigInt(id), fd);
    for (const o of others) for (const fd of o.vectors) this.send(peer, BigInt(o.id), fd);
    for (const fd of vectors) this.send(peer, BigInt(id), fd);
    if (!peer.dead) {
      peer.joinEmitted = true;
      this.log(`new peer id ${id} (${vectors.length} vector(s))`);
      this.emit('join', id, vectors.length);
    }
  }

  /** Send now, or queue behind what is already waiting; a hard error marks the peer dead. */
  private send(peer: Peer, value: bigint, fd: number): void {
    if (peer.dead) return;
    if (peer.queue.length === 0) {
      const r = this.px.sendMsg(peer.sock, value, fd);
      if (r === 8) return;
      if (r !== -Errno.EAGAIN) {
        peer.dead = sendFailure(r);
        return;
      }
    }
    if (peer.queue.length >= MAX_QUEUE) {
      peer.dead = `too slow: ${MAX_QUEUE} messages waiting`;
      return;
    }
    let dup = -1;
    if (fd >= 0) {
      try {
        dup = this.px.dupFd(fd);
      } catch (e) {
        peer.dead = `cannot queue an fd: ${(e as Error).message}`;
        return;
      }
    }
    peer.queue.push({ value, fd: dup });
    if (peer.queue.length === 1) peer.watch.start(Ready.Readable | Ready.Writable);
  }

  private flush(peer: Peer): void {
    while (peer.queue.length > 0 && !peer.dead) {
      const m = peer.queue[0]!;
      const r = this.px.sendMsg(peer.sock, m.value, m.fd);
      if (r === -Errno.EAGAIN) return;
      peer.queue.shift();
      if (m.fd >= 0) this.px.closeFd(m.fd);
      if (r !== 8) peer.dead = sendFailure(r);
    }
    if (!peer.dead) peer.watch.start(Ready.Readable);
  }

  private onPeerSocket(peer: Peer, events: number, status: number): void {
    if (peer.dead) return;
    if (status < 0 || events & (Ready.Readable | Ready.Disconnect)) {
      // Clients never send anything: data, EOF or an error all mean the client is done. libuv
      // reports a socket error (POLLERR) as status UV_EBADF: the receive says what it really is
      // (a client that closed with our messages unread: a reset).
      const c = this.px.recvChunk(peer.sock, 64);
      for (const fd of c.fds) this.px.closeFd(fd);
      if (!c.again) peer.dead = c.eof ? 'disconnected' : c.error ? recvFailure(c.error) : 'sent data (clients must not)';
      else if (status < 0) peer.dead = `socket error (libuv status ${status})`;
    }
    if (!peer.dead && events & Ready.Writable) this.flush(peer);
    this.reap();
  }

  /** Free dead peers and tell the others; telling them may kill more (loop). */
  private reap(): void {
    for (;;) {
      const i = this.peerList.findIndex((p) => p.dead);
      if (i < 0) return;
      const p = this.peerList[i]!;
      this.peerList.splice(i, 1);
      this.freeResources(p);
      this.log(`peer ${p.id}: ${p.dead}; freed`);
      if (p.announced) {
        for (const o of this.peerList) this.send(o, BigInt(p.id), -1);
      }
      if (p.joinEmitted) this.emit('leave', p.id, p.dead!);
    }
  }

  private freeResources(p: Peer): void {
    p.watch.close();
    this.px.closeFd(p.sock);
    for (const fd of p.vectors) this.px.closeFd(fd);
    for (const m of p.queue) if (m.fd >= 0) this.px.closeFd(m.fd);
    p.queue.length = 0;
    p.vectors = [];
    p.dead ??= 'server stopped';
  }

  private log(line: string): void {
    this.opts?.log?.(line);
  }
}
