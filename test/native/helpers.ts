// Shared set-up for the native addon tests: a Cortex-M3 with 64 KiB of read-only "flash" at 0
// and 64 KiB of RAM at 0x20000000, code placed at FLASH_CODE. Guest programs are written inline
// as Thumb halfwords with their assembly in comments (assembled once with arm-none-eabi-as).
import { loadNative, Reg, type NativeAddon, type NativeCpu } from '../../src/native/cpu.js';

/** Test utilities the addon exports beside the contract (the eventfd functions are in it: src/native/posix.ts). */
export interface TestAddon extends NativeAddon {
  /** Writes `value` to `fd` from a new native thread after `delayNs`. */
  writeEventFdLater(fd: number, value: number, delayNs: number): void;
  /** CLOCK_MONOTONIC ns at which the last writeEventFdLater wrote. */
  lastLaterWriteNs(): number;
}

export interface CpuStats {
  tlbFills: number;
  mmioCalls: number;
  countMisses: number;
  /** CLOCK_MONOTONIC ns when the watcher last set a stop bit. */
  watcherFireNs: number;
  /** CLOCK_MONOTONIC ns when the block hook last stopped a run on a stop bit. */
  hookStopNs: number;
}

export const addon = loadNative() as TestAddon;

export const FLASH = 0x0000_0000;
export const FLASH_SIZE = 0x1_0000;
export const FLASH_CODE = 0x1000;
export const RAM = 0x2000_0000;
export const RAM_SIZE = 0x1_0000;

export interface Rig {
  cpu: NativeCpu;
  flash: ArrayBuffer;
  ram: ArrayBuffer;
  reg(r: Reg): number;
  /** Write registers by name (names as in `registerIds`). */
  set(regs: Record<string, number>): void;
  stats(): CpuStats;
}

const open: NativeCpu[] = [];

/** A CPU with flash (read-only) and RAM mapped, `code` at `at` (in flash unless given), PC there, SP at top of RAM/2. */
export function rig(code: readonly number[], at = FLASH_CODE): Rig {
  const cpu = new addon.NativeCpu();
  open.push(cpu);
  const flash = addon.allocHostMemory(FLASH_SIZE);
  const ram = addon.allocHostMemory(RAM_SIZE);
  const inFlash = at >= FLASH && at < FLASH + FLASH_SIZE;
  new Uint16Array(inFlash ? flash : ram, inFlash ? at - FLASH : at - RAM, code.length).set(code);
  cpu.mapHostMemory(FLASH, flash, 0, FLASH_SIZE, false);
  cpu.mapHostMemory(RAM, ram, 0, RAM_SIZE, true);
  cpu.writeRegs([Reg.PC, Reg.SP], [at, RAM + 0x8000]);
  return {
    cpu,
    flash,
    ram,
    reg: (r) => cpu.readReg(r),
    set(regs) {
      const ids: number[] = [];
      const vals: number[] = [];
      for (const [k, v] of Object.entries(regs)) {
        const id = addon.registerIds[k];
        if (id === undefined) throw new Error(`unknown register ${k}`);
        ids.push(id);
        vals.push(v);
      }
      cpu.writeRegs(ids, vals);
    },
    stats: () => (cpu as unknown as { stats(): CpuStats }).stats(),
  };
}

/** Close every CPU made by rig() (call from afterEach/afterAll). */
export function closeAll(): void {
  for (const c of open.splice(0)) c.close();
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))];
}

export function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

export function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16);
}
