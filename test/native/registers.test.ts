import { afterEach, describe, expect, it } from 'vitest';
import { Reg, Stop } from '../../src/native/cpu.js';
import { addon, closeAll, rig } from './helpers.js';

afterEach(closeAll);

describe('native addon basics', () => {
  it('is Unicorn 2.1.x, statically linked', () => {
    expect(addon.unicornVersion()).toMatch(/^2\.1\.\d+$/);
  });

  it('Reg in src/cpu/native.ts matches Unicorn\'s own register ids', () => {
    const reg: Record<string, number> = {
      R0: Reg.R0, R1: Reg.R1, R2: Reg.R2, R3: Reg.R3, R4: Reg.R4, R5: Reg.R5, R6: Reg.R6, R7: Reg.R7,
      R8: Reg.R8, R9: Reg.R9, R10: Reg.R10, R11: Reg.R11, R12: Reg.R12,
      SP: Reg.SP, LR: Reg.LR, PC: Reg.PC, APSR_NZCV: Reg.APSR_NZCV,
      IPSR: Reg.IPSR, MSP: Reg.MSP, PSP: Reg.PSP, CONTROL: Reg.CONTROL, IAPSR: Reg.IAPSR, EAPSR: Reg.EAPSR,
      XPSR: Reg.XPSR, EPSR: Reg.EPSR, IEPSR: Reg.IEPSR, PRIMASK: Reg.PRIMASK, BASEPRI: Reg.BASEPRI,
      BASEPRI_MAX: Reg.BASEPRI_MAX, FAULTMASK: Reg.FAULTMASK,
    };
    expect(addon.registerIds).toEqual(reg);
  });

  it('Stop in src/native/cpu.ts matches the native Stop enum (native/src/cpu.h)', () => {
    const stop: Record<string, number> = {
      Limit: Stop.Limit, Requested: Stop.Requested, HostDeadline: Stop.HostDeadline, External: Stop.External,
      Interrupt: Stop.Interrupt, Wfi: Stop.Wfi, Wfe: Stop.Wfe, InvalidInsn: Stop.InvalidInsn, MemFault: Stop.MemFault,
      FetchFault: Stop.FetchFault, DivByZero: Stop.DivByZero, HandlerError: Stop.HandlerError,
      EngineError: Stop.EngineError, Unaligned: Stop.Unaligned, MpuFault: Stop.MpuFault, Breakpoint: Stop.Breakpoint,
      Step: Stop.Step, Watchpoint: Stop.Watchpoint,
    };
    expect(addon.stopReasons).toEqual(stop);
    // Both sides number their reasons 0..n-1 without gaps (run() returns the number).
    expect(Object.values(addon.stopReasons).sort((a, b) => a - b)).toEqual([...Array(Object.keys(stop).length).keys()]);
  });

  it('monotonicNs follows CLOCK_MONOTONIC', async () => {
    const t0 = addon.monotonicNs();
    const h0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, 20));
    const dt = addon.monotonicNs() - t0;
    const dh = Number(process.hrtime.bigint() - h0);
    expect(dt).toBeGreaterThan(15e6);
    expect(Math.abs(dt - dh)).toBeLessThan(2e6);
  });

  it('allocHostMemory gives zeroed, page-aligned external memory', () => {
    const b = addon.allocHostMemory(0x3000);
    expect(b.byteLength).toBe(0x3000);
    expect(new Uint8Array(b).every((x) => x === 0)).toBe(true);
  });

  it('reads and writes registers in batches, as unsigned 32-bit values', () => {
    const { cpu } = rig([0xe7fe]);
    cpu.writeRegs([Reg.R0, Reg.R1, Reg.R12, Reg.LR], [0xffffffff, 0x12345678, -1, 0x80000000]);
    expect(cpu.readRegs([Reg.R0, Reg.R1, Reg.R12, Reg.LR])).toEqual([0xffffffff, 0x12345678, 0xffffffff, 0x80000000]);
    cpu.writeReg(Reg.PSP, 0x20001000);
    expect(cpu.readReg(Reg.PSP)).toBe(0x20001000);
    expect(() => cpu.writeRegs([Reg.R0], [])).toThrow();
  });

  it('reads and writes registers through typed arrays, and reads privileged registers from unprivileged Thread mode', () => {
    const { cpu } = rig([0xe7fe]);
    const out = new Uint32Array(4);
    cpu.writeRegsFrom(Int32Array.of(Reg.R0, Reg.R1, Reg.PC), Uint32Array.of(0xffffffff, 7, 0x1002, 99));
    cpu.readRegsInto(Int32Array.of(Reg.R0, Reg.R1, Reg.PC), out);
    expect([...out]).toEqual([0xffffffff, 7, 0x1002, 0]); // PC reads without the Thumb bit
    // Thread mode, unprivileged (CONTROL.nPRIV written from Handler mode): MRS hides MSP and PRIMASK.
    cpu.writeRegs([Reg.MSP, Reg.PSP, Reg.PRIMASK], [0x20002000, 0x20003000, 1]);
    cpu.writeRegs([Reg.XPSR, Reg.CONTROL, Reg.XPSR], [(1 << 24) | 3, 1, 1 << 24]);
    const ids = Int32Array.of(Reg.MSP, Reg.PRIMASK, Reg.CONTROL, Reg.XPSR);
    cpu.readRegsInto(ids, out);
    expect(out[0]).not.toBe(0x20002000);
    cpu.readRegsInto(ids, out, true);
    expect([...out]).toEqual([0x20002000, 1, 1, 1 << 24]);
    // Put back as it was: still unprivileged Thread mode.
    expect(cpu.readRegs([Reg.CONTROL, Reg.XPSR])).toEqual([1, 1 << 24]);
    // masks(): PRIMASK | FAULTMASK << 1 | BASEPRI << 8 | IPSR << 16, through the same privileged pass.
    expect(cpu.masks()).toBe(1);
    cpu.writeRegs([Reg.XPSR, Reg.CONTROL], [(1 << 24) | 11, 0]);
    cpu.writeRegs([Reg.PRIMASK, Reg.FAULTMASK, Reg.BASEPRI], [0, 1, 0xa0]);
    expect(cpu.masks()).toBe(2 | (0xa0 << 8) | (11 << 16));
    expect(() => cpu.readRegsInto(ids, new Uint32Array(2))).toThrow(/shorter/);
    expect(() => cpu.writeRegsFrom(Int32Array.of(Reg.R0), new Int32Array(1) as unknown as Uint32Array)).toThrow(/Uint32Array/);
    expect(() => cpu.readRegsInto([Reg.R0] as unknown as Int32Array, out)).toThrow(/Int32Array/);
  });

  it('refreshes hflags after IPSR writes: bx lr with EXC_RETURN in handler mode is an exception return (intno 8)', () => {
    // 0x1000: 4770  bx lr
    const { cpu } = rig([0x4770]);
    cpu.writeRegs([Reg.MSP, Reg.IPSR, Reg.LR], [0x20008000, 3, 0xfffffff9]);
    expect(cpu.readReg(Reg.IPSR)).toBe(3);
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(cpu.stopInfo().intno).toBe(8);
    expect(cpu.readReg(Reg.PC)).toBe(0xfffffff8);
    expect(cpu.icount()).toBe(1);
  });

  it('refreshes hflags after XPSR writes too', () => {
    const { cpu } = rig([0x4770]); // bx lr
    cpu.writeRegs([Reg.XPSR, Reg.LR], [0x01000000 | 11, 0xfffffffd]);
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(cpu.stopInfo().intno).toBe(8);
    expect(cpu.readReg(Reg.PC)).toBe(0xfffffffc);
  });

  it('in thread mode the same bx lr is a fetch from the execute-never EXC_RETURN range', () => {
    const { cpu } = rig([0x4770]); // bx lr
    cpu.writeRegs([Reg.LR], [0xfffffff9]);
    expect(cpu.run(100, 0)).toBe(Stop.FetchFault);
    expect(cpu.stopInfo().address).toBe(0xfffffff8);
  });

  it('close() is idempotent and later calls throw', () => {
    const { cpu } = rig([0xe7fe]);
    cpu.close();
    cpu.close();
    expect(() => cpu.run(10, 0)).toThrow(/closed/);
    expect(() => cpu.readReg(Reg.PC)).toThrow(/closed/);
  });
});

// ARMv7-M B1.4.1: SP_main and SP_process bits [1:0] are zero. Unicorn 2.1.4 does not clear them
// (QEMU does since 5.1); FreeRTOS's MPS2 demos load an _estack of 0x...ffff with `mov sp, r0` and
// `msr msp, r0`, and the next PUSH faulted (align_check.cc, writesSp).
describe('SP bits [1:0] read as zero after every kind of write', () => {
  it('mov sp, Rm; addw sp, sp, #imm; msr msp; ldr.w sp: SP aligned, PUSH works, stored where an aligned SP puts it', () => {
    const code = [
      0x4685, // 0: mov sp, r0
      0x4669, // 2: mov r1, sp
      0xb404, // 4: push {r2}
      0xf20d, 0x1d01, // 6: addw sp, sp, #257
      0x466d, // a: mov r5, sp
      0xf380, 0x8808, // c: msr MSP, r0
      0xf3ef, 0x8308, // 10: mrs r3, MSP
      0xf8d6, 0xd000, // 14: ldr.w sp, [r6]
      0x466f, // 18: mov r7, sp
      0xdf00, // 1a: svc 0
    ];
    const r = rig(code);
    const RAM = 0x2000_0000;
    new DataView(r.ram).setUint32(0x100, RAM + 0x7003, true); // what ldr.w sp loads
    r.set({ R0: RAM + 0x8003, R2: 0xabcd, R6: RAM + 0x100 });
    expect(r.cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(r.reg(Reg.R1)).toBe(RAM + 0x8000);
    expect(new DataView(r.ram).getUint32(0x7ffc, true)).toBe(0xabcd); // pushed at the aligned SP - 4
    expect(r.reg(Reg.R5)).toBe(RAM + 0x7ffc + 0x100); // (0x20007ffc + 257) & ~3
    expect(r.reg(Reg.R3)).toBe(RAM + 0x8000);
    expect(r.reg(Reg.R7)).toBe(RAM + 0x7000);
  });
});
