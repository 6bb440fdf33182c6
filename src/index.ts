/**
 * cmemu as a library: build emulated Cortex-M boards from a plain configuration, run them, and
 * look inside. See docs/api.md.
 *
 *   import { createSystem } from 'cmemu';
 *   const sys = await createSystem({ board: 'mps2-an385', firmware: 'fw.elf', time: { icount: 7 } });
 *   await sys.uart(0).waitForLine(/Booting Zephyr/, { timeout: '2 s' });
 *   await sys.close();
 */
export {
  createSystem,
  System,
  Symbols,
  Memory,
  CpuAccess,
  NvicAccess,
  type SystemConfig,
  type SerialSpec,
  type TimeConfig,
  type SemihostingConfig,
  type IvshmemConfig,
  type Condition,
  type RunResult,
  type RunOptions,
  type FaultInfo,
  type Registers,
  type RegisterName,
  type ValueType,
} from './system/system.js';
export { createWorld, World, type WorldConfig, type WorldBoardConfig, type WorldIvshmemConfig } from './system/world.js';
export { InProcessIvshmem, InProcessLink } from './system/inproc-link.js';
export { UartConsole, type TextPattern, type WaitOptions } from './system/uart.js';
export { CmemuError, UsageError, InputError, TimeoutError, MachineFinishedError } from './system/errors.js';
export { parseDuration, parseSize, formatDuration, type Duration, type Size } from './system/units.js';
export type { FirmwareSpec } from './system/images.js';
export { GdbServer, type GdbServerOptions } from './system/gdb/server.js';
export { Snapshot, SNAPSHOT_VERSION, type SnapshotBoard, type SnapshotHeader } from './system/snapshot.js';
export { DebugControl, type DebugStop, type Watchpoint, type WatchKind } from './system/debug.js';
export type { WebView, WebViewOptions } from './system/web/server.js';
export type { IvshmemRing } from './devices/ivshmem-flat.js';
export type { FinalOutcome, Outcome } from './machine/machine.js';
export type { BoardDef } from './machine/board.js';
export { BOARDS, findBoard } from './machine/boards/index.js';
export type { IvshmemLink } from './devices/ivshmem-link.js';
export type { Logger, LogCategory } from './log/logger.js';
export { IvshmemServer, type IvshmemServerOptions } from './host/ivshmem/server.js';
export { connectIvshmem } from './host/ivshmem/client.js';
