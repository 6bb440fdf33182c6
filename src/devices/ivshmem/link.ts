/**
 * The contract between an ivshmem client connection (src/devices/ivshmem/client.ts: the server
 * protocol, fds, mmap) and what uses it (the ivshmem-flat device, tests, tools). A link is one
 * peer's view of the shared-memory group.
 */
import type { Logger } from '../device.js';

export interface IvshmemLink {
  /** Own peer id, as the server assigned it (IVPOSITION). */
  readonly id: number;
  /** The shared memory, mmapped MAP_SHARED from the server's fd: an external ArrayBuffer, zero copy. */
  readonly shm: ArrayBuffer;
  readonly shmSize: number;
  /** Own eventfds, index = vector number (the server decides how many). */
  readonly ownVectorFds: readonly number[];
  /** Vectors the peer has: 0 when the peer is unknown or has left. */
  peerVectors(peer: number): number;
  /** Ids of the other peers currently connected. */
  peers(): number[];
  /** Ring `peer`'s `vector` (write 1 to its eventfd); own id allowed. False, and nothing done, when the peer or vector does not exist. */
  notify(peer: number, vector: number): boolean;
  /** A peer joined (its eventfds all received) or left (its fds closed). */
  onPeerChange(cb: (peer: number, joined: boolean) => void): void;
  /** The server closed the connection or sent something we refuse after the greeting; the shared memory stays mapped. */
  onClose(cb: (reason: string) => void): void;
  /** Close the socket and every fd; unmap the memory once nothing uses it. */
  close(): void;
}

export interface ConnectOptions {
  /** The device's `shmem-size` property, if given: the rule applied to the server's size is the client's to document. */
  shmemSize?: number;
  log?: Logger;
  /** Give up on the greeting after this long (ms). */
  timeoutMs?: number;
}
