/**
 * ARMv7-M Nested Vectored Interrupt Controller: the pending/active/enabled state and priorities of
 * the system exceptions (1..15) and external interrupts (16 + n), PRIGROUP, and the SCB state the
 * exception model reads (VTOR, CCR, SCR, fault status). The registers that expose this state live
 * in scs.ts; the CPU side (entry, return, tail-chaining) lives in src/cpu/exceptions.ts and uses the
 * ExceptionController contract implemented here.
 *
 * Semantics follow QEMU 7.2's hw/intc/armv7m_nvic.c where it is our reference:
 *  - external lines are level inputs: a rising edge pends the interrupt; a line still high when its
 *    handler returns pends it again (deactivate()); clearing pending through ICPR does not re-pend;
 *  - the best pending exception is the enabled pending one with the lowest priority value (group
 *    then subpriority, i.e. the whole 8-bit value), ties going to the lowest exception number;
 *  - active priorities are compared by group priority (PRIGROUP mask).
 */
import type { IrqLine, Logger } from './device.js';
import { SILENT } from './device.js';
import { captureState, restoreState, type DeviceState } from './state.js';
import {
  EXC_BUSFAULT,
  EXC_DEBUGMON,
  EXC_EXTERNAL0,
  EXC_HARDFAULT,
  EXC_MEMMANAGE,
  EXC_NMI,
  EXC_PENDSV,
  EXC_RESET,
  EXC_SVCALL,
  EXC_SYSTICK,
  EXC_USAGEFAULT,
  PRIO_NONE,
  type ExceptionController,
  type ScbState,
} from '../cpu/exception-controller.js';

/** CCR reset value: STKALIGN set, as QEMU 7.2 resets every v7-M core (read back 0x200 on cortex-m3). */
export const CCR_RESET = 0x200;

export interface NvicOptions {
  /** External interrupt lines (32 on mps2-an385; QEMU 7.2 gives lm3s6965evb 64). At most 496. */
  numIrqs: number;
  /** Implemented priority bits (the high bits of each 8-bit priority). Default 3. QEMU 7.2 implements 8. */
  priorityBits?: number;
  /** Pending/enable/priority/PRIGROUP/active changed in a way that may let an exception be taken. */
  onChange?: () => void;
  logger?: Logger;
}

/** Exceptions that exist on ARMv7-M below 16 (7-10 and 13 are reserved). */
function isSystemException(exc: number): boolean {
  return (exc >= 1 && exc <= 6) || exc === EXC_SVCALL || exc === EXC_DEBUGMON || exc === EXC_PENDSV || exc === EXC_SYSTICK;
}

export class Nvic implements ExceptionController {
  readonly numIrqs: number;
  readonly priorityBits: number;
  /** Mask of the implemented priority bits in an 8-bit priority (0xE0 for 3 bits). */
  readonly priorityMask: number;
  readonly scb: ScbState;
  onChange: () => void;
  /** AIRCR.PRIGROUP (0..7). Use setPrigroup() to change it. */
  prigroup = 0;

  private readonly count: number;
  private readonly pending: Uint8Array;
  private readonly active: Uint8Array;
  /** ISER for external lines, SHCSR.*ENA for MemManage/BusFault/UsageFault; unused for the others. */
  private readonly enabled: Uint8Array;
  /** Configured priority (0..255, unimplemented bits zero); fixed negative values for 1..3. */
  private readonly prio: Int16Array;
  private readonly level: Uint8Array;
  private readonly lines: IrqLine[] = [];
  private nPending = 0;
  private nActive = 0;
  /**
   * bestPending() and activeGroupPriority() as last computed (-1 / NaN: not known). Exception entry
   * and return ask for them several times per exception; every change to pending, enabled, active,
   * priorities or PRIGROUP goes through stale(). Private fields: not snapshot state.
   */
  #best = -1;
  #activeGroup = NaN;
  private stale(): void {
    this.#best = -1;
    this.#activeGroup = NaN;
  }
  private readonly log: Logger;

  constructor(opts: NvicOptions) {
    const n = opts.numIrqs;
    if (!Number.isInteger(n) || n < 1 || n > 496) throw new Error(`nvic: numIrqs must be 1..496 (got ${n})`);
    const bits = opts.priorityBits ?? 3;
    if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new Error(`nvic: priorityBits must be 2..8 (got ${bits})`);
    this.numIrqs = n;
    this.priorityBits = bits;
    this.priorityMask = (0xff << (8 - bits)) & 0xff;
    this.onChange = opts.onChange ?? (() => {});
    this.log = opts.logger ?? SILENT;
    this.count = EXC_EXTERNAL0 + n;
    this.pending = new Uint8Array(this.count);
    this.active = new Uint8Array(this.count);
    this.enabled = new Uint8Array(this.count);
    this.prio = new Int16Array(this.count);
    this.level = new Uint8Array(n);
    this.scb = { vtor: 0, ccr: CCR_RESET, scr: 0, cfsr: 0, hfsr: 0, mmfar: 0, bfar: 0 };
    this.reset();
  }

  /** Power-on state. Input line levels are kept (they belong to the devices driving them). */
  /** Snapshot state (src/devices/state.ts). */
  saveState(): DeviceState {
    return captureState(this);
  }
  loadState(s: DeviceState): void {
    restoreState(this, s, 'nvic');
    this.stale();
  }

  reset(): void {
    this.pending.fill(0);
    this.active.fill(0);
    this.enabled.fill(0);
    this.prio.fill(0);
    this.prio[EXC_RESET] = -3;
    this.prio[EXC_NMI] = -2;
    this.prio[EXC_HARDFAULT] = -1;
    this.nPending = 0;
    this.nActive = 0;
    this.stale();
    this.prigroup = 0;
    const s = this.scb;
    s.vtor = 0;
    s.ccr = CCR_RESET;
    s.scr = 0;
    s.cfsr = 0;
    s.hfsr = 0;
    s.mmfar = 0;
    s.bfar = 0;
  }

  /** Whether `exc` names an exception this NVIC has (1..6, 11, 12, 14, 15, 16..16+numIrqs-1). */
  exists(exc: number): boolean {
    return exc >= EXC_EXTERNAL0 ? exc < this.count : isSystemException(exc);
  }

  private check(exc: number): void {
    if (!Number.isInteger(exc) || !this.exists(exc)) throw new RangeError(`nvic: no exception ${exc}`);
  }

  // ---- external interrupt inputs ----

  /**
   * External interrupt input n (0-based). `set` is level-sensitive (a rising level pends the
   * interrupt; while high, it pends again when its handler returns); `pulse` is an edge: it pends
   * the interrupt whatever the level, which it leaves alone (another device may hold it high).
   */
  line(n: number): IrqLine {
    if (!Number.isInteger(n) || n < 0 || n >= this.numIrqs) throw new RangeError(`nvic: no IRQ line ${n} (${this.numIrqs} lines)`);
    let l = this.lines[n];
    if (!l) {
      l = {
        set: (high: boolean) => this.setLevel(n, high),
        pulse: () => this.setPending(EXC_EXTERNAL0 + n),
      };
      this.lines[n] = l;
    }
    return l;
  }

  private setLevel(n: number, high: boolean): void {
    const v = high ? 1 : 0;
    if (this.level[n] === v) return;
    this.level[n] = v;
    if (high) this.setPending(EXC_EXTERNAL0 + n);
  }

  /** Whether the input line of external exception `exc` is held high (false for system exceptions). */
  levelHigh(exc: number): boolean {
    return exc >= EXC_EXTERNAL0 && exc < this.count && this.level[exc - EXC_EXTERNAL0] === 1;
  }

  // ---- state ----

  setPending(exc: number): void {
    if (!this.exists(exc)) return;
    if (this.pending[exc]) return;
    this.pending[exc] = 1;
    this.nPending++;
    this.stale();
    this.onChange();
  }

  clearPending(exc: number): void {
    if (!this.exists(exc) || !this.pending[exc]) return;
    this.pending[exc] = 0;
    this.nPending--;
    this.stale();
  }

  isPending(exc: number): boolean {
    return this.exists(exc) && this.pending[exc] === 1;
  }

  isActive(exc: number): boolean {
    return this.exists(exc) && this.active[exc] === 1;
  }

  /** Set or clear the active bit directly (SHCSR writes); the exception model uses activate/deactivate. */
  setActive(exc: number, on: boolean): void {
    if (!this.exists(exc)) return;
    const v = on ? 1 : 0;
    if (this.active[exc] === v) return;
    this.active[exc] = v;
    this.nActive += on ? 1 : -1;
    this.stale();
    if (!on) this.onChange();
  }

  isEnabled(exc: number): boolean {
    if (exc >= EXC_EXTERNAL0) return exc < this.count && this.enabled[exc] === 1;
    switch (exc) {
      case EXC_MEMMANAGE:
      case EXC_BUSFAULT:
      case EXC_USAGEFAULT:
        return this.enabled[exc] === 1;
      default:
        return isSystemException(exc);
    }
  }

  /** ISER/ICER for external lines, SHCSR.MEMFAULTENA/BUSFAULTENA/USGFAULTENA for 4..6; others ignore it. */
  setEnabled(exc: number, on: boolean): void {
    if (!(exc >= EXC_EXTERNAL0 ? exc < this.count : exc === EXC_MEMMANAGE || exc === EXC_BUSFAULT || exc === EXC_USAGEFAULT)) return;
    const v = on ? 1 : 0;
    if (this.enabled[exc] === v) return;
    this.enabled[exc] = v;
    this.stale();
    if (on && this.pending[exc]) this.onChange();
  }

  priority(exc: number): number {
    this.check(exc);
    return this.prio[exc]!;
  }

  /** Write a configurable priority (exceptions 4..15 and external); unimplemented low bits read as zero. */
  setPriority(exc: number, value: number): void {
    if (!this.exists(exc) || exc <= EXC_HARDFAULT) return;
    const p = value & this.priorityMask;
    if (this.prio[exc] === p) return;
    this.prio[exc] = p;
    this.stale();
    if (this.nPending) this.onChange();
  }

  setPrigroup(g: number): void {
    g &= 7;
    if (g === this.prigroup) return;
    this.prigroup = g;
    this.stale();
    if (this.nPending) this.onChange();
  }

  groupMask(): number {
    return (0xff << (this.prigroup + 1)) & 0xff;
  }

  groupPriority(prio: number): number {
    return prio < 0 ? prio : prio & this.groupMask();
  }

  bestPending(): number {
    if (this.nPending === 0) return 0;
    if (this.#best >= 0) return this.#best;
    let best = 0;
    let bestPrio = PRIO_NONE;
    for (let exc = 1; exc < this.count; exc++) {
      if (this.pending[exc] && this.isEnabled(exc) && this.prio[exc]! < bestPrio) {
        bestPrio = this.prio[exc]!;
        best = exc;
      }
    }
    this.#best = best;
    return best;
  }

  /** Any external interrupt pending, enabled or not (ICSR.ISRPENDING). */
  externalPending(): boolean {
    if (this.nPending === 0) return false;
    for (let exc = EXC_EXTERNAL0; exc < this.count; exc++) if (this.pending[exc]) return true;
    return false;
  }

  activeGroupPriority(): number {
    if (this.nActive === 0) return PRIO_NONE;
    if (this.#activeGroup === this.#activeGroup) return this.#activeGroup;
    let best = PRIO_NONE;
    for (let exc = 1; exc < this.count; exc++) {
      if (this.active[exc]) {
        const g = this.groupPriority(this.prio[exc]!);
        if (g < best) best = g;
      }
    }
    this.#activeGroup = best;
    return best;
  }

  activate(exc: number): void {
    this.check(exc);
    this.clearPending(exc);
    if (!this.active[exc]) {
      this.active[exc] = 1;
      this.nActive++;
      this.stale();
    }
    if (this.log.enabled('trace')) this.log.log('trace', `nvic: activate ${exc}`);
  }

  deactivate(exc: number): void {
    this.check(exc);
    if (this.active[exc]) {
      this.active[exc] = 0;
      this.nActive--;
      this.stale();
    }
    // A level-sensitive line still held high pends again on exception return (as QEMU's complete_irq).
    if (this.levelHigh(exc) && !this.pending[exc]) {
      this.pending[exc] = 1;
      this.nPending++;
      this.stale();
    }
    if (this.nPending) this.onChange();
  }

  activeCount(): number {
    return this.nActive;
  }
}
