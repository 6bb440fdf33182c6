// Unprivileged access to the Private Peripheral Bus (precise BusFault), CCR.USERSETMPEND (STIR),
// CCR.UNALIGN_TRP and the always-aligned accesses (see docs/unicorn.md, "Privilege and the PPB"
// and "Unaligned accesses").
import { afterAll, describe, expect, it } from 'vitest';
import { Access, Reg, Stop, type NativeCpu } from '../../src/native/cpu.js';
import { addon, closeAll, FLASH_CODE as C, RAM, rig, type Rig } from './helpers.js';

afterAll(closeAll);

const SCS = 0xe000_e000;
const SYST_CSR = 0xe000_e010;
const MPU_CTRL = 0xe000_ed94;
const STIR = 0xe000_ef00;
const XPSR_T = 1 << 24;

interface Access_ {
  read: Array<[number, number]>; // offset, size
  write: Array<[number, number, number]>; // offset, size, value
}

/** A rig with the SCS (0xE000E000, 4 KiB) mapped as MMIO that records accesses; reads give 0x10007. */
function withScs(code: number[]): Rig & { mmio: Access_ } {
  const r = rig(code);
  const mmio: Access_ = { read: [], write: [] };
  r.cpu.setMmioHandlers(
    (_region, offset, size) => {
      mmio.read.push([offset, size]);
      return 0x10007;
    },
    (_region, offset, size, value) => {
      mmio.write.push([offset, size, value >>> 0]);
    },
  );
  r.cpu.mapMmio(SCS, 0x1000, 0);
  return Object.assign(r, { mmio });
}

/** Thread mode with CONTROL.nPRIV as asked. CONTROL is written from Handler mode: Unicorn's CONTROL
 * write is an MSR, which unprivileged Thread mode cannot use to regain privilege. */
function setPrivileged(cpu: NativeCpu, privileged: boolean): void {
  cpu.writeRegs([Reg.XPSR, Reg.CONTROL, Reg.XPSR], [XPSR_T | 3, privileged ? 0 : 1, XPSR_T]);
}

function stats(r: Rig): { tlbFills: number; alignHookCalls: number } {
  return (r.cpu as unknown as { stats(): { tlbFills: number; alignHookCalls: number } }).stats();
}

describe('Private Peripheral Bus privilege', () => {
  const LOADS = [
    0x2000, //            0: movs r0, #0
    0x3001, //            2: adds r0, #1
    0x3001, //            4: adds r0, #1
    0x690a, //            6: ldr r2, [r1, #16]
    0x8a4a, //            8: ldrh r2, [r1, #18]
    0x7cca, //            a: ldrb r2, [r1, #19]
    0xf8d1, 0x2018, //    c: ldr.w r2, [r1, #24]
    0xe9d1, 0x2308, //   10: ldrd r2, r3, [r1, #32]
    0xe891, 0x000c, //   14: ldmia.w r1, {r2, r3}
    0x590a, //           18: ldr r2, [r1, r4]
    0xf931, 0x2c02, //   1a: ldrsh.w r2, [r1, #-2]
    0xde00, //           1e: udf #0
  ];

  it('privileged code reads the SCS (SYST_CSR) through MMIO', () => {
    const r = withScs(LOADS);
    r.set({ R1: SCS, R4: 0x10 });
    // The last load reads 0xE000DFFE, not mapped here: a MemFault for privileged code too.
    expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
    expect(r.reg(Reg.PC)).toBe(C + 0x1a);
    expect(r.mmio.read.map(([o]) => o)).toEqual([0x10, 0x12, 0x13, 0x18, 0x20, 0x24, 0x00, 0x04, 0x10]);
    expect(r.mmio.read.map(([, size]) => size)).toEqual([4, 2, 1, 4, 4, 4, 4, 4, 4]);
  });

  it('an unprivileged load faults precisely: exact address, size, PC and icount; nothing loaded', () => {
    const r = withScs(LOADS);
    r.set({ R1: SCS, R2: 0x1234, R3: 0x5678, R4: 0x10 });
    setPrivileged(r.cpu, false);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
    expect(r.cpu.stopInfo()).toMatchObject({ reason: Stop.MemFault, address: SYST_CSR, access: Access.Read, size: 4 });
    expect(r.reg(Reg.PC)).toBe(C + 6);
    expect(r.cpu.icount()).toBe(3);
    expect(r.reg(Reg.R0)).toBe(2);
    expect(r.reg(Reg.R2)).toBe(0x1234);
    // The fault repeats identically (nothing was cached for unprivileged code).
    expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
    expect(r.reg(Reg.PC)).toBe(C + 6);
    expect(r.cpu.icount()).toBe(3);
    // Every load form: exact address and access size.
    const cases: Array<[number, number, number]> = [
      [0x08, SCS + 0x12, 2],
      [0x0a, SCS + 0x13, 1],
      [0x0c, SCS + 0x18, 4],
      [0x10, SCS + 0x20, 4],
      [0x14, SCS + 0x00, 4],
      [0x18, SCS + 0x10, 4],
      [0x1a, SCS - 2, 2],
    ];
    for (const [off, address, size] of cases) {
      r.cpu.writeReg(Reg.PC, C + off);
      const before = r.cpu.icount();
      expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
      expect(r.cpu.stopInfo()).toMatchObject({ address, access: Access.Read, size });
      expect(r.reg(Reg.PC)).toBe(C + off);
      expect(r.cpu.icount()).toBe(before);
      expect(r.reg(Reg.R2)).toBe(0x1234);
      expect(r.reg(Reg.R3)).toBe(0x5678);
    }
    expect(r.mmio.read).toEqual([]);
  });

  const STORES = [
    0x6148, //            0: str r0, [r1, #20]
    0x7548, //            2: strb r0, [r1, #21]
    0x82c8, //            4: strh r0, [r1, #22]
    0xf8c1, 0x0094, //    6: str.w r0, [r1, #148]   (MPU_CTRL with r1 = 0xE000ED00)
    0xe9c1, 0x2308, //    a: strd r2, r3, [r1, #32]
    0xc10c, //            e: stmia r1!, {r2, r3}
    0xf841, 0x0b04, //   10: str.w r0, [r1], #4
    0xde01, //           14: udf #1
  ];

  it('an unprivileged store faults precisely (user mode writing MPU_CTRL); nothing written, no writeback', () => {
    const r = withScs(STORES);
    r.set({ R0: 5, R1: SCS });
    setPrivileged(r.cpu, false);
    const cases: Array<[number, number, number, number]> = [
      // offset, r1, address, size
      [0x00, SCS, SCS + 0x14, 4],
      [0x02, SCS, SCS + 0x15, 1],
      [0x04, SCS, SCS + 0x16, 2],
      [0x06, 0xe000_ed00, MPU_CTRL, 4],
      [0x0a, SCS, SCS + 0x20, 4],
      [0x0e, SCS + 0x100, SCS + 0x100, 4],
      [0x10, SCS + 0x200, SCS + 0x200, 4],
    ];
    for (const [off, base, address, size] of cases) {
      r.set({ R1: base });
      r.cpu.writeReg(Reg.PC, C + off);
      const before = r.cpu.icount();
      expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
      expect(r.cpu.stopInfo()).toMatchObject({ address, access: Access.Write, size });
      expect(r.reg(Reg.PC)).toBe(C + off);
      expect(r.reg(Reg.R1)).toBe(base);
      expect(r.cpu.icount()).toBe(before);
    }
    expect(r.mmio.write).toEqual([]);
    // Privileged: the same MPU_CTRL store goes through.
    setPrivileged(r.cpu, true);
    r.set({ R1: 0xe000_ed00 });
    r.cpu.writeReg(Reg.PC, C + 6);
    r.cpu.run(1e6, 0);
    expect(r.mmio.write[0]).toEqual([0xd94, 4, 5]);
  });

  it('keeps separate TLB entries per privilege (QEMU MMU index): switching back and forth is sound', () => {
    const r = withScs([0x680a, 0xde00]); // ldr r2, [r1]; udf
    r.set({ R1: SYST_CSR });
    const runOnce = () => {
      r.cpu.writeReg(Reg.PC, C);
      r.set({ R2: 0 });
      return r.cpu.run(1e6, 0);
    };
    expect(runOnce()).toBe(Stop.InvalidInsn); // privileged: fills the PPB page (and the code page)
    expect(r.reg(Reg.R2)).toBe(0x10007);
    const f0 = stats(r).tlbFills;
    expect(runOnce()).toBe(Stop.InvalidInsn);
    expect(stats(r).tlbFills).toBe(f0); // cached

    setPrivileged(r.cpu, false);
    expect(runOnce()).toBe(Stop.MemFault); // the privileged entry is not used: a new fill, refused
    expect(r.cpu.stopInfo().address).toBe(SYST_CSR);
    const f1 = stats(r).tlbFills;
    expect(f1).toBe(f0 + 2); // the code page for the unprivileged index, then the refused PPB page

    setPrivileged(r.cpu, true);
    expect(runOnce()).toBe(Stop.InvalidInsn); // the privileged entry is still there: no fill
    expect(r.reg(Reg.R2)).toBe(0x10007);
    expect(stats(r).tlbFills).toBe(f1);

    setPrivileged(r.cpu, false);
    expect(runOnce()).toBe(Stop.MemFault); // a refusal is never cached: it faults again
    expect(stats(r).tlbFills).toBe(f1 + 1);

    // Handler mode is privileged whatever CONTROL.nPRIV says.
    r.cpu.writeRegs([Reg.XPSR], [XPSR_T | 11]);
    expect(runOnce()).toBe(Stop.InvalidInsn);
    expect(r.reg(Reg.R2)).toBe(0x10007);
  });

  it('the guest dropping privilege with MSR CONTROL faults the next PPB access in the same run', () => {
    const r = withScs([
      0x6808, //            0: ldr r0, [r1, #0]
      0x3501, //            2: adds r5, #1
      0x2201, //            4: movs r2, #1
      0xf382, 0x8814, //    6: msr CONTROL, r2
      0xf3bf, 0x8f6f, //    a: isb sy
      0x3501, //            e: adds r5, #1
      0x680b, //           10: ldr r3, [r1, #0]
      0xde02, //           12: udf #2
    ]);
    r.set({ R1: SYST_CSR, R3: 0x77 });
    expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
    expect(r.cpu.stopInfo()).toMatchObject({ address: SYST_CSR, access: Access.Read, size: 4 });
    expect(r.reg(Reg.PC)).toBe(C + 0x10);
    expect(r.cpu.icount()).toBe(6);
    expect(r.reg(Reg.R0)).toBe(0x10007);
    expect(r.reg(Reg.R3)).toBe(0x77);
    expect(r.reg(Reg.R5)).toBe(2);
    expect(r.reg(Reg.CONTROL) & 1).toBe(1);
  });

  it('inside an IT block: a skipped PPB load does not fault, an executed one faults with its ITSTATE', () => {
    const r = withScs([
      0x4280, //            0: cmp r0, r0
      0xbf1c, //            2: itt ne
      0x680a, //            4: ldrne r2, [r1, #0]
      0x3501, //            6: addne r5, #1
      0x3501, //            8: adds r5, #1
      0x4280, //            a: cmp r0, r0
      0xbf0c, //            c: ite eq
      0x680a, //            e: ldreq r2, [r1, #0]
      0x3501, //           10: addne r5, #1
      0xde03, //           12: udf #3
    ]);
    r.set({ R1: SYST_CSR });
    setPrivileged(r.cpu, false);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
    expect(r.reg(Reg.PC)).toBe(C + 0xe);
    expect(r.cpu.icount()).toBe(7);
    expect(r.reg(Reg.R5)).toBe(1);
    const xpsr = r.reg(Reg.XPSR);
    const itstate = ((xpsr >>> 25) & 3) | (((xpsr >>> 10) & 0x3f) << 2);
    expect(itstate).toBe(0x0c); // ITE EQ, first instruction: firstcond 0000, mask 1100
  });

  const STIR_PROG = [
    0x3501, //            0: adds r5, #1
    0x6008, //            2: str r0, [r1, #0]
    0x3501, //            4: adds r5, #1
    0xf8c1, 0x0000, //    6: str.w r0, [r1]
    0xf841, 0x0b04, //    a: str.w r0, [r1], #4
    0x4280, //            e: cmp r0, r0
    0xbf04, //           10: itt eq
    0x6010, //           12: streq r0, [r2, #0]
    0x3501, //           14: addeq r5, #1
    0x3501, //           16: adds r5, #1
    0x6018, //           18: str r0, [r3, #0]
    0xde04, //           1a: udf #4
  ];

  it('STIR: unprivileged writes fault unless CCR.USERSETMPEND is set; then only STIR is writable', () => {
    const r = withScs(STIR_PROG);
    r.cpu.setUserSetMPend(false);
    r.set({ R0: 7, R1: STIR, R2: STIR, R3: MPU_CTRL });
    setPrivileged(r.cpu, false);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
    expect(r.cpu.stopInfo()).toMatchObject({ address: STIR, access: Access.Write, size: 4 });
    expect(r.reg(Reg.PC)).toBe(C + 2);
    expect(r.cpu.icount()).toBe(1);

    r.cpu.setUserSetMPend(true);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault); // the MPU_CTRL store at 0x18 still faults
    expect(r.cpu.stopInfo()).toMatchObject({ address: MPU_CTRL, access: Access.Write, size: 4 });
    expect(r.reg(Reg.PC)).toBe(C + 0x18);
    expect(r.mmio.write).toEqual([
      [0xf00, 4, 7],
      [0xf00, 4, 7],
      [0xf00, 4, 7],
      [0xf00, 4, 7],
    ]);
    expect(r.reg(Reg.R1)).toBe(STIR + 4); // post-indexed writeback done
    expect(r.reg(Reg.R5)).toBe(4);
    expect(r.cpu.icount()).toBe(10);
    const xpsr = r.reg(Reg.XPSR);
    expect(((xpsr >>> 25) & 3) | (((xpsr >>> 10) & 0x3f) << 2)).toBe(0); // IT block left cleanly
  });
});

describe('CCR.UNALIGN_TRP', () => {
  const BASIC = [
    0x3501, //            0: adds r5, #1
    0x3501, //            2: adds r5, #1
    0x6808, //            4: ldr r0, [r1, #0]
    0x3501, //            6: adds r5, #1
    0x6020, //            8: str r0, [r4, #0]
    0x3501, //            a: adds r5, #1
    0xde00, //            c: udf #0
  ];
  const bytes = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc];

  it('trap on: an unaligned LDR stops at itself (Unaligned), registers unchanged, icount exact', () => {
    const r = rig(BASIC);
    new Uint8Array(r.ram).set(bytes, 0x100);
    r.set({ R1: RAM + 0x101, R4: RAM + 0x202, R0: 0xdead });
    r.cpu.setUnalignedTrap(true);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.cpu.stopInfo()).toMatchObject({ reason: Stop.Unaligned, address: RAM + 0x101, access: Access.Read, size: 4 });
    expect(r.reg(Reg.PC)).toBe(C + 4);
    expect(r.reg(Reg.R0)).toBe(0xdead);
    expect(r.reg(Reg.R5)).toBe(2);
    expect(r.cpu.icount()).toBe(2);
    // Again: the same stop.
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.reg(Reg.PC)).toBe(C + 4);
    expect(r.cpu.icount()).toBe(2);
    // Step over it (as a handler would): the unaligned STR stops too, and nothing is written.
    r.cpu.writeReg(Reg.PC, C + 6);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.cpu.stopInfo()).toMatchObject({ address: RAM + 0x202, access: Access.Write, size: 4 });
    expect(r.reg(Reg.PC)).toBe(C + 8);
    expect(r.reg(Reg.R5)).toBe(3);
    expect(Array.from(new Uint8Array(r.ram, 0x200, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('trap off: unaligned LDR and STR work as before', () => {
    const r = rig(BASIC);
    new Uint8Array(r.ram).set(bytes, 0x100);
    r.set({ R1: RAM + 0x101, R4: RAM + 0x202, R0: 0xdead });
    r.cpu.setUnalignedTrap(true);
    r.cpu.setUnalignedTrap(false);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.InvalidInsn);
    expect(r.reg(Reg.R0)).toBe(0x55443322);
    expect(Array.from(new Uint8Array(r.ram, 0x200, 8))).toEqual([0, 0, 0x22, 0x33, 0x44, 0x55, 0, 0]);
    expect(r.cpu.icount()).toBe(6);
  });

  const FORMS = [
    0x8808, //            0: ldrh r0, [r1, #0]
    0x5f88, //            2: ldrsh r0, [r1, r6]
    0x8008, //            4: strh r0, [r1, #0]
    0xf8d1, 0x0004, //    6: ldr.w r0, [r1, #4]
    0xf8c4, 0x0008, //    a: str.w r0, [r4, #8]
    0xf8b1, 0x0002, //    e: ldrh.w r0, [r1, #2]
    0xf9b1, 0x0002, //   12: ldrsh.w r0, [r1, #2]
    0xf8a1, 0x0002, //   16: strh.w r0, [r1, #2]
    0xf851, 0x0d02, //   1a: ldr.w r0, [r1, #-2]!
    0x7808, //           1e: ldrb r0, [r1, #0]
    0x7008, //           20: strb r0, [r1, #0]
    0xde01, //           22: udf #1
  ];

  it('trap on: every halfword/word form (16- and 32-bit) stops; byte accesses never do', () => {
    const r = rig(FORMS);
    new Uint8Array(r.ram).set(bytes, 0x100);
    r.cpu.setUnalignedTrap(true);
    const cases: Array<[number, number, Access, number]> = [
      [0x00, RAM + 0x101, Access.Read, 2],
      [0x02, RAM + 0x101, Access.Read, 2],
      [0x04, RAM + 0x101, Access.Write, 2],
      [0x06, RAM + 0x105, Access.Read, 4],
      [0x0a, RAM + 0x20a, Access.Write, 4],
      [0x0e, RAM + 0x103, Access.Read, 2],
      [0x12, RAM + 0x103, Access.Read, 2],
      [0x16, RAM + 0x103, Access.Write, 2],
      [0x1a, RAM + 0xff, Access.Read, 4], // pre-indexed writeback: not done either
    ];
    for (const [off, address, access, size] of cases) {
      r.set({ R0: 0xdead, R1: RAM + 0x101, R4: RAM + 0x202, R6: 0 });
      r.cpu.writeReg(Reg.PC, C + off);
      const before = r.cpu.icount();
      expect(r.cpu.run(1e6, 0), `at +${off.toString(16)}`).toBe(Stop.Unaligned);
      expect(r.cpu.stopInfo()).toMatchObject({ address, access, size });
      expect(r.reg(Reg.PC)).toBe(C + off);
      expect(r.reg(Reg.R0)).toBe(0xdead);
      expect(r.reg(Reg.R1)).toBe(RAM + 0x101);
      expect(r.cpu.icount()).toBe(before);
    }
    expect(Array.from(new Uint8Array(r.ram, 0x100, 12))).toEqual(bytes);
    expect(Array.from(new Uint8Array(r.ram, 0x208, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    // LDRB/STRB at an odd address run.
    r.cpu.writeReg(Reg.PC, C + 0x1e);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.InvalidInsn);
    expect(r.reg(Reg.R0)).toBe(0x22);
    // Aligned halfword and word accesses run with the trap on (up to the pre-indexed load of 0xFE).
    r.set({ R1: RAM + 0x100, R4: RAM + 0x200, R6: 0 });
    r.cpu.writeReg(Reg.PC, C);
    const before = r.cpu.icount();
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.reg(Reg.PC)).toBe(C + 0x1a);
    expect(r.cpu.icount()).toBe(before + 8);
    expect(r.reg(Reg.R0)).toBe(0x4433); // ldrsh.w [r1, #2] of bytes 0x33 0x44
  });

  const MULTI = [
    0xe9d1, 0x2300, //    0: ldrd r2, r3, [r1]
    0xe9c4, 0x2300, //    4: strd r2, r3, [r4]
    0xe891, 0x000c, //    8: ldmia.w r1, {r2, r3}
    0xc40c, //            c: stmia r4!, {r2, r3}
    0xb40c, //            e: push {r2, r3}
    0xbc0c, //           10: pop {r2, r3}
    0xe851, 0x2f00, //   12: ldrex r2, [r1]
    0xe8d1, 0x2f5f, //   16: ldrexh r2, [r1]
    0xde02, //           1a: udf #2
  ];

  it('LDRD/STRD/LDM/STM/PUSH/POP at an unaligned address always stop (Unaligned), trap on or off, nothing done', () => {
    const r = rig(MULTI);
    new Uint8Array(r.ram).set(bytes, 0x100);
    const starts: Array<[number, number, Access]> = [
      [0x00, RAM + 0x101, Access.Read],
      [0x04, RAM + 0x202, Access.Write],
      [0x08, RAM + 0x101, Access.Read],
      [0x0c, RAM + 0x202, Access.Write],
      [0x0e, RAM + 0x7ffa - 8, Access.Write],
      [0x10, RAM + 0x7ffa, Access.Read],
    ];
    for (const trap of [true, false]) {
      r.cpu.setUnalignedTrap(trap);
      for (const [off, address, access] of starts) {
        r.set({ R1: RAM + 0x101, R2: 1, R3: 2, R4: RAM + 0x202, SP: RAM + 0x7ffa });
        r.cpu.writeReg(Reg.PC, C + off);
        const before = r.cpu.icount();
        expect(r.cpu.run(1e6, 0), `at +${off.toString(16)}, trap ${trap}`).toBe(Stop.Unaligned);
        expect(r.cpu.stopInfo()).toMatchObject({ address, access, size: 4 });
        expect(r.reg(Reg.PC)).toBe(C + off);
        expect(r.cpu.icount()).toBe(before);
        expect([r.reg(Reg.R2), r.reg(Reg.R3), r.reg(Reg.R4), r.reg(Reg.SP)]).toEqual([1, 2, RAM + 0x202, RAM + 0x7ffa]);
      }
    }
    expect(Array.from(new Uint8Array(r.ram, 0x200, 12))).toEqual(new Array(12).fill(0));
    // Aligned, they all run (the trap off), up to the LDREX at an unaligned address.
    r.set({ R1: RAM + 0x100, R4: RAM + 0x200, SP: RAM + 0x7ff8 });
    r.cpu.writeReg(Reg.PC, C);
    const before = r.cpu.icount();
    expect(r.cpu.run(1e6, 0)).toBe(Stop.InvalidInsn); // the LDREXes are aligned too: up to the udf
    expect(r.reg(Reg.PC)).toBe(C + 0x1a);
    expect(r.cpu.icount()).toBe(before + 8);
    expect(Array.from(new Uint8Array(r.ram, 0x200, 8))).toEqual(bytes.slice(0, 8));
    expect(r.reg(Reg.R4)).toBe(RAM + 0x208);
  });

  it('LDREX/LDREXH at an unaligned address always stop with Unaligned (Unicorn checks exclusives)', () => {
    const r = rig(MULTI);
    for (const trap of [false, true]) {
      r.cpu.setUnalignedTrap(trap);
      for (const [off, size] of [
        [0x12, 4],
        [0x16, 2],
      ]) {
        r.set({ R1: RAM + 0x101, R2: 9 });
        r.cpu.writeReg(Reg.PC, C + off);
        expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
        expect(r.cpu.stopInfo()).toMatchObject({ address: RAM + 0x101, access: Access.Read, size });
        expect(r.reg(Reg.PC)).toBe(C + off);
        expect(r.reg(Reg.R2)).toBe(9);
      }
    }
  });

  it('inside an IT block: a skipped access never stops; an executed one stops with nothing after it done', () => {
    const r = rig([
      0x4280, //            0: cmp r0, r0
      0xbf1c, //            2: itt ne
      0x680a, //            4: ldrne r2, [r1, #0]
      0x3501, //            6: addne r5, #1
      0x3501, //            8: adds r5, #1
      0x4280, //            a: cmp r0, r0
      0xbf0a, //            c: itet eq
      0x6035, //            e: streq r5, [r6, #0]
      0x3510, //           10: addne r5, #16
      0x680a, //           12: ldreq r2, [r1, #0]   <- unaligned, inside the IT block
      0x3520, //           14: adds r5, #32
      0x6075, //           16: str r5, [r6, #4]
      0x3540, //           18: adds r5, #64
      0xde03, //           1a: udf #3
    ]);
    new Uint8Array(r.ram).set(bytes, 0x100);
    r.set({ R1: RAM + 0x101, R2: 0xdead, R6: RAM + 0x300 });
    r.cpu.setUnalignedTrap(true);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.cpu.stopInfo()).toMatchObject({ address: RAM + 0x101, access: Access.Read, size: 4 });
    expect(r.reg(Reg.PC)).toBe(C + 0x12);
    expect(r.cpu.icount()).toBe(9);
    expect(r.reg(Reg.R2)).toBe(0xdead);
    expect(r.reg(Reg.R5)).toBe(1);
    expect(Array.from(new Uint32Array(r.ram, 0x300, 2))).toEqual([1, 0]); // streq ran, str after did not
    const xpsr = r.reg(Reg.XPSR);
    expect(((xpsr >>> 25) & 3) | (((xpsr >>> 10) & 0x3f) << 2)).toBe(0x08); // ITET EQ (0x0a), advanced twice
    expect(xpsr >>> 30 & 1).toBe(1); // Z still set
    // Resumed with the trap off it finishes the block exactly once.
    r.cpu.setUnalignedTrap(false);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.InvalidInsn);
    expect(r.reg(Reg.R2)).toBe(0x55443322);
    expect(r.reg(Reg.R5)).toBe(1 + 0x20 + 0x40);
    expect(Array.from(new Uint32Array(r.ram, 0x300, 2))).toEqual([1, 0x21]);
    expect(r.cpu.icount()).toBe(13);
  });

  it('an unaligned MMIO access with the trap on stops without calling the handler', () => {
    const r = rig(BASIC);
    const calls: number[] = [];
    r.cpu.setMmioHandlers(
      (_r, o) => (calls.push(o), 0),
      (_r, o) => void calls.push(o),
    );
    r.cpu.mapMmio(0x4000_0000, 0x1000, 1);
    r.set({ R1: 0x4000_0002, R4: 0x4000_0006 });
    r.cpu.setUnalignedTrap(true);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.reg(Reg.PC)).toBe(C + 4);
    r.cpu.writeReg(Reg.PC, C + 6);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.reg(Reg.PC)).toBe(C + 8);
    expect(calls).toEqual([]);
  });

  it('alignment comes before the bus: unaligned into unmapped memory or flash is Unaligned with the trap on', () => {
    const r = rig(BASIC);
    r.cpu.setUnalignedTrap(true);
    r.set({ R1: 0x3000_0001, R4: 0x0000_0102 });
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.cpu.stopInfo()).toMatchObject({ address: 0x3000_0001, access: Access.Read });
    r.cpu.writeReg(Reg.PC, C + 8);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.cpu.stopInfo()).toMatchObject({ address: 0x0000_0102, access: Access.Write });
    r.cpu.setUnalignedTrap(false);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
    expect(r.cpu.stopInfo()).toMatchObject({ address: 0x0000_0102, access: Access.Write });
  });

  it('the guest setting CCR.UNALIGN_TRP from an MMIO handler takes effect at the next block, inside the same run', () => {
    const r = rig([
      0x6018, //            0: str r0, [r3, #0]   (CCR)
      0xf3bf, 0x8f6f, //    2: isb sy
      0x680a, //            6: ldr r2, [r1, #0]
      0xde04, //            8: udf #4
    ]);
    r.cpu.mapMmio(0xe000_e000, 0x1000, 0);
    r.cpu.setMmioHandlers(
      () => 0,
      (_r, offset, _s, value) => {
        if (offset === 0xd14) r.cpu.setUnalignedTrap((value & 8) !== 0);
      },
    );
    new Uint8Array(r.ram).set(bytes, 0x100);
    r.set({ R0: 8, R1: RAM + 0x101, R2: 0xdead, R3: 0xe000_ed14 });
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.reg(Reg.PC)).toBe(C + 6);
    expect(r.cpu.icount()).toBe(2);
    expect(r.reg(Reg.R2)).toBe(0xdead);
    // And off again the same way.
    r.set({ R0: 0 });
    r.cpu.writeReg(Reg.PC, C);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.InvalidInsn);
    expect(r.reg(Reg.R2)).toBe(0x55443322);
    expect(stats(r).alignHookCalls).toBeGreaterThan(0);
  });

  it('costs nothing while off: store-loop MIPS before, with and after the trap (printed)', () => {
    const LOOP = [
      0x6001, //            0: str r1, [r0, #0]
      0x6041, //            2: str r1, [r0, #4]
      0x6081, //            4: str r1, [r0, #8]
      0x60c1, //            6: str r1, [r0, #12]
      0x3a01, //            8: subs r2, #1
      0xd1f9, //            a: bne.n 0
      0xde05, //            c: udf #5
    ];
    const r = rig(LOOP);
    const measure = (iterations: number) => {
      let best = Infinity;
      for (let round = 0; round < 3; round++) {
        r.set({ R0: RAM + 0x4000, R1: 5, R2: iterations });
        r.cpu.writeReg(Reg.PC, C);
        r.cpu.setIcount(0);
        const t0 = addon.monotonicNs();
        expect(r.cpu.run(1e15, 0)).toBe(Stop.InvalidInsn);
        best = Math.min(best, addon.monotonicNs() - t0);
        expect(r.cpu.icount()).toBe(iterations * 6);
      }
      return (iterations * 6) / (best / 1e3);
    };
    const before = measure(3_000_000);
    r.cpu.setUnalignedTrap(true);
    const on = measure(200_000);
    r.cpu.setUnalignedTrap(false);
    const after = measure(3_000_000);
    console.log(
      `store loop: trap never on ${before.toFixed(0)} MIPS; trap on ${on.toFixed(0)} MIPS; trap off again ${after.toFixed(0)} MIPS`,
    );
    expect(after).toBeGreaterThan(before * 0.6);
    expect(before).toBeGreaterThan(100);
  });
});

describe('CCR.UNALIGN_TRP and IT state', () => {
  // As it-state.test.ts, but on one page (no TLB fills after the first pass): with the trap on,
  // Unicorn calls the memory hook after rolling PC and ITSTATE back to the access (the same
  // defect as for TLB fills), so every aligned access inside an IT block needs the repair too.
  const CODE = [
    0x2500, //          movs r5, #0
    0x2301, // loop:    movs r3, #1
    0x07db, //          lsls r3, r3, #31     N=1 Z=0 C=0
    0xbf1c, //          itt ne
    0x780c, //          ldrbne r4, [r1]      memory hook inside the IT block, two slots left
    0x3601, //          addne r6, #1
    0xd300, //          bcc 1f
    0xde01, //          udf #1
    0x2201, // 1:       movs r2, #1
    0x3a01, //          subs r2, #1          must set Z (outside the IT block)
    0xd107, //          bne bad
    0x3501, //          adds r5, #1
    0xf3af, 0x8000, //  nop.w
    0xf3af, 0x8000, //  nop.w
    0x2d08, //          cmp r5, #8
    0xd1ee, //          bne loop
    0xde00, //          udf #0               done
    0xde02, // bad:     udf #2
  ];

  it('keeps ITSTATE right after aligned accesses inside IT blocks while the trap is on', () => {
    const r = rig(CODE);
    r.set({ R0: RAM + 0x4000, R1: RAM + 0x8000 });
    r.cpu.setUnalignedTrap(true);
    expect(r.cpu.run(1e9, 0)).toBe(Stop.InvalidInsn);
    expect(r.reg(Reg.R5)).toBe(8);
    expect(r.reg(Reg.PC)).toBe(C + 2 * (CODE.length - 2));
    expect(r.cpu.icount()).toBe(1 + 8 * 14);
  });
});
