/**
 * The System API: one function builds a running board from a plain configuration object, and the
 * object it returns is all a test bench, a CLI or a debugger needs: consoles, symbols, memory,
 * registers, interrupts, and runs that stop on a duration, an instruction count, an address, a
 * text, a fault or the guest's exit. Both command lines are translations from argv to this.
 *
 * The library never exits the process and never installs signal handlers; bad input is a typed
 * error (errors.ts) with the one-line message the CLI prints; close() frees every fd, thread and
 * mapping the system holds.
 */
import { findBoard, BOARDS } from '../machine/boards/index.js';
import type { BoardDef } from '../machine/board.js';
import { LoadError, Machine, type FinalOutcome, type Outcome } from '../machine/machine.js';
import { findDivideSites, type ElfSymbol } from '../machine/elf.js';
import { CategoryLogger } from '../log/category-logger.js';
import { SILENT, type LogCategory, type Logger } from '../log/logger.js';
import { type CharBackend, type ChardevSpec, ChardevError, openCharBackend } from '../host/chardev.js';
import { connectIvshmem } from '../host/ivshmem/client.js';
import type { ConnectOptions, IvshmemLink } from '../devices/ivshmem-link.js';
import type { IvshmemFlat } from '../devices/ivshmem-flat.js';
import { Semihosting } from '../devices/semihosting.js';
import { Reg } from '../native/cpu.js';
import { coreReg } from '../cpu/cpu.js';
import type { FaultEvent } from '../cpu/exceptions.js';
import { EXC_EXTERNAL0 } from '../cpu/exception-controller.js';
import { type IvshmemFlatConfig, type IvshmemFlatPlacement, IvshmemPlacementError, installIvshmemFlat, placeIvshmemFlat } from '../machine/ivshmem-flat.js';
import { InputError, MachineFinishedError, TimeoutError, UsageError } from './errors.js';
import { type FirmwareSpec, type LoadedImage, loadImage } from './images.js';
import { type Duration, formatDuration, parseDuration, parseSize, type Size } from './units.js';
import { type ConsoleDriver, type TextPattern, UartConsole } from './uart.js';
import type { ClockTimer } from '../time/clock.js';
import { GdbServer, type GdbServerOptions } from './gdb/server.js';
import { DebugControl } from './debug.js';
import type { WebView, WebViewOptions } from './web/server.js';
import { imageHash, serveSnapshotWaiters, Snapshot, type SnapshotBoard, type SnapshotWaiter } from './snapshot.js';
import { StateError } from '../devices/state.js';
import type { MachineState } from '../machine/machine.js';

/** How one UART is connected on the host side, besides its console (sys.uart(i)), which always records it. */
export type SerialSpec = ChardevSpec | 'stdio' | 'null' | { file: string; append?: boolean } | null;

export type TimeConfig =
  /** Follow the host clock (qemu-system-arm without -icount). */
  | 'realtime'
  /** Deterministic: 2^icount ns per instruction (-icount shift=N); sleep=false (default) jumps over idle time. */
  | { icount: number | 'auto'; sleep?: boolean };

export interface SemihostingConfig {
  /** What SYS_GET_CMDLINE returns; default: QEMU's fallback, the firmware's name and `append`. */
  cmdline?: string;
  /** Where the guest's host I/O goes (:tt opened for writing, stderr, and the SYS_WRITEC/WRITE0 console). Each is recorded in sys.semihosting either way. */
  stdout?: (data: Uint8Array) => void;
  stderr?: (data: Uint8Array) => void;
  console?: (data: Uint8Array) => void;
}

/** One ivshmem-flat: where it goes (board defaults otherwise), and what it connects to. */
export type IvshmemConfig = Omit<IvshmemFlatConfig, 'size'> & {
  /** Bytes of shared memory the guest sees (shmem-size); default: the server's region. */
  size?: Size | null;
  /** Name used in messages (the CLI passes `-device ivshmem-flat,chardev=ID`). */
  name?: string;
} & ({ /** An ivshmem server's UNIX socket. */ socket: string } | { /** An existing link (a world's in-process group, a test double). */ link: IvshmemLink });

export interface SystemConfig {
  /** Board name (`cmemu boards` lists them) or a board definition. */
  board: string | BoardDef;
  /** The images to load: an ELF path, ELF bytes, { raw, addr }, ... (several: loaded in order). */
  firmware?: FirmwareSpec | FirmwareSpec[];
  /** Start here instead of the vector table's reset PC (as -device loader,addr=A,cpu-num=0). */
  entry?: number;
  /** Default 'realtime', as qemu-system-arm. */
  time?: TimeConfig;
  /** UART i's host side (default: none; the console records it anyway). */
  serial?: SerialSpec[];
  /** ARM semihosting (the guest can print, read files, exit with a code). */
  semihosting?: boolean | SemihostingConfig;
  /** The guest's command line (QEMU's -append): the semihosting command line's fallback. */
  append?: string;
  ivshmem?: IvshmemConfig | IvshmemConfig[];
  /** QEMU's -d items (and -D file), or a logger of your own. */
  log?: { items?: readonly string[]; file?: string; events?: readonly string[] } | Logger;
  /** A system reset request ends the run instead (QEMU's -no-reboot). */
  noReboot?: boolean;
  /** One-line notes for the user (e.g. a substituted option); default: dropped. */
  onNote?: (message: string) => void;
  /** Lines about the host side during the run (a chardev's connection notes, an ivshmem server going away); default: dropped. */
  onHostMessage?: (message: string) => void;
  /** How to reach an ivshmem server (tests inject fakes); the real client by default. */
  connectIvshmem?: (socketPath: string, opts: ConnectOptions) => Promise<IvshmemLink>;
}

/** A fault the core raised, as data: the core's FaultEvent, with the name it ended as. */
export interface FaultInfo extends Omit<FaultEvent, 'kind'> {
  /** 'memmanage', 'busfault', 'usagefault', 'debug', or 'hardfault' when escalated; 'lockup' when it locked the core up. */
  name: string;
}

/** What a run stops on besides its timeout. A function is checked between stops and after each line of UART output. */
export type Condition =
  | (() => boolean)
  | { symbol: string }
  | { address: number }
  | { text: TextPattern; uart?: number }
  | { exit: true }
  | { fault: true }
  | { time: Duration }
  | { instructions: number };

export interface RunResult {
  /** Why the run returned. */
  reason: 'condition' | 'breakpoint' | 'fault' | 'exit' | 'time' | 'instructions' | 'finished' | 'paused';
  /** Virtual time (ns) and instructions executed at the stop. */
  time: number;
  instructions: number;
  pc: number;
  /** Set when the machine finished (guest exit, lockup, error). */
  outcome?: FinalOutcome;
  /** Set when reason is 'fault'. */
  fault?: FaultInfo;
  /** Set when reason is 'breakpoint'. */
  address?: number;
}

export interface RunOptions {
  /** Give up after this long (virtual time in icount mode, host time otherwise): a TimeoutError with the console tail. */
  timeout?: Duration;
}

/** Something that drives systems: a World for its boards. */
export interface Driver {
  runUntilCondition(cond: () => boolean, what: string, timeout: Duration | undefined, console?: UartConsole): Promise<void>;
  runFor(d: Duration): Promise<void>;
}

const REGISTER_NAMES = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9', 'r10', 'r11', 'r12', 'sp', 'lr', 'pc', 'xpsr', 'msp', 'psp', 'primask', 'basepri', 'faultmask', 'control'] as const;
export type RegisterName = (typeof REGISTER_NAMES)[number];
const REG_IDS: Record<RegisterName, Reg> = {
  r0: Reg.R0, r1: Reg.R1, r2: Reg.R2, r3: Reg.R3, r4: Reg.R4, r5: Reg.R5, r6: Reg.R6, r7: Reg.R7, r8: Reg.R8, r9: Reg.R9,
  r10: Reg.R10, r11: Reg.R11, r12: Reg.R12, sp: Reg.SP, lr: Reg.LR, pc: Reg.PC, xpsr: Reg.XPSR, msp: Reg.MSP, psp: Reg.PSP,
  primask: Reg.PRIMASK, basepri: Reg.BASEPRI, faultmask: Reg.FAULTMASK, control: Reg.CONTROL,
};
export type Registers = Record<RegisterName, number>;

export type ValueType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64' | 'f32' | 'f64' | 'bytes';
const TYPE_SIZE: Record<Exclude<ValueType, 'bytes'>, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8, f32: 4, f64: 8 };

const hex = (v: number) => '0x' + (v >>> 0).toString(16);

/** Build a system and load its images: ready to run (nothing runs until you ask). */
export async function createSystem(config: SystemConfig): Promise<System> {
  const sys = await System.build(config, null);
  try {
    sys.boot();
  } catch (e) {
    await sys.close();
    throw e;
  }
  return sys;
}

function resolveBoard(b: string | BoardDef): BoardDef {
  if (typeof b !== 'string') return b;
  const board = findBoard(b);
  if (!board) throw new UsageError(`unsupported machine type '${b}' (known: ${BOARDS.map((x) => x.name).join(', ')})`);
  return board;
}

function serialSpec(s: SerialSpec, i: number): ChardevSpec | null {
  if (s === null || s === 'null') return null;
  if (s === 'stdio') return { id: `serial${i}`, mux: false, backend: 'stdio', signal: true };
  if ('file' in s) return { id: `serial${i}`, mux: false, backend: 'file', path: s.file, append: s.append ?? false };
  if ((s as ChardevSpec).backend === 'null') return null;
  return s as ChardevSpec;
}

function makeLogger(cfg: SystemConfig['log']): Logger {
  if (!cfg) return SILENT;
  if ('enabled' in cfg && typeof cfg.enabled === 'function') return cfg as Logger;
  const c = cfg as { items?: readonly string[]; file?: string; events?: readonly string[] };
  return new CategoryLogger((c.items ?? []) as LogCategory[], c.file, c.events ?? []);
}

export class System implements ConsoleDriver {
  readonly board: BoardDef;
  readonly machine: Machine;
  readonly config: SystemConfig;
  /** The semihosting output (stdout, stderr and console writes, in order), as a console. */
  readonly semihosting: UartConsole;
  /** Every fault the core raised, oldest first. */
  readonly faults: FaultInfo[] = [];
  readonly symbols: Symbols;
  readonly memory: Memory;
  readonly cpu: CpuAccess;
  readonly nvic: NvicAccess;
  /** The ivshmem-flat devices, in config order. */
  readonly ivshmem: IvshmemFlat[] = [];
  /** The ivshmem links, in config order (closed by close()). */
  readonly links: IvshmemLink[] = [];

  private readonly images: LoadedImage[];
  private readonly consoles: UartConsole[] = [];
  private readonly backends: CharBackend[] = [];
  private readonly log: Logger;
  private booted = false;
  private closed = false;
  private running: Promise<Outcome> | null = null;
  private waitTimer: ClockTimer | null = null;
  private timedOut = false;
  private faultWanted = false;
  private faultHit: FaultInfo | null = null;
  /** pause() was called during a run: the wait returns with reason 'paused'. */
  private userPaused = false;
  /** @internal The world this system belongs to, if any: its runs drive every board. */
  driver: Driver | null = null;
  /** @internal Called when the machine finishes (the world marks the peer gone). */
  onFinished: (() => void) | null = null;

  private constructor(config: SystemConfig, board: BoardDef, machine: Machine, images: LoadedImage[], log: Logger) {
    this.config = config;
    this.board = board;
    this.machine = machine;
    this.images = images;
    this.log = log;
    this.semihosting = new UartConsole('semihosting', this, () => {});
    const elf = images.find((i) => i.elf)?.elf ?? null;
    this.symbols = new Symbols(this, elf?.symbols ?? new Map());
    this.memory = new Memory(this);
    this.cpu = new CpuAccess(this);
    this.nvic = new NvicAccess(this);
    machine.exceptions.onFault = (f) => this.noteFault(f);
  }

  /** @internal Read the images, connect the ivshmem servers, open the chardevs, build the machine (not yet loaded: see boot()). */
  static async build(config: SystemConfig, driver: Driver | null): Promise<System> {
    const board = resolveBoard(config.board);
    const note = config.onNote ?? (() => {});
    const hostMsg = config.onHostMessage ?? (() => {});
    // Images first: bad input must fail before anything is started.
    const specs = config.firmware === undefined ? [] : Array.isArray(config.firmware) ? config.firmware : [config.firmware];
    if (specs.length === 0) throw new UsageError('no guest image: give firmware (an ELF path, or { raw, addr })');
    const images = specs.map((s, i) => loadImage(s, i === 0 ? 'kernel' : 'firmware'));
    const time = config.time ?? 'realtime';
    let icount: { shift: number; sleep: boolean } | null = null;
    if (time !== 'realtime') {
      if (typeof time !== 'object' || (time.icount !== 'auto' && (!Number.isInteger(time.icount) || time.icount < 0 || time.icount > 10))) {
        throw new UsageError(`time: give 'realtime' or { icount: N } with N in 0..10`);
      }
      if (time.icount === 'auto') note('-icount shift=auto runs as shift=3');
      icount = { shift: time.icount === 'auto' ? 3 : time.icount, sleep: time.sleep ?? false };
    }
    const ivs = config.ivshmem === undefined ? [] : Array.isArray(config.ivshmem) ? config.ivshmem : [config.ivshmem];
    const placements: IvshmemFlatPlacement[] = ivs.map((c, i) => {
      try {
        return placeIvshmemFlat(board, { ...c, size: c.size === undefined || c.size === null ? null : parseSize(c.size, 'ivshmem size') }, c.name ?? `ivshmem-flat${i ? i : ''}`);
      } catch (e) {
        if (e instanceof IvshmemPlacementError) throw new UsageError(e.message);
        throw e;
      }
    });
    const log = makeLogger(config.log);
    // ivshmem servers next, before the machine: an unreachable socket is bad input.
    const links: IvshmemLink[] = [];
    const closeLinks = () => {
      for (const l of links) l.close();
    };
    try {
      for (let i = 0; i < ivs.length; i++) {
        const c = ivs[i]!;
        if ('link' in c) links.push(c.link);
        else {
          try {
            links.push(await (config.connectIvshmem ?? connectIvshmem)(c.socket, { shmemSize: placements[i]!.size ?? undefined, log, timeoutMs: 5000 }));
          } catch (e) {
            throw new InputError(`${placements[i]!.what}: ${(e as Error).message.replace(/^ivshmem: /, '')}`);
          }
        }
      }
    } catch (e) {
      closeLinks();
      throw e;
    }

    const serialSpecs = (config.serial ?? []).map((s, i) => serialSpec(s, i));
    // Built with a console on every UART (a test can read any of them); the host sides are opened below.
    const consoleSinks: ((b: number) => void)[] = [];
    const nUarts = Math.max(8, serialSpecs.length);
    let machine: Machine;
    try {
      machine = new Machine({
        board,
        icount,
        logger: log,
        serials: Array.from({ length: nUarts }, (_, i) => ({ write: (b: number) => consoleSinks[i]?.(b) })),
        noReboot: config.noReboot,
      });
    } catch (e) {
      closeLinks();
      throw e;
    }
    const sys = new System(config, board, machine, images, log);
    sys.driver = driver;
    sys.links.push(...links);
    try {
      for (let i = 0; i < nUarts; i++) {
        const con = new UartConsole(`uart${i}`, sys, (d) => machine.serialReceive(i, d));
        sys.consoles.push(con);
      }
      // Host sides: one backend per chardev id (a mux chardev serves several front ends).
      const opened = new Map<string, CharBackend>();
      const hostOut: (CharBackend | null)[] = [];
      for (const spec of serialSpecs) {
        if (!spec) {
          hostOut.push(null);
          continue;
        }
        let b = opened.get(spec.id);
        if (!b) {
          try {
            b = openCharBackend(spec, {
              onQuit: () => machine.stop('quit from the console (Ctrl-a x)', 0),
              // A raw terminal's Ctrl-C / Ctrl-\ (signal=on) ends the run, as the signal would: the library sends no signals.
              onSignal: (sig) => machine.stop(`terminating on signal ${sig}`, 0),
              logger: log,
              log: (m) => hostMsg(m.replace(/^cmemu: /, '')),
            });
          } catch (e) {
            if (e instanceof ChardevError) throw new InputError(e.message);
            throw e;
          }
          opened.set(spec.id, b);
          sys.backends.push(b);
        }
        hostOut.push(b);
      }
      for (let i = 0; i < nUarts; i++) {
        const con = sys.consoles[i]!;
        const out = hostOut[i] ?? null;
        consoleSinks[i] = out
          ? (b) => {
              out.write(Uint8Array.of(b));
              con.push(b);
            }
          : (b) => con.push(b);
        out?.onData((data) => machine.serialReceive(i, data));
      }
      placements.forEach((p, i) => {
        try {
          sys.ivshmem.push(
            installIvshmemFlat(machine, p, links[i]!, {
              index: i,
              log,
              onShmLost: (message) => hostMsg(`ivshmem-flat${i ? i : ''}: ${message}; the board keeps running`),
              onServerGone: (reason) => hostMsg(`ivshmem-flat${i ? i : ''}: the ivshmem server went away (${reason}); the board keeps running with its shared memory, doorbells to other peers are dropped`),
            }),
          );
        } catch (e) {
          if (e instanceof IvshmemPlacementError) throw new InputError(e.message);
          throw e;
        }
      });
      if (config.semihosting) sys.wireSemihosting(config.semihosting === true ? {} : config.semihosting, hostOut[0] ?? null);
    } catch (e) {
      await sys.close();
      throw e;
    }
    return sys;
  }

  private wireSemihosting(cfg: SemihostingConfig, serial0: CharBackend | null): void {
    const machine = this.machine;
    const board = this.board;
    const images = this.images;
    const sp = (() => {
      const c = images[0]?.chunks[0];
      return c && c.data.length >= 4 ? new DataView(c.data.buffer, c.data.byteOffset).getUint32(0, true) : 0;
    })();
    const spRegion = board.memory.find((m) => sp > m.base && sp <= m.base + m.size) ?? board.memory[0]!;
    let heapBase = spRegion.base;
    for (const img of images) {
      for (const c of img.chunks) {
        const end = c.addr + c.data.length;
        if (c.addr >= spRegion.base && end <= spRegion.base + spRegion.size && end > heapBase) heapBase = end;
      }
    }
    const record = (d: Uint8Array) => {
      for (const b of d) this.semihosting.push(b);
    };
    const cmdline = cfg.cmdline ?? [images[0]!.name, ...(this.config.append ? this.config.append.split(/\s+/).filter(Boolean) : [])].join(' ');
    const stdout = cfg.stdout ?? (serial0 ? (d: Uint8Array) => serial0.write(d) : null);
    machine.semihosting = new Semihosting({
      cpu: {
        readReg: (n) => machine.cpu.reg(coreReg(n)),
        writeReg: (n, v) => machine.cpu.setReg(coreReg(n), v),
        readMem: (a, len) => machine.native.memRead(a, len),
        writeMem: (a, d) => machine.native.memWrite(a, d),
      },
      stdout: (d) => {
        record(d);
        stdout?.(d);
      },
      stderr: (d) => {
        record(d);
        cfg.stderr?.(d);
      },
      console: (d) => {
        record(d);
        cfg.console?.(d);
      },
      readStdin: () => -1,
      clock: { nowNs: () => machine.now() },
      hostTimeSec: () => Math.floor(Date.now() / 1000),
      heap: { base: (heapBase + 7) & ~7, limit: spRegion.base + spRegion.size, stackBase: spRegion.base + spRegion.size, stackLimit: spRegion.base },
      cmdline,
      onExit: (code) => machine.exit(code, `guest exit (semihosting) with code ${code}`),
      logger: this.log,
    });
  }

  /** @internal Load the images (the memory map is committed first): after this the system can run. */
  boot(): void {
    if (this.booted) return;
    this.booted = true;
    const m = this.machine;
    const loadAll = () => {
      for (const img of this.images) for (const c of img.chunks) m.load(c.addr, c.data);
    };
    try {
      loadAll();
    } catch (e) {
      if (e instanceof LoadError) throw new InputError(e.message);
      throw e;
    }
    // As QEMU's ROM blobs: a system reset copies the images in again.
    m.onReset = () => loadAll();
    m.native.setDivideSites(this.images.flatMap((i) => (i.elf ? findDivideSites(i.elf) : [])));
    this.startTrace();
    const entry = this.config.entry;
    if (entry !== undefined) m.afterReset = () => m.cpu.setReg(Reg.PC, (entry & ~1) | 1);
    m.powerOn();
  }

  /**
   * -d in_asm / exec / cpu: the native trace (a block hook only while on) writes to the -D file or
   * stderr; JS log lines flush it first so that both stay in order.
   */
  private startTrace(): void {
    const log = this.log;
    const inAsm = log.enabled('in_asm');
    const exec = log.enabled('exec');
    const cpu = log.enabled('cpu');
    if (!inAsm && !exec && !cpu) return;
    const file = log instanceof CategoryLogger ? (log.file ?? null) : null;
    // Function symbols, as QEMU's lookup_symbol names blocks (Thumb bit cleared).
    const syms: [number, number, string][] = [];
    for (const img of this.images) {
      if (!img.elf) continue;
      for (const [name, sym] of img.elf.symbols) if (sym.type === 'func' && name) syms.push([(sym.value & ~1) >>> 0, sym.size, name]);
    }
    const native = this.machine.native;
    try {
      native.setTrace({ inAsm, exec, cpu, path: file }, syms);
    } catch (e) {
      throw new InputError(`-D: ${(e as Error).message}`);
    }
    if (log instanceof CategoryLogger) log.beforeWrite = () => native.flushTrace();
  }

  /** @internal Add an ivshmem-flat on an existing link (a world's group), before boot. */
  attachIvshmem(cfg: IvshmemFlatConfig & { link: IvshmemLink }): IvshmemFlat {
    if (this.booted) throw new UsageError('ivshmem-flat: devices are added before the system first runs');
    const i = this.ivshmem.length;
    const name = `ivshmem-flat${i ? i : ''}`;
    let dev: IvshmemFlat;
    try {
      dev = installIvshmemFlat(this.machine, placeIvshmemFlat(this.board, cfg, name), cfg.link, { index: i, log: this.log });
    } catch (e) {
      if (e instanceof IvshmemPlacementError) throw new UsageError(e.message);
      throw e;
    }
    this.ivshmem.push(dev);
    this.links.push(cfg.link);
    return dev;
  }

  /** @internal Run this system alone until its virtual time reaches `t` or it finishes (a world's quantum). */
  async advanceTo(t: number): Promise<void> {
    const m = this.machine;
    if (m.finished || m.now() >= t) return;
    // The lean path (once per board per quantum): one timer, one run.
    const timer = (this.quantumTimer ??= m.sched.timer('world quantum', () => m.pause('quantum'), { transient: true }));
    timer.setAt(t);
    try {
      while (!m.finished && m.now() < t) await this.runOnce();
    } finally {
      timer.cancel();
    }
  }
  private quantumTimer: ClockTimer | null = null;

  private noteFault(f: FaultEvent): void {
    const name = f.exception === 3 && f.kind !== 'debug' ? 'hardfault' : f.exception === 0 ? 'lockup' : f.kind;
    const { kind: _kind, ...rest } = f;
    const info: FaultInfo = { name, ...rest };
    this.faults.push(info);
    if (this.faults.length > 1000) this.faults.shift();
    if (this.faultWanted && !this.faultHit) {
      this.faultHit = info;
      this.machine.pause('fault');
    }
  }

  // ---- consoles ----

  /** UART i's console: everything it sent, input, waits. */
  uart(i = 0): UartConsole {
    const c = this.consoles[i];
    if (!c) throw new RangeError(`${this.board.name} has no UART ${i}`);
    return c;
  }

  // ---- time ----

  /** Virtual time in ns since the system was made. */
  now(): number {
    return this.machine.now();
  }
  /** Instructions executed so far (in real-time mode: counted only while running toward an instruction target). */
  instructions(): number {
    return this.machine.instructions();
  }
  /** The terminal outcome once the guest has exited or the core locked up; null while it can run. */
  get finished(): FinalOutcome | null {
    return this.machine.finished;
  }
  get isRunning(): boolean {
    return this.running !== null;
  }

  // ---- runs ----

  /** Run for a duration of virtual time ('10 ms'), or a number of instructions. */
  async runFor(d: Duration | { instructions: number }): Promise<RunResult> {
    if (typeof d === 'object') return this.runUntil({ instructions: this.instructions() + d.instructions });
    if (this.driver) {
      await this.driver.runFor(d);
      return this.result('time');
    }
    return this.runUntil({ time: this.now() + parseDuration(d, 'runFor') });
  }

  /**
   * Run until `cond` holds. Resolves with why it stopped; throws TimeoutError (with the UART0
   * tail) when `timeout` passes first, MachineFinishedError when the guest exits or the core
   * locks up first (unless the condition is { exit: true }).
   */
  async runUntil(cond: Condition, opts: RunOptions = {}): Promise<RunResult> {
    const m = this.machine;
    if (typeof cond === 'function') {
      await this.runUntilCondition(cond, 'the condition', opts.timeout);
      return this.result('condition');
    }
    if ('text' in cond) {
      await this.uart(cond.uart ?? 0).waitFor(cond.text, opts);
      return this.result('condition');
    }
    if (this.driver) {
      if ('symbol' in cond || 'address' in cond || 'fault' in cond || 'instructions' in cond) {
        throw new UsageError(`runUntil(${JSON.stringify(cond)}) on a board of a world: use world.runUntil with a function`);
      }
      if ('time' in cond) {
        const t = parseDuration(cond.time, 'runUntil time');
        await this.driver.runFor(Math.max(0, t - this.now()));
        return this.result('time');
      }
      await this.runUntilCondition(() => this.finished !== null, 'the guest to exit', opts.timeout);
      return this.result('exit');
    }
    if ('exit' in cond) {
      const out = await this.drive(() => false, 'the guest to exit', opts.timeout, null, true);
      return out;
    }
    if ('time' in cond) {
      const t = parseDuration(cond.time, 'runUntil time');
      return this.drive(() => false, `time ${formatDuration(t)}`, undefined, { at: t }, false, opts.timeout);
    }
    if ('instructions' in cond) {
      m.pauseAtInstruction(cond.instructions);
      try {
        return await this.drive(() => m.instructions() >= cond.instructions, `${cond.instructions} instructions`, opts.timeout, null, false, undefined, 'instructions');
      } finally {
        m.pauseAtInstruction(Infinity);
      }
    }
    if ('fault' in cond) {
      this.faultWanted = true;
      this.faultHit = null;
      try {
        return await this.drive(() => this.faultHit !== null, 'a fault', opts.timeout, null, false, undefined, 'fault');
      } finally {
        this.faultWanted = false;
      }
    }
    const addr = 'symbol' in cond ? this.symbols.address(cond.symbol) : cond.address;
    const what = 'symbol' in cond ? `${cond.symbol} (${hex(addr)})` : hex(addr);
    this.untilBreakpoints = [addr];
    this.applyBreakpoints();
    try {
      return await this.drive(() => m.breakpointHit === ((addr & ~1) >>> 0), `PC to reach ${what}`, opts.timeout, null, false, undefined, 'breakpoint');
    } finally {
      this.untilBreakpoints = [];
      this.applyBreakpoints();
    }
  }

  /** Run until the guest exits, the core locks up, or stop() is called (the CLI's run). */
  async run(): Promise<FinalOutcome> {
    if (this.driver) throw new UsageError('run() on a board of a world: use world.runUntil');
    for (;;) {
      const o = await this.runOnce();
      if (o.kind !== 'paused') return o;
    }
  }

  /** @internal ConsoleDriver: the waits of this system's consoles. */
  async runUntilCondition(cond: () => boolean, what: string, timeout: Duration | undefined, console?: UartConsole): Promise<void> {
    if (this.driver) return this.driver.runUntilCondition(cond, what, timeout, console);
    await this.drive(cond, what, timeout, null, false, undefined, 'condition', console);
  }

  private result(reason: RunResult['reason'], extra: Partial<RunResult> = {}): RunResult {
    const m = this.machine;
    return { reason, time: m.now(), instructions: m.instructions(), pc: m.cpu.pc & ~1, ...(m.finished ? { outcome: m.finished } : {}), ...extra };
  }

  private async runOnce(): Promise<Outcome> {
    if (this.closed) throw new UsageError('the system is closed');
    if (this.running) throw new UsageError('the system is already running (one run at a time)');
    this.boot();
    this.running = this.runHeld();
    try {
      const o = await this.running;
      if (o.kind !== 'paused') this.onFinished?.();
      return o;
    } finally {
      this.running = null;
    }
  }

  /** One machine run, under the debugger's hold when one is attached (it may halt and resume the run any number of times). */
  private async runHeld(): Promise<Outcome> {
    for (;;) {
      const ctl = this.control;
      if (ctl) await ctl.gate();
      if (this.closed && this.machine.finished === null) this.machine.stop('closed', 0);
      const o = await this.machine.run();
      if (o.kind === 'paused' && this.snapshotWaiters.length > 0) {
        // A snapshot asked for while running: taken here, between two runs of the machine, and the run carries on.
        this.serveSnapshots();
        if (o.reason === 'snapshot') continue;
      }
      if (ctl && ctl.stopped(o)) continue;
      return o;
    }
  }

  // ---- debugging ----

  private gdb: GdbServer | null = null;
  private control: DebugControl | null = null;

  /** Halt, resume, step, breakpoints and watchpoints: the control the GDB stub uses (src/system/debug.ts). */
  get debug(): DebugControl {
    return (this.control ??= new DebugControl(this));
  }
  private untilBreakpoints: number[] = [];
  private debugBreakpoints: number[] = [];

  /**
   * Serve the GDB remote protocol for this system (TCP, default 127.0.0.1:1234, port 0 for any;
   * or a UNIX socket `path`). `wait: true` holds the system halted until a debugger continues it
   * (QEMU's -S). The stub holds the system while a debugger has it halted; whatever runs the
   * system (run(), runUntil, the CLI) waits meanwhile. One server per system; close() ends it.
   */
  async gdbServer(opts: GdbServerOptions = {}): Promise<GdbServer> {
    if (this.closed) throw new UsageError('the system is closed');
    if (this.gdb) throw new UsageError('this system already has a GDB server');
    this.boot();
    const g = await GdbServer.listen(this, opts);
    this.gdb = g;
    return g;
  }

  /**
   * Serve the live view of this board (consoles, ivshmem shared memory and doorbells, rates;
   * pause/resume/step through sys.debug) on `host` (default 127.0.0.1), `port` (default 0: any
   * free one). Returns { url, port, close() }; sys.close() ends it too. A board of a world: use world.serve().
   */
  async serve(opts: WebViewOptions = {}): Promise<WebView> {
    if (this.closed) throw new UsageError('the system is closed');
    if (this.driver) throw new UsageError('sys.serve() on a board of a world: use world.serve()');
    this.boot();
    const v = await (await import('./web/server.js')).WebView.listen({ world: null, systems: [this] }, opts);
    this.views.push(v);
    return v;
  }
  private readonly views: WebView[] = [];

  /** @internal The debugger's breakpoints (merged with runUntil's). */
  setDebugBreakpoints(addrs: readonly number[]): void {
    this.debugBreakpoints = [...addrs];
    this.applyBreakpoints();
  }

  private applyBreakpoints(): void {
    this.machine.setBreakpoints([...this.untilBreakpoints, ...this.debugBreakpoints]);
  }

  /**
   * The one run loop behind every wait: run, pausing when `check` holds (checked between stops
   * and on each line of UART output), when `time.at` is reached, or at the timeout.
   */
  private async drive(
    check: () => boolean,
    what: string,
    timeout: Duration | undefined,
    time: { at: number } | null,
    wantExit: boolean,
    timeTimeout?: Duration,
    reason: RunResult['reason'] = 'condition',
    console?: UartConsole,
  ): Promise<RunResult> {
    const m = this.machine;
    if (check()) return this.result(reason);
    if (m.finished) {
      if (wantExit) return this.result('exit');
      throw this.finishedError(what, console);
    }
    const to = timeout ?? timeTimeout;
    const timeoutAt = to === undefined ? Infinity : m.now() + parseDuration(to, 'timeout');
    this.boot();
    const timer = (this.waitTimer ??= m.sched.timer('system wait', () => {
      if (this.timeAt !== null && m.now() >= this.timeAt) this.timeReached = true;
      if (m.now() >= this.timeoutAt) this.timedOut = true;
      if (this.timeReached || this.timedOut) m.pause('wait timer');
      else this.armWaitTimer();
    }, { transient: true }));
    this.timeAt = time ? time.at : null;
    this.timeoutAt = timeoutAt;
    this.timeReached = false;
    this.timedOut = false;
    this.userPaused = false;
    this.armWaitTimer();
    const onLine = () => {
      if (check()) m.pause('condition');
    };
    const prevIter = m.onIteration;
    m.onIteration = onLine;
    const unsubs = this.consoles.map((c) => c.onLine(onLine));
    try {
      for (;;) {
        const o = await this.runOnce();
        if (check()) return this.result(reason, this.extra(reason));
        if (o.kind !== 'paused') {
          if (wantExit) return this.result('exit');
          throw this.finishedError(what, console);
        }
        if (this.timeReached) return this.result('time');
        if (this.timedOut) {
          const con = console ?? this.consoles[0]!;
          throw new TimeoutError(`${what} did not happen within ${formatDuration(parseDuration(to!))} (${m.icountMode ? 'virtual' : 'host'} time); ${con.name} said:\n${indent(con.tail())}`, con.tail());
        }
        if (this.userPaused) {
          // sys.pause(): the run returns (it used to carry on, so a run waiting on a guest that sleeps for good could not be ended).
          this.userPaused = false;
          return this.result('paused');
        }
        // Paused for another reason (a breakpoint or fault that is not ours): carry on.
      }
    } finally {
      timer.cancel();
      this.timeAt = null;
      this.timeoutAt = Infinity;
      m.onIteration = prevIter;
      for (const u of unsubs) u();
    }
  }
  private timeAt: number | null = null;
  private timeoutAt = Infinity;
  private timeReached = false;

  private armWaitTimer(): void {
    const at = Math.min(this.timeAt ?? Infinity, this.timeoutAt);
    if (at !== Infinity) this.waitTimer!.setAt(Math.max(at, 0));
  }

  private extra(reason: RunResult['reason']): Partial<RunResult> {
    if (reason === 'fault' && this.faultHit) return { fault: this.faultHit };
    if (reason === 'breakpoint' && this.machine.breakpointHit !== null) return { address: this.machine.breakpointHit };
    return {};
  }

  private finishedError(what: string, console?: UartConsole): MachineFinishedError {
    const o = this.machine.finished!;
    const con = console ?? this.consoles[0]!;
    const how = o.kind === 'exit' ? `the guest exited (${o.reason})` : o.kind === 'stopped' ? `the run was stopped (${o.reason})` : o.message;
    return new MachineFinishedError(`${what} did not happen: ${how}; ${con.name} said:\n${indent(con.tail())}`, o, con.tail());
  }

  // ---- snapshots ----

  private snapshotWaiters: SnapshotWaiter[] = [];

  /**
   * Save the board: registers, exception state, every device, scheduled events, virtual time,
   * memory and the ivshmem shared memory (docs/api.md, "Snapshots"). Between runs it is taken at
   * once; while the system runs, the run pauses at its next stop (within a translated block, as
   * pause() does), the snapshot is taken there, and the run carries on.
   */
  async snapshot(): Promise<Snapshot> {
    if (this.closed) throw new UsageError('the system is closed');
    if (!this.running) return this.snapshotNow();
    return new Promise<Snapshot>((resolve, reject) => {
      this.snapshotWaiters.push({ resolve, reject });
      this.machine.pause('snapshot');
    });
  }

  /** The snapshot of this board now (between runs). */
  snapshotNow(): Snapshot {
    if (this.closed) throw new UsageError('the system is closed');
    if (this.running && !this.servingSnapshots) throw new UsageError('snapshotNow(): the system is running (use await snapshot())');
    const blobs: Uint8Array[] = [];
    const state = this.saveBoard(blobs);
    return new Snapshot('system', [this.snapshotBoard()], state, blobs);
  }
  private servingSnapshots = false;

  private serveSnapshots(): void {
    this.servingSnapshots = true;
    try {
      serveSnapshotWaiters(this.snapshotWaiters, () => this.snapshotNow());
    } finally {
      this.servingSnapshots = false;
    }
  }

  /** @internal The header entry of this board. */
  snapshotBoard(): SnapshotBoard {
    return {
      board: this.board.name,
      images: this.images.map((i) => ({ name: i.name, sha256: imageHash(i.chunks) })),
      timeNs: this.machine.now(),
      instructions: this.machine.instructions(),
    };
  }

  /** @internal The board's state; memory contents are appended to `blobs` and referred to by index. */
  saveBoard(blobs: Uint8Array[]): SystemState {
    this.boot();
    const { state, memory } = this.machine.saveState();
    const blob = (data: Uint8Array) => blobs.push(data) - 1;
    return {
      machine: state,
      memory: memory.map((m) => ({ name: m.name, blob: blob(m.data) })),
      ivshmem: this.ivshmem.map((d) => ({ external: d.external, blob: blob(new Uint8Array(d.sharedMemory.slice(0))) })),
      consoles: [...this.consoles, this.semihosting].map((c) => ({ name: c.name, tail: c.tail(50) })),
    };
  }

  /**
   * Put the board back as `snap` recorded it: same board and same images (checked by their
   * SHA-256), built with the same devices (an ivshmem-flat for each the snapshot has, on any link:
   * the recorded shared memory is copied into it). Not while running. Consoles keep what they
   * already have; the guest carries on from the snapshot's instruction.
   */
  restore(snap: Snapshot): void {
    if (this.closed) throw new UsageError('the system is closed');
    if (this.running) throw new UsageError('restore(): the system is running; pause it (or wait for its run) first');
    if (snap.kind !== 'system') throw new InputError(`restore(): this is a snapshot of a world of ${snap.boards.length} boards: restore it with world.restore()`);
    this.restoreBoard(snap.boards[0]!, snap.state as SystemState, snap.blobs);
  }

  /** @internal */
  restoreBoard(b: SnapshotBoard, state: SystemState, blobs: readonly Uint8Array[]): void {
    if (b.board !== this.board.name) throw new InputError(`the snapshot is of board ${b.board}, this system is ${this.board.name}`);
    const mine = this.snapshotBoard().images;
    const short = (h: string) => h.slice(0, 12);
    if (mine.length !== b.images.length || mine.some((m, i) => m.sha256 !== b.images[i]!.sha256)) {
      const theirs = b.images.map((i) => `${i.name} (sha256 ${short(i.sha256)})`).join(', ');
      const ours = mine.map((i) => `${i.name} (sha256 ${short(i.sha256)})`).join(', ');
      throw new InputError(`the snapshot was taken running ${theirs || 'no image'}; this system runs ${ours || 'no image'}`);
    }
    const blob = (i: number, what: string): Uint8Array => {
      const d = blobs[i];
      if (!d) throw new InputError(`snapshot: ${what} refers to missing memory contents`);
      return d;
    };
    if (state.ivshmem.length !== this.ivshmem.length) {
      throw new InputError(`the snapshot has ${state.ivshmem.length} ivshmem-flat device(s), this system ${this.ivshmem.length} (give it ivshmem-flat on any link, e.g. an in-process one: the shared memory is restored into it)`);
    }
    state.ivshmem.forEach((s, i) => {
      const d = blob(s.blob, 'ivshmem shared memory');
      const shm = this.ivshmem[i]!.sharedMemory;
      if (shm.byteLength !== d.byteLength) throw new InputError(`the snapshot's ivshmem shared memory is ${d.byteLength} bytes, this system's ${shm.byteLength}`);
    });
    this.boot();
    try {
      this.machine.loadState(
        state.machine,
        state.memory.map((m) => ({ name: m.name, data: blob(m.blob, `memory ${m.name}`) })),
      );
    } catch (e) {
      if (e instanceof StateError) throw new InputError(`snapshot does not fit this system: ${e.message}`);
      throw e;
    }
    state.ivshmem.forEach((s, i) => new Uint8Array(this.ivshmem[i]!.sharedMemory).set(blob(s.blob, 'ivshmem shared memory')));
    this.faultHit = null;
  }

  /** Make a running run() / runUntil() return at the next stop (as paused); the system stays as it is. */
  pause(reason = 'paused'): void {
    if (this.running) this.userPaused = true;
    this.machine.pause(reason);
  }

  /** End the run for good (as the guest exiting with `code`). */
  stop(reason = 'stopped', code = 0): void {
    this.machine.stop(reason, code);
  }

  /** A system reset at the next stop, as AIRCR.SYSRESETREQ (images are loaded again). */
  reset(): void {
    this.boot();
    this.machine.requestReset();
  }

  /** Free everything: the engine, its threads and mappings, chardevs, ivshmem links. A run in progress is stopped first. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const v of this.views) await v.close();
    if (this.gdb) await this.gdb.close();
    if (this.running) {
      this.machine.stop('closed', 0);
      await this.running.catch(() => {});
    }
    for (const b of this.backends) await b.flush().catch(() => {});
    for (const b of this.backends) await b.close().catch(() => {});
    this.machine.close();
    for (const l of this.links) l.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function indent(s: string): string {
  return s ? s.split('\n').map((l) => `  | ${l}`).join('\n') : '  (nothing)';
}

/** Variables and functions of the ELF, by name. */
/** One board's part of a snapshot (memory contents are indexes into the snapshot's blobs). */
export interface SystemState {
  machine: MachineState;
  memory: { name: string; blob: number }[];
  /** Each ivshmem-flat's shared memory, and whether it was a server's (external) or in-process. */
  ivshmem: { external: boolean; blob: number }[];
  /** The end of each console at the snapshot (for a reader: not restored into the consoles). */
  consoles: { name: string; tail: string }[];
}

export class Symbols {
  constructor(
    private readonly sys: System,
    private readonly table: Map<string, ElfSymbol>,
  ) {}

  has(name: string): boolean {
    return this.table.has(name);
  }
  get(name: string): ElfSymbol {
    const s = this.table.get(name);
    if (!s) throw new RangeError(`no symbol '${name}' in the firmware's ELF`);
    return s;
  }
  /** The symbol's address (functions: without the Thumb bit). */
  address(name: string): number {
    const s = this.get(name);
    return (s.type === 'func' ? s.value & ~1 : s.value) >>> 0;
  }
  names(): string[] {
    return [...this.table.keys()];
  }
  private typeFor(name: string, type?: ValueType): ValueType {
    if (type) return type;
    const size = this.get(name).size;
    return size === 1 ? 'u8' : size === 2 ? 'u16' : size === 8 ? 'u64' : 'u32';
  }
  /** Read a variable (default type from its size: u8, u16, u32, u64). 'bytes' gives its whole storage. */
  read(name: string, type?: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'): number;
  read(name: string, type: 'u64' | 'i64'): bigint;
  read(name: string, type: 'bytes'): Uint8Array;
  read(name: string, type?: ValueType): number | bigint | Uint8Array;
  read(name: string, type?: ValueType): number | bigint | Uint8Array {
    const t = this.typeFor(name, type);
    const addr = this.address(name);
    if (t === 'bytes') return this.sys.memory.read(addr, this.get(name).size);
    return this.sys.memory.readValue(addr, t);
  }
  write(name: string, value: number | bigint | Uint8Array, type?: ValueType): void {
    const addr = this.address(name);
    if (value instanceof Uint8Array) {
      this.sys.memory.write(addr, value);
      return;
    }
    const t = this.typeFor(name, type);
    if (t === 'bytes') throw new TypeError(`symbols.write('${name}'): give a Uint8Array for type 'bytes'`);
    this.sys.memory.writeValue(addr, value, t);
  }
}

/** Guest memory as a debugger sees it: RAM and flash directly, device registers through the bus. */
export class Memory {
  constructor(private readonly sys: System) {}

  read(addr: number, length: number): Uint8Array {
    this.sys.boot();
    const map = this.sys.machine.map;
    const out = new Uint8Array(length);
    for (let o = 0; o < length; ) {
      const a = (addr + o) >>> 0;
      const r = map.regionAt(a);
      if (!r || r.kind === 'unimp') {
        if (r) {
          o++;
          continue; // unimplemented regions read as zero
        }
        throw new RangeError(`memory.read: no memory at ${hex(a)} on ${this.sys.board.name}`);
      }
      if (r.kind === 'ram') {
        const n = Math.min(length - o, r.base + r.size - a);
        out.set(new Uint8Array(r.buffer, r.offset + (a - r.base), n), o);
        o += n;
      } else {
        // Device registers: naturally aligned accesses of the largest size that fits (a word
        // register read as a word, as a debugger's x/w means it).
        const size = accessSize(a, length - o, r.base + r.size - a);
        const v = map.busRead(a, size);
        for (let i = 0; i < size; i++) out[o + i] = (v >>> (8 * i)) & 0xff;
        o += size;
      }
    }
    return out;
  }

  /** Write bytes (flash too: this is the debugger's and loader's view, not the guest's). */
  write(addr: number, data: Uint8Array): void {
    this.sys.boot();
    const map = this.sys.machine.map;
    for (let o = 0; o < data.length; ) {
      const a = (addr + o) >>> 0;
      const r = map.regionAt(a);
      if (!r || r.kind === 'unimp') throw new RangeError(`memory.write: no memory at ${hex(a)} on ${this.sys.board.name}`);
      if (r.kind === 'ram') {
        const n = Math.min(data.length - o, r.base + r.size - a);
        new Uint8Array(r.buffer, r.offset + (a - r.base), n).set(data.subarray(o, o + n));
        o += n;
      } else {
        const size = accessSize(a, data.length - o, r.base + r.size - a);
        let v = 0;
        for (let i = 0; i < size; i++) v |= data[o + i]! << (8 * i);
        map.busWrite(a, size, v >>> 0);
        o += size;
      }
    }
    // Code may have changed under translated blocks.
    this.sys.machine.native.invalidateCode(addr, data.length);
  }

  readValue(addr: number, type: Exclude<ValueType, 'bytes'>): number | bigint {
    const size = TYPE_SIZE[type];
    const map = this.sys.machine.map;
    this.sys.boot();
    const r = map.regionAt(addr);
    // A device register is read with one access of its size (a UART data register must not be read bytewise).
    if (r?.kind === 'device' && (size === 1 || size === 2 || size === 4)) {
      const v = map.busRead(addr, size as 1 | 2 | 4);
      return decode(type, new DataView(Uint32Array.of(v).buffer));
    }
    const b = this.read(addr, size);
    return decode(type, new DataView(b.buffer, b.byteOffset, b.length));
  }

  writeValue(addr: number, value: number | bigint, type: Exclude<ValueType, 'bytes'>): void {
    const size = TYPE_SIZE[type];
    const b = new Uint8Array(size);
    const dv = new DataView(b.buffer);
    switch (type) {
      case 'u8': case 'i8': dv.setUint8(0, Number(value) & 0xff); break;
      case 'u16': case 'i16': dv.setUint16(0, Number(value) & 0xffff, true); break;
      case 'u32': case 'i32': dv.setUint32(0, Number(value) >>> 0, true); break;
      case 'u64': case 'i64': dv.setBigUint64(0, BigInt.asUintN(64, BigInt(value)), true); break;
      case 'f32': dv.setFloat32(0, Number(value), true); break;
      case 'f64': dv.setFloat64(0, Number(value), true); break;
    }
    const map = this.sys.machine.map;
    this.sys.boot();
    const r = map.regionAt(addr);
    if (r?.kind === 'device' && (size === 1 || size === 2 || size === 4)) {
      map.busWrite(addr, size as 1 | 2 | 4, size === 4 ? dv.getUint32(0, true) : size === 2 ? dv.getUint16(0, true) : dv.getUint8(0));
      return;
    }
    this.write(addr, b);
  }

  read32(addr: number): number {
    return this.readValue(addr, 'u32') as number;
  }
  write32(addr: number, value: number): void {
    this.writeValue(addr, value, 'u32');
  }
}

/** The largest naturally aligned access (4, 2 or 1 bytes) at `addr` within `left` bytes and the region. */
function accessSize(addr: number, left: number, inRegion: number): 1 | 2 | 4 {
  const n = Math.min(left, inRegion);
  if ((addr & 3) === 0 && n >= 4) return 4;
  if ((addr & 1) === 0 && n >= 2) return 2;
  return 1;
}

function decode(type: Exclude<ValueType, 'bytes'>, dv: DataView): number | bigint {
  switch (type) {
    case 'u8': return dv.getUint8(0);
    case 'i8': return dv.getInt8(0);
    case 'u16': return dv.getUint16(0, true);
    case 'i16': return dv.getInt16(0, true);
    case 'u32': return dv.getUint32(0, true);
    case 'i32': return dv.getInt32(0, true);
    case 'u64': return dv.getBigUint64(0, true);
    case 'i64': return dv.getBigInt64(0, true);
    case 'f32': return dv.getFloat32(0, true);
    case 'f64': return dv.getFloat64(0, true);
  }
}

/** The core's registers (r0-r12, sp, lr, pc, xpsr and the banked/special ones). */
export class CpuAccess {
  constructor(private readonly sys: System) {}

  registers(): Registers {
    this.sys.boot();
    const s = this.sys.machine.cpu.snapshot();
    const out = { sp: s.sp, lr: s.lr, pc: s.pc, xpsr: s.xpsr, msp: s.msp, psp: s.psp, primask: s.primask, basepri: s.basepri, faultmask: s.faultmask, control: s.control } as Registers;
    s.r.forEach((v, i) => (out[`r${i}` as RegisterName] = v >>> 0));
    return out;
  }
  get(name: RegisterName): number {
    return this.registers()[name];
  }
  set(name: RegisterName, value: number): void {
    const id = REG_IDS[name];
    if (id === undefined) throw new RangeError(`no register '${name}' (${REGISTER_NAMES.join(', ')})`);
    this.sys.boot();
    if (name === 'pc') this.sys.machine.cpu.pc = value;
    else this.sys.machine.cpu.setReg(id, value);
  }
  get pc(): number {
    return this.sys.machine.cpu.pc & ~1;
  }
}

/** The NVIC from outside: pend an external interrupt as a device would, look at its state. */
export class NvicAccess {
  constructor(private readonly sys: System) {}
  private exc(irq: number): number {
    if (!Number.isInteger(irq) || irq < 0 || irq >= this.sys.board.numIrqs) throw new RangeError(`${this.sys.board.name} has external IRQs 0..${this.sys.board.numIrqs - 1}, not ${irq}`);
    return EXC_EXTERNAL0 + irq;
  }
  /** Pend external interrupt `irq` (an edge, as a device pulse). */
  pend(irq: number): void {
    this.sys.machine.scs.nvic.setPending(this.exc(irq));
    this.sys.machine.kick();
  }
  /** Drive external input `irq` as a level. */
  setLevel(irq: number, high: boolean): void {
    this.exc(irq);
    this.sys.machine.scs.nvic.line(irq).set(high);
    this.sys.machine.kick();
  }
  isPending(irq: number): boolean {
    return this.sys.machine.scs.nvic.isPending(this.exc(irq));
  }
  isActive(irq: number): boolean {
    return this.sys.machine.scs.nvic.isActive(this.exc(irq));
  }
  isEnabled(irq: number): boolean {
    return this.sys.machine.scs.nvic.isEnabled(this.exc(irq));
  }
}
