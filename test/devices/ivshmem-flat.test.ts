import { describe, expect, it } from 'vitest';
import { EV_PEERS_CHANGED, EV_SERVER_GONE, IVSHMEM_EXTID, IVSHMEM_REG as R, IvshmemFlat } from '../../src/devices/ivshmem-flat.js';
import type { IrqLine, Logger } from '../../src/devices/device.js';
import type { IvshmemLink } from '../../src/devices/ivshmem-link.js';

/** An in-memory link: peers with vector counts, rings recorded, callbacks triggered by the test. */
class FakeLink implements IvshmemLink {
  readonly shm = new ArrayBuffer(0x10000);
  readonly shmSize = 0x10000;
  readonly ownVectorFds: number[];
  readonly others = new Map<number, number>();
  readonly rung: [number, number][] = [];
  private peerCb: ((peer: number, joined: boolean) => void)[] = [];
  private closeCb: ((reason: string) => void)[] = [];
  closed = false;
  constructor(
    readonly id: number,
    vectors: number,
  ) {
    this.ownVectorFds = Array.from({ length: vectors }, (_, i) => 100 + i);
  }
  peerVectors(peer: number): number {
    if (peer === this.id) return this.ownVectorFds.length;
    return this.others.get(peer) ?? 0;
  }
  peers(): number[] {
    return [...this.others.keys()];
  }
  notify(peer: number, vector: number): boolean {
    if (vector >= this.peerVectors(peer)) return false;
    this.rung.push([peer, vector]);
    return true;
  }
  onPeerChange(cb: (peer: number, joined: boolean) => void): void {
    this.peerCb.push(cb);
  }
  onClose(cb: (reason: string) => void): void {
    this.closeCb.push(cb);
  }
  close(): void {
    this.closed = true;
  }
  // test side
  join(peer: number, vectors: number): void {
    this.others.set(peer, vectors);
    for (const cb of this.peerCb) cb(peer, true);
  }
  leave(peer: number): void {
    this.others.delete(peer);
    for (const cb of this.peerCb) cb(peer, false);
  }
  serverCloses(reason: string): void {
    this.others.clear();
    for (const cb of this.closeCb) cb(reason);
  }
}

function make(vectors = 4, id = 7) {
  const link = new FakeLink(id, vectors);
  const irq = { pulses: 0, sets: [] as boolean[], set(l: boolean) { irq.sets.push(l); }, pulse() { irq.pulses++; } } satisfies IrqLine & { pulses: number };
  const logs: string[] = [];
  const log: Logger = { enabled: (c) => c === 'guest_errors', log: (c, m) => logs.push(`${c}: ${m}`) };
  const gone: string[] = [];
  const dev = new IvshmemFlat(link, { shmemAddr: 0x40100000, irq, log, onServerGone: (r) => gone.push(r) });
  return { link, irq, logs, dev, gone };
}

describe('ivshmem-flat registers', () => {
  it('reset values and read-only identity registers', () => {
    const { dev } = make(4, 7);
    expect(dev.read(R.INTRMASK, 4)).toBe(0xffffffff);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0);
    expect(dev.read(R.IVPOSITION, 4)).toBe(7);
    expect(dev.read(R.DOORBELL, 4)).toBe(0);
    expect(dev.read(R.EXTID, 4)).toBe(IVSHMEM_EXTID);
    expect(dev.read(R.VECTORS, 4)).toBe(4);
    expect(dev.read(R.SHMSIZE, 4)).toBe(0x10000);
    expect(dev.read(R.SHMADDR, 4)).toBe(0x40100000);
    expect(dev.read(R.INTRSTATUS_HI, 4)).toBe(0);
    expect(dev.read(R.INTRMASK_HI, 4)).toBe(0xffffffff);
    expect(dev.read(R.EVSTATUS, 4)).toBe(0);
    expect(dev.read(R.EVMASK, 4)).toBe(0);
    expect(dev.read(R.PEER_SEL, 4)).toBe(0);
    expect(dev.read(R.LINK, 4)).toBe(1);
    expect(dev.size).toBe(0x100);
  });

  it('writes to read-only registers are ignored and logged', () => {
    const { dev, logs } = make();
    dev.write(R.IVPOSITION, 4, 3);
    dev.write(R.EXTID, 4, 3);
    dev.write(R.VECTORS, 4, 3);
    dev.write(R.LINK, 4, 0);
    expect(dev.read(R.IVPOSITION, 4)).toBe(7);
    expect(dev.read(R.VECTORS, 4)).toBe(4);
    expect(logs.length).toBe(4);
    expect(logs[0]).toMatch(/guest_errors: ivshmem-flat: write of 0x3 at offset 0x8: read-only register, ignored/);
  });

  it('byte and halfword accesses read 0, are ignored, and are logged; unaligned and unknown offsets too', () => {
    const { dev, logs, link } = make();
    expect(dev.read(R.IVPOSITION, 1)).toBe(0);
    expect(dev.read(R.IVPOSITION, 2)).toBe(0);
    expect(dev.read(0x9, 1)).toBe(0);
    dev.write(R.INTRMASK, 2, 0);
    dev.write(R.INTRMASK, 1, 0);
    expect(dev.read(R.INTRMASK, 4)).toBe(0xffffffff);
    link.join(1, 1);
    dev.write(R.DOORBELL, 2, 0);
    dev.write(R.DOORBELL + 2, 2, 1);
    expect(link.rung).toEqual([]);
    expect(dev.read(0x2, 4)).toBe(0);
    expect(dev.read(0x80, 4)).toBe(0);
    dev.write(0xfc, 4, 1);
    expect(logs.length).toBe(10);
    expect(logs[0]).toBe('guest_errors: ivshmem-flat: 1-byte read at offset 0x8 (32-bit accesses only): reads 0');
    expect(logs[3]).toBe('guest_errors: ivshmem-flat: 2-byte write of 0x0 at offset 0x0 (32-bit accesses only): ignored');
    expect(logs[8]).toBe('guest_errors: ivshmem-flat: read at offset 0x80: no register there, reads 0');
  });
});

describe('ivshmem-flat vectors, status and mask', () => {
  it('every own vector (64) sets its status bit and pulses the IRQ', () => {
    const { dev, irq } = make(64);
    for (let v = 0; v < 64; v++) dev.vectorFired(v);
    expect(irq.pulses).toBe(64);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0xffffffff);
    expect(dev.read(R.INTRSTATUS_HI, 4)).toBe(0xffffffff);
    expect(irq.sets).toEqual([]); // edges only: no level is ever held
  });

  it('vectors beyond the own count are ignored', () => {
    const { dev, irq } = make(2);
    dev.vectorFired(2);
    dev.vectorFired(-1);
    expect(irq.pulses).toBe(0);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0);
  });

  it('INTRSTATUS is write-1-to-clear and reading it has no side effect', () => {
    const { dev } = make(8);
    dev.vectorFired(1);
    dev.vectorFired(5);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0x22);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0x22);
    dev.write(R.INTRSTATUS, 4, 0x2);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0x20);
    dev.write(R.INTRSTATUS, 4, 0);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0x20);
    dev.write(R.INTRSTATUS, 4, 0xffffffff);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0);
  });

  it('every doorbell pulses again while the status bit is still set (QEMU-style firmware never clears it)', () => {
    const { dev, irq } = make(1);
    dev.vectorFired(0);
    dev.vectorFired(0);
    dev.vectorFired(0);
    expect(irq.pulses).toBe(3);
  });

  it('a masked vector latches its status without an IRQ; unmasking it pulses once', () => {
    const { dev, irq } = make(40);
    dev.write(R.INTRMASK, 4, ~(1 << 3) >>> 0);
    dev.write(R.INTRMASK_HI, 4, 0);
    dev.vectorFired(3);
    dev.vectorFired(35);
    expect(irq.pulses).toBe(0);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(1 << 3);
    expect(dev.read(R.INTRSTATUS_HI, 4)).toBe(1 << 3);
    dev.vectorFired(4);
    expect(irq.pulses).toBe(1);
    dev.write(R.INTRMASK, 4, 0xffffffff);
    expect(irq.pulses).toBe(2);
    dev.write(R.INTRMASK, 4, 0xffffffff); // nothing newly enabled
    expect(irq.pulses).toBe(2);
    dev.write(R.INTRMASK_HI, 4, 1 << 3);
    expect(irq.pulses).toBe(3);
    expect(dev.read(R.INTRMASK_HI, 4)).toBe(1 << 3);
    dev.write(R.INTRSTATUS_HI, 4, 1 << 3);
    expect(dev.read(R.INTRSTATUS_HI, 4)).toBe(0);
  });

  it('polling with everything masked: no IRQ at all', () => {
    const { dev, irq } = make(4);
    dev.write(R.INTRMASK, 4, 0);
    for (let v = 0; v < 4; v++) dev.vectorFired(v);
    expect(irq.pulses).toBe(0);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0xf);
  });

  it('reset restores masks and clears status, keeps the connection', () => {
    const { dev, link } = make(4);
    link.join(3, 1);
    dev.vectorFired(1);
    dev.write(R.INTRMASK, 4, 0);
    dev.write(R.EVMASK, 4, 3);
    dev.write(R.PEER_SEL, 4, 3);
    dev.reset();
    expect(dev.read(R.INTRMASK, 4)).toBe(0xffffffff);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0);
    expect(dev.read(R.EVSTATUS, 4)).toBe(0);
    expect(dev.read(R.EVMASK, 4)).toBe(0);
    expect(dev.read(R.PEER_SEL, 4)).toBe(0);
    expect(dev.read(R.IVPOSITION, 4)).toBe(7);
    expect(dev.read(R.LINK, 4)).toBe((1 << 16) | 1);
  });
});

describe('ivshmem-flat DOORBELL', () => {
  it('rings another peer through the link', () => {
    const { dev, link, logs } = make();
    link.join(2, 3);
    dev.write(R.DOORBELL, 4, (2 << 16) | 0);
    dev.write(R.DOORBELL, 4, (2 << 16) | 2);
    expect(link.rung).toEqual([
      [2, 0],
      [2, 2],
    ]);
    expect(logs).toEqual([]);
  });

  it('self-notification sets own status and pulses at once, for every own vector', () => {
    const { dev, link, irq } = make(64, 7);
    for (let v = 0; v < 64; v++) dev.write(R.DOORBELL, 4, (7 << 16) | v);
    expect(irq.pulses).toBe(64);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0xffffffff);
    expect(dev.read(R.INTRSTATUS_HI, 4)).toBe(0xffffffff);
    expect(link.rung).toEqual([]);
  });

  it('unknown peers and missing vectors are ignored and logged, never thrown', () => {
    const { dev, link, logs, irq } = make(2, 7);
    link.join(2, 1);
    expect(() => {
      dev.write(R.DOORBELL, 4, (9 << 16) | 0);
      dev.write(R.DOORBELL, 4, (2 << 16) | 1);
      dev.write(R.DOORBELL, 4, (2 << 16) | 0xffff);
      dev.write(R.DOORBELL, 4, (0xffff << 16) | 0xffff);
      dev.write(R.DOORBELL, 4, (7 << 16) | 2);
      dev.write(R.DOORBELL, 4, (7 << 16) | 64);
    }).not.toThrow();
    expect(link.rung).toEqual([]);
    expect(irq.pulses).toBe(0);
    expect(logs).toEqual([
      'guest_errors: ivshmem-flat: DOORBELL to peer 9 vector 0: no such peer, ignored',
      'guest_errors: ivshmem-flat: DOORBELL to peer 2 vector 1: that peer has 1 vector, ignored',
      'guest_errors: ivshmem-flat: DOORBELL to peer 2 vector 65535: that peer has 1 vector, ignored',
      'guest_errors: ivshmem-flat: DOORBELL to peer 65535 vector 65535: no such peer, ignored',
      'guest_errors: ivshmem-flat: DOORBELL: own vector 2 does not exist (this peer has 2): ignored',
      'guest_errors: ivshmem-flat: DOORBELL: own vector 64 does not exist (this peer has 2): ignored',
    ]);
  });

  it('a departed peer is no longer rung', () => {
    const { dev, link, logs } = make();
    link.join(2, 1);
    link.leave(2);
    dev.write(R.DOORBELL, 4, 2 << 16);
    expect(link.rung).toEqual([]);
    expect(logs).toEqual(['guest_errors: ivshmem-flat: DOORBELL to peer 2 vector 0: no such peer, ignored']);
  });
});

describe('ivshmem-flat peers and the server', () => {
  it('PEER_SEL / PEER_VECTORS / PEER_NEXT / LINK show who is there', () => {
    const { dev, link } = make(4, 7);
    link.join(2, 3);
    link.join(12, 1);
    link.join(5, 2);
    expect(dev.read(R.LINK, 4)).toBe((3 << 16) | 1);
    const seen: [number, number][] = [];
    dev.write(R.PEER_SEL, 4, 0);
    for (let p: number; (p = dev.read(R.PEER_NEXT, 4)) !== 0xffffffff; ) {
      dev.write(R.PEER_SEL, 4, p);
      seen.push([p, dev.read(R.PEER_VECTORS, 4)]);
      dev.write(R.PEER_SEL, 4, p + 1);
    }
    expect(seen).toEqual([
      [2, 3],
      [5, 2],
      [12, 1],
    ]);
    dev.write(R.PEER_SEL, 4, 7);
    expect(dev.read(R.PEER_VECTORS, 4)).toBe(4); // own id: own vectors
    dev.write(R.PEER_SEL, 4, 8);
    expect(dev.read(R.PEER_VECTORS, 4)).toBe(0);
    dev.write(R.PEER_SEL, 4, 0x10002); // not a 16-bit id
    expect(dev.read(R.PEER_VECTORS, 4)).toBe(0);
    expect(dev.read(R.PEER_NEXT, 4)).toBe(0xffffffff);
  });

  it('joins and leaves set EVSTATUS.PEERS_CHANGED; the IRQ only when EVMASK enables it', () => {
    const { dev, link, irq } = make();
    link.join(2, 1);
    expect(dev.read(R.EVSTATUS, 4)).toBe(EV_PEERS_CHANGED);
    expect(irq.pulses).toBe(0); // off by default: QEMU-style handlers see doorbells only
    dev.write(R.EVMASK, 4, EV_PEERS_CHANGED); // enabling a set bit pulses
    expect(irq.pulses).toBe(1);
    dev.write(R.EVSTATUS, 4, EV_PEERS_CHANGED);
    expect(dev.read(R.EVSTATUS, 4)).toBe(0);
    link.leave(2);
    expect(irq.pulses).toBe(2);
    expect(dev.read(R.EVSTATUS, 4)).toBe(EV_PEERS_CHANGED);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(0);
    dev.write(R.EVMASK, 4, 0xffffffff);
    expect(dev.read(R.EVMASK, 4)).toBe(EV_PEERS_CHANGED | EV_SERVER_GONE);
  });

  it('server close: LINK drops, SERVER_GONE set, doorbells to others dropped and logged, self still works', () => {
    const { dev, link, irq, logs, gone } = make(2, 7);
    link.join(2, 1);
    dev.write(R.EVSTATUS, 4, 0xffffffff);
    dev.write(R.EVMASK, 4, EV_SERVER_GONE);
    link.serverCloses('connection reset by peer');
    expect(gone).toEqual(['connection reset by peer']);
    expect(irq.pulses).toBe(1);
    expect(dev.read(R.EVSTATUS, 4)).toBe(EV_SERVER_GONE | EV_PEERS_CHANGED);
    expect(dev.read(R.LINK, 4)).toBe(0);
    expect(dev.linkUp).toBe(false);
    link.others.set(2, 1); // even if the link still listed it
    dev.write(R.DOORBELL, 4, 2 << 16);
    expect(link.rung).toEqual([]);
    expect(logs).toEqual(['guest_errors: ivshmem-flat: DOORBELL to peer 2 vector 0: the ivshmem server is gone, dropped']);
    dev.write(R.PEER_SEL, 4, 2);
    expect(dev.read(R.PEER_VECTORS, 4)).toBe(0);
    dev.write(R.DOORBELL, 4, (7 << 16) | 1);
    expect(dev.read(R.INTRSTATUS, 4)).toBe(2);
    expect(irq.pulses).toBe(2);
    expect(dev.read(R.IVPOSITION, 4)).toBe(7);
    link.serverCloses('again');
    expect(gone.length).toBe(1);
  });
});
