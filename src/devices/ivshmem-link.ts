/**
 * The contract between an ivshmem client connection (src/devices/ivshmem/client.ts: the server
 * protocol, fds, mmap) and what uses it (the ivshmem-flat device, tests, tools). A link is one
 * peer's view of the shared-memory group.
 */
import type { Logger } from '../log/logger.js';

export interface IvshmemLink {
  /** Own peer id, as the server assigned it (IVPOSITION). */
  readonly id: number;
  /**
   * The shared memory, mmapped MAP_SHARED from the server's fd: an external ArrayBuffer, zero copy.
   * Its length is `shmem-size` when given (the server's region may be larger: see the SIZE RULE in
   * protocol.ts), else the whole region.
   */
  readonly shm: ArrayBuffer;
  /** = shm.byteLength. */
  readonly shmSize: number;
  /**
   * Own eventfds, index = vector number (the server decides how many; 1..64 once connected). The
   * link never reads them: the user watches them. Empty for a link without fds (an in-process
   * link between boards of one world): its doorbells come through onDoorbell instead.
   */
  readonly ownVectorFds: readonly number[];
  /** Links without eventfds: `cb(vector)` for each doorbell to one of our vectors, on the JS thread. */
  onDoorbell?(cb: (vector: number) => void): void;
  /** Vectors the peer has: 0 when the peer is unknown or has left; own id: own vector count. */
  peerVectors(peer: number): number;
  /** Ids of the other peers currently connected. */
  peers(): number[];
  /** Ring `peer`'s `vector` (write 1 to its eventfd); own id allowed. False, and nothing done, when the peer or vector does not exist. */
  notify(peer: number, vector: number): boolean;
  /** A peer joined (its eventfds all received) or left (its fds closed). */
  onPeerChange(cb: (peer: number, joined: boolean) => void): void;
  /**
   * The server closed the connection or sent something we refuse after the greeting. The shared
   * memory stays mapped and every eventfd already received stays open (peers still running can
   * still be rung, and still ring us) until close(); joins and departures are no longer known.
   */
  onClose(cb: (reason: string) => void): void;
  /**
   * An eventfd that becomes readable when the shared memory was found shrunk under the mapping
   * (a SIGBUS was repaired): the owner watches it and calls `checkShm`. Absent for links whose
   * memory cannot be shrunk (in-process).
   */
  readonly shmEventFd?: number;
  /**
   * Check that the shared-memory object still covers the mapping (fstat; cheap). If it shrank, the
   * pages past its new end are private zero pages from now on (no SIGBUS, but no longer shared)
   * and each `onShmLost` callback is told once per new shrink, with a one-line description.
   */
  checkShm?(): void;
  onShmLost?(cb: (message: string) => void): void;
  /** Close the socket and every fd; the memory is unmapped by the GC once nothing (a CPU mapping included) uses `shm`. Does not call onClose. Idempotent. */
  close(): void;
}

export interface ConnectOptions {
  /** The device's `shmem-size` property, if given: the rule applied to the server's size is the client's to document. */
  shmemSize?: number;
  log?: Logger;
  /** Give up on the greeting after this long (ms; default 5000). */
  timeoutMs?: number;
}
