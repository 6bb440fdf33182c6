/**
 * The logger every layer may use (the CPU and the devices log through it), with QEMU's `-d`
 * categories. Where lines go is the host's choice (category-logger.ts: stderr or the -D file).
 */
/** Logging categories, as QEMU's `-d` items. */
export type LogCategory = 'unimp' | 'guest_errors' | 'int' | 'exec' | 'in_asm' | 'cpu' | 'nochain' | 'cpu_reset' | 'trace';

export interface Logger {
  enabled(cat: LogCategory): boolean;
  log(cat: LogCategory, msg: string): void;
}

/** Logger that drops everything: for unit tests and tools. */
export const SILENT: Logger = { enabled: () => false, log() {} };

