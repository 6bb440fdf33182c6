/**
 * The CPU session: a NativeCpu plus the M-profile state changes that Unicorn's register interface
 * makes awkward. Unicorn writes MSP/PSP/CONTROL through the MSR helper, so they obey privilege
 * (ignored while unprivileged in Thread mode) and CONTROL.SPSEL cannot change in Handler mode;
 * writing IPSR does not swap the banked stack pointers. `enterHandler` and `returnToMode` order
 * their writes so that the banked SPs and CONTROL end up exactly as the architecture says.
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

const SNAPSHOT_IDS = [
  Reg.R0, Reg.R1, Reg.R2, Reg.R3, Reg.R4, Reg.R5, Reg.R6, Reg.R7, Reg.R8, Reg.R9, Reg.R10, Reg.R11, Reg.R12,
  Reg.SP, Reg.LR, Reg.PC, Reg.XPSR, Reg.MSP, Reg.PSP, Reg.CONTROL, Reg.PRIMASK, Reg.BASEPRI, Reg.FAULTMASK,
];

const MASK_IDS = [Reg.PRIMASK, Reg.BASEPRI, Reg.FAULTMASK, Reg.IPSR];
const PRIV_PROBE_IDS = [Reg.XPSR, Reg.CONTROL];

export class Cpu {
  constructor(readonly native: NativeCpu) {}

  reg(id: Reg): number {
    return this.native.readReg(id) >>> 0;
  }
  setReg(id: Reg, value: number): void {
    this.native.writeReg(id, value >>> 0);
  }
  get pc(): number {
    return this.reg(Reg.PC);
  }
  set pc(v: number) {
    // Bit 0 selects Thumb in Unicorn's PC write; M-profile is always Thumb.
    this.setReg(Reg.PC, (v & ~1) | 1);
  }

  /**
   * Read registers that Unicorn's MRS helper hides from unprivileged code (MSP, PSP, the masks read
   * as 0 when Thread mode has CONTROL.nPRIV set): drop nPRIV through a pass in Handler mode, read,
   * and put nPRIV back. Banked SPs are not swapped on the way (SPSEL is untouched).
   */
  private privilegedRead(ids: readonly number[]): number[] {
    const [xpsr, control] = this.native.readRegs(PRIV_PROBE_IDS) as [number, number];
    if ((xpsr & 0x1ff) !== 0 || !(control & CONTROL_NPRIV)) return this.native.readRegs(ids);
    const n = this.native;
    n.writeRegs([Reg.XPSR, Reg.CONTROL, Reg.XPSR], [((xpsr & ~0x1ff) | 1) >>> 0, control & ~CONTROL_NPRIV, xpsr >>> 0]);
    const v = n.readRegs(ids);
    n.writeRegs([Reg.CONTROL], [control]);
    // CONTROL itself is reported as it was (nPRIV set), not as read during the privileged pass.
    ids.forEach((id, i) => {
      if (id === Reg.CONTROL) v[i] = control;
    });
    return v;
  }

  snapshot(): CoreState {
    const v = this.privilegedRead(SNAPSHOT_IDS);
    return {
      r: v.slice(0, 13).map((x) => x >>> 0),
      sp: v[13]! >>> 0,
      lr: v[14]! >>> 0,
      pc: v[15]! >>> 0,
      xpsr: v[16]! >>> 0,
      msp: v[17]! >>> 0,
      psp: v[18]! >>> 0,
      control: v[19]! >>> 0,
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
    const [p, b, f, i] = this.privilegedRead(MASK_IDS);
    return { primask: p! & 1, basepri: b! & 0xff, faultmask: f! & 1, ipsr: i! & 0x1ff };
  }

  ipsr(): number {
    return this.reg(Reg.IPSR) & 0x1ff;
  }

  read32(addr: number): number {
    const b = this.native.memRead(addr >>> 0, 4);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }
  read16(addr: number): number {
    const b = this.native.memRead(addr >>> 0, 2);
    return b[0]! | (b[1]! << 8);
  }
  /** Read n words; throws if any is unmapped. */
  readWords(addr: number, n: number): number[] {
    const b = this.native.memRead(addr >>> 0, n * 4);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(dv.getUint32(i * 4, true));
    return out;
  }
  writeWords(addr: number, words: readonly number[]): void {
    const b = new Uint8Array(words.length * 4);
    const dv = new DataView(b.buffer);
    words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
    this.native.memWrite(addr >>> 0, b);
  }

  /**
   * Switch from the state in `s` to Handler mode for exception `exc`: MSP active, CONTROL.SPSEL = 0,
   * CONTROL.nPRIV kept, xPSR = T | exc (ITSTATE and flags cleared), LR, PC, and the new MSP/PSP.
   */
  enterHandler(s: CoreState, exc: number, msp: number, psp: number, lr: number, pc: number): void {
    const n = this.native;
    const thread = (s.xpsr & 0x1ff) === 0;
    if (thread && s.control & CONTROL_SPSEL) {
      if (s.control & CONTROL_NPRIV) {
        // Unprivileged code cannot write CONTROL: pass through Handler mode to drop nPRIV first.
        n.writeRegs([Reg.XPSR, Reg.CONTROL, Reg.XPSR], [XPSR_T | exc, s.control & ~CONTROL_NPRIV, XPSR_T]);
      }
      // Thread mode, privileged: clearing SPSEL swaps the banked SPs properly.
      n.writeRegs([Reg.CONTROL], [0]);
    }
    n.writeRegs(
      [Reg.XPSR, Reg.MSP, Reg.PSP, Reg.CONTROL, Reg.LR, Reg.PC],
      [XPSR_T | exc, msp >>> 0, psp >>> 0, s.control & CONTROL_NPRIV, lr >>> 0, (pc & ~1) | 1],
    );
  }

  /**
   * Exception return: restore r0-r3, r12, lr, pc, xPSR from a popped frame and select the mode and
   * stack given by EXC_RETURN. Called in Handler mode (privileged).
   */
  returnToMode(
    frame: readonly number[],
    xpsr: number,
    toThread: boolean,
    usePsp: boolean,
    msp: number,
    psp: number,
    control: number,
  ): void {
    const n = this.native;
    const npriv = control & CONTROL_NPRIV;
    // Still in Handler mode: set both SPs (privileged), and drop nPRIV so Thread-mode CONTROL writes work.
    n.writeRegs([Reg.MSP, Reg.PSP, Reg.CONTROL], [msp >>> 0, psp >>> 0, 0]);
    if (toThread) {
      const newXpsr = (xpsr & ~0x1ff) >>> 0; // IPSR comes from the frame but Thread mode means 0: checked by the caller
      n.writeRegs([Reg.XPSR], [newXpsr | XPSR_T]);
      // Thread mode and privileged: SPSEL write swaps the banks; nPRIV restored in the same write.
      n.writeRegs([Reg.CONTROL], [(usePsp ? CONTROL_SPSEL : 0) | npriv]);
    } else {
      n.writeRegs([Reg.XPSR, Reg.CONTROL], [(xpsr | XPSR_T) >>> 0, npriv]);
    }
    n.writeRegs(
      [Reg.R0, Reg.R1, Reg.R2, Reg.R3, Reg.R12, Reg.LR, Reg.PC],
      [frame[0]!, frame[1]!, frame[2]!, frame[3]!, frame[4]!, frame[5]!, (frame[6]! & ~1) | 1],
    );
  }
}
