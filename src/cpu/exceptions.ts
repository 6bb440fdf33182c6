/**
 * The ARMv7-M exception model (ARMv7-M ARM B1.5), done by us because Unicorn has none for M-profile:
 * reset, entry (8-word frame on MSP/PSP with the 8-byte realignment flag in the stacked xPSR bit 9),
 * return (with the integrity checks that raise UsageFault INVPC), synchronous faults and their
 * escalation to HardFault, and lockup. Tail-chaining falls out of the run loop: after a return it
 * checks for a pending exception before running a single instruction, and the frame it pushes is
 * the one it just popped.
 */
import type { Logger } from '../log/logger.js';
import { ExcFlags, ExcReturnFlags, Reg } from '../native/cpu.js';
import { type CoreState, Cpu, XPSR_T, CONTROL_SPSEL, CONTROL_NPRIV } from './cpu.js';
import { type MpuView, mpuAllows } from './mpu-check.js';
import {
  CFSR,
  EXC_BUSFAULT,
  EXC_DEBUGMON,
  EXC_HARDFAULT,
  EXC_MEMMANAGE,
  EXC_NMI,
  EXC_SVCALL,
  EXC_USAGEFAULT,
  HFSR,
  PRIO_NONE,
  type ExceptionController,
} from './exception-controller.js';

const CCR_STKALIGN = 1 << 9;
const CCR_NONBASETHRDENA = 1 << 0;
const SCR_SLEEPONEXIT = 1 << 1;
const XPSR_ALIGN = 1 << 9;

export const EXCEPTION_NAMES: Record<number, string> = {
  1: 'Reset', 2: 'NMI', 3: 'HardFault', 4: 'MemManage', 5: 'BusFault', 6: 'UsageFault',
  11: 'SVCall', 12: 'DebugMonitor', 14: 'PendSV', 15: 'SysTick',
};

export function exceptionName(exc: number): string {
  return EXCEPTION_NAMES[exc] ?? (exc >= 16 ? `IRQ${exc - 16}` : `exception ${exc}`);
}

export type FaultKind = 'memmanage' | 'busfault' | 'usagefault' | 'debug';

export interface FaultDetail {
  /** CFSR bits to set. */
  cfsr?: number;
  /** BusFault address (sets BFAR and BFARVALID). */
  bfar?: number;
  /** MemManage address (sets MMFAR and MMARVALID). */
  mmfar?: number;
  /** Human description for -d int and lockup messages. */
  what: string;
}

export class Lockup extends Error {
  constructor(
    message: string,
    readonly pc: number,
    readonly cfsr: number,
    readonly hfsr: number,
  ) {
    super(message);
  }
}

function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}

/** A fault as the core raised it: the kind asked for, the exception it became (HardFault when escalated, 0 on lockup), and the fault status registers. */
export interface FaultEvent {
  kind: FaultKind;
  exception: number;
  what: string;
  /** Address of the faulting instruction (the stacked return address). */
  pc: number;
  cfsr: number;
  hfsr: number;
  bfar: number;
  mmfar: number;
}

export interface ExceptionModelState {
  eventRegister: boolean;
  sleepOnExit: boolean;
  entries: number;
  returns: number;
  deferredInvState: number | null;
}

export class ExceptionModel {
  /** ARM's event register (SEV, exception entry/return): consumed by WFE. */
  eventRegister = false;
  /** Set by a return to Thread mode with SCR.SLEEPONEXIT: the machine sleeps as after WFI. */
  sleepOnExit = false;
  /** Entries and returns, for statistics and single-stepping. */
  entries = 0;
  returns = 0;
  /**
   * An exception return restored xPSR with T = 0: executing there is a UsageFault INVSTATE, but a
   * pending exception is taken first (tail-chaining) and then stacks T = 0 for later. The run loop
   * calls raiseDeferredInvState() once nothing else is taken.
   */
  private deferredInvState: number | null = null;

  constructor(
    private readonly cpu: Cpu,
    private readonly nvic: ExceptionController,
    private readonly log: Logger,
    /** The MPU, for the accesses exception entry makes itself (stacking). */
    private readonly mpu: MpuView | null = null,
  ) {}

  /** The model's own state for a snapshot (the NVIC/SCB state is the SCS device's). */
  saveState(): ExceptionModelState {
    return { eventRegister: this.eventRegister, sleepOnExit: this.sleepOnExit, entries: this.entries, returns: this.returns, deferredInvState: this.deferredInvState };
  }
  loadState(s: ExceptionModelState): void {
    this.eventRegister = s.eventRegister;
    this.sleepOnExit = s.sleepOnExit;
    this.entries = s.entries;
    this.returns = s.returns;
    this.deferredInvState = s.deferredInvState;
  }

  /** Reset the core: SP and PC from the vector table at VTOR, Thread mode, privileged, on MSP. */
  reset(): void {
    const n = this.cpu.native;
    const vtor = this.nvic.scb.vtor >>> 0;
    let sp: number, pc: number;
    try {
      [sp, pc] = this.cpu.readWords(vtor, 2) as [number, number];
    } catch {
      throw new Lockup(`reset: vector table at ${hex(vtor)} is not in memory`, 0, this.nvic.scb.cfsr, this.nvic.scb.hfsr);
    }
    // Pass through Handler mode so that CONTROL can be written whatever the current mode.
    n.writeRegs([Reg.XPSR, Reg.CONTROL, Reg.XPSR, Reg.CONTROL], [XPSR_T | 3, 0, XPSR_T, 0]);
    n.writeRegs(
      [Reg.MSP, Reg.PSP, Reg.PRIMASK, Reg.BASEPRI, Reg.FAULTMASK, Reg.LR, Reg.PC],
      [sp & ~3, 0, 0, 0, 0, 0xffffffff, (pc & ~1) | 1],
    );
    for (let r = 0; r <= 12; r++) n.writeReg(Reg.R0 + r, 0);
    this.cpu.registersChanged();
    this.eventRegister = false;
    this.sleepOnExit = false;
    if (this.log.enabled('cpu_reset')) this.log.log('cpu_reset', `reset: SP=${hex(sp)} PC=${hex(pc)}`);
    if ((pc & 1) === 0) {
      // The reset vector selects ARM state, which M-profile does not have: INVSTATE on the first fetch.
      this.raiseFault('usagefault', { cfsr: CFSR.INVSTATE, what: `reset vector ${hex(pc)} has bit 0 clear` }, pc & ~1);
    }
  }

  /** Priority boost from PRIMASK/BASEPRI/FAULTMASK (PRIO_NONE when none). */
  maskBoost(m: { primask: number; basepri: number; faultmask: number }, ignorePrimask = false): number {
    let boost = PRIO_NONE;
    if (m.basepri !== 0) boost = m.basepri & this.nvic.groupMask();
    if (m.primask && !ignorePrimask) boost = 0;
    if (m.faultmask) boost = -1;
    return boost;
  }

  /** Current execution priority (B1.5.4). */
  executionPriority(m = this.cpu.masks()): number {
    return Math.min(this.nvic.activeGroupPriority(), this.maskBoost(m));
  }

  private groupPrio(exc: number): number {
    return this.nvic.groupPriority(this.nvic.priority(exc));
  }

  /**
   * Take the best pending exception if it may preempt now. Returns true if one was taken (the
   * caller loops: a higher one may have arrived meanwhile). `returnAddress` defaults to the PC.
   */
  takePending(): boolean {
    const best = this.nvic.bestPending();
    if (!best) return false;
    if (this.groupPrio(best) >= this.executionPriority()) return false;
    this.take(best);
    return true;
  }

  /**
   * The priority at which a pending exception waits only for the guest to lower PRIMASK/BASEPRI/
   * FAULTMASK (not for an active handler to return), or -1. The CPU watches the masks natively.
   */
  maskedPendingPriority(): number {
    const best = this.nvic.bestPending();
    if (!best) return -1;
    const p = this.groupPrio(best);
    if (p >= this.nvic.activeGroupPriority()) return -1;
    const m = this.cpu.masks();
    if (p < this.maskBoost(m)) return -1; // takeable now: the caller will take it
    return p < 0 ? -1 : p;
  }

  /** WFI/WFE wake-up: a pending exception that would preempt if PRIMASK were clear (B1.5.19). */
  wakeupPending(): boolean {
    const best = this.nvic.bestPending();
    if (!best) return false;
    const m = this.cpu.masks();
    const exec = Math.min(this.nvic.activeGroupPriority(), this.maskBoost(m, true));
    return this.groupPrio(best) < exec;
  }

  /** Exception entry for `exc` (already chosen as takeable), stacking the current context. */
  take(exc: number, returnAddress?: number, state?: CoreState): void {
    if (state === undefined && !(this.mpu && this.mpu.ctrl & 1)) {
      // One native call does the stacking, the vector fetch and the mode switch (native/src/exceptions.cc);
      // when a frame word or the vector is not there it changes no register, and the path below
      // takes it from the start and raises the fault.
      const flags =
        (this.nvic.scb.ccr & CCR_STKALIGN ? ExcFlags.StkAlign : 0) |
        (this.deferredInvState !== null ? ExcFlags.ClearT : 0) |
        (returnAddress !== undefined ? ExcFlags.ReturnGiven : 0);
      const vector = this.cpu.excEnter(exc, this.vectorAddress(exc), returnAddress ?? 0, 0, flags);
      if (vector >= 0) {
        this.deferredInvState = null;
        this.nvic.activate(exc);
        this.entered(exc, vector, null);
        return;
      }
    }
    const s = state ?? this.cpu.snapshot();
    const ret = (returnAddress ?? s.pc) >>> 0;
    const thread = (s.xpsr & 0x1ff) === 0;
    const usePsp = thread && (s.control & CONTROL_SPSEL) !== 0;
    const forceAlign = (this.nvic.scb.ccr & CCR_STKALIGN) !== 0;
    const sp = usePsp ? s.psp : s.msp;
    const realign = forceAlign && (sp & 4) !== 0;
    const frame = ((sp - 0x20) & (forceAlign ? ~7 : ~3)) >>> 0;
    let stackedXpsr = ((s.xpsr & ~XPSR_ALIGN) | (realign ? XPSR_ALIGN : 0)) >>> 0;
    if (this.deferredInvState !== null) {
      // The interrupted context was about to execute with T = 0: keep that in its frame.
      stackedXpsr = (stackedXpsr & ~XPSR_T) >>> 0;
      this.deferredInvState = null;
    }
    let stackFault = false;
    // Stacking is done with the privilege of the interrupted context, and checked by the MPU.
    const privileged = !thread || !(s.control & CONTROL_NPRIV);
    let mpuFault = false;
    // The frame is written from its lowest word up (r0, r1, r2, r3, r12, lr, pc, xPSR) and stops at
    // the first word refused, the words below it written: QEMU 7.2's v7m_push_stack, which Zephyr's
    // fault dump after a stacking error shows (the frame's r0-r3 when it straddles a stack guard).
    let words = [s.r[0]!, s.r[1]!, s.r[2]!, s.r[3]!, s.r[12]!, s.lr, ret & ~1, stackedXpsr];
    if (this.mpu && this.mpu.ctrl & 1) {
      const negative = this.executionPriority() < 0;
      for (let i = 0; i < 8 && !mpuFault; i++) {
        if (!mpuAllows(this.mpu, frame + 4 * i, 'write', privileged, negative)) {
          mpuFault = true;
          words = words.slice(0, i);
        }
      }
    }
    if (words.length > 0) {
      try {
        this.cpu.writeWords(frame, words);
      } catch {
        // A bus error: write word by word up to it (it comes before any MPU-refused word).
        for (let i = 0; i < words.length; i++) {
          try {
            this.cpu.writeWords(frame + 4 * i, [words[i]!]);
          } catch {
            break;
          }
        }
        stackFault = true;
        mpuFault = false;
      }
    }
    const lr = !thread ? 0xfffffff1 : usePsp ? 0xfffffffd : 0xfffffff9;
    const msp = usePsp ? s.msp : frame;
    const psp = usePsp ? frame : s.psp;
    if (mpuFault || stackFault) {
      // A derived exception during stacking (the MPU refused the frame, a stack guard typically, or
      // a bus error): the original exception stays pending and the derived fault is taken instead,
      // with the stack pointer already lowered over the unwritten frame (as QEMU 7.2 does).
      const d: FaultDetail = mpuFault
        ? { cfsr: CFSR.MSTKERR, what: `stacking to ${hex(frame)} refused by the MPU` }
        : { cfsr: CFSR.STKERR, what: `stacking to ${hex(frame)} failed` };
      const derived = this.routeFault(mpuFault ? 'memmanage' : 'busfault', d);
      // The original stays pending, unless it is the derived one itself (a MemManage whose own
      // stacking fails: one pending bit, taken once, as QEMU 7.2 does).
      if (derived !== exc) this.nvic.setPending(exc);
      if (this.log.enabled('int')) this.log.log('int', `${d.what}: taking ${exceptionName(derived)} instead of ${exceptionName(exc)}`);
      if (derived === 0) this.lockup(d.what, ret);
      this.enter(derived, s, msp, psp, lr, ret);
      return;
    }
    this.enter(exc, s, msp, psp, lr, ret);
  }

  /** Handler-mode entry without stacking (the frame is already there): vector fetch and mode switch. */
  private enter(exc: number, s: CoreState, msp: number, psp: number, lr: number, ret: number): void {
    this.nvic.activate(exc);
    let vector: number;
    const vtor = this.nvic.scb.vtor >>> 0;
    try {
      vector = this.cpu.read32(vtor + exc * 4);
    } catch {
      // Vector fetch failed: HardFault with HFSR.VECTTBL (lockup if it was the HardFault vector).
      this.nvic.deactivate(exc);
      this.nvic.scb.hfsr |= HFSR.VECTTBL;
      if (exc === EXC_HARDFAULT || this.executionPriority() <= -1) {
        throw new Lockup(`vector table read failed for ${exceptionName(exc)} at ${hex(vtor + exc * 4)}`, ret, this.nvic.scb.cfsr, this.nvic.scb.hfsr);
      }
      this.enter(EXC_HARDFAULT, s, msp, psp, lr, ret);
      return;
    }
    this.cpu.enterHandler(s, exc, msp, psp, lr, vector);
    this.entered(exc, vector, ret);
  }

  /** Entry without stacking (tail-chaining): LR = `lr`, the stack pointers as they are. */
  private enterChained(exc: number, lr: number): void {
    if (!(this.mpu && this.mpu.ctrl & 1)) {
      const vector = this.cpu.excEnter(exc, this.vectorAddress(exc), 0, lr, ExcFlags.NoStack);
      if (vector >= 0) {
        this.nvic.activate(exc);
        this.entered(exc, vector, null);
        return;
      }
    }
    const s = this.cpu.snapshot();
    this.enter(exc, s, s.msp, s.psp, lr, s.pc);
  }

  private vectorAddress(exc: number): number {
    return ((this.nvic.scb.vtor >>> 0) + exc * 4) >>> 0;
  }

  /** In the handler: count it, set the event register, log, and fault a vector with bit 0 clear. */
  private entered(exc: number, vector: number, ret: number | null): void {
    this.entries++;
    this.eventRegister = true;
    if (this.log.enabled('int')) {
      const r = ret ?? this.cpu.native.excAddress();
      this.log.log('int', `Taking exception ${exc} [${exceptionName(exc)}] return ${hex(r)} -> handler ${hex(vector)}`);
    }
    if ((vector & 1) === 0) {
      this.raiseFault('usagefault', { cfsr: CFSR.INVSTATE, what: `vector ${hex(vector)} of ${exceptionName(exc)} has bit 0 clear` }, vector & ~1);
    }
  }

  /**
   * Decide where a fault goes: its own handler if enabled and able to preempt, else HardFault
   * (HFSR.FORCED), else lockup. Sets the status registers.
   */
  private routeFault(kind: FaultKind, d: FaultDetail): number {
    const scb = this.nvic.scb;
    if (d.cfsr) scb.cfsr = (scb.cfsr | d.cfsr) >>> 0;
    if (d.bfar !== undefined) {
      scb.bfar = d.bfar >>> 0;
      scb.cfsr = (scb.cfsr | CFSR.BFARVALID) >>> 0;
    }
    if (d.mmfar !== undefined) {
      scb.mmfar = d.mmfar >>> 0;
      scb.cfsr = (scb.cfsr | CFSR.MMARVALID) >>> 0;
    }
    const exc =
      kind === 'memmanage' ? EXC_MEMMANAGE : kind === 'busfault' ? EXC_BUSFAULT : kind === 'usagefault' ? EXC_USAGEFAULT : EXC_DEBUGMON;
    const exec = this.executionPriority();
    if (exc !== EXC_DEBUGMON && this.nvic.isEnabled(exc) && this.groupPrio(exc) < exec) return exc;
    // Escalate.
    scb.hfsr = (scb.hfsr | (kind === 'debug' ? HFSR.DEBUGEVT : HFSR.FORCED)) >>> 0;
    if (-1 < exec) return EXC_HARDFAULT;
    return 0; // lockup
  }

  /** A synchronous fault at `returnAddress` (the faulting instruction): taken now. */
  /** Told of every fault as it is raised (after CFSR/HFSR/BFAR/MMFAR are set, before it is taken). */
  onFault: ((f: FaultEvent) => void) | null = null;

  raiseFault(kind: FaultKind, d: FaultDetail, returnAddress: number): void {
    const exc = this.routeFault(kind, d);
    if (this.log.enabled('int')) this.log.log('int', `${kind}: ${d.what} at ${hex(returnAddress)}`);
    if (this.onFault) {
      const scb = this.nvic.scb;
      this.onFault({ kind, exception: exc, what: d.what, pc: returnAddress >>> 0, cfsr: scb.cfsr >>> 0, hfsr: scb.hfsr >>> 0, bfar: scb.bfar >>> 0, mmfar: scb.mmfar >>> 0 });
    }
    if (exc === 0) this.lockup(`${d.what} (${kind} while the execution priority is -1 or lower)`, returnAddress);
    this.take(exc, returnAddress);
  }

  /** A return restored T = 0: raiseDeferredInvState() has a fault to raise. */
  get invStateDeferred(): boolean {
    return this.deferredInvState !== null;
  }

  /** After tail-chaining had its chance: a return to T = 0 faults before any instruction runs. */
  raiseDeferredInvState(): void {
    const pc = this.deferredInvState;
    if (pc === null) return;
    this.deferredInvState = null;
    this.raiseFault('usagefault', { cfsr: CFSR.INVSTATE, what: 'return with the T bit clear in the stacked xPSR' }, pc);
  }

  /** SVC executed; `returnAddress` is the instruction after it. */
  svc(returnAddress: number): void {
    const exec = this.executionPriority();
    if (this.groupPrio(EXC_SVCALL) < exec) {
      this.take(EXC_SVCALL, returnAddress);
      return;
    }
    // SVC that cannot be taken (e.g. under PRIMASK or from a higher-priority handler) escalates.
    this.nvic.scb.hfsr = (this.nvic.scb.hfsr | HFSR.FORCED) >>> 0;
    if (exec <= -1) this.lockup('SVC executed at execution priority -1 or lower', returnAddress - 2);
    this.take(EXC_HARDFAULT, returnAddress);
  }

  private lockup(why: string, pc: number): never {
    const scb = this.nvic.scb;
    throw new Lockup(
      `CPU lockup at PC=${hex(pc)}: ${why}; CFSR=${hex(scb.cfsr)} HFSR=${hex(scb.hfsr)} BFAR=${hex(scb.bfar)} MMFAR=${hex(scb.mmfar)}`,
      pc,
      scb.cfsr,
      scb.hfsr,
    );
  }

  /** Exception return: the CPU branched to `excReturn` (0xFxxxxxxx) in Handler mode. */
  exceptionReturn(excReturn: number): void {
    this.returns++;
    excReturn = (excReturn | 1) >>> 0;
    const m = this.cpu.masks();
    const returning = m.ipsr;
    const scb = this.nvic.scb;
    const nested = this.nvic.activeCount();
    let toThread = false;
    let usePsp = false;
    let bad = (excReturn & 0x0ffffff0) !== 0x0ffffff0 || !this.nvic.isActive(returning);
    if (!bad) {
      switch (excReturn & 0xf) {
        case 0x1:
          bad = nested === 1;
          break;
        case 0x9:
          bad = nested !== 1 && !(scb.ccr & CCR_NONBASETHRDENA);
          toThread = true;
          break;
        case 0xd:
          bad = nested !== 1 && !(scb.ccr & CCR_NONBASETHRDENA);
          toThread = true;
          usePsp = true;
          break;
        default:
          bad = true;
      }
    }
    if (bad) {
      // Integrity check failed: deactivate, then UsageFault INVPC taken on the existing frame, LR = 0xF0000000 + EXC_RETURN.
      const s = this.cpu.snapshot();
      if (this.nvic.isActive(returning)) this.nvic.deactivate(returning);
      if (returning !== EXC_NMI) this.cpu.setReg(Reg.FAULTMASK, 0);
      const exc = this.routeFault('usagefault', { cfsr: CFSR.INVPC, what: `bad exception return ${hex(excReturn)} from ${exceptionName(returning)}` });
      if (exc === 0) this.lockup(`bad exception return ${hex(excReturn)}`, s.pc);
      this.enter(exc, s, s.msp, s.psp, (0xf0000000 | (excReturn & 0x0fffffff)) >>> 0, s.pc);
      return;
    }
    this.nvic.deactivate(returning);
    if (returning !== EXC_NMI && m.faultmask) this.cpu.setReg(Reg.FAULTMASK, 0);
    // Tail-chaining (as QEMU 7.2's do_v7m_exception_exit): a pending exception that can preempt the
    // context being returned to is taken now, on the same frame, before anything is unstacked (so a
    // frame that a handler left invalid, after a stacking fault, is never checked or popped).
    const best = this.nvic.bestPending();
    if (best && this.groupPrio(best) < this.executionPriority()) {
      if (this.log.enabled('int')) this.log.log('int', `Tail-chaining from ${exceptionName(returning)} to ${exceptionName(best)}`);
      this.enterChained(best, excReturn);
      return;
    }
    if (this.mpu && this.mpu.ctrl & 1) {
      // Unstacking is checked by the MPU with the privilege of the mode returned to (QEMU 7.2:
      // Handler mode, or Thread mode without CONTROL.nPRIV, is privileged), after the returning
      // exception was deactivated (so a return from HardFault is no longer at negative priority).
      const s = this.cpu.snapshot();
      const sp = usePsp ? s.psp : s.msp;
      const privileged = !toThread || !(s.control & CONTROL_NPRIV);
      const negative = this.executionPriority() < 0;
      let refused = false;
      for (let off = 0; off < 0x20 && !refused; off += 4) refused = !mpuAllows(this.mpu, sp + off, 'read', privileged, negative);
      if (refused) {
        // A derived MemManage MUNSTKERR, taken in Handler mode on the same frame (as QEMU 7.2).
        const what = `unstacking from ${hex(sp)} refused by the MPU`;
        const exc = this.routeFault('memmanage', { cfsr: CFSR.MUNSTKERR, what });
        if (this.log.enabled('int')) this.log.log('int', `${what}: taking ${exceptionName(exc)}`);
        if (exc === 0) this.lockup(what, s.pc);
        this.enter(exc, s, s.msp, s.psp, excReturn, s.pc);
        return;
      }
    }
    // Pop the frame and select the mode and stack in one native call (native/src/exceptions.cc).
    const psr = this.cpu.excReturn(
      (usePsp ? ExcReturnFlags.Psp : 0) | (toThread ? ExcReturnFlags.Thread : 0) | (scb.ccr & CCR_STKALIGN ? ExcReturnFlags.StkAlign : 0),
      toThread,
    );
    if (psr < 0) {
      // Unstacking failed: BusFault UNSTKERR, taken in Handler mode with the same frame pointer.
      const s = this.cpu.snapshot();
      const sp = usePsp ? s.psp : s.msp;
      const exc = this.routeFault('busfault', { cfsr: CFSR.UNSTKERR, what: `unstacking from ${hex(sp)} failed` });
      if (exc === 0) this.lockup(`unstacking from ${hex(sp)} failed`, s.pc);
      this.enter(exc, s, s.msp, s.psp, excReturn, s.pc);
      return;
    }
    this.eventRegister = true;
    const returnIpsr = psr & 0x1ff;
    const t = (psr & XPSR_T) !== 0;
    if (this.log.enabled('int') || (toThread ? returnIpsr !== 0 : returnIpsr === 0) || !t) {
      const framePc = this.cpu.native.excAddress() >>> 0;
      if (this.log.enabled('int')) {
        this.log.log('int', `Exception return from ${exceptionName(returning)} to ${hex(framePc)} (${hex(excReturn)})`);
      }
      if (toThread && returnIpsr !== 0) {
        this.raiseFault('usagefault', { cfsr: CFSR.INVPC, what: `return to Thread mode with IPSR=${returnIpsr} in the frame` }, framePc);
        return;
      }
      if (!toThread && returnIpsr === 0) {
        this.raiseFault('usagefault', { cfsr: CFSR.INVPC, what: 'return to Handler mode with IPSR=0 in the frame' }, framePc);
        return;
      }
      if (!t) this.deferredInvState = framePc & ~1;
    }
    if (toThread && scb.scr & SCR_SLEEPONEXIT) this.sleepOnExit = true;
  }
}
