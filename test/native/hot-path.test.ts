// The per-block and per-access costs the addon takes off Unicorn's generated code (issue 10):
// - block starts gated on QEMU's icount_decr (exit_check.cc): a block start calls the wrapper
//   only when a stop, a poll or a counting run wants it;
// - no exit check after guest accesses unless a memory hook needs one (align_check.cc), with a
//   device handler's exception unwound to the access itself (memory.cc, unwindToAccess);
// - literal loads in their own TLB (kLiteralMmuIdxBase), and a thrashing TLB flushed so that QEMU
//   grows it (growTlbIfThrashing).
// Each is checked where it could go wrong: stops that must still land exactly, MPU and privilege
// on the literal TLB, and the TLB actually growing.
import { afterEach, describe, expect, it } from 'vitest';
import { Access, Reg, Stop } from '../../src/native/cpu.js';
import { addon, closeAll, FLASH_CODE as C, RAM, rig } from './helpers.js';

afterEach(closeAll);

interface HotStats {
  gatedStarts: number;
  exitChecksOmitted: number;
  tlbResizeFlushes: number;
  tlbFills: number;
  literalTlbFills: number;
}
const hot = (cpu: unknown) => (cpu as { stats(): HotStats }).stats();

describe('gated block starts', () => {
  it('every translated block start is gated and accesses carry no exit check while no memory hook needs one', () => {
    // A loop of short blocks with loads and stores; an instruction limit ends it exactly.
    const code = [
      0x6808, // 0: ldr r0, [r1]
      0x3001, // 2: adds r0, #1
      0x6008, // 4: str r0, [r1]
      0xe7fb, // 6: b.n 0
    ];
    const r = rig(code);
    r.set({ R1: RAM + 0x100 });
    expect(r.cpu.run(4000, 0)).toBe(Stop.Limit);
    expect(r.cpu.icount()).toBe(4000);
    expect(new DataView(r.ram).getUint32(0x100, true)).toBe(1000);
    const s = hot(r.cpu);
    expect(s.gatedStarts).toBeGreaterThan(0);
    expect(s.exitChecksOmitted).toBe(1);
  });

  it('a stop requested from another thread ends a real-time run with no deadline on a loop of short blocks', () => {
    const code = [
      0x3001, // 0: adds r0, #1
      0xe7fd, // 2: b.n 0
    ];
    const r = rig(code);
    const fd = addon.createEventFd();
    r.cpu.watchFd(fd, 3);
    try {
      for (let i = 0; i < 20; i++) {
        addon.writeEventFdLater(fd, 1, 2e5);
        expect(r.cpu.run(1e15, 0)).toBe(Stop.External); // no limit, no deadline: only the watcher can stop it
        expect(r.cpu.takeEvents()).toEqual([3]);
      }
      expect(r.reg(Reg.R0)).toBeGreaterThan(0);
    } finally {
      r.cpu.unwatchFd(fd);
      addon.closeFd(fd);
    }
  });
});

describe('a device handler that throws stops at its access', () => {
  it('inside an IT block: PC at the access, the rest of the IT block and the block not run', () => {
    const code = [
      0x4280, // 0: cmp r0, r0
      0xbf0c, // 2: ite eq
      0x680a, // 4: ldreq r2, [r1]   (MMIO: throws)
      0x3301, // 6: addne r3, #1
      0x3401, // 8: adds r4, #1
      0xdf00, // a: svc 0
    ];
    const r = rig(code);
    r.cpu.mapMmio(0x4000_0000, 0x1000, 0);
    const boom = new Error('register file on fire');
    r.cpu.setMmioHandlers(() => {
      throw boom;
    }, () => {});
    r.set({ R1: 0x4000_0000, R2: 0x55, R3: 0, R4: 0 });
    expect(() => r.cpu.run(100, 0)).toThrow(boom);
    expect(r.cpu.stopInfo().reason).toBe(Stop.HandlerError);
    expect(r.reg(Reg.PC)).toBe(C + 4);
    expect(r.reg(Reg.R2)).toBe(0x55);
    expect(r.reg(Reg.R4)).toBe(0);
    expect(r.cpu.icount()).toBe(2);
    // ITSTATE is back at the load's (then: eq, else follows): resuming runs the IT block's rest.
    r.cpu.setMmioHandlers(() => 9, () => {});
    expect(r.cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(r.reg(Reg.R2)).toBe(9);
    expect(r.reg(Reg.R3)).toBe(0); // the else-slot was skipped
    expect(r.reg(Reg.R4)).toBe(1);
  });

  it('a store in the middle of a block: nothing after it runs, and the store does not happen twice when resumed', () => {
    const code = [
      0x2001, // 0: movs r0, #1
      0x600a, // 2: str r2, [r1]   (MMIO)
      0x3001, // 4: adds r0, #1
      0xdf00, // 6: svc 0
    ];
    const r = rig(code);
    r.cpu.mapMmio(0x4000_0000, 0x1000, 0);
    const writes: number[] = [];
    let fail = true;
    r.cpu.setMmioHandlers(() => 0, (_region: number, _off: number, _size: number, value: number) => {
      writes.push(value);
      if (fail) {
        fail = false;
        throw new Error('once');
      }
    });
    r.set({ R1: 0x4000_0000, R2: 0x77 });
    expect(() => r.cpu.run(100, 0)).toThrow('once');
    expect(r.reg(Reg.PC)).toBe(C + 2);
    expect(r.reg(Reg.R0)).toBe(1);
    expect(r.cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(r.reg(Reg.R0)).toBe(2);
    expect(writes).toEqual([0x77, 0x77]); // the failed one, then the retried one
  });
});

describe('literal loads (their own TLB)', () => {
  // ldr r0, [pc, #8] reads the word at C + 12, in flash page C >> 10; r2 points at the RAM page
  // with the same TLB slot (RAM + C). Both are read on every pass.
  it('a literal and a RAM word in the same TLB slot both read right, over many passes', () => {
    const lit = [
      0x4802, // 0: ldr r0, [pc, #8]   (= C + 12)
      0x6811, // 2: ldr r1, [r2]
      0x3b01, // 4: subs r3, #1
      0xd1fb, // 6: bne.n 0
      0xdf00, // 8: svc 0
      0xbf00, // a: nop
      0x5678, 0x1234, // c: .word 0x12345678
    ];
    const r = rig(lit);
    new DataView(r.ram).setUint32(C, 0xcafef00d, true);
    r.set({ R2: RAM + C, R3: 2 });
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Interrupt);
    const warm = hot(r.cpu).tlbFills;
    r.set({ PC: C, R0: 0, R1: 0, R3: 10000 });
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Interrupt);
    expect(r.reg(Reg.R0)).toBe(0x12345678);
    expect(r.reg(Reg.R1)).toBe(0xcafef00d);
    expect(r.reg(Reg.R3)).toBe(0);
    // The literal went through its own TLB (one fill of the flash page there), and 10 000
    // alternating passes filled nothing more.
    expect(hot(r.cpu).literalTlbFills).toBe(1);
    expect(hot(r.cpu).tlbFills).toBe(warm);
  });

  it('the MPU and the privilege apply to literal loads: unprivileged, a privileged-only flash page is a MemManage fault at the load', () => {
    const lit = [
      0x4807, // 0: ldr r0, [pc, #28]   (= C + 0x20)
      0xdf00, // 2: svc 0
      ...new Array<number>(14).fill(0xbf00), // 4..1f: nop
      0x5678, 0x1234, // 20: .word 0x12345678
    ];
    // Region 0: the flash, read-only for both privileges, executable; region 1 (which wins): the
    // literal's 32 bytes, privileged read-write, nothing for unprivileged code; region 2: RAM.
    const rasr = (sizeLog2: number, ap: number) => (1 | ((sizeLog2 - 1) << 1) | (ap << 24)) >>> 0;
    const r = rig(lit);
    const rbar = [0, C + 0x20, RAM, 0, 0, 0, 0, 0];
    const ras = [rasr(16, 6), rasr(5, 1), rasr(16, 3), 0, 0, 0, 0, 0];
    r.cpu.setMpu(1 | 4, rbar, ras);
    // Privileged: allowed.
    expect(r.cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(r.reg(Reg.R0)).toBe(0x12345678);
    // Unprivileged Thread mode: refused, at the load, nothing loaded.
    r.cpu.writeRegs([Reg.XPSR, Reg.CONTROL, Reg.XPSR, Reg.PC, Reg.R0], [(1 << 24) | 3, 1, 1 << 24, C, 0]);
    expect(r.cpu.run(100, 0)).toBe(Stop.MpuFault);
    expect(r.cpu.stopInfo()).toMatchObject({ address: C + 0x20, access: Access.Read, size: 4 });
    expect(r.reg(Reg.PC)).toBe(C);
    expect(r.reg(Reg.R0)).toBe(0);
  });
});

describe('a thrashing TLB grows', () => {
  it('a loop over more pages than the TLB has entries stops causing fills, inside one run', () => {
    // 600 pages of 1 KiB, one load each, round and round (QEMU's TLB starts with 256 entries).
    const code = [
      0x460d, // 0: mov r5, r1
      0x461e, // 2: mov r6, r3
      0x6828, // 4: ldr r0, [r5]
      0x4415, // 6: add r5, r2
      0x3e01, // 8: subs r6, #1
      0xd1fb, // a: bne.n 4
      0xe7f8, // c: b.n 0
    ];
    const r = rig(code);
    const big = addon.allocHostMemory(1 << 20);
    r.cpu.mapHostMemory(0x6000_0000, big, 0, 1 << 20, true);
    r.set({ R1: 0x6000_0000, R2: 1024, R3: 600 });
    // One long run: nothing but the addon's own poll can flush the TLB meanwhile.
    expect(r.cpu.run(600 * 4 * 100, 0)).toBe(Stop.Limit); // 100 sweeps
    const fills = hot(r.cpu).tlbFills;
    console.log(`100 sweeps over 600 pages: ${fills} TLB fills, ${hot(r.cpu).tlbResizeFlushes} resize flushes`);
    // At 256 entries every sweep refills all 600 pages (60 000 fills); grown, sweeps refill none.
    expect(fills).toBeLessThan(600 * 10);
    expect(hot(r.cpu).tlbResizeFlushes).toBeGreaterThan(0);
    // And a sweep after that costs no fill at all.
    const f0 = hot(r.cpu).tlbFills;
    expect(r.cpu.run(600 * 4, 0)).toBe(Stop.Limit);
    expect(hot(r.cpu).tlbFills - f0).toBe(0);
  });

  it('a working set that fits causes no flush', () => {
    const code = [
      0x6808, // 0: ldr r0, [r1]
      0xe7fd, // 2: b.n 0
    ];
    const r = rig(code);
    r.set({ R1: RAM + 0x40 });
    for (let i = 0; i < 5; i++) expect(r.cpu.run(10000, 0)).toBe(Stop.Limit);
    expect(hot(r.cpu).tlbResizeFlushes).toBe(0);
  });
});
