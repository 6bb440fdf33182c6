// Stop reasons: exception instructions, hints, faults (with precise PC), divide trap, mask watch.
import { afterEach, describe, expect, it } from 'vitest';
import { Access, Reg, Stop } from '../../src/native/cpu.js';
import { addon, closeAll, FLASH_CODE as C, RAM, RAM_SIZE, rig } from './helpers.js';

afterEach(closeAll);

describe('exception instructions and hints', () => {
  const P5 = [
    0x4770, //   0: bx lr
    0x2001, //   2: movs r0, #1
    0xdf05, //   4: svc 5
    0x3001, //   6: adds r0, #1
    0xbe03, //   8: bkpt 0x0003
    0x3001, //   a: adds r0, #1
    0xe7fe, //   c: b.n .
  ];

  it('SVC stops with Interrupt intno 2 and PC after it; BKPT with intno 7 and PC at it, every time', () => {
    const { cpu, reg } = rig(P5, C);
    cpu.writeReg(Reg.PC, C + 2);
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(cpu.stopInfo().intno).toBe(2);
    expect(reg(Reg.PC)).toBe(C + 6);
    expect(cpu.icount()).toBe(2);
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(cpu.stopInfo()).toMatchObject({ reason: Stop.Interrupt, intno: 7 });
    expect(reg(Reg.PC)).toBe(C + 8);
    expect(reg(Reg.R0)).toBe(2);
    expect(cpu.icount()).toBe(3); // BKPT itself did not complete
    // Resuming at the BKPT stops again (no endless refiring inside one run).
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(cpu.stopInfo().intno).toBe(7);
    expect(cpu.icount()).toBe(3);
    // Stepping over it continues.
    cpu.writeReg(Reg.PC, C + 10);
    expect(cpu.run(100, 0)).toBe(Stop.Limit);
    expect(reg(Reg.R0)).toBe(3);
  });

  const HINTS = [
    0x3001, //          0: adds r0, #1
    0xbf10, //          2: yield
    0x3001, //          4: adds r0, #1
    0xbf40, //          6: sev
    0x3001, //          8: adds r0, #1
    0xf3af, 0x8001, //  a: yield.w
    0x3001, //          e: adds r0, #1
    0xbf20, //         10: wfe
    0x3001, //         12: adds r0, #1
    0xbf30, //         14: wfi
    0x3001, //         16: adds r0, #1
    0xf3af, 0x8003, // 18: wfi.w
    0x3001, //         1c: adds r0, #1
    0xf3af, 0x8002, // 1e: wfe.w
    0x3001, //         22: adds r0, #1
    0xbf10, //         24: yield
    0xde07, //         26: udf #7
  ];

  it('YIELD and SEV run through; WFE/WFI stop after the instruction; UDF stops at itself', () => {
    const { cpu, reg } = rig(HINTS);
    expect(cpu.run(1000, 0)).toBe(Stop.Wfe);
    expect(reg(Reg.PC)).toBe(C + 0x12);
    expect(reg(Reg.R0)).toBe(4);
    expect(cpu.icount()).toBe(8);
    expect(cpu.run(1000, 0)).toBe(Stop.Wfi);
    expect(reg(Reg.PC)).toBe(C + 0x16);
    expect(cpu.icount()).toBe(10);
    expect(cpu.run(1000, 0)).toBe(Stop.Wfi);
    expect(reg(Reg.PC)).toBe(C + 0x1c);
    expect(cpu.icount()).toBe(12);
    expect(cpu.run(1000, 0)).toBe(Stop.Wfe);
    expect(reg(Reg.PC)).toBe(C + 0x22);
    expect(cpu.icount()).toBe(14);
    expect(cpu.run(1000, 0)).toBe(Stop.InvalidInsn);
    expect(reg(Reg.PC)).toBe(C + 0x26);
    expect(reg(Reg.R0)).toBe(8);
    expect(cpu.icount()).toBe(16); // adds, yield counted; the UDF is not
    expect(cpu.run(1000, 0)).toBe(Stop.InvalidInsn);
    expect(cpu.icount()).toBe(16);
  });

  it('T32 1111 1001 xxx0 (Advanced SIMD element/structure load/store on v7-A) is UNDEFINED: it stops at itself with nothing done, every time, also inside an IT block', () => {
    const FORMS: [string, number[]][] = [
      ['vst1.8 {d0}, [r1]', [0xf901, 0x070f]],
      ['vld1.8 {d0}, [r1]!', [0xf921, 0x070d]],
      ['vld4.8 {d0[1],d1[1],d2[1],d3[1]}, [r1], r2', [0xf9a1, 0x0322]],
    ];
    for (const [name, insn] of FORMS) {
      // movs r0,#1 ; adds r0,#1 ; <insn> ; adds r0,#1 ; b .
      const { cpu, reg, set, ram } = rig([0x2001, 0x3001, ...insn, 0x3001, 0xe7fe]);
      new Uint8Array(ram).fill(0x5a, 0x100, 0x140);
      set({ R1: RAM + 0x100, R2: 8 });
      for (let k = 0; k < 2; k++) {
        expect(cpu.run(1000, 0), name).toBe(Stop.InvalidInsn);
        expect(reg(Reg.PC), name).toBe(C + 4);
        expect(reg(Reg.R0), name).toBe(2);
        expect(reg(Reg.R1), `${name}: no writeback`).toBe(RAM + 0x100);
        expect(cpu.icount(), name).toBe(2);
      }
      expect([...new Uint8Array(ram, 0x100, 0x40)].every((b) => b === 0x5a), `${name}: nothing stored`).toBe(true);
    }
    // In an IT block: taken, it stops at itself with ITSTATE its own; skipped, it does nothing.
    // cmp r0, r3 ; ite eq ; vst1.8 {d0}, [r1] (eq) ; adds r0, #1 (ne) ; b .
    const IT = [0x4298, 0xbf0c, 0xf901, 0x070f, 0x3001, 0xe7fe];
    const taken = rig(IT);
    taken.set({ R0: 5, R3: 5, R1: RAM + 0x100 });
    expect(taken.cpu.run(1000, 0)).toBe(Stop.InvalidInsn);
    expect(taken.reg(Reg.PC)).toBe(C + 4);
    expect(taken.cpu.icount()).toBe(2);
    const xpsr = taken.reg(Reg.XPSR);
    const itstate = ((xpsr >>> 25) & 3) | (((xpsr >>> 10) & 0x3f) << 2);
    expect(itstate, 'ITSTATE at the first instruction of ite eq (firstcond 0000, mask 1100)').toBe(0x0c);
    const skipped = rig(IT);
    skipped.set({ R0: 5, R3: 6, R1: RAM + 0x100 });
    expect(skipped.cpu.run(10, 0)).toBe(Stop.Limit);
    expect(skipped.reg(Reg.R0)).toBe(6);
  });

  it('BX to an even address is an invalid instruction at the target', () => {
    const { cpu, reg, set } = rig([0x4708]); // bx r1
    set({ R1: C + 0x100 });
    expect(cpu.run(100, 0)).toBe(Stop.InvalidInsn);
    expect(reg(Reg.PC)).toBe(C + 0x100);
  });
});

describe('memory faults stop precisely', () => {
  // movs r0,#1 ; adds r0,#1 ; <insn> ; adds r0,#1 ; b .   -> the fault must leave r0 == 2,
  // PC at <insn> (0x1004) and icount == 2.
  const wrap = (insn: number[]) => [0x2001, 0x3001, ...insn, 0x3001, 0xe7fe];
  const PC_AT = C + 4;

  interface Case {
    name: string;
    insn: number[];
    regs: Record<string, number>;
    address: number;
    access: Access;
    size: number;
    check?: (r: ReturnType<typeof rig>) => void;
  }
  const cases: Case[] = [
    { name: 'load from unmapped', insn: [0x688b /* ldr r3, [r1, #8] */], regs: { R1: 0x3000_0000 }, address: 0x3000_0008, access: Access.Read, size: 4 },
    { name: 'byte load from unmapped', insn: [0x7a0b /* ldrb r3, [r1, #8] */], regs: { R1: 0x3000_0001 }, address: 0x3000_0009, access: Access.Read, size: 1 },
    { name: 'store to unmapped', insn: [0x608b /* str r3, [r1, #8] */], regs: { R1: 0x3000_0000 }, address: 0x3000_0008, access: Access.Write, size: 4 },
    { name: 'halfword store to unmapped', insn: [0x810b /* strh r3, [r1, #8] */], regs: { R1: 0x3000_0000 }, address: 0x3000_0008, access: Access.Write, size: 2 },
    {
      name: 'STM partly unmapped (the mapped words are written, no writeback)',
      insn: [0xc178 /* stmia r1!, {r3, r4, r5, r6} */],
      regs: { R1: RAM + RAM_SIZE - 8 },
      address: RAM + RAM_SIZE,
      access: Access.Write,
      size: 4,
      check: ({ ram, reg }) => {
        expect(Array.from(new Uint32Array(ram).slice(-2))).toEqual([0x33, 0x44]);
        expect(reg(Reg.R1)).toBe(RAM + RAM_SIZE - 8);
      },
    },
    {
      name: 'LDM partly unmapped (no writeback)',
      insn: [0xc978 /* ldmia r1!, {r3, r4, r5, r6} */],
      regs: { R1: RAM + RAM_SIZE - 8 },
      address: RAM + RAM_SIZE,
      access: Access.Read,
      size: 4,
      check: ({ reg }) => expect(reg(Reg.R1)).toBe(RAM + RAM_SIZE - 8),
    },
    {
      name: 'PUSH below RAM (SP unchanged)',
      insn: [0xb478 /* push {r3, r4, r5, r6} */],
      regs: { SP: RAM + 8 },
      address: RAM - 8,
      access: Access.Write,
      size: 4,
      check: ({ reg }) => expect(reg(Reg.SP)).toBe(RAM + 8),
    },
    {
      name: 'STRD (pre-indexed, writeback) to unmapped',
      insn: [0xe961, 0x3401 /* strd r3, r4, [r1, #-4]! */],
      regs: { R1: RAM + RAM_SIZE + 4 },
      address: RAM + RAM_SIZE,
      access: Access.Write,
      size: 4,
      check: ({ reg }) => expect(reg(Reg.R1)).toBe(RAM + RAM_SIZE + 4),
    },
    {
      name: 'store to read-only flash',
      insn: [0x608b /* str r3, [r1, #8] */],
      regs: { R1: 0x100 },
      address: 0x108,
      access: Access.Write,
      size: 4,
      check: ({ flash }) => expect(new Uint32Array(flash)[0x108 / 4]).toBe(0),
    },
    { name: 'byte store to read-only flash', insn: [0x720b /* strb r3, [r1, #8] */], regs: { R1: 0x101 }, address: 0x109, access: Access.Write, size: 1 },
    { name: 'PUSH into read-only flash', insn: [0xb478 /* push {r3-r6} */], regs: { SP: 0x808 }, address: 0x7f8, access: Access.Write, size: 4 },
    { name: 'STRD into read-only flash', insn: [0xe961, 0x3401 /* strd r3, r4, [r1, #-4]! */], regs: { R1: 0x800 }, address: 0x7fc, access: Access.Write, size: 4 },
    { name: 'STR.W imm12 into read-only flash', insn: [0xf8c1, 0x3123 /* str.w r3, [r1, #0x123] */], regs: { R1: 0x200 }, address: 0x323, access: Access.Write, size: 4 },
    { name: 'STRH register form into read-only flash', insn: [0xf821, 0x3012 /* strh.w r3, [r1, r2, lsl #1] */], regs: { R1: 0x200, R2: 0x10 }, address: 0x220, access: Access.Write, size: 2 },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const r = rig(wrap(c.insn));
      const { cpu, reg, set, ram } = r;
      new Uint32Array(ram).fill(0xaaaaaaaa);
      set({ R3: 0x33, R4: 0x44, R5: 0x55, R6: 0x66, ...c.regs });
      expect(cpu.run(1000, 0)).toBe(Stop.MemFault);
      expect(cpu.stopInfo()).toMatchObject({ reason: Stop.MemFault, address: c.address >>> 0, access: c.access, size: c.size });
      expect(reg(Reg.PC)).toBe(PC_AT);
      expect(reg(Reg.R0)).toBe(2);
      expect(cpu.icount()).toBe(2);
      c.check?.(r);
      // Resuming faults again at the same instruction without re-running the earlier ones.
      expect(cpu.run(1000, 0)).toBe(Stop.MemFault);
      expect(reg(Reg.PC)).toBe(PC_AT);
      expect(reg(Reg.R0)).toBe(2);
      expect(cpu.icount()).toBe(2);
    });
  }

  it('inside an IT block too (stores are refused by the TLB hook, not reported at the block end)', () => {
    const code = [
      0x2001, //  0: movs r0, #1
      0x4280, //  2: cmp r0, r0
      0xbf04, //  4: itt eq
      0x600b, //  6: streq r3, [r1, #0]
      0x3001, //  8: addeq r0, #1
      0x3001, //  a: adds r0, #1
      0xe7fe, //  c: b.n .
    ];
    for (const target of [0x3000_0000, 0x100]) {
      const { cpu, reg, set } = rig(code);
      set({ R1: target, R3: 0x99 });
      expect(cpu.run(100, 0)).toBe(Stop.MemFault);
      expect(cpu.stopInfo()).toMatchObject({ address: target, access: Access.Write, size: 4 });
      expect(reg(Reg.PC)).toBe(C + 6);
      expect(reg(Reg.R0)).toBe(1);
      expect(cpu.icount()).toBe(3);
      expect((reg(Reg.XPSR) >>> 10) & 0x3f).not.toBe(0); // still inside the IT block
      expect(cpu.run(100, 0)).toBe(Stop.MemFault);
      expect(reg(Reg.PC)).toBe(C + 6);
    }
  });

  it('fetch from the execute-never peripheral region faults, mapped or not', () => {
    for (const mapIt of [false, true]) {
      const { cpu, reg, set } = rig(wrap([0x4708 /* bx r1 */]));
      if (mapIt) cpu.mapHostMemory(0x4000_0000, addon.allocHostMemory(0x1000), 0, 0x1000, true);
      set({ R1: 0x4000_0001 });
      expect(cpu.run(1000, 0)).toBe(Stop.FetchFault);
      expect(cpu.stopInfo()).toMatchObject({ address: 0x4000_0000, access: Access.Fetch });
      expect(reg(Reg.PC)).toBe(0x4000_0000);
      expect(cpu.icount()).toBe(3);
    }
  });

  it('fetch from unmapped memory and from an MMIO window faults', () => {
    for (const [target, mmio] of [[0x3000_0001, false], [0x5000_0001, false], [0x6000_0001, true]] as const) {
      const { cpu, set } = rig(wrap([0x4708 /* bx r1 */]));
      if (mmio) cpu.mapMmio(0x6000_0000, 0x1000, 1);
      set({ R1: target });
      expect(cpu.run(1000, 0)).toBe(Stop.FetchFault);
      expect(cpu.stopInfo().address).toBe(target - 1);
      expect(cpu.icount()).toBe(3);
    }
  });
});

describe('divide-by-zero trap', () => {
  const DIV = [
    0x2001, //          0: movs r0, #1
    0xfbb4, 0xf3f5, //  2: udiv r3, r4, r5
    0x3001, //          6: adds r0, #1
    0xfb94, 0xf6f5, //  8: sdiv r6, r4, r5
    0x3001, //          c: adds r0, #1
    0xdf00, //          e: svc 0
  ];

  it('without the trap Unicorn returns 0 and carries on', () => {
    const { cpu, reg, set } = rig(DIV);
    cpu.setDivideSites([C + 2, C + 8]);
    cpu.setDivideTrap(false);
    set({ R3: 0x99, R4: 100, R5: 0, R6: 0x66 });
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect([reg(Reg.R3), reg(Reg.R6), reg(Reg.R0)]).toEqual([0, 0, 3]);
    expect(cpu.icount()).toBe(6);
  });

  it('with the trap a zero divisor stops at the divide, which does not execute', () => {
    const { cpu, reg, set } = rig(DIV);
    set({ R4: 100, R5: 0 });
    // Translate the code first: sites set later must still take effect.
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    set({ PC: C, R0: 0, R3: 0x99, R6: 0x66 });
    cpu.setIcount(0);
    cpu.setDivideSites([C + 2, C + 8]);
    cpu.setDivideTrap(true);
    expect(cpu.run(100, 0)).toBe(Stop.DivByZero);
    expect(reg(Reg.PC)).toBe(C + 2);
    expect(reg(Reg.R3)).toBe(0x99);
    expect(reg(Reg.R0)).toBe(1);
    expect(cpu.icount()).toBe(1);
    // A non-zero divisor divides.
    set({ R5: 7 });
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect([reg(Reg.R3), reg(Reg.R6), reg(Reg.R0)]).toEqual([14, 14, 3]);
    expect(cpu.icount()).toBe(6);
    // SDIV traps as well.
    set({ PC: C + 8, R5: 0, R6: 0x66 });
    expect(cpu.run(100, 0)).toBe(Stop.DivByZero);
    expect(reg(Reg.PC)).toBe(C + 8);
    expect(reg(Reg.R6)).toBe(0x66);
    // Turning the trap off lets it through.
    cpu.setDivideTrap(false);
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(reg(Reg.R6)).toBe(0);
  });

  it('a divide inside an IT block is trapped late (Unicorn allows no stop there): PC is moved back to it', () => {
    const code = [
      0x2001, //          0: movs r0, #1
      0x4280, //          2: cmp r0, r0
      0xbf04, //          4: itt eq
      0xfbb4, 0xf3f5, //  6: udiveq r3, r4, r5
      0x3001, //          a: addeq r0, #1
      0x3001, //          c: adds r0, #1
      0xe7fe, //          e: b.n .
    ];
    const { cpu, reg, set } = rig(code);
    cpu.setDivideSites([C + 6]);
    cpu.setDivideTrap(true);
    set({ R3: 0x99, R4: 100, R5: 0 });
    expect(cpu.run(100, 0)).toBe(Stop.DivByZero);
    expect(reg(Reg.PC)).toBe(C + 6);
    expect(reg(Reg.R3)).toBe(0); // it did execute
    expect(reg(Reg.R0)).toBe(3); // and so did the rest of its block
  });

  it('clearing the sites removes the trap', () => {
    const { cpu, reg, set } = rig(DIV);
    cpu.setDivideSites([C + 2, C + 8]);
    cpu.setDivideTrap(true);
    set({ R4: 100, R5: 0 });
    expect(cpu.run(100, 0)).toBe(Stop.DivByZero);
    cpu.setDivideSites([]);
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(reg(Reg.R0)).toBe(3);
  });
});

describe('mask watch', () => {
  const MASK = [
    0x3101, //          0: adds r1, #1
    0x2000, //          2: movs r0, #0
    0xf380, 0x8811, //  4: msr BASEPRI, r0
    0x3101, //          8: adds r1, #1
    0xb662, //          a: cpsie i
    0x3101, //          c: adds r1, #1
    0xe7fe, //          e: b.n .
  ];

  it('stops (Requested) right after `msr basepri` unmasks a pending priority', () => {
    const { cpu, reg, set } = rig(MASK);
    set({ BASEPRI: 0x40 });
    cpu.setMaskWatch(0x40, 0xe0); // pending at 0x40: masked by BASEPRI 0x40
    expect(cpu.run(1000, 0)).toBe(Stop.Requested);
    expect(reg(Reg.PC)).toBe(C + 8);
    expect(reg(Reg.R1)).toBe(1);
    expect(reg(Reg.BASEPRI)).toBe(0);
    expect(cpu.icount()).toBe(3);
    // Still unmasked: the next run stops at once, until the watch is cleared.
    expect(cpu.run(1000, 0)).toBe(Stop.Requested);
    expect(cpu.icount()).toBe(3);
    cpu.setMaskWatch(-1, 0);
    expect(cpu.run(1000, 0)).toBe(Stop.Limit);
  });

  it('PRIMASK masks everything until `cpsie i`', () => {
    const { cpu, reg, set } = rig(MASK);
    set({ PRIMASK: 1 });
    cpu.setMaskWatch(0xe0, 0xe0);
    expect(cpu.run(1000, 0)).toBe(Stop.Requested);
    expect(reg(Reg.PC)).toBe(C + 0xc);
    expect(reg(Reg.R1)).toBe(2);
    expect(cpu.icount()).toBe(5);
  });

  it('BASEPRI only masks priorities at or below it (numerically >=), subpriority bits ignored', () => {
    const { cpu, set } = rig([0xe7fe]);
    set({ BASEPRI: 0x50 });
    cpu.setMaskWatch(0x40, 0xc0); // effective BASEPRI 0x40: priority 0x40 is masked
    expect(cpu.run(100, 0)).toBe(Stop.Limit);
    cpu.setMaskWatch(0x3f, 0xc0); // 0x3f beats 0x40
    expect(cpu.run(200, 0)).toBe(Stop.Requested);
    set({ BASEPRI: 0, FAULTMASK: 1 });
    cpu.setMaskWatch(0, 0xe0); // FAULTMASK masks all but NMI
    expect(cpu.run(300, 0)).toBe(Stop.Limit);
    cpu.setMaskWatch(-2, 0xe0); // negative priorities other than -1 disable the watch too
    expect(cpu.run(400, 0)).toBe(Stop.Limit);
  });
});
