/**
 * The logger every layer may use (the CPU and the devices log through it), with QEMU's `-d`
 * categories. Where lines go is the host's choice (category-logger.ts: stderr or the -D file).
 */
/** Logging categories, as QEMU's `-d` items. */
export type LogCategory = 'unimp' | 'guest_errors' | 'int' | 'exec' | 'in_asm' | 'cpu' | 'nochain' | 'cpu_reset' | 'trace';

export interface Logger {
  enabled(cat: LogCategory): boolean;
  log(cat: LogCategory, msg: string): void;
  /** QEMU-style trace events (`-d trace:PATTERN`, `-trace PATTERN`): whether `event` is on. */
  traceEnabled?(event: string): boolean;
}

/** The trace events cmemu emits (`-d trace:help`), with what each says. */
export const TRACE_EVENTS: readonly { name: string; help: string }[] = [
  { name: 'ivshmem_flat_interrupt_peer', help: 'a doorbell out: the guest rang peer P, vector V' },
  { name: 'ivshmem_flat_interrupt_invalid_peer', help: 'a doorbell to a peer or vector that does not exist (dropped)' },
  { name: 'ivshmem_flat_irq_handler', help: 'a doorbell in: own vector V fired (its eventfd, or a self-notification)' },
  { name: 'ivshmem_flat_intrstatus', help: 'INTRSTATUS (or INTRSTATUS_HI) changed: old and new value, and why' },
  { name: 'ivshmem_flat_peer_joined', help: 'the server announced a new peer' },
  { name: 'ivshmem_flat_peer_left', help: 'a peer left (its connection closed)' },
  { name: 'ivshmem_flat_server_gone', help: 'the connection to the ivshmem server closed' },
];

/** A glob (`*`, `?`) as QEMU's trace patterns use, to a RegExp. */
export function traceGlob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/** Logger that drops everything: for unit tests and tools. */
export const SILENT: Logger = { enabled: () => false, log() {} };

