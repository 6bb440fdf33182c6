/**
 * ivshmem-flat: inter-VM shared memory for boards without PCI, as QEMU's hw/misc/ivshmem-flat.c,
 * over an IvshmemLink (one peer's connection to an ivshmem server, src/devices/ivshmem/link.ts).
 * The shared memory itself is not this device: the machine maps the link's buffer straight into
 * the guest at x-bus-address-shmem (zero copy). This file is the register window and the IRQ.
 *
 * REGISTERS (little-endian; 32-bit accesses only: a byte or halfword access, or an offset inside
 * the window that is not a register, reads 0 / is ignored and is logged under `-d guest_errors`).
 * The window is 0x100 bytes; 0x00-0x0F are QEMU's, 0x10-0x3F are cmemu extensions.
 *
 *  off   name           access  reset       meaning
 *  0x00  INTRMASK       RW      0xFFFFFFFF  bit n = 1: own vector n (0..31) raises the IRQ.
 *  0x04  INTRSTATUS     R/W1C   0           bit n = own vector n (0..31) fired since last cleared.
 *                                           Reads have no side effect (safe to poll); writing 1
 *                                           to a bit clears it, 0 leaves it.
 *  0x08  IVPOSITION     RO      own id      own peer id (ivshmem_get_id), from the server.
 *  0x0C  DOORBELL       WO      -           write (peer << 16) | vector: ring that peer's vector.
 *                                           Own id allowed (self-notification: INTRSTATUS bit set
 *                                           and the IRQ pulsed at once, before the next
 *                                           instruction, without a trip through the eventfd).
 *                                           Unknown/departed peer, a vector that peer does not
 *                                           have, or any peer but self once the server is gone:
 *                                           ignored, logged under -d guest_errors. Reads 0.
 *  --- cmemu extensions (QEMU's window is 16 bytes: firmware that wants to run on both should
 *      use only 0x00-0x0F, or check EXTID first on a build that knows it runs on cmemu) ---
 *  0x10  EXTID          RO      0x49565331  'IVS1': the extension block, version 1.
 *  0x14  VECTORS        RO      n           number of own vectors (ivshmem_get_vectors), 1..64.
 *  0x18  SHMSIZE        RO      size        shared memory size in bytes (ivshmem_get_mem).
 *  0x1C  SHMADDR        RO      address     guest address of the shared memory (x-bus-address-shmem).
 *  0x20  INTRSTATUS_HI  R/W1C   0           as INTRSTATUS for own vectors 32..63 (bit n = vector 32+n).
 *  0x24  INTRMASK_HI    RW      0xFFFFFFFF  as INTRMASK for own vectors 32..63.
 *  0x28  EVSTATUS       R/W1C   0           bit 0 PEERS_CHANGED: a peer joined or left;
 *                                           bit 1 SERVER_GONE: the server connection closed;
 *                                           bit 2 SHM_LOST: the shared-memory object was truncated
 *                                           under the board (see below).
 *  0x2C  EVMASK         RW      0           bit n = 1: EVSTATUS bit n raises the IRQ. Off by
 *                                           default, so QEMU-style firmware whose handler assumes
 *                                           "doorbell" never sees these interrupts.
 *  0x30  PEER_SEL       RW      0           selects a peer id (any 32-bit value) for 0x34/0x38.
 *  0x34  PEER_VECTORS   RO      -           vectors of peer PEER_SEL: 0 if not connected (or
 *                                           the server is gone); own id gives own VECTORS.
 *  0x38  PEER_NEXT      RO      -           smallest connected other peer id >= PEER_SEL, or
 *                                           0xFFFFFFFF when none. Enumerate: sel = 0; while
 *                                           ((p = PEER_NEXT) != ~0) { ...; PEER_SEL = p + 1; }
 *  0x3C  LINK           RO      -           bit 0 = connected to the server; bits 31..16 = number
 *                                           of other peers connected.
 *
 * THE IRQ (one output, wired to an NVIC input): an edge, as QEMU's (which pulses the line). It
 * fires (sets the NVIC pending bit) every time an event sets a status bit whose mask bit is 1 (a
 * doorbell to an own vector; a peer/server event enabled in EVMASK) - each doorbell pends again,
 * even if the status bit was already set - and when a write to a mask register enables a bit
 * whose status is already set (so masked events are not lost). There is no level to hold: firmware
 * written for QEMU, which never touches INTRMASK/INTRSTATUS, gets one handler run per doorbell
 * (doorbells coalesce in the eventfd, as in QEMU) and never an interrupt storm; firmware that
 * clears INTRSTATUS in its handler loses nothing, since a doorbell after its read pends the IRQ
 * again. Typical handler (Zephyr's ivshmem_register_handler dispatch):
 *     uint32_t s = INTRSTATUS; INTRSTATUS = s;   // read, then acknowledge exactly those bits
 *     for each bit n in s: handler[n]();         // vectors 32..63: same with INTRSTATUS_HI
 * Polling without the IRQ: set INTRMASK = 0 and test/clear INTRSTATUS bits.
 * Unlike QEMU, every own vector works (QEMU's only handles vector 0).
 *
 * The server going away: the shared memory stays mapped and the board keeps running; doorbells
 * to other peers are dropped (logged under -d guest_errors), self-notification still works,
 * LINK bit 0 reads 0 and EVSTATUS.SERVER_GONE is set (and PEERS_CHANGED if peers were known).
 * The shared-memory object truncated under the board (anyone who may write it can): instead of a
 * SIGBUS that would kill the emulator, the pages past the object's new end become private zero
 * pages at the same guest addresses (no longer shared; the pages before it stay shared), the host
 * gets one line, and EVSTATUS.SHM_LOST is set. Checked on every peer event and at the first
 * access past the end (not per doorbell: that would be an fstat per message).
 * System reset restores INTRMASK(_HI), clears INTRSTATUS(_HI), EVSTATUS, EVMASK and PEER_SEL;
 * the connection (id, peers, memory contents) survives it.
 */
import { TRACE_EVENTS } from '../log/logger.js';
import { type AccessSize, type IrqLine, type Logger, type MmioDevice, NO_IRQ, SILENT } from './device.js';
import type { IvshmemLink } from './ivshmem-link.js';
import { logGuestError } from './peripheral.js';
import { captureState, restoreState, type DeviceState } from './state.js';

export const IVSHMEM_REG = {
  INTRMASK: 0x00,
  INTRSTATUS: 0x04,
  IVPOSITION: 0x08,
  DOORBELL: 0x0c,
  EXTID: 0x10,
  VECTORS: 0x14,
  SHMSIZE: 0x18,
  SHMADDR: 0x1c,
  INTRSTATUS_HI: 0x20,
  INTRMASK_HI: 0x24,
  EVSTATUS: 0x28,
  EVMASK: 0x2c,
  PEER_SEL: 0x30,
  PEER_VECTORS: 0x34,
  PEER_NEXT: 0x38,
  LINK: 0x3c,
} as const;

export const IVSHMEM_EXTID = 0x49565331;
export const EV_PEERS_CHANGED = 1 << 0;
export const EV_SERVER_GONE = 1 << 1;
export const EV_SHM_LOST = 1 << 2;
/** The register window (a 1 KiB page is mapped for it anyway). */
export const IVSHMEM_FLAT_WINDOW = 0x100;
const MAX_VECTORS = 64;

/** A doorbell seen by this device: one it rang (`out`: to a peer, or to itself) or one of its own vectors firing (`in`). */
export interface IvshmemRing {
  dir: 'out' | 'in';
  /** Own peer id (IVPOSITION). */
  self: number;
  /** out: the peer rung (own id for a self-notification); in: own id. */
  peer: number;
  vector: number;
}

export interface IvshmemFlatOptions {
  /** Guest address of the shared memory, for SHMADDR. */
  shmemAddr: number;
  /** Bytes of shared memory the guest sees (SHMSIZE); the link's size by default. */
  shmemSize?: number;
  irq?: IrqLine;
  log?: Logger;
  /** Virtual time, for trace event timestamps. */
  clock?: { now(): number };
  /** Told once when the server connection closes (the launcher prints one line). */
  onServerGone?: (reason: string) => void;
  /** Told once per shrink of the shared-memory object (the launcher prints one line). */
  onShmLost?: (message: string) => void;
}

export class IvshmemFlat implements MmioDevice {
  readonly name = 'ivshmem-flat';
  readonly size = IVSHMEM_FLAT_WINDOW;
  private readonly irq: IrqLine;
  private readonly log: Logger;
  private readonly shmemAddr: number;
  private readonly shmemSize: number;
  private readonly vectors: number;
  private connected = true;
  /** [vectors 0..31, vectors 32..63] */
  private status: [number, number] = [0, 0];
  private mask: [number, number] = [0xffffffff, 0xffffffff];
  private evStatus = 0;
  private evMask = 0;
  private peerSel = 0;
  /** Other peers as the link reported them (for PEERS_CHANGED when the server goes). */
  private readonly knownPeers = new Set<number>();
  private readonly onServerGone: ((reason: string) => void) | undefined;
  /** Any ivshmem_flat_* trace event on (-d trace:ivshmem*): otherwise tracing costs one test. */
  private readonly tracing: boolean;
  private readonly clock: { now(): number } | null;
  private readonly hostT0 = performance.now();
  /** Doorbell listeners (a live view); null while nobody listens, so the register path pays one test. */
  private ringListeners: ((e: IvshmemRing) => void)[] | null = null;

  constructor(
    private readonly link: IvshmemLink,
    opts: IvshmemFlatOptions,
  ) {
    this.irq = opts.irq ?? NO_IRQ;
    this.log = opts.log ?? SILENT;
    this.shmemAddr = opts.shmemAddr >>> 0;
    this.shmemSize = opts.shmemSize ?? link.shmSize;
    this.vectors = Math.min(link.peerVectors(link.id), MAX_VECTORS);
    this.onServerGone = opts.onServerGone;
    this.clock = opts.clock ?? null;
    this.tracing = TRACE_EVENTS.some((e) => e.name.startsWith('ivshmem_flat_') && this.log.traceEnabled?.(e.name) === true);
    for (const p of link.peers()) this.knownPeers.add(p);
    link.onPeerChange((peer, joined) => {
      if (joined) this.knownPeers.add(peer);
      else this.knownPeers.delete(peer);
      if (this.tracing) this.trace(joined ? 'ivshmem_flat_peer_joined' : 'ivshmem_flat_peer_left', `peer=${peer}`);
      this.raiseEvent(EV_PEERS_CHANGED);
    });
    link.onClose((reason) => this.serverGone(reason));
    link.onShmLost?.((message) => {
      this.raiseEvent(EV_SHM_LOST);
      opts.onShmLost?.(message);
    });
  }

  /** Snapshot state (src/devices/state.ts). */
  saveState(): DeviceState {
    return captureState(this);
  }
  loadState(s: DeviceState): void {
    restoreState(this, s, 'ivshmem-flat');
  }

  /** The shared memory this device's link maps (what a snapshot records). */
  get sharedMemory(): ArrayBuffer {
    return this.link.shm;
  }
  /** Whether the link is to an ivshmem server (its peers' eventfds and the connection are not restorable) rather than in-process. */
  get external(): boolean {
    return this.link.ownVectorFds.length > 0;
  }

  reset(): void {
    this.status = [0, 0];
    this.mask = [0xffffffff, 0xffffffff];
    this.evStatus = 0;
    this.evMask = 0;
    this.peerSel = 0;
  }

  /**
   * Listen to the doorbells this device rings (accepted DOORBELL writes) and receives (own vectors
   * firing), on the JS thread, as they happen. Returns the unsubscribe. Costs nothing while nobody listens.
   */
  onRing(cb: (e: IvshmemRing) => void): () => void {
    (this.ringListeners ??= []).push(cb);
    return () => {
      const l = this.ringListeners;
      const i = l ? l.indexOf(cb) : -1;
      if (i >= 0) l!.splice(i, 1);
      if (l && l.length === 0) this.ringListeners = null;
    };
  }

  private ring(dir: 'out' | 'in', peer: number, vector: number): void {
    const e: IvshmemRing = { dir, self: this.link.id, peer, vector };
    for (const l of [...this.ringListeners!]) l(e);
  }

  /** Own vector `v` fired (its eventfd became readable, or a self-notification). */
  vectorFired(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v >= this.vectors) return;
    if (this.ringListeners !== null) this.ring('in', this.link.id, v);
    this.fire(v);
  }

  private fire(v: number): void {
    const w = v >> 5;
    const bit = (1 << (v & 31)) >>> 0;
    const old = this.status[w]!;
    this.status[w] = (old | bit) >>> 0;
    if (this.tracing) {
      this.trace('ivshmem_flat_irq_handler', `vector=${v}${this.mask[w]! & bit ? '' : ' (masked)'}`);
      this.traceStatus(w, old, 'doorbell');
    }
    if (this.mask[w]! & bit) this.irq.pulse();
  }

  /** One trace event line: name, virtual time (s), host time since the device was made (s), details. */
  private trace(event: string, details: string): void {
    if (!this.log.traceEnabled?.(event)) return;
    const vt = this.clock ? (this.clock.now() / 1e9).toFixed(9) : '-';
    const host = ((performance.now() - this.hostT0) / 1e3).toFixed(6);
    this.log.log('trace', `${event} vt=${vt} host=${host} ${details}`);
  }

  private traceStatus(w: number, old: number, why: string): void {
    const now = this.status[w]!;
    if (now !== old) this.trace('ivshmem_flat_intrstatus', `${w ? 'INTRSTATUS_HI' : 'INTRSTATUS'} 0x${old.toString(16)} -> 0x${now.toString(16)} (${why})`);
  }

  /** Whether the server connection is still up. */
  get linkUp(): boolean {
    return this.connected;
  }

  private raiseEvent(bits: number): void {
    this.evStatus |= bits;
    if (this.evMask & bits) this.irq.pulse();
  }

  private serverGone(reason: string): void {
    if (!this.connected) return;
    this.connected = false;
    if (this.tracing) this.trace('ivshmem_flat_server_gone', reason);
    this.raiseEvent(EV_SERVER_GONE | (this.knownPeers.size ? EV_PEERS_CHANGED : 0));
    this.knownPeers.clear();
    this.onServerGone?.(reason);
  }

  private guestError(msg: string): void {
    logGuestError(this.log, `ivshmem-flat: ${msg}`);
  }

  private otherPeers(): number[] {
    if (!this.connected) return [];
    return this.link.peers().filter((p) => p !== this.link.id);
  }

  read(offset: number, size: AccessSize): number {
    if (size !== 4 || offset & 3) {
      this.guestError(`${size}-byte read at offset 0x${offset.toString(16)} (32-bit accesses only): reads 0`);
      return 0;
    }
    const R = IVSHMEM_REG;
    switch (offset) {
      case R.INTRMASK:
        return this.mask[0];
      case R.INTRSTATUS:
        return this.status[0];
      case R.IVPOSITION:
        return this.link.id >>> 0;
      case R.DOORBELL:
        return 0;
      case R.EXTID:
        return IVSHMEM_EXTID;
      case R.VECTORS:
        return this.vectors;
      case R.SHMSIZE:
        return this.shmemSize >>> 0;
      case R.SHMADDR:
        return this.shmemAddr;
      case R.INTRSTATUS_HI:
        return this.status[1];
      case R.INTRMASK_HI:
        return this.mask[1];
      case R.EVSTATUS:
        return this.evStatus;
      case R.EVMASK:
        return this.evMask;
      case R.PEER_SEL:
        return this.peerSel;
      case R.PEER_VECTORS:
        return this.peerVectors(this.peerSel);
      case R.PEER_NEXT: {
        let best = 0xffffffff;
        for (const p of this.otherPeers()) if (p >= this.peerSel && p < best) best = p;
        return best >>> 0;
      }
      case R.LINK:
        return (((this.otherPeers().length & 0xffff) << 16) | (this.connected ? 1 : 0)) >>> 0;
      default:
        this.guestError(`read at offset 0x${offset.toString(16)}: no register there, reads 0`);
        return 0;
    }
  }

  private peerVectors(peer: number): number {
    if (peer === this.link.id) return this.vectors;
    if (!this.connected || peer > 0xffff) return 0;
    return this.link.peerVectors(peer);
  }

  write(offset: number, size: AccessSize, value: number): void {
    value >>>= 0;
    if (size !== 4 || offset & 3) {
      this.guestError(`${size}-byte write of 0x${value.toString(16)} at offset 0x${offset.toString(16)} (32-bit accesses only): ignored`);
      return;
    }
    const R = IVSHMEM_REG;
    switch (offset) {
      case R.INTRMASK:
        this.setMask(0, value);
        return;
      case R.INTRSTATUS: {
        const was = this.status[0];
        this.status[0] = (this.status[0] & ~value) >>> 0;
        if (this.tracing) this.traceStatus(0, was, 'guest cleared');
        return;
      }
      case R.DOORBELL:
        this.doorbell(value >>> 16, value & 0xffff);
        return;
      case R.INTRSTATUS_HI: {
        const was = this.status[1];
        this.status[1] = (this.status[1] & ~value) >>> 0;
        if (this.tracing) this.traceStatus(1, was, 'guest cleared');
        return;
      }
      case R.INTRMASK_HI:
        this.setMask(1, value);
        return;
      case R.EVSTATUS:
        this.evStatus &= ~value;
        return;
      case R.EVMASK: {
        const newly = value & ~this.evMask & this.evStatus;
        this.evMask = value & (EV_PEERS_CHANGED | EV_SERVER_GONE);
        if (newly & this.evMask) this.irq.pulse();
        return;
      }
      case R.PEER_SEL:
        this.peerSel = value;
        return;
      default:
        this.guestError(`write of 0x${value.toString(16)} at offset 0x${offset.toString(16)}: ${offset < 0x40 ? 'read-only register' : 'no register there'}, ignored`);
    }
  }

  private setMask(w: 0 | 1, value: number): void {
    const newly = (value & ~this.mask[w] & this.status[w]) >>> 0;
    this.mask[w] = value;
    if (newly) this.irq.pulse();
  }

  private doorbell(peer: number, vector: number): void {
    if (peer === this.link.id) {
      if (vector >= this.vectors) {
        this.guestError(`DOORBELL: own vector ${vector} does not exist (this peer has ${this.vectors}): ignored`);
        return;
      }
      if (this.ringListeners !== null) this.ring('out', peer, vector);
      this.fire(vector);
      return;
    }
    if (!this.connected) {
      this.guestError(`DOORBELL to peer ${peer} vector ${vector}: the ivshmem server is gone, dropped`);
      return;
    }
    const n = this.link.peerVectors(peer);
    if (n === 0 || vector >= n) {
      if (this.tracing) this.trace('ivshmem_flat_interrupt_invalid_peer', `peer=${peer} vector=${vector}`);
      this.guestError(`DOORBELL to peer ${peer} vector ${vector}: ${n === 0 ? 'no such peer' : `that peer has ${n} vector${n === 1 ? '' : 's'}`}, ignored`);
      return;
    }
    if (this.tracing) this.trace('ivshmem_flat_interrupt_peer', `peer=${peer} vector=${vector}`);
    if (!this.link.notify(peer, vector)) this.guestError(`DOORBELL to peer ${peer} vector ${vector}: could not ring it, dropped`);
    else if (this.ringListeners !== null) this.ring('out', peer, vector);
  }
}
