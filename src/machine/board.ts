/**
 * A board is data: its memory, its unimplemented regions, and a table of devices with their base
 * addresses and IRQ wiring. The machine builds the address map from it; adding a board is a new file
 * in src/machine/boards/ and one line in boards/index.ts.
 */
import type { Clock } from '../time/clock.js';
import type { IrqLine, Logger, MmioDevice } from '../devices/device.js';
import type { BusAccess } from '../devices/bitband.js';
import type { SerialPort } from '../devices/cmsdk-uart.js';

export interface MemoryDef {
  name: string;
  base: number;
  size: number;
  /** Other addresses where the same memory appears (mirrors). */
  aliases?: number[];
  /** Read-only to the guest (flash): a store is a BusFault. */
  readOnly?: boolean;
}

export interface RegionDef {
  name: string;
  base: number;
  size: number;
}

/** What a device factory gets from the machine. */
export interface BoardContext {
  /** NVIC external interrupt input n. */
  irq(n: number): IrqLine;
  /** The NMI input. */
  nmi: IrqLine;
  clock: Clock;
  log: Logger;
  /** The i-th serial port (from -serial options, in order), or null when not connected. */
  serial(i: number): SerialPort | null;
  /** Register a receiver for the i-th serial port's input (the machine feeds it from the chardev). */
  onSerialInput(i: number, receive: (data: Uint8Array) => void): void;
  bus: BusAccess;
  /**
   * Set the core clock (SysTick's CLKSOURCE = 1 clock) by its period in whole ns, for boards whose
   * firmware can change it (lm3s6965evb's RCC/RCC2). Absent in contexts without a SysTick (unit tests).
   */
  setCpuClockPeriodNs?(ns: number): void;
  /**
   * Request a system reset, as QEMU's qemu_system_reset_request (a watchdog's reset output): the
   * machine resets at the top of its run loop, or exits under -no-reboot. Optional for unit tests.
   */
  systemReset?(): void;
}

/**
 * One device of a board. `create` gets the machine's context and the parts the board's setup step
 * made for this machine (shared IRQ gates, a system control block several devices follow).
 */
export interface DeviceDef<P = unknown> {
  name: string;
  base: number;
  /** IRQ lines used, for `-M board,help` (documentation; the factory does the wiring). */
  irqs?: number[];
  create(ctx: BoardContext, parts: P): MmioDevice;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface BoardDef<P = any> {
  name: string;
  description: string;
  cpu: 'cortex-m3';
  /** CPU clock (SysTick CLKSOURCE=1) and SysTick reference clock, in Hz. */
  sysclkHz: number;
  refclkHz: number;
  numIrqs: number;
  priorityBits: number;
  memory: MemoryDef[];
  /** Cortex-M3 bit-band aliases (0x22000000 → 0x20000000, 0x42000000 → 0x40000000). */
  bitband: boolean;
  unimplemented: RegionDef[];
  /** Run once per machine before the device factories: what several devices share (its result is each `create`'s `parts`). */
  setup?(ctx: BoardContext): P;
  devices: DeviceDef<P>[];
  /** `cmemu run`'s default -icount shift (Zephyr's CONFIG_QEMU_ICOUNT_SHIFT for the board). */
  icountShift: number;
  /** Where `-device ivshmem-flat` goes by default (registers, shared memory). */
  ivshmemDefaults?: { iomem: number; shmem: number; irq: number; qompath: string };
}
