/**
 * ARM semihosting (the "Angel" interface), reached through `BKPT 0xAB` in Thumb state. The run
 * loop calls `handle()` with PC already past the BKPT; the operation number is in r0, its
 * parameter (usually a pointer to an argument block of 32-bit words) in r1; the result goes to r0.
 *
 * Follows QEMU's semihosting/arm-compat-semi.c:
 *  - errno values are the host's (Linux) errno numbers, returned by SYS_ERRNO;
 *  - SYS_READ / SYS_WRITE return the number of bytes NOT transferred;
 *  - SYS_WRITEC / SYS_WRITE0 leave 0xDEADBEEF in r0 (the spec says r0 is corrupted);
 *  - SYS_OPEN of ":tt" gives stdin (mode r*), stdout (w*), stderr (a*), and
 *    ":semihosting-features" reports EXIT_EXTENDED and STDOUT_STDERR;
 *  - guest file handles start at 1;
 *  - SYS_EXIT (AArch32): r1 is the reason itself, ADP_Stopped_ApplicationExit → exit 0, anything
 *    else → exit 1; SYS_EXIT_EXTENDED: r1 → {reason, subcode}, ApplicationExit → exit(subcode);
 *  - SYS_TICKFREQ is 1 GHz and SYS_ELAPSED counts nanoseconds.
 * Differences (deliberate):
 *  - SYS_CLOCK and SYS_ELAPSED use VIRTUAL time, so icount runs stay deterministic;
 *  - reading the console never blocks: SYS_READC returns -1 and SYS_READ returns what is
 *    available (all of len = nothing read) when no input is waiting;
 *  - SYS_SYSTEM is refused (-1, errno EPERM); SYS_TMPNAM fails (-1);
 *  - an unknown operation is logged under guest_errors and returns -1 (QEMU aborts);
 *  - host file access can be switched off (`hostFiles: false` → EACCES); it is on by default, as
 *    in QEMU.
 * A bad guest pointer never crashes the emulator: the call fails with EFAULT.
 */
import { closeSync, constants as fsc, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { constants as osc } from 'node:os';
import type { Logger } from './device.js';

export interface SemihostCpu {
  /** r0..r15 */
  readReg(n: number): number;
  writeReg(n: number, v: number): void;
  /** May throw for an unmapped / inaccessible address. */
  readMem(addr: number, len: number): Uint8Array;
  /** May throw for an unmapped / read-only address. */
  writeMem(addr: number, data: Uint8Array): void;
}

export interface SemihostingOptions {
  cpu: SemihostCpu;
  stdout: (data: Uint8Array) => void;
  stderr: (data: Uint8Array) => void;
  /** The semihosting console (SYS_WRITEC, SYS_WRITE0). QEMU 7.2 sends it to its stderr; defaults to `stdout`. */
  console?: (data: Uint8Array) => void;
  /** Next input byte, or -1 when none is available right now. */
  readStdin: () => number;
  /** Virtual time. */
  clock: { nowNs(): number };
  /** Host wall-clock seconds since the Unix epoch. */
  hostTimeSec: () => number;
  /** What SYS_HEAPINFO reports. */
  heap: { base: number; limit: number; stackBase: number; stackLimit: number };
  /** What SYS_GET_CMDLINE returns. */
  cmdline: string;
  /** The guest asked to exit with this status (may throw to unwind the run loop). */
  onExit: (code: number) => void;
  logger: Logger;
  /** Allow SYS_OPEN/REMOVE/RENAME on host files (QEMU does). Default true. */
  hostFiles?: boolean;
}

export const SYS = {
  OPEN: 0x01,
  CLOSE: 0x02,
  WRITEC: 0x03,
  WRITE0: 0x04,
  WRITE: 0x05,
  READ: 0x06,
  READC: 0x07,
  ISERROR: 0x08,
  ISTTY: 0x09,
  SEEK: 0x0a,
  FLEN: 0x0c,
  TMPNAM: 0x0d,
  REMOVE: 0x0e,
  RENAME: 0x0f,
  CLOCK: 0x10,
  TIME: 0x11,
  SYSTEM: 0x12,
  ERRNO: 0x13,
  GET_CMDLINE: 0x15,
  HEAPINFO: 0x16,
  EXIT: 0x18,
  EXIT_EXTENDED: 0x20,
  ELAPSED: 0x30,
  TICKFREQ: 0x31,
} as const;

export const ADP_Stopped_ApplicationExit = 0x20026;

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(SYS).map(([k, v]) => [v, `SYS_${k}`]));

const E = {
  EPERM: osc.errno.EPERM ?? 1,
  ENOENT: osc.errno.ENOENT ?? 2,
  EIO: osc.errno.EIO ?? 5,
  E2BIG: osc.errno.E2BIG ?? 7,
  EBADF: osc.errno.EBADF ?? 9,
  EACCES: osc.errno.EACCES ?? 13,
  EFAULT: osc.errno.EFAULT ?? 14,
  EINVAL: osc.errno.EINVAL ?? 22,
  ENOTTY: osc.errno.ENOTTY ?? 25,
  ESPIPE: osc.errno.ESPIPE ?? 29,
  ENAMETOOLONG: osc.errno.ENAMETOOLONG ?? 36,
};

/** Open modes 0..11 ("r", "rb", "r+", "r+b", "w", "wb", "w+", "w+b", "a", "ab", "a+", "a+b"). */
const OPEN_FLAGS = [
  fsc.O_RDONLY,
  fsc.O_RDONLY,
  fsc.O_RDWR,
  fsc.O_RDWR,
  fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC,
  fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC,
  fsc.O_RDWR | fsc.O_CREAT | fsc.O_TRUNC,
  fsc.O_RDWR | fsc.O_CREAT | fsc.O_TRUNC,
  fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND,
  fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND,
  fsc.O_RDWR | fsc.O_CREAT | fsc.O_APPEND,
  fsc.O_RDWR | fsc.O_CREAT | fsc.O_APPEND,
];

/** ":semihosting-features": magic "SHFB", feature byte 0 = EXIT_EXTENDED | STDOUT_STDERR. */
const FEATURES = new Uint8Array([0x53, 0x48, 0x46, 0x42, 0x03]);

const MAX_PATH = 4096;
const MAX_STRING = 1 << 20;
const CHUNK = 64 * 1024;
const DEADBEEF = 0xdeadbeef;

type GuestFile =
  | { kind: 'stdin' }
  | { kind: 'stdout' }
  | { kind: 'stderr' }
  | { kind: 'static'; data: Uint8Array; pos: number }
  | { kind: 'host'; fd: number; pos: number; append: boolean; path: string };

/** A guest memory access failed. */
class BadPointer extends Error {
  constructor(readonly addr: number) {
    super(`bad guest pointer 0x${(addr >>> 0).toString(16)}`);
  }
}

/** A call failed with this errno. */
class Fail extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

function hostErrno(e: unknown): number {
  const code = (e as NodeJS.ErrnoException).code;
  const n = code ? (osc.errno as Record<string, number>)[code] : undefined;
  return n ?? E.EIO;
}

export class Semihosting {
  private readonly cpu: SemihostCpu;
  private readonly files = new Map<number, GuestFile>();
  private errno = 0;
  private readonly startNs: number;
  private readonly hostFiles: boolean;

  constructor(private readonly o: SemihostingOptions) {
    this.cpu = o.cpu;
    this.startNs = o.clock.nowNs();
    this.hostFiles = o.hostFiles ?? true;
  }

  /** The last errno (what SYS_ERRNO returns). */
  get lastErrno(): number {
    return this.errno;
  }

  /** Close every host file the guest left open (at machine exit). */
  close(): void {
    for (const f of this.files.values()) if (f.kind === 'host') this.closeHost(f);
    this.files.clear();
  }

  handle(): void {
    const op = this.cpu.readReg(0) >>> 0;
    const param = this.cpu.readReg(1) >>> 0;
    // SYS_EXIT* call onExit, which may throw to unwind the run loop: never inside a catch.
    if (op === SYS.EXIT) {
      this.o.onExit(param === ADP_Stopped_ApplicationExit ? 0 : 1);
      return;
    }
    if (op === SYS.EXIT_EXTENDED) {
      let reason: number;
      let sub: number;
      try {
        [reason, sub] = this.args(param, 2);
      } catch (e) {
        this.set(this.failure(op, e, -1));
        return;
      }
      this.o.onExit(reason === ADP_Stopped_ApplicationExit ? sub | 0 : 1);
      return;
    }
    let r: number;
    try {
      r = this.dispatch(op, param);
    } catch (e) {
      r = this.failure(op, e, -1);
    }
    this.set(r);
  }

  private set(v: number): void {
    this.cpu.writeReg(0, v >>> 0);
  }

  /** Turn an exception from a call into its result and errno. */
  private failure(op: number, e: unknown, result: number): number {
    if (e instanceof PartialTransfer) return this.failure(op, e.inner, result);
    if (e instanceof BadPointer) {
      this.errno = E.EFAULT;
      this.guestError(`${NAMES[op] ?? 'semihosting'}: ${e.message}`);
      return result;
    }
    if (e instanceof Fail) {
      this.errno = e.errno;
      return result;
    }
    if ((e as NodeJS.ErrnoException)?.code) {
      this.errno = hostErrno(e);
      return result;
    }
    throw e;
  }

  private guestError(msg: string): void {
    if (this.o.logger.enabled('guest_errors')) this.o.logger.log('guest_errors', `semihosting: ${msg}`);
  }

  // ---- guest memory -------------------------------------------------------------------------

  private read(addr: number, len: number): Uint8Array {
    if (len === 0) return new Uint8Array(0);
    if (addr + len > 0x1_0000_0000) throw new BadPointer(addr);
    try {
      return this.cpu.readMem(addr >>> 0, len);
    } catch {
      throw new BadPointer(addr);
    }
  }

  private write(addr: number, data: Uint8Array): void {
    if (data.length === 0) return;
    if (addr + data.length > 0x1_0000_0000) throw new BadPointer(addr);
    try {
      this.cpu.writeMem(addr >>> 0, data);
    } catch {
      throw new BadPointer(addr);
    }
  }

  private args(block: number, n: number): number[] {
    const b = this.read(block, 4 * n);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(dv.getUint32(4 * i, true));
    return out;
  }

  private putWord(addr: number, v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.write(addr, b);
  }

  /** A NUL-terminated string, read in small pieces (up to MAX_STRING bytes). */
  private cString(addr: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      // Stay inside the 256-byte-aligned block so a string ending just before a hole is readable.
      const n = 256 - ((addr + total) & 255);
      const piece = this.read(addr + total, n);
      const z = piece.indexOf(0);
      if (z >= 0) {
        parts.push(piece.subarray(0, z));
        return Buffer.concat(parts);
      }
      parts.push(piece);
      total += n;
      if (total >= MAX_STRING) throw new Fail(E.E2BIG);
    }
  }

  private path(ptr: number, len: number): string {
    if (len > MAX_PATH) throw new Fail(E.ENAMETOOLONG);
    const b = this.read(ptr, len);
    const z = b.indexOf(0);
    const name = Buffer.from(z >= 0 ? b.subarray(0, z) : b).toString('utf8');
    if (name === '') throw new Fail(E.ENOENT);
    return name;
  }

  // ---- files --------------------------------------------------------------------------------

  private allocFd(f: GuestFile): number {
    let fd = 1;
    while (this.files.has(fd)) fd++;
    this.files.set(fd, f);
    return fd;
  }

  private file(fd: number): GuestFile {
    const f = this.files.get(fd);
    if (!f) throw new Fail(E.EBADF);
    return f;
  }

  private closeHost(f: Extract<GuestFile, { kind: 'host' }>): void {
    try {
      closeSync(f.fd);
    } catch {
      /* already gone */
    }
  }

  private requireHostFiles(): void {
    if (!this.hostFiles) throw new Fail(E.EACCES);
  }

  // ---- dispatch -----------------------------------------------------------------------------

  private dispatch(op: number, param: number): number {
    switch (op) {
      case SYS.OPEN: {
        const [namePtr, mode, len] = this.args(param, 3);
        const name = this.path(namePtr, len);
        if (mode >= 12) throw new Fail(E.EINVAL);
        if (name === ':tt') {
          return this.allocFd(mode < 4 ? { kind: 'stdin' } : mode < 8 ? { kind: 'stdout' } : { kind: 'stderr' });
        }
        if (name === ':semihosting-features') {
          if (mode > 1) throw new Fail(E.EACCES);
          return this.allocFd({ kind: 'static', data: FEATURES, pos: 0 });
        }
        this.requireHostFiles();
        const fd = openSync(name, OPEN_FLAGS[mode], 0o644);
        return this.allocFd({ kind: 'host', fd, pos: 0, append: mode >= 8, path: name });
      }

      case SYS.CLOSE: {
        const [fd] = this.args(param, 1);
        const f = this.file(fd);
        this.files.delete(fd);
        if (f.kind === 'host') this.closeHost(f);
        return 0;
      }

      case SYS.WRITEC: {
        try {
          (this.o.console ?? this.o.stdout)(this.read(param, 1).slice());
        } catch (e) {
          this.failure(op, e, 0);
        }
        return DEADBEEF;
      }

      case SYS.WRITE0: {
        try {
          const s = this.cString(param);
          if (s.length) (this.o.console ?? this.o.stdout)(s);
        } catch (e) {
          this.failure(op, e, 0);
        }
        return DEADBEEF;
      }

      case SYS.WRITE: {
        const [fd, buf, len] = this.args(param, 3);
        let done = 0;
        try {
          done = this.writeFile(this.file(fd), buf, len);
        } catch (e) {
          this.failure(op, e, 0);
          if (e instanceof PartialTransfer) done = e.done;
        }
        return len - done;
      }

      case SYS.READ: {
        const [fd, buf, len] = this.args(param, 3);
        let done = 0;
        try {
          done = this.readFile(this.file(fd), buf, len);
        } catch (e) {
          this.failure(op, e, 0);
          if (e instanceof PartialTransfer) done = e.done;
        }
        return len - done;
      }

      case SYS.READC: {
        const c = this.o.readStdin();
        return c < 0 ? -1 : c & 0xff;
      }

      case SYS.ISERROR: {
        const [v] = this.args(param, 1);
        return (v | 0) < 0 ? 1 : 0;
      }

      case SYS.ISTTY: {
        const [fd] = this.args(param, 1);
        const f = this.file(fd);
        if (f.kind === 'stdin' || f.kind === 'stdout' || f.kind === 'stderr') return 1;
        this.errno = E.ENOTTY;
        return 0;
      }

      case SYS.SEEK: {
        const [fd, pos] = this.args(param, 2);
        const f = this.file(fd);
        if (f.kind === 'host' || f.kind === 'static') {
          if ((pos | 0) < 0) throw new Fail(E.EINVAL);
          f.pos = pos;
          return 0;
        }
        throw new Fail(E.ESPIPE);
      }

      case SYS.FLEN: {
        const [fd] = this.args(param, 1);
        const f = this.file(fd);
        if (f.kind === 'host') return fstatSync(f.fd).size;
        if (f.kind === 'static') return f.data.length;
        return 0;
      }

      case SYS.TMPNAM:
        this.args(param, 3);
        throw new Fail(E.EPERM);

      case SYS.REMOVE: {
        const [ptr, len] = this.args(param, 2);
        const p = this.path(ptr, len);
        this.requireHostFiles();
        unlinkSync(p);
        return 0;
      }

      case SYS.RENAME: {
        const [a, alen, b, blen] = this.args(param, 4);
        const from = this.path(a, alen);
        const to = this.path(b, blen);
        this.requireHostFiles();
        renameSync(from, to);
        return 0;
      }

      case SYS.CLOCK:
        return Math.floor((this.o.clock.nowNs() - this.startNs) / 10_000_000);

      case SYS.TIME:
        return Math.floor(this.o.hostTimeSec());

      case SYS.SYSTEM:
        this.args(param, 2);
        if (this.o.logger.enabled('unimp')) this.o.logger.log('unimp', 'semihosting: SYS_SYSTEM refused (host commands are not run)');
        throw new Fail(E.EPERM);

      case SYS.ERRNO:
        return this.errno;

      case SYS.GET_CMDLINE: {
        const [buf, size] = this.args(param, 2);
        const s = Buffer.from(this.o.cmdline, 'utf8');
        if (s.length + 1 > size) throw new Fail(E.E2BIG);
        this.putWord(param + 4, s.length);
        const out = new Uint8Array(s.length + 1);
        out.set(s);
        this.write(buf, out);
        return 0;
      }

      case SYS.HEAPINFO: {
        const [block] = this.args(param, 1);
        const h = this.o.heap;
        const out = new Uint8Array(16);
        const dv = new DataView(out.buffer);
        [h.base, h.limit, h.stackBase, h.stackLimit].forEach((v, i) => dv.setUint32(4 * i, v >>> 0, true));
        this.write(block, out);
        return 0;
      }

      case SYS.ELAPSED: {
        const ns = Math.max(0, this.o.clock.nowNs() - this.startNs);
        const out = new Uint8Array(8);
        new DataView(out.buffer).setBigUint64(0, BigInt(Math.floor(ns)), true);
        this.write(param, out);
        return 0;
      }

      case SYS.TICKFREQ:
        return 1_000_000_000;

      default:
        this.guestError(`unsupported call 0x${op.toString(16)} (r1=0x${param.toString(16)})`);
        this.errno = E.EINVAL;
        return -1;
    }
  }

  /** Write len bytes from guest memory at buf to f; returns the count written. */
  private writeFile(f: GuestFile, buf: number, len: number): number {
    let done = 0;
    try {
      while (done < len) {
        const n = Math.min(CHUNK, len - done);
        const data = this.read(buf + done, n);
        switch (f.kind) {
          case 'stdout':
            this.o.stdout(data.slice());
            break;
          case 'stderr':
            this.o.stderr(data.slice());
            break;
          case 'stdin':
          case 'static':
            throw new Fail(E.EBADF);
          case 'host': {
            let off = 0;
            while (off < n) {
              const w = writeSync(f.fd, data, off, n - off, f.append ? null : f.pos);
              off += w;
              if (!f.append) f.pos += w;
            }
            if (f.append) f.pos = fstatSync(f.fd).size;
            break;
          }
        }
        done += n;
      }
    } catch (e) {
      if (done === 0) throw e;
      throw new PartialTransfer(done, e);
    }
    return done;
  }

  /** Read up to len bytes from f into guest memory at buf; returns the count read (0 = EOF). */
  private readFile(f: GuestFile, buf: number, len: number): number {
    let done = 0;
    try {
      switch (f.kind) {
        case 'stdout':
        case 'stderr':
          throw new Fail(E.EBADF);
        case 'stdin': {
          const got: number[] = [];
          while (got.length < len) {
            const c = this.o.readStdin();
            if (c < 0) break;
            got.push(c & 0xff);
          }
          this.write(buf, new Uint8Array(got));
          done = got.length;
          break;
        }
        case 'static': {
          const part = f.data.subarray(Math.min(f.pos, f.data.length), Math.min(f.pos + len, f.data.length));
          this.write(buf, part);
          f.pos += part.length;
          done = part.length;
          break;
        }
        case 'host': {
          while (done < len) {
            const n = Math.min(CHUNK, len - done);
            const tmp = new Uint8Array(n);
            const got = readSync(f.fd, tmp, 0, n, f.pos);
            if (got === 0) break;
            this.write(buf + done, tmp.subarray(0, got));
            f.pos += got;
            done += got;
            if (got < n) break;
          }
          break;
        }
      }
    } catch (e) {
      if (done === 0) throw e;
      throw new PartialTransfer(done, e);
    }
    return done;
  }
}

/** Some bytes moved before an error: the result still counts them. */
class PartialTransfer extends Error {
  constructor(
    readonly done: number,
    readonly inner: unknown,
  ) {
    super('partial transfer');
  }
}
