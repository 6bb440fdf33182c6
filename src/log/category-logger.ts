/** QEMU-style `-d item,...` logging to stderr or the `-D` file. */
import { appendFileSync, writeFileSync } from 'node:fs';
import { type LogCategory, type Logger, traceGlob } from './logger.js';

export class CategoryLogger implements Logger {
  private readonly items: Set<string>;
  /** Called before each line is written (the native trace flushes its buffer, so lines stay in order). */
  beforeWrite: (() => void) | null = null;
  private readonly events: RegExp[];
  private readonly eventCache = new Map<string, boolean>();
  constructor(
    items: Iterable<string>,
    /** The -D file, or undefined for stderr. */
    readonly file?: string,
    /** Trace event patterns (`ivshmem*`; a leading `-` turns matching events off again). */
    events: readonly string[] = [],
  ) {
    this.items = new Set(items);
    this.events = [];
    this.eventOff = [];
    for (const e of events) (e.startsWith('-') ? this.eventOff : this.events).push(traceGlob(e.replace(/^-/, '')));
    if (file) writeFileSync(file, '');
  }
  private readonly eventOff: RegExp[];
  traceEnabled(event: string): boolean {
    let on = this.eventCache.get(event);
    if (on === undefined) {
      on = this.events.some((r) => r.test(event)) && !this.eventOff.some((r) => r.test(event));
      this.eventCache.set(event, on);
    }
    return on;
  }
  enabled(cat: LogCategory): boolean {
    return this.items.has(cat);
  }
  log(_cat: LogCategory, msg: string): void {
    const line = msg.endsWith('\n') ? msg : msg + '\n';
    this.beforeWrite?.();
    if (this.file) appendFileSync(this.file, line);
    else process.stderr.write(line);
  }
}
