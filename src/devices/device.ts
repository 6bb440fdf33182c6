/**
 * The one interface every memory-mapped device implements. The machine maps a device's
 * window at a base address; accesses arrive with an offset inside the window and a size of
 * 1, 2 or 4 bytes. Values are unsigned (0..2^32-1). A device never touches the CPU directly:
 * it raises IRQ lines and schedules clock timers.
 */
import type { DeviceState } from './state.js';

export type AccessSize = 1 | 2 | 4;
export type { DeviceState };

export interface MmioDevice {
  /** Short name used in logs (`-d unimp`, `-d guest_errors`) and `-M board,help`. */
  readonly name: string;
  /** Size in bytes of the register window. */
  readonly size: number;
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
  /** Back to power-on state (also used by AIRCR.SYSRESETREQ). */
  reset(): void;
  /** The device's state for a snapshot (src/devices/state.ts): JSON-safe, complete enough that loadState in a fresh device of the same board carries on identically. */
  saveState(): DeviceState;
  /** Put back what saveState returned (in a device built the same way). Throws StateError when it does not fit. */
  loadState(s: DeviceState): void;
}

/** An interrupt request line into the NVIC (or any other sink). Level semantics. */
export interface IrqLine {
  set(level: boolean): void;
  /** Raise then lower: an edge (e.g. ivshmem-flat's doorbell). */
  pulse(): void;
}

/** An IRQ line wired to nothing: for devices whose output a board leaves unconnected. */
export const NO_IRQ: IrqLine = { set() {}, pulse() {} };

export type { LogCategory, Logger } from '../log/logger.js';
export { SILENT } from '../log/logger.js';

/** Read-modify-write helper for sub-word writes to a 32-bit register. */
export function mergeSubword(old: number, offset: number, size: AccessSize, value: number): number {
  if (size === 4) return value >>> 0;
  const shift = (offset & 3) * 8;
  const mask = (size === 1 ? 0xff : 0xffff) << shift;
  return ((old & ~mask) | ((value << shift) & mask)) >>> 0;
}

/** Extract a sub-word read from a 32-bit register value. */
export function extractSubword(reg: number, offset: number, size: AccessSize): number {
  if (size === 4) return reg >>> 0;
  const shift = (offset & 3) * 8;
  return (reg >>> shift) & (size === 1 ? 0xff : 0xffff);
}
