/**
 * The client side of the ivshmem server protocol as a pure state machine: bytes and fds in,
 * decisions out. No I/O here: the caller (client.ts) reads the socket, feeds what came, closes the
 * fds it is told to close, and maps the shared memory. Tests drive it with made-up fd numbers.
 *
 * The protocol (QEMU docs/specs/ivshmem-spec.rst, contrib/ivshmem-server): every server message is
 * a signed 64-bit little-endian integer, optionally with fds (SCM_RIGHTS). The greeting is:
 *   0 (protocol version) · own id · -1 with the shared-memory fd ·
 *   for every other peer, its id with one eventfd per vector · own id with own eventfds.
 * Later: a new peer's id with its eventfds (one message per vector); a peer's id without fd when it
 * leaves. There is no end-of-greeting marker: the server writes the whole greeting at once, so the
 * greeting is complete when the socket has nothing more to read (`endOfBurst`) after at least one
 * own vector and at least as many own vectors as any peer has (one server gives every peer the
 * same number, so a slow greeting that a server had to queue is not cut short).
 *
 * What it refuses (a fatal `error`, naming the problem): another protocol version; an own id or a
 * peer id outside 0..65535; a greeting without the shared-memory fd, or one that is not a memfd,
 * shm object or regular file; a region smaller than `shmemSize`; more than 64 vectors for a peer;
 * a second shared-memory message; a vector fd that is not an eventfd. It ignores, with a warning, what would corrupt its state without
 * being fatal: a departure message for its own id (QEMU's ivshmem-flat corrupts its peer list on
 * that), a departure of an unknown peer, extra fds on a message (closed).
 *
 * SIZE RULE: the server's region must be at least `shmemSize` bytes, and the link maps exactly
 * `shmemSize` bytes (the whole region when no size is given). QEMU's device demands equality, but
 * QEMU's own server rounds `-l` up to a power of two, so `-l 3M` with `shmem-size=3M` can never
 * work there; accepting a larger region costs nothing (the tail is simply not mapped, and all
 * peers' common prefix is the same memory), while a smaller one must be refused: the guest would
 * take SIGBUS past its end.
 */

export const PROTOCOL_VERSION = 0;
/** Most vectors a peer may have (QEMU's IVSHMEM_MAX_VECTORS / the server's -n limit). */
export const MAX_VECTORS = 64;
export const MAX_PEER_ID = 0xffff;
export const MESSAGE_BYTES = 8;

/** One server message. */
export interface Message {
  value: bigint;
  fds: number[];
}

/**
 * Reassembles 8-byte messages from what each recvmsg returned. The kernel attaches fds to the
 * first byte of the send they came with, so a chunk's fds belong to the message that holds the
 * chunk's first byte; reading at most `need()` bytes at a time keeps that exact.
 */
export class MessageFramer {
  private readonly buf = new Uint8Array(MESSAGE_BYTES);
  private have = 0;
  private fds: number[] = [];

  /** Bytes missing from the current message (1..8). */
  need(): number {
    return MESSAGE_BYTES - this.have;
  }

  /** Bytes of a message received so far (0 between messages). */
  partial(): number {
    return this.have;
  }

  push(data: Uint8Array, fds: readonly number[] = []): Message[] {
    const out: Message[] = [];
    this.fds.push(...fds);
    let i = 0;
    while (i < data.length) {
      const n = Math.min(MESSAGE_BYTES - this.have, data.length - i);
      this.buf.set(data.subarray(i, i + n), this.have);
      this.have += n;
      i += n;
      if (this.have === MESSAGE_BYTES) {
        out.push({ value: new DataView(this.buf.buffer).getBigInt64(0, true), fds: this.fds });
        this.have = 0;
        this.fds = [];
      }
    }
    return out;
  }

  /** Forget a partial message; returns its fds, for the caller to close. */
  discard(): number[] {
    const fds = this.fds;
    this.fds = [];
    this.have = 0;
    return fds;
  }
}

/** What backs an fd (src/native/posix.ts `fdInfo`); injected so the state machine stays pure. */
export interface ShmFdInfo {
  kind: 'memfd' | 'shm' | 'file' | 'other';
  size: number;
  detail: string;
}

export interface ProtocolOptions {
  /** The device's `shmem-size`: the region must be at least this big (see SIZE RULE). */
  shmemSize?: number;
  /** Inspect the shared-memory fd (fstat and what backs it). */
  inspectFd: (fd: number) => ShmFdInfo;
  /**
   * Check a vector fd: null if it is an eventfd (made non-blocking), else what it is. A pipe or a
   * blocking fd from a hostile server would hang the emulator on the guest's next doorbell. Absent: not checked.
   */
  checkVectorFd?: (fd: number) => string | null;
}

/** What the caller must do after one `feed` or `endOfBurst`. */
export interface Step {
  /** Fds to close now: refused, surplus, or belonging to a peer that left. */
  close: number[];
  /** Peers whose eventfds have all arrived since the greeting (announce them). */
  joined: number[];
  /** Peers that left (their fds are in `close`). */
  left: number[];
  /** Not fatal, worth a log line. */
  warnings: string[];
  /** Set once, by `endOfBurst`: the greeting is complete (`id`, `shmFd`, `mapSize`, own vectors known). */
  ready: boolean;
  /** Fatal: drop the connection (and call `releaseAll`). Nothing more is accepted. */
  error?: string;
}

export type Phase = 'version' | 'id' | 'shm' | 'vectors' | 'ready' | 'failed';

function emptyStep(): Step {
  return { close: [], joined: [], left: [], warnings: [], ready: false };
}

function fmtSize(n: number): string {
  return n % 1048576 === 0 ? `${n / 1048576} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
}

export class IvshmemClientProtocol {
  private phaseNow: Phase = 'version';
  private ownId = -1;
  private shm = -1;
  private shmBytes = 0;
  private readonly own: number[] = [];
  private readonly peerFds = new Map<number, number[]>();
  /** Peers reported present: at the end of the greeting, or by a `joined`. */
  private readonly present = new Set<number>();
  private messages = 0;

  constructor(private readonly opts: ProtocolOptions) {}

  get phase(): Phase {
    return this.phaseNow;
  }
  /** Own peer id (-1 before it arrived). */
  get id(): number {
    return this.ownId;
  }
  /** The shared-memory fd (-1 before it arrived); the caller maps it, then may `takeShmFd`. */
  get shmFd(): number {
    return this.shm;
  }
  /** The region's size as fstat gave it. */
  get shmObjectSize(): number {
    return this.shmBytes;
  }
  /** Bytes to map: `shmemSize` if given, else the whole region. */
  get mapSize(): number {
    return this.opts.shmemSize ?? this.shmBytes;
  }
  get ownVectorFds(): readonly number[] {
    return this.own;
  }
  /** Messages accepted so far (for error messages). */
  get messageCount(): number {
    return this.messages;
  }

  /** Hand over the shm fd (the caller now owns it and will close it). */
  takeShmFd(): number {
    const fd = this.shm;
    this.shm = -1;
    return fd;
  }

  /** Eventfds received for `peer` (own id: own vectors); empty if unknown. */
  vectorFds(peer: number): readonly number[] {
    if (peer === this.ownId) return this.own;
    return this.peerFds.get(peer) ?? [];
  }

  /** Other peers reported present (sorted). */
  peers(): number[] {
    return [...this.present].sort((a, b) => a - b);
  }

  /** Every fd the machine still holds (shm, own and peers' eventfds), which it forgets: for closing the connection. */
  releaseAll(): number[] {
    const fds = [...this.own];
    for (const v of this.peerFds.values()) fds.push(...v);
    if (this.shm >= 0) fds.push(this.shm);
    this.own.length = 0;
    this.peerFds.clear();
    this.present.clear();
    this.shm = -1;
    return fds;
  }

  private fail(step: Step, msg: Message, reason: string): Step {
    step.close.push(...msg.fds);
    step.error = reason;
    this.phaseNow = 'failed';
    return step;
  }

  feed(msg: Message): Step {
    const step = emptyStep();
    if (this.phaseNow === 'failed') {
      step.close.push(...msg.fds);
      step.error = 'connection already refused';
      return step;
    }
    this.messages++;
    const v = msg.value;
    switch (this.phaseNow) {
      case 'version':
        if (v !== BigInt(PROTOCOL_VERSION)) {
          return this.fail(step, msg, `unsupported ivshmem protocol version ${v} (cmemu speaks version ${PROTOCOL_VERSION}; an old server that sends no version would show its first message here)`);
        }
        this.surplus(step, msg.fds, 0, 'the protocol version message');
        this.phaseNow = 'id';
        return step;
      case 'id':
        if (v < 0n || v > BigInt(MAX_PEER_ID)) return this.fail(step, msg, `own peer id ${v} out of range (0..${MAX_PEER_ID})`);
        this.ownId = Number(v);
        this.surplus(step, msg.fds, 0, 'the own-id message');
        this.phaseNow = 'shm';
        return step;
      case 'shm':
        return this.shmMessage(step, msg);
      default:
        return this.peerMessage(step, msg);
    }
  }

  private surplus(step: Step, fds: readonly number[], keep: number, what: string): void {
    if (fds.length <= keep) return;
    step.close.push(...fds.slice(keep));
    step.warnings.push(`${fds.length - keep} unexpected fd(s) with ${what} (closed)`);
  }

  private shmMessage(step: Step, msg: Message): Step {
    const v = msg.value;
    if (v !== -1n) return this.fail(step, msg, `expected the shared-memory message (-1 with an fd), got ${v}${msg.fds.length ? ' with an fd' : ''}`);
    if (msg.fds.length === 0) return this.fail(step, msg, 'the server sent no shared-memory fd (message -1 without an fd)');
    const fd = msg.fds[0]!;
    let info: ShmFdInfo;
    try {
      info = this.opts.inspectFd(fd);
    } catch (e) {
      return this.fail(step, msg, `cannot inspect the shared-memory fd: ${(e as Error).message}`);
    }
    if (info.kind === 'other') return this.fail(step, msg, `the shared-memory fd is not a memfd, shm object or regular file: it is ${info.detail}`);
    const want = this.opts.shmemSize;
    if (info.size <= 0) return this.fail(step, msg, 'the shared memory is empty (size 0)');
    if (want !== undefined && info.size < want) {
      return this.fail(step, msg, `the server's shared memory is ${fmtSize(info.size)} (${info.size} bytes), smaller than shmem-size ${fmtSize(want)} (${want} bytes)`);
    }
    this.surplus(step, msg.fds, 1, 'the shared-memory message');
    this.shm = fd;
    this.shmBytes = info.size;
    this.phaseNow = 'vectors';
    return step;
  }

  private peerMessage(step: Step, msg: Message): Step {
    const v = msg.value;
    if (v === -1n) return this.fail(step, msg, 'a second shared-memory message (-1)');
    if (v < 0n || v > BigInt(MAX_PEER_ID)) return this.fail(step, msg, `peer id ${v} out of range (0..${MAX_PEER_ID})`);
    const peer = Number(v);
    if (msg.fds.length === 0) {
      // A departure.
      if (peer === this.ownId) {
        step.warnings.push(`the server announced our own id ${peer} leaving: ignored (it would corrupt the peer list)`);
        return step;
      }
      const fds = this.peerFds.get(peer);
      if (!fds) {
        step.warnings.push(`departure of unknown peer ${peer}: ignored`);
        return step;
      }
      step.close.push(...fds);
      this.peerFds.delete(peer);
      if (this.present.delete(peer)) step.left.push(peer);
      return step;
    }
    const bad = this.opts.checkVectorFd?.(msg.fds[0]!);
    if (bad) return this.fail(step, msg, `the vector fd for ${peer === this.ownId ? 'own id' : 'peer'} ${peer} is not an eventfd: it is ${bad}`);
    const list = peer === this.ownId ? this.own : this.peerFds.get(peer) ?? [];
    if (list.length >= MAX_VECTORS) {
      return this.fail(step, msg, `${peer === this.ownId ? 'own id' : 'peer'} ${peer} has more than ${MAX_VECTORS} vectors`);
    }
    list.push(msg.fds[0]!);
    this.surplus(step, msg.fds, 1, `a vector message for peer ${peer}`);
    if (peer !== this.ownId) {
      this.peerFds.set(peer, list);
      // After the greeting every peer has as many vectors as we have (one server, one -n): a
      // newcomer is complete at that count. `endOfBurst` catches peers with other counts.
      if (this.phaseNow === 'ready' && !this.present.has(peer) && list.length >= this.own.length) {
        this.present.add(peer);
        step.joined.push(peer);
      }
    }
    return step;
  }

  /** The socket has nothing more to read for now: completes the greeting, or announces newcomers with fewer vectors than ours. */
  endOfBurst(): Step {
    const step = emptyStep();
    // Every peer of one server has the same number of vectors: fewer own vectors than a peer has
    // means the rest of the greeting is still on its way (a server that had to queue it).
    const most = Math.max(0, ...[...this.peerFds.values()].map((v) => v.length));
    if (this.phaseNow === 'vectors' && this.own.length > 0 && this.own.length >= most) {
      this.phaseNow = 'ready';
      step.ready = true;
      for (const p of this.peerFds.keys()) this.present.add(p);
      return step;
    }
    if (this.phaseNow === 'ready') {
      for (const p of [...this.peerFds.keys()].sort((a, b) => a - b)) {
        if (!this.present.has(p)) {
          this.present.add(p);
          step.joined.push(p);
        }
      }
    }
    return step;
  }

  /** Where the greeting stands, for a timeout or early-EOF message. */
  describeProgress(): string {
    switch (this.phaseNow) {
      case 'version':
        return this.messages === 0 ? 'nothing received' : 'waiting for the protocol version';
      case 'id':
        return 'after the protocol version, before the own id';
      case 'shm':
        return `after the own id ${this.ownId}, before the shared-memory fd`;
      case 'vectors':
        return `after the shared memory, with ${this.own.length} own vector(s) and ${this.peerFds.size} peer(s) so far`;
      case 'ready':
        return 'greeting complete';
      case 'failed':
        return 'refused';
    }
  }
}
