/**
 * The GDB stub at the protocol level, as a misbehaving or minimal client would drive it: framing,
 * bad checksums, garbage, unknown packets, unmapped memory, the target description and memory
 * map, one debugger at a time, and the process under -gdb/-S.
 */
import { describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSystem } from '../../src/index.js';
import { RspDecoder, checksum, encode, escapeBinary, unescapeBinary } from '../../src/system/gdb/rsp.js';
import { CMEMU, firmwarePath } from '../support/run-cmemu.js';

/** A raw RSP client: send a packet, read the next reply (acks skipped). */
class Raw {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (d) => {
      this.buf += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(target: { port?: number; path?: string }): Promise<Raw> {
    const s = target.path ? connect(target.path) : connect(target.port!, '127.0.0.1');
    await new Promise<void>((r, j) => s.once('connect', () => r()).once('error', j));
    return new Raw(s);
  }
  write(raw: string | Buffer): void {
    this.sock.write(raw);
  }
  send(payload: string): void {
    this.sock.write(encode(payload));
  }
  /** The next thing the stub sent that is not an ack: a packet's payload, or '-' for a NAK. */
  async next(timeoutMs = 5000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      this.buf = this.buf.replace(/^\+*/, '');
      if (this.buf.startsWith('-')) {
        this.buf = this.buf.slice(1);
        return '-';
      }
      const m = /^\$([^#]*)#([0-9a-f]{2})/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        expect(parseInt(m[2]!, 16)).toBe(checksum(Buffer.from(m[1]!, 'latin1')));
        return m[1]!;
      }
      if (this.closed) throw new Error('connection closed');
      if (Date.now() > end) throw new Error(`no reply (buffer: ${JSON.stringify(this.buf)})`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  async ask(payload: string): Promise<string> {
    this.send(payload);
    return this.next();
  }
  close(): void {
    this.sock.destroy();
  }
}

describe('RSP framing', () => {
  it('decodes packets split anywhere, acks, the interrupt byte and bad checksums', () => {
    const d = new RspDecoder();
    const wire = Buffer.concat([Buffer.from('+\x03'), encode('m0,4'), Buffer.from('$g#00'), encode('qSupported:xmlRegisters=arm')]);
    const events = [];
    for (let i = 0; i < wire.length; i++) events.push(...d.feed(wire.subarray(i, i + 1)));
    expect(events.map((e) => (e.kind === 'packet' || e.kind === 'bad' ? `${e.kind}:${e.data.toString()}` : e.kind))).toEqual([
      'ack',
      'interrupt',
      'packet:m0,4',
      'bad:g',
      'packet:qSupported:xmlRegisters=arm',
    ]);
  });
  it('escapes and unescapes binary data', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const e = escapeBinary(all);
    expect(e.includes(0x23) || e.includes(0x24) || e.includes(0x2a)).toBe(false);
    expect(unescapeBinary(e).equals(all)).toBe(true);
  });
  it('drops a packet that never ends instead of growing without bound', () => {
    const d = new RspDecoder();
    const ev = d.feed(Buffer.concat([Buffer.from('$'), Buffer.alloc(70 * 1024, 0x61)]));
    expect(ev).toEqual([{ kind: 'bad', data: Buffer.alloc(0) }]);
    expect(d.feed(encode('?'))).toEqual([{ kind: 'packet', data: Buffer.from('?') }]);
  });
});

describe('GDB stub protocol', () => {
  it('answers every packet kind it knows, refuses bad input with the protocol answers, and keeps serving', async () => {
    const sys = await createSystem({ board: 'lm3s6965evb', firmware: firmwarePath('lm3s6965evb', 'gdb_target'), time: { icount: 7 }, semihosting: true });
    const gdb = await sys.gdbServer({ port: 0, wait: true });
    const run = sys.run();
    const c = await Raw.open({ port: gdb.port! });
    try {
      expect(await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=arm')).toMatch(/PacketSize=[0-9a-f]+;qXfer:features:read\+;qXfer:memory-map:read\+;QStartNoAckMode\+;vContSupported\+/);
      expect(await c.ask('?')).toBe('T05thread:p1.1;');
      const xml = await c.ask('qXfer:features:read:target.xml:0,ffff');
      expect(xml.startsWith('l')).toBe(true);
      expect(xml).toContain('org.gnu.gdb.arm.m-profile');
      expect(xml).toContain('<reg name="psp" bitsize="32" regnum="18"');
      expect(await c.ask('qXfer:features:read:other.xml:0,ffff')).toBe('E00');
      const mm = await c.ask('qXfer:memory-map:read::0,ffff');
      expect(mm).toContain('<memory type="flash" start="0x0" length="0x40000">');
      expect(mm).toContain('<property name="blocksize">0x400</property>');
      expect(mm).toContain('<memory type="ram" start="0x20000000"');
      // Registers: 23 of them in 'g'; P then p round-trips; MSP is banked with SP.
      expect(await c.ask('g')).toMatch(/^[0-9a-f]{184}$/);
      expect(await c.ask('P11=f0ff0020')).toBe('OK');
      expect(await c.ask('p11')).toBe('f0ff0020');
      expect(await c.ask('pd')).toBe('f0ff0020');
      expect(await c.ask('p63')).toBe('E00');
      expect(await c.ask('Pzz=00')).toBe('E00');
      // Memory: RAM, flash, unmapped, malformed.
      expect(await c.ask('M20000000,4:78563412')).toBe('OK');
      expect(await c.ask('m20000000,4')).toBe('78563412');
      // X with escaped '#' and '$' (framed by hand: the payload is already escaped).
      const xbody = Buffer.from('X20000004,2:\x7d\x03\x7d\x04', 'latin1');
      c.write(Buffer.concat([Buffer.from('$'), xbody, Buffer.from(`#${checksum(xbody).toString(16).padStart(2, '0')}`)]));
      expect(await c.next()).toBe('OK');
      expect(await c.ask('m20000004,2')).toBe('2324');
      expect(await c.ask('mf0000000,4')).toBe('E14');
      expect(await c.ask('mzz,4')).toBe('E01');
      expect(await c.ask('M20000000,4:123')).toBe('E01');
      // Unknown packets get the empty reply; a bad checksum a NAK; garbage between packets is ignored.
      expect(await c.ask('jFooBar')).toBe('');
      expect(await c.ask('vMustReplyEmpty')).toBe('');
      c.write('$g#00');
      expect(await c.next()).toBe('-');
      c.write(Buffer.from([0x00, 0xff, 0x7d, 0x23, 0x41, 0x42, 0x0a]));
      expect(await c.ask('qC')).toBe('QCp1.1');
      expect(await c.ask('Z0,zz,2')).toBe('E01');
      expect(await c.ask('Z2,20000000,0')).toBe('E01');
      expect(await c.ask('Z9,20000000,2')).toBe('');
      expect(await c.ask('qRcmd,' + Buffer.from('icount').toString('hex'))).toMatch(/^O[0-9a-f]+$/);
      expect(await c.next()).toBe('OK');
      // No-ack mode: after its OK, no more '+'.
      expect(await c.ask('QStartNoAckMode')).toBe('OK');
      expect(await c.ask('qAttached')).toBe('1');
      // One debugger at a time: a second connection is closed at once, the first keeps working.
      const c2 = await Raw.open({ port: gdb.port! });
      await expect(c2.next(2000)).rejects.toThrow(/closed/);
      expect(await c.ask('qfThreadInfo')).toBe('mp1.1');
      // Kill ends the run.
      c.send('vKill;1');
      expect(await c.next()).toBe('OK');
      expect(await run).toMatchObject({ kind: 'exit', reason: 'killed by the debugger' });
    } finally {
      c.close();
      await sys.close();
    }
  });

  it('a debugger that disconnects without a word leaves the guest running to its end', async () => {
    const sys = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'hello'), time: { icount: 7 }, semihosting: true });
    const gdb = await sys.gdbServer({ port: 0, wait: true });
    const run = sys.run();
    const c = await Raw.open({ port: gdb.port! });
    expect(await c.ask('?')).toBe('T05thread:1;');
    c.close();
    expect(await run).toMatchObject({ kind: 'exit', code: 0 });
    expect(sys.uart(0).text()).toContain('PASS: hello');
    await sys.close();
  });

  it('serves a UNIX socket, and refuses to take over one another live server holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmemu-gdb-'));
    const path = join(dir, 'gdb.sock');
    const a = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'hello'), time: { icount: 7 }, semihosting: true });
    const b = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'hello'), time: { icount: 7 }, semihosting: true });
    try {
      await a.gdbServer({ path, wait: true });
      await expect(b.gdbServer({ path })).rejects.toThrow(/in use by another process/);
      const run = a.run();
      const c = await Raw.open({ path });
      c.send('c');
      expect(await c.next()).toBe('W00');
      expect(await run).toMatchObject({ kind: 'exit', code: 0 });
      c.close();
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bin/cmemu -gdb / -S', () => {
  it('-S waits for the debugger: nothing runs until it continues; then the guest runs and its exit reaches GDB', async () => {
    const port = 20000 + (process.pid % 20000);
    const p = spawn(CMEMU, ['-M', 'mps2-an385', '-nographic', '-kernel', firmwarePath('mps2-an385', 'hello'), '-semihosting-config', 'enable=on,target=native', '-gdb', `tcp::${port}`, '-S'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    let c: Raw | null = null;
    for (let i = 0; i < 100 && !c; i++) {
      try {
        c = await Raw.open({ port });
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(c, err).not.toBeNull();
    await new Promise((r) => setTimeout(r, 300));
    expect(out).toBe('');
    c!.send('c');
    expect(await c!.next()).toBe('W00');
    expect(await exited).toBe(0);
    expect(out).toContain('PASS: hello');
    expect(err).toBe('');
    c!.close();
  });

  it('-S without a GDB stub is a usage error, as is --wait without --gdb', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const p = spawn(CMEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d) => (err += d));
        p.on('close', (code) => resolve({ code, err }));
      });
    const a = await run(['-M', 'mps2-an385', '-nographic', '-kernel', firmwarePath('mps2-an385', 'hello'), '-S']);
    expect(a.code).toBe(2);
    expect(a.err.trim().split('\n')).toEqual([expect.stringMatching(/^cmemu: -S holds the CPU until a debugger continues it: give -s or -gdb DEV too/)]);
    const b = await run(['run', '--wait', firmwarePath('mps2-an385', 'hello')]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/--wait needs --gdb PORT/);
  });
});
