/** Unprivileged access to the Private Peripheral Bus, and CCR.UNALIGN_TRP. */
import { afterAll, describe, expect, it } from 'vitest';
import { Access, Reg, Stop } from '../../src/cpu/native.js';
import { FLASH_CODE, RAM, closeAll, rig } from './helpers.js';

afterAll(closeAll);

const LDR_R0_R1 = 0x6808; // ldr r0, [r1]
const STR_R0_R1 = 0x6008; // str r0, [r1]
const UDF = 0xde00;

function withScs(code: number[]) {
  const r = rig(code);
  const reads: number[] = [];
  r.cpu.setMmioHandlers(
    (_region, offset) => {
      reads.push(offset);
      return 0x10007;
    },
    () => {},
  );
  r.cpu.mapMmio(0xe000e000, 0x1000, 0);
  return { r, reads };
}

describe('Private Peripheral Bus privilege', () => {
  it('lets privileged code read the SCS', () => {
    const { r, reads } = withScs([LDR_R0_R1, UDF]);
    r.set({ R1: 0xe000e010 });
    expect(r.cpu.run(1e6, 0)).toBe(Stop.InvalidInsn);
    expect(r.reg(Reg.R0)).toBe(0x10007);
    expect(reads).toEqual([0x10]);
  });

  it('faults an unprivileged load precisely, with the exact address, and works again once privileged', () => {
    const { r, reads } = withScs([LDR_R0_R1, UDF]);
    r.set({ R1: 0xe000e010, R0: 0x1234 });
    r.cpu.writeRegs([Reg.CONTROL], [1]); // Thread mode, unprivileged
    expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
    const info = r.cpu.stopInfo();
    expect(info.address >>> 0).toBe(0xe000e010);
    expect(info.access).toBe(Access.Read);
    expect(r.reg(Reg.PC) & ~1).toBe(FLASH_CODE);
    expect(r.reg(Reg.R0)).toBe(0x1234);
    expect(r.cpu.icount()).toBe(0);
    expect(reads).toEqual([]);
    // Privileged again (through Handler mode, as the exception model does): the same load works.
    r.cpu.writeRegs([Reg.XPSR, Reg.CONTROL, Reg.XPSR], [(1 << 24) | 3, 0, 1 << 24]);
    r.cpu.writeReg(Reg.PC, FLASH_CODE | 1);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.InvalidInsn);
    expect(r.reg(Reg.R0)).toBe(0x10007);
  });

  it('faults an unprivileged store (user mode writing MPU_CTRL)', () => {
    const { r } = withScs([STR_R0_R1, UDF]);
    r.set({ R1: 0xe000ed94 });
    r.cpu.writeRegs([Reg.CONTROL], [1]);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.MemFault);
    expect(r.cpu.stopInfo().address >>> 0).toBe(0xe000ed94);
    expect(r.cpu.stopInfo().access).toBe(Access.Write);
  });
});

describe('CCR.UNALIGN_TRP', () => {
  it('stops before an unaligned word load while the trap is on, and loads it while off', () => {
    const r = rig([LDR_R0_R1, UDF]);
    new Uint8Array(r.ram).set([0x11, 0x22, 0x33, 0x44, 0x55], 0x100);
    r.set({ R1: RAM + 0x101, R0: 0xdead });
    r.cpu.setUnalignedTrap(true);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.Unaligned);
    expect(r.reg(Reg.PC) & ~1).toBe(FLASH_CODE);
    expect(r.reg(Reg.R0)).toBe(0xdead);
    r.cpu.setUnalignedTrap(false);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.InvalidInsn);
    expect(r.reg(Reg.R0)).toBe(0x55443322);
  });

  it('lets aligned accesses through with the trap on', () => {
    const r = rig([LDR_R0_R1, UDF]);
    new Uint8Array(r.ram).set([0x11, 0x22, 0x33, 0x44], 0x100);
    r.set({ R1: RAM + 0x100 });
    r.cpu.setUnalignedTrap(true);
    expect(r.cpu.run(1e6, 0)).toBe(Stop.InvalidInsn);
    expect(r.reg(Reg.R0)).toBe(0x44332211);
  });
});
