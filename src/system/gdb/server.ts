/**
 * A GDB remote stub for one System: TCP or a UNIX socket, one debugger at a time.
 *
 * The stub does not run the system; whoever runs it (sys.run(), a runUntil, the CLI) does, and
 * the stub holds it: while the debugger has it halted, every run of the system waits (virtual
 * time stands still; in real time the halt is hidden from the guest), and stops that belong to
 * the debugger (its breakpoints, watchpoints, steps, Ctrl-C) halt it and are reported to GDB.
 * A debugger that detaches or disconnects leaves the guest running, as QEMU does.
 */
import * as net from 'node:net';
import { existsSync, rmSync, statSync } from 'node:fs';
import type { FinalOutcome } from '../../machine/machine.js';
import type { DebugControl, DebugStop } from '../debug.js';
import type { System } from '../system.js';
import { UsageError } from '../errors.js';
import { RspDecoder, encode, fromHex, le32Hex, parseHexNum, toHex, unescapeBinary } from './rsp.js';
import { FLASH_BLOCK, GDB_REGISTERS, memoryMapXml, targetXml } from './target.js';

export interface GdbServerOptions {
  /** TCP port (0: any free port; see `port` once listening). Default 1234 unless `path` is given. */
  port?: number;
  /** TCP address to bind. Default 127.0.0.1 (QEMU binds every interface; give '0.0.0.0' for that). */
  host?: string;
  /** A UNIX socket path instead of TCP. */
  path?: string;
  /** Hold the system halted until a debugger connects and continues it (QEMU's -S). */
  wait?: boolean;
}

type BpKind = 'sw' | 'hw';
const WATCH_REPLY: Record<'write' | 'read' | 'access', string> = { write: 'watch', read: 'rwatch', access: 'awatch' };
/**
 * At most this many breakpoints and watchpoints each (QEMU sets no limit; each point is one hook,
 * and Unicorn walks its hook list while translating and on every hooked access). More get E28.
 */
const MAX_POINTS = 1024;

class Session {
  readonly decoder = new RspDecoder();
  noAck = false;
  /** GDB's multiprocess extensions (thread ids as pPID.TID). */
  multiprocess = false;
  lastSent: Buffer | null = null;
  /** It has sent something (a debugger, not a probe). */
  attached = false;
  /** A continue or step is in flight: the next halt is reported. */
  waitingStop = false;

  constructor(readonly sock: net.Socket) {}

  get tid(): string {
    return this.multiprocess ? 'p1.1' : '1';
  }

  send(payload: string | Buffer): void {
    const pkt = encode(payload);
    this.lastSent = pkt;
    if (!this.sock.destroyed) this.sock.write(pkt);
  }
}

export class GdbServer {
  /** The TCP port listened on (null for a UNIX socket). */
  readonly port: number | null;
  readonly host: string | null;
  readonly path: string | null;

  private session: Session | null = null;
  private killed = false;
  /** The next halt answers a Ctrl-C (SIGINT) rather than an attach (SIGTRAP). */
  private interrupting = false;
  private lastReply = 'T05';
  private readonly bpKinds = new Map<number, BpKind>();
  private closed = false;
  private readonly server: net.Server;
  private readonly ctl: DebugControl;
  private readonly unsubs: (() => void)[] = [];

  private constructor(
    private readonly sys: System,
    server: net.Server,
    opts: GdbServerOptions,
  ) {
    this.server = server;
    this.ctl = sys.debug;
    const a = server.address();
    if (a && typeof a === 'object') {
      this.port = a.port;
      this.host = a.address;
      this.path = null;
    } else {
      this.port = null;
      this.host = null;
      this.path = opts.path ?? null;
    }
    if (opts.wait === true) this.ctl.holdAtStart();
    this.unsubs.push(this.ctl.onStop((st) => this.onStop(st)));
    this.unsubs.push(this.ctl.onExit((o) => this.onExit(o)));
    server.on('connection', (s) => this.accept(s));
  }

  static async listen(sys: System, opts: GdbServerOptions = {}): Promise<GdbServer> {
    const server = net.createServer();
    server.maxConnections = 4;
    if (opts.path !== undefined) {
      if (existsSync(opts.path)) {
        // A stale socket from an earlier run is replaced; anything else is not ours to remove.
        if (!statSync(opts.path).isSocket()) throw new UsageError(`gdb: ${opts.path} exists and is not a socket`);
        if (await socketAlive(opts.path)) throw new UsageError(`gdb: ${opts.path} is in use by another process`);
        rmSync(opts.path, { force: true });
      }
    }
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: NodeJS.ErrnoException) => {
        const where = opts.path ?? `${opts.host ?? '127.0.0.1'}:${opts.port ?? 1234}`;
        reject(new UsageError(`gdb: cannot listen on ${where}: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`));
      };
      server.once('error', onErr);
      const done = () => {
        server.off('error', onErr);
        resolve();
      };
      if (opts.path !== undefined) server.listen(opts.path, done);
      else server.listen(opts.port ?? 1234, opts.host ?? '127.0.0.1', done);
    });
    server.on('error', () => {});
    return new GdbServer(sys, server, opts);
  }

  /** Whether a debugger is connected. */
  get connected(): boolean {
    return this.session !== null;
  }

  /** Stop listening, drop the debugger, and let the system run freely. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const had = this.session?.attached === true;
    this.endSession();
    for (const u of this.unsubs) u();
    if (had || this.ctl.halted) this.ctl.release();
    await new Promise<void>((r) => this.server.close(() => r()));
    if (this.path) rmSync(this.path, { force: true });
  }

  // ---- stops ----

  private onStop(st: DebugStop): void {
    let reply: string;
    switch (st.kind) {
      case 'watchpoint':
        reply = `T05${WATCH_REPLY[st.access]}:${st.address.toString(16)};`;
        break;
      case 'breakpoint':
        reply = `T05${this.bpKinds.get(st.address) === 'hw' ? 'hwbreak' : 'swbreak'}:;`;
        break;
      case 'step':
        reply = 'T05';
        break;
      case 'halt':
        reply = this.interrupting ? 'T02' : 'T05';
        this.interrupting = false;
        break;
      case 'finished':
        reply = 'T0b';
        break;
    }
    this.lastReply = reply;
    const s = this.session;
    if (s?.waitingStop) {
      s.waitingStop = false;
      s.send(this.stopReply(s));
    }
  }

  private onExit(o: FinalOutcome): void {
    const s = this.session;
    if (!s || !s.attached || this.killed) return;
    const code = o.kind === 'exit' ? o.code : 0;
    s.send(`W${(code & 0xff).toString(16).padStart(2, '0')}${s.multiprocess ? ';process:1' : ''}`);
  }

  private stopReply(s: Session): string {
    return this.lastReply.startsWith('T') ? `${this.lastReply}thread:${s.tid};` : this.lastReply;
  }

  private resume(step: boolean, addr: number | null): void {
    const s = this.session!;
    s.waitingStop = true;
    if (!this.ctl.resume({ step, ...(addr !== null ? { pc: addr } : {}) })) {
      // Not halted (the stop is on its way, or nothing runs the system): report what we know.
      if (!this.ctl.running) {
        s.waitingStop = false;
        s.send(this.stopReply(s));
      }
    }
  }

  // ---- connections ----

  private accept(sock: net.Socket): void {
    if (this.session && !this.session.attached) {
      // The previous connection never spoke (a probe, or a client that gave up): replace it.
      this.session.sock.destroy();
      this.session = null;
    }
    if (this.session || this.closed) {
      sock.end();
      return;
    }
    sock.setNoDelay(true);
    const s = new Session(sock);
    this.session = s;
    this.killed = false;
    let attached = false;
    sock.on('data', (d: Buffer) => {
      try {
        if (!attached) {
          // A debugger attaching stops the guest, as in QEMU; a connection that never says
          // anything (a liveness probe) attaches nothing.
          attached = true;
          s.attached = true;
          this.ctl.holdFinished = true;
          this.interrupting = false;
          this.lastReply = 'T05';
          if (!this.ctl.halted) this.ctl.halt();
        }
        this.onData(s, d);
      } catch (e) {
        // A handler bug must not take the emulator down: answer with an error and carry on.
        s.send('E01');
        process.emitWarning(`gdb stub: ${(e as Error).message}`);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      if (this.session !== s) return;
      if (s.attached) this.detach();
      else this.session = null;
    });
  }

  /** The debugger went away (D, k, disconnect): clear its points and let the guest run. */
  private detach(): void {
    this.endSession();
    this.bpKinds.clear();
    this.ctl.release();
  }

  private endSession(): void {
    const s = this.session;
    this.session = null;
    if (s && !s.sock.destroyed) s.sock.end();
  }

  private onData(s: Session, d: Buffer): void {
    for (const ev of s.decoder.feed(d)) {
      if (this.session !== s) return;
      switch (ev.kind) {
        case 'ack':
          break;
        case 'nak':
          if (s.lastSent && !s.noAck) s.sock.write(s.lastSent);
          break;
        case 'bad':
          if (!s.noAck) s.sock.write('-');
          break;
        case 'interrupt':
          if (!this.ctl.halted) {
            this.interrupting = true;
            this.ctl.halt();
          } else if (s.waitingStop) {
            s.waitingStop = false;
            this.lastReply = 'T02';
            s.send(this.stopReply(s));
          }
          break;
        case 'packet':
          if (!s.noAck) s.sock.write('+');
          this.handle(s, ev.data);
          break;
      }
    }
  }

  // ---- commands ----

  private handle(s: Session, data: Buffer): void {
    const text = data.toString('latin1');
    const c = text[0];
    const body = text.slice(1);
    switch (c) {
      case '?':
        if (this.ctl.halted) s.send(this.stopReply(s));
        else s.waitingStop = true; // the attach stop is on its way
        return;
      case 'g':
        return s.send(this.readAllRegisters());
      case 'G':
        return s.send(this.writeAllRegisters(body));
      case 'p': {
        const n = parseHexNum(body);
        const name = n === null ? undefined : GDB_REGISTERS[n];
        return s.send(name ? le32Hex(this.sys.cpu.get(name)) : 'E00');
      }
      case 'P': {
        const [ns, vs] = body.split('=');
        const n = parseHexNum(ns);
        const name = n === null ? undefined : GDB_REGISTERS[n];
        const v = vs === undefined ? null : fromHex(vs);
        if (!name || !v || v.length !== 4) return s.send('E00');
        return s.send(this.writeRegister(name, v.readUInt32LE(0)));
      }
      case 'm':
        return s.send(this.readMemory(body));
      case 'M': {
        const colon = body.indexOf(':');
        const hex = fromHex(body.slice(colon + 1));
        return s.send(colon < 0 || !hex ? 'E01' : this.writeMemory(body.slice(0, colon), hex));
      }
      case 'X': {
        const colon = data.indexOf(0x3a);
        if (colon < 0) return s.send('E01');
        return s.send(this.writeMemory(data.subarray(1, colon).toString('latin1'), unescapeBinary(data.subarray(colon + 1))));
      }
      case 'c':
      case 's':
      case 'C':
      case 'S': {
        // C sig[;addr] / S sig[;addr]: the signal is meaningless on bare metal.
        const arg = c === 'C' || c === 'S' ? body.split(';')[1] : body;
        const addr = arg ? parseHexNum(arg) : null;
        if (arg && addr === null) return s.send('E01');
        return this.resume(c === 's' || c === 'S', addr);
      }
      case 'Z':
      case 'z':
        return s.send(this.point(c === 'Z', body));
      case 'H':
      case 'T':
        return s.send('OK'); // one thread
      case 'D':
        s.send('OK');
        return this.detach();
      case 'k':
        this.killed = true;
        this.sys.stop('killed by the debugger', 0);
        return this.detach();
      case 'q':
      case 'Q':
        return s.send(this.query(s, text));
      case 'v':
        return this.vPacket(s, text, data);
      default:
        return s.send('');
    }
  }

  private readAllRegisters(): string {
    const r = this.sys.cpu.registers();
    return GDB_REGISTERS.map((n) => le32Hex(r[n])).join('');
  }

  private writeAllRegisters(hex: string): string {
    const b = fromHex(hex);
    if (!b || b.length < 16 * 4) return 'E01';
    for (let i = 0; i < GDB_REGISTERS.length && (i + 1) * 4 <= b.length; i++) {
      const name = GDB_REGISTERS[i]!;
      const v = b.readUInt32LE(i * 4);
      if (name === 'sp' || name === 'msp' || name === 'psp' || name === 'control') {
        // Banked stack pointers: write only what changed, so SP and MSP/PSP stay consistent.
        if (this.sys.cpu.get(name) === v) continue;
      }
      const e = this.writeRegister(name, v);
      if (e !== 'OK') return e;
    }
    return 'OK';
  }

  private writeRegister(name: (typeof GDB_REGISTERS)[number], v: number): string {
    try {
      this.sys.cpu.set(name, v);
      return 'OK';
    } catch {
      return 'E01';
    }
  }

  private readMemory(body: string): string {
    const [as, ls] = body.split(',');
    const addr = parseHexNum(as);
    const len = parseHexNum(ls);
    if (addr === null || len === null || addr > 0xffffffff) return 'E01';
    const n = Math.min(len, 0x4000, 0x100000000 - addr);
    try {
      return toHex(this.sys.memory.read(addr, n));
    } catch {
      // Give what can be read up to the first inaccessible byte (GDB asks again for the rest).
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        try {
          out.push(this.sys.memory.read(addr + i, 1)[0]!);
        } catch {
          break;
        }
      }
      return out.length ? toHex(Uint8Array.from(out)) : 'E14';
    }
  }

  private writeMemory(head: string, bytes: Buffer): string {
    const [as, ls] = head.split(',');
    const addr = parseHexNum(as);
    const len = parseHexNum(ls);
    if (addr === null || len === null || len !== bytes.length || addr + len > 0x100000000) return 'E01';
    if (len === 0) return 'OK';
    try {
      this.sys.memory.write(addr, bytes);
      return 'OK';
    } catch {
      return 'E14';
    }
  }

  private point(insert: boolean, body: string): string {
    const [ts, as, ks] = body.split(/[,;]/);
    const type = parseHexNum(ts);
    const addr = parseHexNum(as);
    const kind = parseHexNum(ks);
    if (type === null || addr === null || kind === null || addr > 0xffffffff) return 'E01';
    if (!this.ctl.halted) return 'E01'; // all-stop: points change only while halted
    try {
      if (type === 0 || type === 1) {
        const a = (addr & ~1) >>> 0;
        if (insert && !this.bpKinds.has(a) && this.bpKinds.size >= MAX_POINTS) return 'E28';
        if (insert) this.bpKinds.set(a, type === 1 ? 'hw' : 'sw');
        else this.bpKinds.delete(a);
        this.ctl.setBreakpoint(a, insert, type === 1);
        return 'OK';
      }
      if (type >= 2 && type <= 4) {
        if (kind === 0 || kind > 0x10000) return 'E01';
        const w = { address: addr, length: kind, kind: type === 2 ? 'write' : type === 3 ? 'read' : 'access' } as const;
        if (insert && this.ctl.watchpoints.length >= MAX_POINTS) return 'E28';
        this.ctl.setWatchpoint(w, insert);
        return 'OK';
      }
    } catch {
      return 'E01';
    }
    return '';
  }

  private query(s: Session, text: string): string {
    if (text.startsWith('qSupported')) {
      s.multiprocess = /multiprocess\+/.test(text);
      return (s.multiprocess ? 'multiprocess+;' : '') + 'PacketSize=4000;qXfer:features:read+;qXfer:memory-map:read+;QStartNoAckMode+;vContSupported+;swbreak+;hwbreak+';
    }
    if (text === 'QStartNoAckMode') {
      // The OK still goes out with acks on; everything after without.
      queueMicrotask(() => (s.noAck = true));
      return 'OK';
    }
    if (text.startsWith('qXfer:features:read:')) return this.xfer(text.slice('qXfer:features:read:'.length), (annex) => (annex === 'target.xml' ? targetXml() : null));
    if (text.startsWith('qXfer:memory-map:read:')) return this.xfer(text.slice('qXfer:memory-map:read:'.length), () => memoryMapXml(this.sys.machine.map));
    if (text === 'qAttached' || text.startsWith('qAttached:')) return '1';
    if (text === 'qC') return `QC${s.tid}`;
    if (text === 'qfThreadInfo') return `m${s.tid}`;
    if (text === 'qsThreadInfo') return 'l';
    if (text === 'qOffsets') return 'Text=0;Data=0;Bss=0';
    if (text === 'qSymbol::') return 'OK';
    if (text.startsWith('qThreadExtraInfo')) return toHex(Buffer.from(`${this.sys.board.name} core`));
    if (text.startsWith('qRcmd,')) {
      const cmd = fromHex(text.slice(6));
      if (!cmd) return 'E01';
      return this.monitor(s, cmd.toString('latin1').trim());
    }
    return '';
  }

  private xfer(rest: string, content: (annex: string) => string | null): string {
    const m = /^([^:]*):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(rest);
    if (!m) return 'E00';
    const doc = content(m[1]!);
    if (doc === null) return 'E00';
    const off = parseInt(m[2]!, 16);
    const len = parseInt(m[3]!, 16);
    const bytes = Buffer.from(doc, 'utf8');
    const part = bytes.subarray(off, off + len);
    return (off + len >= bytes.length ? 'l' : 'm') + part.toString('latin1');
  }

  private monitor(s: Session, cmd: string): string {
    const out = (t: string) => s.send(`O${toHex(Buffer.from(t))}`);
    const m = this.sys.machine;
    switch (cmd) {
      case 'help':
        out('monitor commands: system_reset (also reset, reset halt), info registers, icount, help\n');
        return 'OK';
      case 'system_reset':
      case 'reset':
      case 'reset halt': // OpenOCD's spellings: the target stays halted either way
      case 'reset init':
        if (!this.ctl.halted) return 'E01';
        m.powerOn();
        m.reset();
        out('system reset\n');
        return 'OK';
      case 'info registers': {
        const r = this.sys.cpu.registers();
        const lines: string[] = [];
        for (let i = 0; i < 16; i += 4) {
          lines.push(
            [0, 1, 2, 3]
              .map((j) => {
                const n = GDB_REGISTERS[i + j]!;
                return `${(i + j < 13 ? `R${String(i + j).padStart(2, '0')}` : n.toUpperCase()).padEnd(3)}=${r[n].toString(16).padStart(8, '0')}`;
              })
              .join(' '),
          );
        }
        lines.push(`XPSR=${r.xpsr.toString(16).padStart(8, '0')} MSP=${r.msp.toString(16).padStart(8, '0')} PSP=${r.psp.toString(16).padStart(8, '0')}`);
        lines.push(`PRIMASK=${r.primask} BASEPRI=${r.basepri} FAULTMASK=${r.faultmask} CONTROL=${r.control}`);
        out(lines.join('\n') + '\n');
        return 'OK';
      }
      case 'icount':
        out(`${this.sys.instructions()} instructions, virtual time ${this.sys.now()} ns (${m.icountMode ? 'icount' : 'real time'})\n`);
        return 'OK';
      default:
        out(`unknown monitor command '${cmd}' (try: monitor help)\n`);
        return 'OK';
    }
  }

  private vPacket(s: Session, text: string, data: Buffer): void {
    if (text === 'vCont?') return s.send('vCont;c;C;s;S;t');
    if (text.startsWith('vCont;')) {
      // One thread: the first action that applies to it (or to all) decides.
      for (const a of text.slice(6).split(';')) {
        const [act] = a.split(':');
        if (act === 't') {
          if (!this.ctl.halted) {
            s.waitingStop = true;
            this.interrupting = false;
            this.ctl.halt();
          } else s.send('OK');
          return;
        }
        const k = act?.[0];
        if (k === 'c' || k === 'C') return this.resume(false, null);
        if (k === 's' || k === 'S') return this.resume(true, null);
        if (act === 'r' || act?.startsWith('r')) return this.resume(true, null);
      }
      return s.send('E01');
    }
    if (text === 'vMustReplyEmpty') return s.send('');
    if (text.startsWith('vKill')) {
      s.send('OK');
      this.killed = true;
      this.sys.stop('killed by the debugger', 0);
      return this.detach();
    }
    if (text.startsWith('vFlashErase:')) {
      const [as, ls] = text.slice(12).split(',');
      const addr = parseHexNum(as);
      const len = parseHexNum(ls);
      if (addr === null || len === null || addr % FLASH_BLOCK !== 0 || len % FLASH_BLOCK !== 0) return s.send('E01');
      try {
        this.sys.memory.write(addr, new Uint8Array(len).fill(0xff));
        return s.send('OK');
      } catch {
        return s.send('E14');
      }
    }
    if (text.startsWith('vFlashWrite:')) {
      const colon = data.indexOf(0x3a, 12);
      const addr = parseHexNum(data.subarray(12, colon).toString('latin1'));
      if (colon < 0 || addr === null) return s.send('E01');
      const bytes = unescapeBinary(data.subarray(colon + 1));
      return s.send(this.writeMemory(`${addr.toString(16)},${bytes.length.toString(16)}`, bytes));
    }
    if (text === 'vFlashDone') return s.send('OK');
    s.send('');
  }
}

function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
