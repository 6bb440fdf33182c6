/**
 * The CPU session: a NativeCpu plus the M-profile state changes that Unicorn's register interface
 * makes awkward. Unicorn writes MSP/PSP/CONTROL through the MSR helper, so they obey privilege
 * (ignored while unprivileged in Thread mode) and CONTROL.SPSEL cannot change in Handler mode;
 * writing IPSR does not swap the banked stack pointers. `enterHandler` (and, natively, excEnter and
 * excReturn: native/src/exceptions.cc) order their writes so that the banked SPs and CONTROL end up
 * exactly as the architecture says.
 */
import { type NativeCpu, Reg } from '../native/cpu.js';

export const XPSR_T = 1 << 24;

/** Unicorn's id for core register rN (0..15). */
export function coreReg(n: number): Reg {
  return n <= 12 ? Reg.R0 + n : n === 13 ? Reg.SP : n === 14 ? Reg.LR : Reg.PC;
}
export const CONTROL_NPRIV = 1;
export const CONTROL_SPSEL = 2;

/** Registers of a stop-time snapshot used by exception entry. */
export interface CoreState {
  r: number[]; // r0..r12
  sp: number;
  lr: number;
  pc: number;
  xpsr: number;
  msp: number;
  psp: number;
  control: number;
  primask: number;
  basepri: number;
  faultmask: number;
}

// Int32Array ids and one reused Uint32Array each way: exception entry and return make a dozen
// register transfers per interrupt, and JS arrays through N-API cost most of an idle guest's time.
const ids = (...r: Reg[]): Int32Array => Int32Array.from(r);
const SNAPSHOT_IDS = ids(
  Reg.R0, Reg.R1, Reg.R2, Reg.R3, Reg.R4, Reg.R5, Reg.R6, Reg.R7, Reg.R8, Reg.R9, Reg.R10, Reg.R11, Reg.R12,
  Reg.SP, Reg.LR, Reg.PC, Reg.XPSR, Reg.MSP, Reg.PSP, Reg.CONTROL, Reg.PRIMASK, Reg.BASEPRI, Reg.FAULTMASK,
);
const W_XPSR_CONTROL_XPSR = ids(Reg.XPSR, Reg.CONTROL, Reg.XPSR);
const W_CONTROL = ids(Reg.CONTROL);
const W_ENTRY = ids(Reg.XPSR, Reg.MSP, Reg.PSP, Reg.CONTROL, Reg.LR, Reg.PC);

export class Cpu {
  private readonly out = new Uint32Array(SNAPSHOT_IDS.length);
  private readonly vals = new Uint32Array(16);
  // Reused buffers for the vector read and the 8-word exception frame.
  private readonly m4 = new Uint8Array(4);
  private readonly m4v = new DataView(this.m4.buffer);
  private readonly m32 = new Uint8Array(32);
  private readonly m32v = new DataView(this.m32.buffer);
  private masksCache: { primask: number; basepri: number; faultmask: number; ipsr: number } | null = null;
  private icountCache = -1;
  /** Set by the machine while the engine runs (MMIO handlers then see registers change under them). */
  private running = false;
  constructor(readonly native: NativeCpu) {}

  reg(id: Reg): number {
    return this.native.readReg(id) >>> 0;
  }
  setReg(id: Reg, value: number): void {
    this.masksCache = null;
    this.native.writeReg(id, value >>> 0);
  }
  get pc(): number {
    return this.reg(Reg.PC);
  }
  set pc(v: number) {
    // Bit 0 selects Thumb in Unicorn's PC write; M-profile is always Thumb.
    this.setReg(Reg.PC, (v & ~1) | 1);
  }

  /** Write up to seven registers (values taken as unsigned 32-bit). */
  private put(which: Int32Array, a: number, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0): void {
    this.masksCache = null;
    const v = this.vals;
    v[0] = a;
    v[1] = b;
    v[2] = c;
    v[3] = d;
    v[4] = e;
    v[5] = f;
    v[6] = g;
    this.native.writeRegsFrom(which, v);
  }

  /**
   * Read registers that Unicorn's MRS helper hides from unprivileged code (MSP, PSP, the masks read
   * as 0 when Thread mode has CONTROL.nPRIV set): the addon drops nPRIV through a pass in Handler
   * mode, reads, and puts nPRIV back. Banked SPs are not swapped on the way (SPSEL is untouched).
   * The result is this.out, valid until the next call.
   */
  private privilegedRead(which: Int32Array): Uint32Array {
    this.native.readRegsInto(which, this.out, true);
    return this.out;
  }

  snapshot(): CoreState {
    const v = this.privilegedRead(SNAPSHOT_IDS);
    return {
      r: [v[0]!, v[1]!, v[2]!, v[3]!, v[4]!, v[5]!, v[6]!, v[7]!, v[8]!, v[9]!, v[10]!, v[11]!, v[12]!],
      sp: v[13]!,
      lr: v[14]!,
      pc: v[15]!,
      xpsr: v[16]!,
      msp: v[17]!,
      psp: v[18]!,
      control: v[19]!,
      primask: v[20]! & 1,
      basepri: v[21]! & 0xff,
      faultmask: v[22]! & 1,
    };
  }

  /**
   * Put back every register of a snapshot() (a restored snapshot): through Handler mode, so that
   * CONTROL can be written whatever the current mode, both banked SPs and the masks set there; then
   * xPSR (mode, flags, ITSTATE, exception number) and CONTROL as they were (in Thread mode the
   * SPSEL write selects the bank), then r0-r12, LR and PC.
   */
  restore(s: CoreState): void {
    const n = this.native;
    this.masksCache = null;
    n.writeRegs([Reg.XPSR, Reg.CONTROL], [XPSR_T | 3, 0]);
    n.writeRegs([Reg.MSP, Reg.PSP, Reg.PRIMASK, Reg.BASEPRI, Reg.FAULTMASK], [s.msp >>> 0, s.psp >>> 0, s.primask, s.basepri, s.faultmask]);
    const thread = (s.xpsr & 0x1ff) === 0;
    if (thread) {
      n.writeRegs([Reg.XPSR], [s.xpsr >>> 0]);
      n.writeRegs([Reg.CONTROL], [s.control & (CONTROL_SPSEL | CONTROL_NPRIV)]);
    } else {
      n.writeRegs([Reg.XPSR, Reg.CONTROL], [s.xpsr >>> 0, s.control & CONTROL_NPRIV]);
    }
    const ids = [Reg.R0, Reg.R1, Reg.R2, Reg.R3, Reg.R4, Reg.R5, Reg.R6, Reg.R7, Reg.R8, Reg.R9, Reg.R10, Reg.R11, Reg.R12, Reg.LR, Reg.PC];
    n.writeRegs(ids, [...s.r.map((x) => x >>> 0), s.lr >>> 0, ((s.pc & ~1) | 1) >>> 0]);
  }

  /** PRIMASK, BASEPRI, FAULTMASK, IPSR in one call. */
  masks(): { primask: number; basepri: number; faultmask: number; ipsr: number } {
    if (this.masksCache) return this.masksCache;
    const v = this.native.masks();
    const m = { primask: v & 1, basepri: (v >>> 8) & 0xff, faultmask: (v >>> 1) & 1, ipsr: v >>> 16 };
    if (!this.running) this.masksCache = m;
    return m;
  }

  /**
   * The engine starts (true) or stopped (false) running: registers may have changed without this
   * class writing them. masks() is read again after either, and never cached while running.
   */
  engineRunning(on: boolean): void {
    this.running = on;
    this.masksCache = null;
    this.icountCache = -1;
  }

  /** Instructions executed (NativeCpu.icount), read once between two runs. */
  icount(): number {
    if (this.icountCache >= 0) return this.icountCache;
    const v = this.native.icount();
    if (!this.running) this.icountCache = v;
    return v;
  }
  setIcount(v: number): void {
    this.icountCache = -1;
    this.native.setIcount(v);
  }
  /** Registers were written through `native` directly: forget what was read. */
  registersChanged(): void {
    this.masksCache = null;
  }

  ipsr(): number {
    return this.reg(Reg.IPSR) & 0x1ff;
  }

  read32(addr: number): number {
    this.native.memReadInto(addr >>> 0, this.m4);
    return this.m4v.getUint32(0, true);
  }
  read16(addr: number): number {
    const b = this.native.memRead(addr >>> 0, 2);
    return b[0]! | (b[1]! << 8);
  }
  /** Read n words; throws if any is unmapped. */
  readWords(addr: number, n: number): number[] {
    const b = n === 8 ? this.m32 : new Uint8Array(n * 4);
    this.native.memReadInto(addr >>> 0, b);
    const dv = n === 8 ? this.m32v : new DataView(b.buffer);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(dv.getUint32(i * 4, true));
    return out;
  }
  writeWords(addr: number, words: readonly number[]): void {
    const b = words.length === 8 ? this.m32 : new Uint8Array(words.length * 4);
    const dv = words.length === 8 ? this.m32v : new DataView(b.buffer);
    words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
    this.native.memWrite(addr >>> 0, b);
  }

  /** NativeCpu.excEnter (exception entry in one call): registers change when it returns >= 0. */
  excEnter(exc: number, vectorAddress: number, returnAddress: number, lr: number, flags: number): number {
    const m = this.masksCache;
    const vector = this.native.excEnter(exc, vectorAddress, returnAddress >>> 0, lr >>> 0, flags);
    // Entry changes IPSR and none of the masks.
    this.masksCache = m && vector >= 0 && !this.running ? { primask: m.primask, basepri: m.basepri, faultmask: m.faultmask, ipsr: exc & 0x1ff } : null;
    return vector;
  }
  /** NativeCpu.excReturn (the frame popped and the mode selected in one call): the popped xPSR or -1. */
  excReturn(flags: number, toThread: boolean): number {
    const m = this.masksCache;
    const psr = this.native.excReturn(flags);
    // Return changes IPSR and none of the masks (FAULTMASK was cleared before, through setReg).
    this.masksCache = m && psr >= 0 && !this.running ? { primask: m.primask, basepri: m.basepri, faultmask: m.faultmask, ipsr: toThread ? 0 : psr & 0x1ff } : null;
    return psr;
  }

  /**
   * Switch from the state in `s` to Handler mode for exception `exc`: MSP active, CONTROL.SPSEL = 0,
   * CONTROL.nPRIV kept, xPSR = T | exc (ITSTATE and flags cleared), LR, PC, and the new MSP/PSP.
   */
  enterHandler(s: CoreState, exc: number, msp: number, psp: number, lr: number, pc: number): void {
    const thread = (s.xpsr & 0x1ff) === 0;
    if (thread && s.control & CONTROL_SPSEL) {
      if (s.control & CONTROL_NPRIV) {
        // Unprivileged code cannot write CONTROL: pass through Handler mode to drop nPRIV first.
        this.put(W_XPSR_CONTROL_XPSR, XPSR_T | exc, s.control & ~CONTROL_NPRIV, XPSR_T);
      }
      // Thread mode, privileged: clearing SPSEL swaps the banked SPs properly.
      this.put(W_CONTROL, 0);
    }
    this.put(W_ENTRY, XPSR_T | exc, msp, psp, s.control & CONTROL_NPRIV, lr, (pc & ~1) | 1);
  }
}
