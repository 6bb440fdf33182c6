/** Builds a board's System Control Space (NVIC, SCB, SysTick, MPU registers) with the machine's callbacks. */
import type { Clock } from '../time/clock.js';
import type { BoardDef } from './board.js';
import type { Logger } from '../devices/device.js';
import { buildScs, type ScsParts } from '../devices/scs.js';

export type { ScsParts };

/** Cortex-M3 r2p0, as the AN385 FPGA image carries (QEMU 7.2 reports r0p1, 0x410FC231). */
export const CORTEX_M3_R2P0_CPUID = 0x412fc230;

export function createScs(o: {
  board: BoardDef;
  clock: Clock;
  log: Logger;
  ipsr: () => number;
  onChange: () => void;
  onSystemReset: () => void;
  onCcrChange: (ccr: number) => void;
  realTime: boolean;
}): ScsParts {
  return buildScs({
    numIrqs: o.board.numIrqs,
    priorityBits: o.board.priorityBits,
    clock: o.clock,
    cpuHz: o.board.sysclkHz,
    refHz: o.board.refclkHz,
    ipsr: o.ipsr,
    onChange: o.onChange,
    onSystemReset: o.onSystemReset,
    onCcrChange: o.onCcrChange,
    logger: o.log,
    cpuid: CORTEX_M3_R2P0_CPUID,
    realTime: o.realTime,
  });
}
