/**
 * What the ARMv7-M exception model (src/cpu/exceptions.ts) needs from the System Control Space
 * (src/devices/scs.ts, nvic.ts, systick.ts). The SCS holds the state (pending/active/enabled,
 * priorities, PRIGROUP, VTOR, CCR, SCR, fault status); the exception model performs entry,
 * return, tail-chaining and escalation on the CPU.
 *
 * Exception numbers: 1 Reset, 2 NMI, 3 HardFault, 4 MemManage, 5 BusFault, 6 UsageFault,
 * 11 SVCall, 12 DebugMonitor, 14 PendSV, 15 SysTick, 16 + n external interrupt n.
 */
export const EXC_RESET = 1;
export const EXC_NMI = 2;
export const EXC_HARDFAULT = 3;
export const EXC_MEMMANAGE = 4;
export const EXC_BUSFAULT = 5;
export const EXC_USAGEFAULT = 6;
export const EXC_SVCALL = 11;
export const EXC_DEBUGMON = 12;
export const EXC_PENDSV = 14;
export const EXC_SYSTICK = 15;
export const EXC_EXTERNAL0 = 16;

/** No active exception and no mask: lower than any real priority. */
export const PRIO_NONE = 256;

/** CFSR bits (MMFSR in 7:0, BFSR in 15:8, UFSR in 31:16). */
export const CFSR = {
  IACCVIOL: 1 << 0,
  DACCVIOL: 1 << 1,
  MUNSTKERR: 1 << 3,
  MSTKERR: 1 << 4,
  MMARVALID: 1 << 7,
  IBUSERR: 1 << 8,
  PRECISERR: 1 << 9,
  IMPRECISERR: 1 << 10,
  UNSTKERR: 1 << 11,
  STKERR: 1 << 12,
  BFARVALID: 1 << 15,
  UNDEFINSTR: 1 << 16,
  INVSTATE: 1 << 17,
  INVPC: 1 << 18,
  NOCP: 1 << 19,
  UNALIGNED: 1 << 24,
  DIVBYZERO: 1 << 25,
} as const;

export const HFSR = { VECTTBL: 1 << 1, FORCED: 1 << 30, DEBUGEVT: 1 << 31 } as const;

export interface ExceptionController {
  /** Number of external interrupt lines (32 on mps2-an385, 43 on lm3s6965evb). */
  readonly numIrqs: number;

  setPending(exc: number): void;
  clearPending(exc: number): void;
  isPending(exc: number): boolean;
  isActive(exc: number): boolean;
  /**
   * Whether the exception may be taken when pending: external lines need ISER; MemManage/BusFault/UsageFault
   * need their SHCSR enable bit (when clear they escalate to HardFault); the others are always enabled.
   */
  isEnabled(exc: number): boolean;
  /** Priority as configured: -3 Reset, -2 NMI, -1 HardFault, else 0..255 with unimplemented low bits zero. */
  priority(exc: number): number;
  /** Group priority of a priority value under the current PRIGROUP (negative values unchanged). */
  groupPriority(prio: number): number;
  /** Mask that keeps the group-priority bits of an 8-bit priority under the current PRIGROUP (e.g. 0xE0). */
  groupMask(): number;
  /** The pending and enabled exception with the highest priority (lowest group priority, then lowest subpriority, then lowest number), or 0. */
  bestPending(): number;
  /** Lowest group priority over all active exceptions (PRIO_NONE when none is active). */
  activeGroupPriority(): number;
  /** Pending → active (clears pending). */
  activate(exc: number): void;
  /** Active → inactive (exception return). */
  deactivate(exc: number): void;
  /** Number of active exceptions (RETTOBASE, return integrity checks). */
  activeCount(): number;

  /** SCB state the exception model reads or updates. */
  readonly scb: ScbState;
}

export interface ScbState {
  vtor: number;
  /** CCR value (STKALIGN bit 9, DIV_0_TRP bit 4, UNALIGN_TRP bit 3, NONBASETHRDENA bit 0). */
  ccr: number;
  /** SCR value (SLEEPONEXIT bit 1, SLEEPDEEP bit 2, SEVONPEND bit 4). */
  scr: number;
  cfsr: number;
  hfsr: number;
  mmfar: number;
  bfar: number;
}
