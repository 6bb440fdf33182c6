/**
 * A board's UART as a test sees it: everything the guest sent (bytes, text, lines), input to the
 * guest, and waits on text that drive the machine (see System.runUntil).
 */
export type TextPattern = string | RegExp;

function matches(p: TextPattern, s: string): boolean {
  if (typeof p === 'string') return s.includes(p);
  p.lastIndex = 0;
  return p.test(s);
}

export interface WaitOptions {
  /** Give up after this long: virtual time in icount mode, host time otherwise ('2 s', '10 ms', or ns). */
  timeout?: number | string;
}

/** What a wait drives: the system the console belongs to (or its world). */
export interface ConsoleDriver {
  runUntilCondition(cond: () => boolean, what: string, timeout: number | string | undefined, console: UartConsole): Promise<void>;
}

export class UartConsole {
  /** Everything sent, in a buffer that doubles as it fills (bytesSeen of it used). */
  private buf = new Uint8Array(4096);
  private bytesSeen = 0;
  private textCache = '';
  private textCacheBytes = 0;
  private lineBuf = '';
  private readonly doneLines: string[] = [];
  private readonly lineListeners: ((line: string) => void)[] = [];
  private readonly dataListeners: ((data: Uint8Array) => void)[] = [];
  /** Offset (in characters of text()) from which waits look for new output (see mark()). */
  private markAt = 0;
  private markLine = 0;

  constructor(
    /** 'uart0', 'uart1', ... or 'semihosting'. */
    readonly name: string,
    private readonly driver: ConsoleDriver,
    private readonly input: (data: Uint8Array) => void,
  ) {}

  /** @internal The UART sent a byte. */
  push(byte: number): void {
    if (this.bytesSeen === this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.bytesSeen++] = byte;
    const ch = String.fromCharCode(byte);
    if (ch === '\n') {
      const line = this.lineBuf.endsWith('\r') ? this.lineBuf.slice(0, -1) : this.lineBuf;
      this.lineBuf = '';
      this.doneLines.push(line);
      for (const l of this.lineListeners) l(line);
    } else this.lineBuf += ch;
    if (this.dataListeners.length) {
      const b = Uint8Array.of(byte);
      for (const l of this.dataListeners) l(b);
    }
  }

  /** Every byte the guest sent so far. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.bytesSeen);
  }

  /** Everything sent so far as text (latin1: one character per byte, as a terminal shows it). */
  text(): string {
    if (this.textCacheBytes !== this.bytesSeen) {
      const b = this.buf;
      let s = this.textCache;
      for (let i = this.textCacheBytes; i < this.bytesSeen; i += 8192) s += String.fromCharCode(...b.subarray(i, Math.min(this.bytesSeen, i + 8192)));
      this.textCache = s;
      this.textCacheBytes = this.bytesSeen;
    }
    return this.textCache;
  }

  /** Complete lines so far (without their line ends). */
  lines(): readonly string[] {
    return this.doneLines;
  }

  /** Whether the output so far (since mark(), if called) contains `p`. */
  seen(p: TextPattern): boolean {
    return matches(p, this.markAt ? this.text().slice(this.markAt) : this.text());
  }

  /** What the guest has sent since the last line end (an incomplete line), or ''. */
  partialLine(): string {
    return this.lineBuf;
  }

  /** The last `n` lines (and the incomplete one), for messages. */
  tail(n = 20): string {
    const all = [...this.doneLines.slice(-n), ...(this.lineBuf ? [this.lineBuf] : [])];
    return all.slice(-n).join('\n');
  }

  /** Waits and seen() look only at output after this point from now on. */
  mark(): void {
    this.markAt = this.text().length;
    this.markLine = this.doneLines.length;
  }

  /** Send bytes (or text) to the guest. */
  write(data: Uint8Array | string): void {
    this.input(typeof data === 'string' ? Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff) : data);
  }

  onLine(cb: (line: string) => void): () => void {
    this.lineListeners.push(cb);
    return () => this.lineListeners.splice(this.lineListeners.indexOf(cb) >>> 0, 1);
  }

  onData(cb: (data: Uint8Array) => void): () => void {
    this.dataListeners.push(cb);
    return () => this.dataListeners.splice(this.dataListeners.indexOf(cb) >>> 0, 1);
  }

  /**
   * Run until a complete line (since mark(), or since the start) matches; returns that line. Lines already printed count: a wait for a boot banner that came
   * before the call returns at once. Throws TimeoutError with the console's tail on timeout.
   */
  async waitForLine(p: TextPattern, opts: WaitOptions = {}): Promise<string> {
    const from = this.markLine;
    let found: string | null = null;
    const check = () => {
      if (found !== null) return true;
      for (let i = from; i < this.doneLines.length; i++) {
        if (matches(p, this.doneLines[i]!)) {
          found = this.doneLines[i]!;
          return true;
        }
      }
      return false;
    };
    await this.driver.runUntilCondition(check, `a line matching ${String(p)} on ${this.name}`, opts.timeout, this);
    return found!;
  }

  /** Run until the output (since mark()) contains `p` anywhere, not only in a complete line. */
  async waitFor(p: TextPattern, opts: WaitOptions = {}): Promise<void> {
    await this.driver.runUntilCondition(() => this.seen(p), `${String(p)} on ${this.name}`, opts.timeout, this);
  }
}
