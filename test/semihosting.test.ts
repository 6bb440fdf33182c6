import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osc, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { LogCategory, Logger } from '../src/devices/device.js';
import { ADP_Stopped_ApplicationExit, SYS, Semihosting, type SemihostCpu, type SemihostingOptions } from '../src/devices/semihosting.js';

const RAM = 0x2000_0000;
const RAM_SIZE = 0x1_0000;
const ROM = 0x0000_0000; // read-only window of 0x1000 bytes

class FakeCpu implements SemihostCpu {
  regs = new Array<number>(16).fill(0);
  mem = new Uint8Array(RAM_SIZE);
  rom = new Uint8Array(0x1000);
  readReg(n: number): number {
    return this.regs[n] >>> 0;
  }
  writeReg(n: number, v: number): void {
    this.regs[n] = v >>> 0;
  }
  private locate(addr: number, len: number, write: boolean): [Uint8Array, number] {
    if (addr >= RAM && addr + len <= RAM + RAM_SIZE) return [this.mem, addr - RAM];
    if (!write && addr >= ROM && addr + len <= ROM + this.rom.length) return [this.rom, addr - ROM];
    throw new Error(`bus fault at 0x${addr.toString(16)}`);
  }
  readMem(addr: number, len: number): Uint8Array {
    const [m, o] = this.locate(addr, len, false);
    return m.slice(o, o + len);
  }
  writeMem(addr: number, data: Uint8Array): void {
    const [m, o] = this.locate(addr, data.length, true);
    m.set(data, o);
  }
  // helpers
  put(addr: number, data: Uint8Array | string): void {
    this.writeMem(addr, typeof data === 'string' ? new Uint8Array(Buffer.from(data, 'utf8')) : data);
  }
  words(addr: number, ...w: number[]): number {
    const b = new Uint8Array(4 * w.length);
    const dv = new DataView(b.buffer);
    w.forEach((v, i) => dv.setUint32(4 * i, v >>> 0, true));
    this.writeMem(addr, b);
    return addr;
  }
  word(addr: number): number {
    return new DataView(this.readMem(addr, 4).buffer).getUint32(0, true);
  }
  str(addr: number, len: number): string {
    return Buffer.from(this.readMem(addr, len)).toString('latin1');
  }
}

class TestLogger implements Logger {
  lines: string[] = [];
  enabled(_cat: LogCategory): boolean {
    return true;
  }
  log(cat: LogCategory, msg: string): void {
    this.lines.push(`${cat}: ${msg}`);
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-semi-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let cpu: FakeCpu;
let out: string;
let err: string;
let stdin: number[];
let nowNs: number;
let exits: number[];
let logger: TestLogger;
let sh: Semihosting;

function make(over: Partial<SemihostingOptions> = {}): Semihosting {
  return new Semihosting({
    cpu,
    stdout: (d) => (out += Buffer.from(d).toString('latin1')),
    stderr: (d) => (err += Buffer.from(d).toString('latin1')),
    readStdin: () => (stdin.length ? stdin.shift()! : -1),
    clock: { nowNs: () => nowNs },
    hostTimeSec: () => 1_700_000_000.75,
    heap: { base: 0x2000_8000, limit: 0x2000_c000, stackBase: 0x2001_0000, stackLimit: 0x2000_c000 },
    cmdline: 'prog a b',
    onExit: (c) => exits.push(c),
    logger,
    ...over,
  });
}

beforeEach(() => {
  cpu = new FakeCpu();
  out = '';
  err = '';
  stdin = [];
  nowNs = 5_000_000;
  exits = [];
  logger = new TestLogger();
  sh = make();
});

const BLOCK = RAM + 0x100; // argument blocks
const BUF = RAM + 0x1000; // data
const BAD = 0x9000_0000; // unmapped

/** Run one call; returns r0 as a signed 32-bit number. */
function call(op: number, r1: number, s: Semihosting = sh): number {
  cpu.regs[0] = op;
  cpu.regs[1] = r1 >>> 0;
  s.handle();
  return cpu.regs[0] | 0;
}
function errno(): number {
  return call(SYS.ERRNO, 0);
}
function open(name: string, mode: number): number {
  cpu.put(BUF + 0x800, name + '\0');
  return call(SYS.OPEN, cpu.words(BLOCK, BUF + 0x800, mode, Buffer.byteLength(name)));
}

describe('console output', () => {
  it('SYS_WRITEC writes one byte, r0 corrupted (0xDEADBEEF)', () => {
    cpu.put(BUF, 'Z');
    expect(call(SYS.WRITEC, BUF) >>> 0).toBe(0xdeadbeef);
    expect(out).toBe('Z');
  });
  it('SYS_WRITE0 writes a NUL-terminated string', () => {
    cpu.put(BUF, 'hello, world\n\0junk');
    expect(call(SYS.WRITE0, BUF) >>> 0).toBe(0xdeadbeef);
    expect(out).toBe('hello, world\n');
  });
  it('SYS_WRITE0 reads strings longer than one block, across a 256-byte boundary', () => {
    const s = 'x'.repeat(700);
    cpu.put(BUF + 0xf0, s + '\0');
    call(SYS.WRITE0, BUF + 0xf0);
    expect(out).toBe(s);
  });
  it('SYS_WRITE0 of a string that ends right before unmapped memory', () => {
    const end = RAM + RAM_SIZE;
    cpu.put(end - 3, 'ok\0');
    call(SYS.WRITE0, end - 3);
    expect(out).toBe('ok');
  });
  it('bad pointers: EFAULT, nothing written, no crash, logged under guest_errors', () => {
    expect(call(SYS.WRITEC, BAD) >>> 0).toBe(0xdeadbeef);
    expect(errno()).toBe(osc.errno.EFAULT);
    expect(call(SYS.WRITE0, BAD) >>> 0).toBe(0xdeadbeef);
    // runs off the end of RAM without a NUL
    cpu.mem.fill(0x41, RAM_SIZE - 16);
    expect(call(SYS.WRITE0, RAM + RAM_SIZE - 16) >>> 0).toBe(0xdeadbeef);
    expect(out).toBe('');
    expect(logger.lines).toContain('guest_errors: semihosting: SYS_WRITEC: bad guest pointer 0x90000000');
  });
});

describe(':tt and file handles', () => {
  it('opens :tt for read (stdin), write (stdout), append (stderr), handles start at 1', () => {
    const i = open(':tt', 0);
    const o = open(':tt', 4);
    const e = open(':tt', 8);
    expect([i, o, e]).toEqual([1, 2, 3]);
    cpu.put(BUF, 'to out');
    expect(call(SYS.WRITE, cpu.words(BLOCK, o, BUF, 6))).toBe(0);
    cpu.put(BUF, 'to err');
    expect(call(SYS.WRITE, cpu.words(BLOCK, e, BUF, 6))).toBe(0);
    expect(out).toBe('to out');
    expect(err).toBe('to err');
    expect(call(SYS.ISTTY, cpu.words(BLOCK, o))).toBe(1);
    expect(call(SYS.ISTTY, cpu.words(BLOCK, i))).toBe(1);
    // reading stdin: what is available; nothing = all of len left (EOF-like)
    stdin.push(...Buffer.from('abc'));
    expect(call(SYS.READ, cpu.words(BLOCK, i, BUF, 10))).toBe(7);
    expect(cpu.str(BUF, 3)).toBe('abc');
    expect(call(SYS.READ, cpu.words(BLOCK, i, BUF, 10))).toBe(10);
    stdin.push(...Buffer.from('xyz'));
    expect(call(SYS.READ, cpu.words(BLOCK, i, BUF, 2))).toBe(0);
    expect(cpu.str(BUF, 2)).toBe('xy');
    // freed handles are reused
    expect(call(SYS.CLOSE, cpu.words(BLOCK, o))).toBe(0);
    expect(open(':tt', 5)).toBe(2);
  });
  it('writes to stdin / reads from stdout fail with EBADF (nothing transferred)', () => {
    const i = open(':tt', 0);
    const o = open(':tt', 4);
    expect(call(SYS.WRITE, cpu.words(BLOCK, i, BUF, 4))).toBe(4);
    expect(errno()).toBe(osc.errno.EBADF);
    expect(call(SYS.READ, cpu.words(BLOCK, o, BUF, 4))).toBe(4);
    expect(errno()).toBe(osc.errno.EBADF);
  });
  it('bad handles', () => {
    expect(call(SYS.CLOSE, cpu.words(BLOCK, 42))).toBe(-1);
    expect(errno()).toBe(osc.errno.EBADF);
    expect(call(SYS.WRITE, cpu.words(BLOCK, 42, BUF, 5))).toBe(5);
    expect(call(SYS.READ, cpu.words(BLOCK, 42, BUF, 5))).toBe(5);
    expect(call(SYS.ISTTY, cpu.words(BLOCK, 42))).toBe(-1);
    expect(call(SYS.SEEK, cpu.words(BLOCK, 42, 0))).toBe(-1);
    expect(call(SYS.FLEN, cpu.words(BLOCK, 42))).toBe(-1);
    expect(errno()).toBe(osc.errno.EBADF);
  });
  it('bad open mode', () => {
    expect(open(':tt', 12)).toBe(-1);
    expect(errno()).toBe(osc.errno.EINVAL);
  });
  it('seek on the console is ESPIPE', () => {
    const o = open(':tt', 4);
    expect(call(SYS.SEEK, cpu.words(BLOCK, o, 0))).toBe(-1);
    expect(errno()).toBe(osc.errno.ESPIPE);
  });
  it(':semihosting-features', () => {
    const f = open(':semihosting-features', 0);
    expect(f).toBe(1);
    expect(call(SYS.FLEN, cpu.words(BLOCK, f))).toBe(5);
    expect(call(SYS.ISTTY, cpu.words(BLOCK, f))).toBe(0);
    expect(call(SYS.READ, cpu.words(BLOCK, f, BUF, 16))).toBe(11);
    expect([...cpu.readMem(BUF, 5)]).toEqual([0x53, 0x48, 0x46, 0x42, 0x03]);
    expect(call(SYS.SEEK, cpu.words(BLOCK, f, 4))).toBe(0);
    expect(call(SYS.READ, cpu.words(BLOCK, f, BUF, 1))).toBe(0);
    expect(cpu.mem[BUF - RAM]).toBe(0x03);
    expect(call(SYS.READ, cpu.words(BLOCK, f, BUF, 1))).toBe(1);
    expect(open(':semihosting-features', 4)).toBe(-1);
    expect(errno()).toBe(osc.errno.EACCES);
  });
});

describe('host files', () => {
  it('write, seek, read back, flen, close', () => {
    const p = join(tmp, 'f1.txt');
    const fd = open(p, 6); // w+
    expect(fd).toBeGreaterThan(0);
    cpu.put(BUF, 'hello semihosting');
    expect(call(SYS.WRITE, cpu.words(BLOCK, fd, BUF, 17))).toBe(0);
    expect(call(SYS.FLEN, cpu.words(BLOCK, fd))).toBe(17);
    expect(call(SYS.ISTTY, cpu.words(BLOCK, fd))).toBe(0);
    expect(errno()).toBe(osc.errno.ENOTTY);
    expect(call(SYS.SEEK, cpu.words(BLOCK, fd, 6))).toBe(0);
    expect(call(SYS.READ, cpu.words(BLOCK, fd, BUF + 0x100, 100))).toBe(100 - 11);
    expect(cpu.str(BUF + 0x100, 11)).toBe('semihosting');
    expect(call(SYS.READ, cpu.words(BLOCK, fd, BUF + 0x100, 4))).toBe(4); // EOF
    expect(call(SYS.CLOSE, cpu.words(BLOCK, fd))).toBe(0);
    expect(readFileSync(p, 'latin1')).toBe('hello semihosting');
  });
  it('mode w truncates, mode a appends, mode r reads', () => {
    const p = join(tmp, 'f2.txt');
    writeFileSync(p, 'old old old');
    let fd = open(p, 4);
    cpu.put(BUF, 'new');
    call(SYS.WRITE, cpu.words(BLOCK, fd, BUF, 3));
    call(SYS.CLOSE, cpu.words(BLOCK, fd));
    expect(readFileSync(p, 'latin1')).toBe('new');
    fd = open(p, 8);
    cpu.put(BUF, '+more');
    call(SYS.WRITE, cpu.words(BLOCK, fd, BUF, 5));
    call(SYS.CLOSE, cpu.words(BLOCK, fd));
    expect(readFileSync(p, 'latin1')).toBe('new+more');
    fd = open(p, 1);
    expect(call(SYS.READ, cpu.words(BLOCK, fd, BUF, 8))).toBe(0);
    expect(cpu.str(BUF, 8)).toBe('new+more');
    // read-only: writing fails, nothing written
    expect(call(SYS.WRITE, cpu.words(BLOCK, fd, BUF, 2))).toBe(2);
    expect(errno()).toBe(osc.errno.EBADF);
    call(SYS.CLOSE, cpu.words(BLOCK, fd));
  });
  it('a large transfer (more than one internal chunk)', () => {
    const p = join(tmp, 'big.bin');
    const fd = open(p, 6);
    for (let i = 0; i < 0x9000; i++) cpu.mem[0x2000 + i] = i & 0xff;
    expect(call(SYS.WRITE, cpu.words(BLOCK, fd, RAM + 0x2000, 0x9000))).toBe(0);
    expect(readFileSync(p).length).toBe(0x9000);
    call(SYS.SEEK, cpu.words(BLOCK, fd, 0));
    cpu.mem.fill(0, 0x2000, 0x2000 + 0x9000);
    expect(call(SYS.READ, cpu.words(BLOCK, fd, RAM + 0x2000, 0x9000))).toBe(0);
    expect(cpu.mem[0x2000 + 0x8fff]).toBe(0xff);
    call(SYS.CLOSE, cpu.words(BLOCK, fd));
  });
  it('a read into unmapped memory: EFAULT, nothing transferred', () => {
    const p = join(tmp, 'f3.txt');
    writeFileSync(p, 'data');
    const fd = open(p, 0);
    expect(call(SYS.READ, cpu.words(BLOCK, fd, BAD, 4))).toBe(4);
    expect(errno()).toBe(osc.errno.EFAULT);
    // and into read-only memory
    expect(call(SYS.READ, cpu.words(BLOCK, fd, 0x10, 4))).toBe(4);
    expect(call(SYS.WRITE, cpu.words(BLOCK, 2, BAD, 4))).toBe(4);
    call(SYS.CLOSE, cpu.words(BLOCK, fd));
  });
  it('a write whose buffer runs into unmapped memory counts the bytes written', () => {
    const p = join(tmp, 'f4.txt');
    const fd = open(p, 4);
    const start = RAM + RAM_SIZE - 0x10000; // chunk 1 mapped (64 KiB), chunk 2 not
    cpu.mem.fill(0x61, 0, 0x10000);
    expect(call(SYS.WRITE, cpu.words(BLOCK, fd, start, 0x10010))).toBe(0x10);
    expect(errno()).toBe(osc.errno.EFAULT);
    expect(readFileSync(p).length).toBe(0x10000);
    call(SYS.CLOSE, cpu.words(BLOCK, fd));
  });
  it('open errors carry the host errno', () => {
    expect(open(join(tmp, 'missing', 'x'), 0)).toBe(-1);
    expect(errno()).toBe(osc.errno.ENOENT);
  });
  it('remove and rename', () => {
    const a = join(tmp, 'ra.txt');
    const b = join(tmp, 'rb.txt');
    writeFileSync(a, 'x');
    cpu.put(BUF, a);
    cpu.put(BUF + 0x200, b);
    expect(call(SYS.RENAME, cpu.words(BLOCK, BUF, a.length, BUF + 0x200, b.length))).toBe(0);
    expect(existsSync(a)).toBe(false);
    expect(existsSync(b)).toBe(true);
    expect(call(SYS.REMOVE, cpu.words(BLOCK, BUF + 0x200, b.length))).toBe(0);
    expect(existsSync(b)).toBe(false);
    expect(call(SYS.REMOVE, cpu.words(BLOCK, BUF + 0x200, b.length))).toBe(-1);
    expect(errno()).toBe(osc.errno.ENOENT);
  });
  it('hostFiles: false refuses host files with EACCES, :tt still works', () => {
    sh = make({ hostFiles: false });
    const p = join(tmp, 'denied.txt');
    expect(open(p, 4)).toBe(-1);
    expect(errno()).toBe(osc.errno.EACCES);
    expect(existsSync(p)).toBe(false);
    writeFileSync(p, 'keep');
    cpu.put(BUF, p);
    expect(call(SYS.REMOVE, cpu.words(BLOCK, BUF, p.length))).toBe(-1);
    expect(existsSync(p)).toBe(true);
    expect(open(':tt', 4)).toBe(1);
  });
  it('close() releases host files left open', () => {
    const fd = open(join(tmp, 'left.txt'), 4);
    expect(fd).toBe(1);
    sh.close();
    expect(call(SYS.CLOSE, cpu.words(BLOCK, fd))).toBe(-1);
  });
});

describe('misc calls', () => {
  it('SYS_READC', () => {
    stdin.push(0x41);
    expect(call(SYS.READC, 0)).toBe(0x41);
    expect(call(SYS.READC, 0)).toBe(-1);
  });
  it('SYS_ISERROR', () => {
    expect(call(SYS.ISERROR, cpu.words(BLOCK, 0xffffffff))).toBe(1);
    expect(call(SYS.ISERROR, cpu.words(BLOCK, 0))).toBe(0);
    expect(call(SYS.ISERROR, cpu.words(BLOCK, 0x7fffffff))).toBe(0);
  });
  it('SYS_CLOCK: centiseconds of virtual time since start', () => {
    expect(call(SYS.CLOCK, 0)).toBe(0);
    nowNs += 1_234_000_000;
    expect(call(SYS.CLOCK, 0)).toBe(123);
  });
  it('SYS_TIME: host seconds', () => {
    expect(call(SYS.TIME, 0)).toBe(1_700_000_000);
  });
  it('SYS_ELAPSED and SYS_TICKFREQ', () => {
    expect(call(SYS.TICKFREQ, 0)).toBe(1_000_000_000);
    nowNs += 0x1_2345_6789;
    expect(call(SYS.ELAPSED, BLOCK)).toBe(0);
    expect(cpu.word(BLOCK)).toBe(0x2345_6789);
    expect(cpu.word(BLOCK + 4)).toBe(1);
    expect(call(SYS.ELAPSED, BAD)).toBe(-1);
    expect(errno()).toBe(osc.errno.EFAULT);
  });
  it('SYS_SYSTEM is refused', () => {
    cpu.put(BUF, 'rm -rf /');
    expect(call(SYS.SYSTEM, cpu.words(BLOCK, BUF, 8))).toBe(-1);
    expect(errno()).toBe(osc.errno.EPERM);
    expect(logger.lines).toContain('unimp: semihosting: SYS_SYSTEM refused (host commands are not run)');
  });
  it('SYS_TMPNAM fails', () => {
    expect(call(SYS.TMPNAM, cpu.words(BLOCK, BUF, 1, 64))).toBe(-1);
  });
  it('SYS_GET_CMDLINE', () => {
    expect(call(SYS.GET_CMDLINE, cpu.words(BLOCK, BUF, 64))).toBe(0);
    expect(cpu.word(BLOCK + 4)).toBe(8);
    expect(cpu.str(BUF, 9)).toBe('prog a b\0');
    // too small: E2BIG, nothing written
    cpu.mem.fill(0xee, BUF - RAM, BUF - RAM + 16);
    expect(call(SYS.GET_CMDLINE, cpu.words(BLOCK, BUF, 8))).toBe(-1);
    expect(errno()).toBe(osc.errno.E2BIG);
    expect(cpu.mem[BUF - RAM]).toBe(0xee);
    expect(call(SYS.GET_CMDLINE, cpu.words(BLOCK, BAD, 64))).toBe(-1);
    expect(errno()).toBe(osc.errno.EFAULT);
  });
  it('SYS_HEAPINFO: r1 points to a pointer to the 4-word block', () => {
    cpu.words(BLOCK, BUF);
    expect(call(SYS.HEAPINFO, BLOCK)).toBe(0);
    expect([cpu.word(BUF), cpu.word(BUF + 4), cpu.word(BUF + 8), cpu.word(BUF + 12)]).toEqual([0x2000_8000, 0x2000_c000, 0x2001_0000, 0x2000_c000]);
    cpu.words(BLOCK, BAD);
    expect(call(SYS.HEAPINFO, BLOCK)).toBe(-1);
  });
  it('argument blocks at bad addresses fail with -1/EFAULT for every call that has one', () => {
    for (const op of [SYS.OPEN, SYS.CLOSE, SYS.WRITE, SYS.READ, SYS.ISERROR, SYS.ISTTY, SYS.SEEK, SYS.FLEN, SYS.REMOVE, SYS.RENAME, SYS.GET_CMDLINE, SYS.HEAPINFO]) {
      expect(call(op, BAD), `op 0x${op.toString(16)}`).toBe(-1);
      expect(errno()).toBe(osc.errno.EFAULT);
    }
    expect(call(SYS.WRITE, 0xffff_fffe)).toBe(-1); // block wraps past 4 GiB
  });
  it('a file name is cut at its NUL; an empty one is ENOENT', () => {
    const p = join(tmp, 'nul.txt');
    cpu.put(BUF, p + '\0garbage');
    const fd = call(SYS.OPEN, cpu.words(BLOCK, BUF, 4, p.length + 8));
    expect(fd).toBe(1);
    expect(existsSync(p)).toBe(true);
    cpu.put(BUF, '\0');
    expect(call(SYS.OPEN, cpu.words(BLOCK, BUF, 0, 0))).toBe(-1);
    expect(errno()).toBe(osc.errno.ENOENT);
  });
  it('an over-long file name is ENAMETOOLONG', () => {
    expect(call(SYS.OPEN, cpu.words(BLOCK, BUF, 0, 100_000))).toBe(-1);
    expect(errno()).toBe(osc.errno.ENAMETOOLONG);
  });
  it('unknown calls log under guest_errors and return -1', () => {
    expect(call(0x99, 0x1234)).toBe(-1);
    expect(logger.lines).toContain('guest_errors: semihosting: unsupported call 0x99 (r1=0x1234)');
    expect(call(0x19, 0)).toBe(-1); // SYS_SYNCCACHE: A64 only
  });
  it('a CPU error that is not a memory access still propagates', () => {
    const bad = make({ readStdin: () => { throw new TypeError('bug'); } });
    cpu.regs[0] = SYS.READC;
    expect(() => bad.handle()).toThrow(TypeError);
  });
});

describe('exit', () => {
  it('SYS_EXIT (AArch32): r1 is the reason; ApplicationExit → 0, anything else → 1', () => {
    cpu.regs[0] = SYS.EXIT;
    cpu.regs[1] = ADP_Stopped_ApplicationExit;
    sh.handle();
    cpu.regs[0] = SYS.EXIT;
    cpu.regs[1] = 0x20023; // ADP_Stopped_RunTimeErrorUnknown
    sh.handle();
    cpu.regs[0] = SYS.EXIT;
    cpu.regs[1] = 0;
    sh.handle();
    expect(exits).toEqual([0, 1, 1]);
  });
  it('SYS_EXIT_EXTENDED: r1 → {reason, subcode}', () => {
    cpu.regs[0] = SYS.EXIT_EXTENDED;
    cpu.regs[1] = cpu.words(BLOCK, ADP_Stopped_ApplicationExit, 3);
    sh.handle();
    cpu.regs[0] = SYS.EXIT_EXTENDED;
    cpu.regs[1] = cpu.words(BLOCK, 0x20023, 3);
    sh.handle();
    cpu.regs[0] = SYS.EXIT_EXTENDED;
    cpu.regs[1] = cpu.words(BLOCK, ADP_Stopped_ApplicationExit, 0xffffffff);
    sh.handle();
    expect(exits).toEqual([3, 1, -1]);
  });
  it('SYS_EXIT_EXTENDED with a bad block does not exit', () => {
    expect(call(SYS.EXIT_EXTENDED, BAD)).toBe(-1);
    expect(exits).toEqual([]);
    expect(errno()).toBe(osc.errno.EFAULT);
  });
  it('onExit may throw to unwind the caller (the machine does)', () => {
    class GuestExit extends Error {}
    const s = make({
      onExit: (c) => {
        throw new GuestExit(String(c));
      },
    });
    cpu.regs[0] = SYS.EXIT;
    cpu.regs[1] = ADP_Stopped_ApplicationExit;
    expect(() => s.handle()).toThrow(GuestExit);
    cpu.regs[0] = SYS.EXIT_EXTENDED;
    cpu.regs[1] = cpu.words(BLOCK, ADP_Stopped_ApplicationExit, 7);
    expect(() => s.handle()).toThrow('7');
  });
});
