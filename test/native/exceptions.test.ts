// Exception entry and return's native half (native/src/exceptions.cc: excEnter, excReturn) and
// exception returns done inside run() (setReturnCallback). The ARMv7-M model around them is in
// src/cpu/exceptions.ts and is tested through firmware; here the core half is checked word by word.
import { afterEach, describe, expect, it } from 'vitest';
import { ExcFlags, ExcReturnFlags, Reg, Stop } from '../../src/native/cpu.js';
import { closeAll, FLASH_CODE as C, RAM, rig, type Rig } from './helpers.js';

afterEach(closeAll);

const HANDLER = 0x1100;
const SYSTICK = 15;
const VECTOR = SYSTICK * 4; // the vector table at 0 (flash)

// Thread code at C, the handler at HANDLER.
const THREAD = [
  0x202a, // 0: movs r0, #42
  0xe7fe, // 2: b.n .
];
const HANDLER_CODE = [
  0x4770, // 0: bx lr
];

function board(): Rig & { priv(ids: number[]): number[]; word(addr: number): number; counters(): Record<string, number> } {
  const r = rig(THREAD, C);
  new Uint16Array(r.flash, HANDLER, HANDLER_CODE.length).set(HANDLER_CODE);
  new DataView(r.flash).setUint32(VECTOR, HANDLER | 1, true);
  return Object.assign(r, {
    priv(ids: number[]): number[] {
      const out = new Uint32Array(ids.length);
      r.cpu.readRegsInto(Int32Array.from(ids), out, true);
      return [...out];
    },
    word: (addr: number) => new DataView(r.ram).getUint32(addr - RAM, true),
    counters: () => r.stats() as unknown as Record<string, number>,
  });
}

const CONTEXT = [Reg.R0, Reg.R1, Reg.R2, Reg.R3, Reg.R12, Reg.LR, Reg.PC, Reg.XPSR, Reg.MSP, Reg.PSP, Reg.CONTROL];

function setContext(b: Rig, sp: number, xpsr = 0x8100_0000): void {
  b.cpu.writeRegs([Reg.R0, Reg.R1, Reg.R2, Reg.R3, Reg.R12, Reg.LR], [0x10, 0x11, 0x12, 0x13, 0x1c, 0x0bad_0001]);
  b.cpu.writeRegs([Reg.XPSR, Reg.MSP, Reg.PC], [xpsr, sp, C]);
}

describe('excEnter / excReturn', () => {
  it('MSP, Thread mode: pushes the 8-word frame realigned under STKALIGN, LR = 0xFFFFFFF9, Handler mode at the vector; the return undoes it', () => {
    const b = board();
    setContext(b, RAM + 0x8004); // 4 mod 8: realigned
    const vector = b.cpu.excEnter(SYSTICK, VECTOR, 0, 0, ExcFlags.StkAlign);
    expect(vector).toBe(HANDLER | 1);
    const frame = RAM + 0x7fe0; // (0x20008004 - 0x20) & ~7
    const words = Array.from({ length: 8 }, (_, i) => b.word(frame + 4 * i));
    expect(words).toEqual([0x10, 0x11, 0x12, 0x13, 0x1c, 0x0bad_0001, C, 0x8100_0200]);
    const [msp, lr, pc, xpsr, control] = b.priv([Reg.MSP, Reg.LR, Reg.PC, Reg.XPSR, Reg.CONTROL]);
    expect(msp).toBe(frame);
    expect(lr).toBe(0xffff_fff9);
    expect(pc).toBe(HANDLER);
    expect(xpsr).toBe(0x0100_0000 | SYSTICK);
    expect(control).toBe(0);
    expect(b.cpu.excAddress()).toBe(C);

    // The handler clobbers the caller-saved registers; the return restores them.
    b.cpu.writeRegs([Reg.R0, Reg.R1, Reg.R2, Reg.R3, Reg.R12, Reg.LR], [0, 0, 0, 0, 0, 0xffff_fff9]);
    const psr = b.cpu.excReturn(ExcReturnFlags.Thread | ExcReturnFlags.StkAlign);
    expect(psr).toBe(0x8100_0200);
    expect(b.cpu.excAddress()).toBe(C);
    expect(b.priv(CONTEXT)).toEqual([0x10, 0x11, 0x12, 0x13, 0x1c, 0x0bad_0001, C, 0x8100_0000, RAM + 0x8004, 0, 0]);
  });

  it('without STKALIGN the frame is only word-aligned and xPSR bit 9 stays clear; the return address can be given', () => {
    const b = board();
    setContext(b, RAM + 0x8004);
    b.cpu.excEnter(SYSTICK, VECTOR, C + 2, 0, ExcFlags.ReturnGiven);
    const frame = RAM + 0x7fe4;
    expect(b.priv([Reg.MSP])[0]).toBe(frame);
    expect(b.word(frame + 24)).toBe(C + 2);
    expect(b.word(frame + 28)).toBe(0x8100_0000);
    expect(b.cpu.excReturn(ExcReturnFlags.Thread)).toBe(0x8100_0000);
    expect(b.priv([Reg.MSP, Reg.PC])).toEqual([RAM + 0x8004, C + 2]);
  });

  it('ClearT stacks xPSR with T = 0 (a deferred INVSTATE); NoStack leaves the stacks and takes LR as given', () => {
    const b = board();
    setContext(b, RAM + 0x8000);
    b.cpu.excEnter(SYSTICK, VECTOR, 0, 0, ExcFlags.StkAlign | ExcFlags.ClearT);
    expect(b.word(RAM + 0x7fe0 + 28)).toBe(0x8000_0000);

    const c = board();
    setContext(c, RAM + 0x8000);
    const before = c.word(RAM + 0x7fe0 + 24);
    expect(c.cpu.excEnter(SYSTICK, VECTOR, 0, 0xffff_fff1, ExcFlags.StkAlign | ExcFlags.NoStack)).toBe(HANDLER | 1);
    expect(c.priv([Reg.MSP, Reg.LR, Reg.PC, Reg.XPSR])).toEqual([RAM + 0x8000, 0xffff_fff1, HANDLER, 0x0100_0000 | SYSTICK]);
    expect(c.word(RAM + 0x7fe0 + 24)).toBe(before); // nothing pushed
  });

  it('PSP and unprivileged Thread mode (CONTROL = 3): the frame goes on PSP, LR = 0xFFFFFFFD, Handler mode keeps nPRIV on MSP; the return selects PSP again', () => {
    const b = board();
    setContext(b, RAM + 0x8000);
    b.cpu.writeRegs([Reg.PSP], [RAM + 0x4000]);
    b.cpu.writeRegs([Reg.CONTROL], [2]);
    b.cpu.writeRegs([Reg.CONTROL], [3]);
    expect(b.priv([Reg.CONTROL, Reg.MSP, Reg.PSP])).toEqual([3, RAM + 0x8000, RAM + 0x4000]);
    expect(b.cpu.excEnter(SYSTICK, VECTOR, 0, 0, ExcFlags.StkAlign)).toBe(HANDLER | 1);
    const frame = RAM + 0x3fe0;
    expect(b.word(frame)).toBe(0x10);
    expect(b.word(frame + 24)).toBe(C);
    const [control, msp, psp, sp, lr, xpsr] = b.priv([Reg.CONTROL, Reg.MSP, Reg.PSP, Reg.SP, Reg.LR, Reg.XPSR]);
    expect({ control, msp, psp, sp, lr, xpsr }).toEqual({
      control: 1,
      msp: RAM + 0x8000,
      psp: frame,
      sp: RAM + 0x8000,
      lr: 0xffff_fffd,
      xpsr: 0x0100_0000 | SYSTICK,
    });

    b.cpu.writeRegs([Reg.R0], [0]);
    expect(b.cpu.excReturn(ExcReturnFlags.Psp | ExcReturnFlags.Thread | ExcReturnFlags.StkAlign)).toBe(0x8100_0000);
    expect(b.priv([Reg.CONTROL, Reg.MSP, Reg.PSP, Reg.SP, Reg.R0, Reg.PC, Reg.XPSR])).toEqual([
      3,
      RAM + 0x8000,
      RAM + 0x4000,
      RAM + 0x4000,
      0x10,
      C,
      0x8100_0000,
    ]);
  });

  it('a nested return (to Handler mode) keeps the popped IPSR and MSP', () => {
    const b = board();
    setContext(b, RAM + 0x8000, 0x0100_0000 | 11); // in SVCall
    expect(b.cpu.excEnter(SYSTICK, VECTOR, 0, 0, ExcFlags.StkAlign)).toBe(HANDLER | 1);
    expect(b.priv([Reg.LR])[0]).toBe(0xffff_fff1);
    expect(b.cpu.excReturn(ExcReturnFlags.StkAlign)).toBe(0x0100_0000 | 11);
    expect(b.priv([Reg.XPSR, Reg.MSP, Reg.CONTROL, Reg.PC])).toEqual([0x0100_0000 | 11, RAM + 0x8000, 0, C]);
  });

  it('a frame that cannot be written (-1), a vector that cannot be read (-2), a frame that cannot be read (-1): no register changes', () => {
    const b = board();
    setContext(b, 0x1000_0000); // unmapped
    const before = b.priv(CONTEXT);
    expect(b.cpu.excEnter(SYSTICK, VECTOR, 0, 0, ExcFlags.StkAlign)).toBe(-1);
    expect(b.priv(CONTEXT)).toEqual(before);

    setContext(b, RAM + 0x8000);
    const before2 = b.priv(CONTEXT);
    expect(b.cpu.excEnter(SYSTICK, 0x3000_0000, 0, 0, ExcFlags.StkAlign)).toBe(-2);
    expect(b.priv(CONTEXT)).toEqual(before2);

    // In Handler mode with MSP straddling the start of RAM: the frame's first words are unmapped.
    b.cpu.writeRegs([Reg.XPSR, Reg.MSP], [0x0100_0000 | SYSTICK, RAM - 0x10]);
    const before3 = b.priv(CONTEXT);
    expect(b.cpu.excReturn(ExcReturnFlags.Thread)).toBe(-1);
    expect(b.priv(CONTEXT)).toEqual(before3);
  });
});

describe('setReturnCallback: exception returns inside run()', () => {
  // Enter SysTick from Thread mode at C, then run: the handler's `bx lr` is the exception return.
  function entered(): ReturnType<typeof board> {
    const b = board();
    setContext(b, RAM + 0x8000);
    expect(b.cpu.excEnter(SYSTICK, VECTOR, 0, 0, ExcFlags.StkAlign)).toBe(HANDLER | 1);
    return b;
  }
  const LIMIT = 1000;

  it('with no callback, or one answering 0, the return stops the run (Interrupt 8 at EXC_RETURN)', () => {
    for (const answer of [null, 0]) {
      const b = entered();
      const seen: number[] = [];
      if (answer !== null) b.cpu.setReturnCallback((pc) => (seen.push(pc), answer));
      expect(b.cpu.run(LIMIT, 0)).toBe(Stop.Interrupt);
      expect(b.cpu.stopIntno()).toBe(8);
      expect(b.reg(Reg.PC)).toBe(0xffff_fff8);
      expect(b.cpu.icount()).toBe(1);
      expect(seen).toEqual(answer === null ? [] : [0xffff_fff8]);
      expect(b.counters().inlineReturns).toBe(0);
    }
  });

  it('answering 1 after doing the return carries the run on: the same registers and icount as a stop, a return in JS and a second run', () => {
    // Reference: stop, return in JS, run again.
    const ref = entered();
    expect(ref.cpu.run(LIMIT, 0)).toBe(Stop.Interrupt);
    ref.cpu.excReturn(ExcReturnFlags.Thread | ExcReturnFlags.StkAlign);
    expect(ref.cpu.run(LIMIT, 0)).toBe(Stop.Limit);

    const b = entered();
    const inside: number[] = [];
    b.cpu.setReturnCallback((pc) => {
      inside.push(pc, b.cpu.icount());
      expect(b.cpu.excReturn(ExcReturnFlags.Thread | ExcReturnFlags.StkAlign)).toBe(0x8100_0000);
      return 1;
    });
    expect(b.cpu.run(LIMIT, 0)).toBe(Stop.Limit);
    expect(inside).toEqual([0xffff_fff8, 1]);
    expect(b.cpu.icount()).toBe(ref.cpu.icount());
    expect(b.cpu.icount()).toBe(LIMIT);
    expect(b.priv(CONTEXT)).toEqual(ref.priv(CONTEXT));
    expect(b.reg(Reg.R0)).toBe(42);
    expect(b.counters().inlineReturns).toBe(1);
  });

  it('answering 1 with the limit already reached stops with Limit at once; 2 stops with Requested at the new PC', () => {
    const b = entered();
    b.cpu.setReturnCallback(() => (b.cpu.excReturn(ExcReturnFlags.Thread | ExcReturnFlags.StkAlign), 1));
    expect(b.cpu.run(1, 0)).toBe(Stop.Limit);
    expect(b.cpu.icount()).toBe(1);
    expect(b.reg(Reg.PC)).toBe(C);
    expect(b.reg(Reg.R0)).toBe(0x10); // movs r0, #42 not run

    const c = entered();
    c.cpu.setReturnCallback(() => (c.cpu.excReturn(ExcReturnFlags.Thread | ExcReturnFlags.StkAlign), 2));
    expect(c.cpu.run(LIMIT, 0)).toBe(Stop.Requested);
    expect(c.reg(Reg.PC)).toBe(C);
    expect(c.cpu.icount()).toBe(1);
    expect(c.counters().inlineReturns).toBe(0);
    // The next run goes on from there.
    c.cpu.setReturnCallback(null);
    expect(c.cpu.run(LIMIT, 0)).toBe(Stop.Limit);
    expect(c.reg(Reg.R0)).toBe(42);
  });

  it('a callback that throws ends the run with its error', () => {
    const b = entered();
    b.cpu.setReturnCallback(() => {
      throw new Error('model failed');
    });
    expect(() => b.cpu.run(LIMIT, 0)).toThrow('model failed');
    // The engine is usable afterwards.
    b.cpu.setReturnCallback(null);
    b.cpu.writeRegs([Reg.XPSR, Reg.PC], [0x0100_0000, C]);
    expect(b.cpu.run(LIMIT, 0)).toBe(Stop.Limit);
    expect(b.reg(Reg.R0)).toBe(42);
  });

  it('cannot be changed during run()', () => {
    const b = entered();
    let err: unknown;
    b.cpu.setReturnCallback(() => {
      try {
        b.cpu.setReturnCallback(null);
      } catch (e) {
        err = e;
      }
      return 0;
    });
    expect(b.cpu.run(LIMIT, 0)).toBe(Stop.Interrupt);
    expect(String(err)).toMatch(/during run/);
  });
});
