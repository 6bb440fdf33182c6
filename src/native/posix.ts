/**
 * The POSIX part of the native addon's contract (native/src/posix.cc, plus the eventfd functions
 * of native/src/addon.cc): what Node lacks for the ivshmem server protocol. UNIX stream sockets
 * with SCM_RIGHTS fd passing, shared-memory objects (memfd, shm_open, unlinked files), MAP_SHARED
 * mappings as external ArrayBuffers, eventfds, a blocking poll, and readiness callbacks on Node's
 * own event loop (a uv_poll handle: no thread, no busy polling).
 *
 * Linux only. Every fd these functions make is close-on-exec; sockets are non-blocking. Errors
 * from system calls are thrown as `Error`s whose message names the call and whose `code` is the
 * errno name ("ENOENT", "ECONNREFUSED", ...), as Node's own errors.
 *
 * `NativeAddon` (src/native/cpu.ts) extends this interface: this file is the one place these
 * functions are documented.
 */
import { loadAddonModule } from './addon.js';

/** What one non-blocking `recvChunk` got. */
export interface RecvChunk {
  /** The bytes read (empty on EOF, EAGAIN or error). */
  data: Uint8Array;
  /** Fds that came with them (SCM_RIGHTS), already installed in this process: the caller owns them and must close those it does not keep. */
  fds: number[];
  /** The peer closed the connection (no more data will come). */
  eof: boolean;
  /** Nothing to read now (EAGAIN). */
  again: boolean;
  /** The kernel truncated the ancillary data (MSG_CTRUNC): fds may be missing. */
  truncated: boolean;
  /** strerror text of a receive error (ECONNRESET, ...): the connection is unusable. */
  error?: string;
}

/** What backs an fd, as far as shared memory is concerned. */
export interface FdInfo {
  /** memfd (memfd_create), shm (a file on tmpfs/hugetlbfs, e.g. shm_open), file (another regular file), other (not a regular file: refuse it). */
  kind: 'memfd' | 'shm' | 'file' | 'other';
  /** st_size. */
  size: number;
  /** What /proc says it is ("/memfd:ivshmem (deleted)", "/dev/shm/ivshmem"), or for `other` what kind of fd ("a socket (socket:[123])", "an anonymous inode (anon_inode:[eventfd])"). */
  detail: string;
}

/** `sharedStatus`: see there. */
export interface SharedStatus {
  /** The object's st_size now (-1 if fstat failed). */
  objectSize: number;
  privateFrom: number;
  faults: number;
}

/** Events for `FdWatch.start` and its callback. */
export const enum Ready {
  Readable = 1,
  Writable = 2,
  /** Callback only: the peer hung up (libuv UV_DISCONNECT; not always reported: read until EOF). */
  Disconnect = 4,
}

/** revents bits returned by `pollFds`. */
export const enum PollBits {
  In = 1,
  Out = 4,
  Err = 8,
  Hup = 16,
  Nval = 32,
}

/** Linux errno numbers that `sendMsg` may return negated. */
export const enum Errno {
  EAGAIN = 11,
  EPIPE = 32,
  ECONNRESET = 104,
}

/**
 * A readiness callback on Node's event loop for one fd (a libuv uv_poll handle). At most one
 * FdWatch per fd. Stop or close it before closing the fd. While started it keeps the event loop
 * (and itself) alive, unless `unref()` was called.
 */
export interface FdWatch {
  /** Watch for `events` (Ready.Readable | Ready.Writable; 0 = stop). Level-triggered: the callback repeats while the condition holds. */
  start(events: number): void;
  stop(): void;
  /** Stop for good and release the handle (idempotent). */
  close(): void;
  /** Keep (default) / do not keep the event loop alive because of this watch. */
  ref(): void;
  unref(): void;
}

export interface PosixApi {
  // --- eventfds (native/src/addon.cc) -----------------------------------------------------------
  /** A new non-blocking, close-on-exec eventfd with counter `initial` (default 0). */
  createEventFd(initial?: number): number;
  /** Add `value` (default 1) to an eventfd's counter. Throws on error (e.g. EBADF). */
  writeEventFd(fd: number, value?: number): void;
  /** Read and reset an eventfd's counter; 0 if it was 0 (never blocks: the fd is non-blocking). */
  readEventFd(fd: number): number;
  /** close(2); errors ignored. */
  closeFd(fd: number): void;

  // --- UNIX stream sockets and fd passing -------------------------------------------------------
  /** Connect to a listening UNIX stream socket; returns a non-blocking socket. Throws (code ENOENT, ECONNREFUSED, EAGAIN, ...). */
  unixConnect(path: string): number;
  /** Bind and listen on `path` (the socket file has mode 0600 from the start); non-blocking. Throws EADDRINUSE if the path exists. */
  unixListen(path: string, backlog?: number): number;
  /** Accept one pending connection (non-blocking socket), or -1 if none is pending. Throws on resource exhaustion (EMFILE, ...). */
  unixAccept(listenFd: number): number;
  /** Two connected non-blocking UNIX stream sockets. */
  socketPair(): [number, number];
  /**
   * One non-blocking recvmsg of at most `maxBytes` (1..4096, default 8) with all the SCM_RIGHTS fds
   * that came along, retried on EINTR. Read no further than the end of the current message so each
   * fd stays with the message it was sent with (the kernel attaches fds to the first byte of a send).
   */
  recvChunk(fd: number, maxBytes?: number): RecvChunk;
  /**
   * Send one signed 64-bit little-endian value, with `passFd` as SCM_RIGHTS when >= 0. Never blocks
   * and never raises SIGPIPE. Returns the bytes sent (8; an 8-byte send on a UNIX stream socket is
   * all or nothing) or a negated errno (-Errno.EAGAIN when the peer does not read, -EPIPE when it left).
   */
  sendMsg(fd: number, value: bigint | number, passFd?: number): number;

  /** Test tool: one non-blocking sendmsg of any bytes with any fds (a hostile server splitting messages). Bytes sent or a negated errno. */
  sendRaw(fd: number, data: Uint8Array, fds?: readonly number[]): number;
  /**
   * Null if `fd` is an eventfd, which is then made non-blocking (a write to a full counter fails
   * with EAGAIN instead of blocking); otherwise what /proc says it is ("pipe:[123]", "/tmp/x").
   */
  prepareEventFd(fd: number): string | null;
  /** A close-on-exec duplicate of `fd` (to queue an fd for a later send while its owner may close it). */
  dupFd(fd: number): number;

  // --- shared-memory objects --------------------------------------------------------------------
  /** memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING): size 0 until `ftruncate`. */
  memfdCreate(name?: string): number;
  /** shm_open(name, O_RDWR [| O_CREAT [| O_EXCL]], 0600). `name` as for shm_open ("/ivshmem" or "ivshmem"). */
  shmOpen(name: string, create: boolean, exclusive: boolean): number;
  /** shm_unlink; false if it failed (e.g. no such object). */
  shmUnlink(name: string): boolean;
  /** Create DIR/ivshmem.XXXXXX (mode 0600) and unlink it at once, as QEMU's server does for `-m DIR`. */
  openUnlinkedIn(dir: string): number;
  ftruncate(fd: number, size: number): void;
  /** fstat + what backs the fd: only a regular file (memfd, shm, file) can be shared memory. */
  fdInfo(fd: number): FdInfo;

  // --- mappings ---------------------------------------------------------------------------------
  /**
   * mmap(fd, size, MAP_SHARED) as an external ArrayBuffer (zero copy; peers' stores are visible at
   * once). Unmapped when the buffer is garbage-collected (a CPU's `mapHostMemory` keeps it alive),
   * or by `munmapShared`. The mapping survives closing the fd.
   */
  mmapShared(fd: number, size: number, writable?: boolean): ArrayBuffer;
  /**
   * Unmap now and detach the buffer (byteLength becomes 0, so JS cannot touch freed memory). Only
   * for a buffer that nothing native (a CPU mapping) still uses. False if not a live mapping.
   */
  munmapShared(buffer: ArrayBuffer): boolean;
  /**
   * Survive the object being shrunk under the mapping (`truncate -s 0 /dev/shm/NAME`): from now on
   * an access past the object's end (a SIGBUS, in JS or in the CPU's JIT code) makes the pages from
   * the new end to the end of the mapping private zero pages at the same address, and adds 1 to
   * `notifyFd` (an eventfd) so that the owner calls `sharedStatus` and reports it. `fd` is the
   * object the buffer maps; both fds are duplicated. False if not a live mapping or already guarded.
   */
  guardShared(buffer: ArrayBuffer, fd: number, notifyFd: number): boolean;
  /**
   * A guarded mapping's state after checking the object's size now (pages past a shrunk end are
   * replaced at once). `privateFrom`: offset from which the pages are private zeros (-1: all shared);
   * `faults`: SIGBUS repaired so far. Null if the buffer is not guarded.
   */
  sharedStatus(buffer: ArrayBuffer): SharedStatus | null;
  /** Stop guarding (the guard's fds are closed; the mapping stays). False if not guarded. */
  unguardShared(buffer: ArrayBuffer): boolean;

  // --- waiting ----------------------------------------------------------------------------------
  /**
   * Block the calling thread in ppoll(2) until one of `fds` has `events` (default PollBits.In) or
   * `timeoutNs` passes (< 0: no timeout); EINTR resumes with the time left. Returns each fd's
   * revents (PollBits). For tools and benchmarks: it blocks the event loop.
   */
  pollFds(fds: readonly number[], timeoutNs?: number, events?: number): number[];
  /** A readiness callback on Node's event loop: cb(events: Ready bits, status: 0 or a negative libuv error). */
  FdWatch: new (fd: number, cb: (events: number, status: number) => void) => FdWatch;
}

/** The addon's POSIX functions (loads the addon on first use). */
export function posix(): PosixApi {
  return loadAddonModule() as PosixApi;
}
