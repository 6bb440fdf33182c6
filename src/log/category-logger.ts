/** QEMU-style `-d item,...` logging to stderr or the `-D` file. */
import { appendFileSync, writeFileSync } from 'node:fs';
import type { LogCategory, Logger } from './logger.js';

export class CategoryLogger implements Logger {
  private readonly items: Set<string>;
  /** Called before each line is written (the native trace flushes its buffer, so lines stay in order). */
  beforeWrite: (() => void) | null = null;
  constructor(
    items: Iterable<string>,
    /** The -D file, or undefined for stderr. */
    readonly file?: string,
  ) {
    this.items = new Set(items);
    if (file) writeFileSync(file, '');
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
