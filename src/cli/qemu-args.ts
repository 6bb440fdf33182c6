/**
 * The `qemu-system-arm` command-line subset that cmemu understands, parsed into a plain
 * configuration object. Nothing here opens files or sockets: the caller (the CLI) builds the
 * machine from the config, prints `config.notes` to stderr, and answers `config.info` requests
 * (`-M help`, `-version`, ...) with `infoText()`.
 *
 * QEMU syntax rules kept here:
 *  - `-opt` and `--opt` are the same; `-opt=value` is not QEMU syntax and is rejected;
 *  - key=value lists use `,` as separator and `,,` for a literal comma;
 *  - the first item of a list may omit its key (`-chardev stdio,id=x`, `-M mps2-an385,...`);
 *  - a bare item is a boolean flag (`server` = `server=on`, `nowait` = `wait=off`).
 * Options that do not apply to an M-profile board are accepted with a one-line note; options
 * that cannot be honoured (disks, other CPUs) are errors.
 */
import type { LogCategory } from '../devices/device.js';
import { TRACE_EVENTS, traceGlob } from '../log/logger.js';
import { readFileSync } from 'node:fs';
import { BOARDS } from '../machine/boards/index.js';

export { UsageError } from '../system/errors.js';
import { UsageError } from '../system/errors.js';

// ---------------------------------------------------------------------------------------------
// Output types
// ---------------------------------------------------------------------------------------------

export type { SocketAddress, ChardevSpec, ChardevBackendKind } from '../host/chardev.js';
import type { ChardevSpec, SocketAddress } from '../host/chardev.js';

export interface MonitorSpec {
  /** The chardev the (unimplemented) monitor would sit on. */
  chardev: string;
  mode: 'readline' | 'control';
}

/** `-device loader,...`: QEMU's generic loader. */
export type LoaderSpec =
  /** file=PATH: an ELF is loaded by its headers (addr, if given, sets nothing); anything else is raw at addr. */
  | { kind: 'file'; file: string; addr: number | null; forceRaw: boolean; cpuNum: number | null }
  /** addr=A,data=V,data-len=N[,data-be=on]: N bytes of V stored at A (bytes already in guest order). */
  | { kind: 'data'; addr: number; bytes: Uint8Array; cpuNum: number | null }
  /** addr=A,cpu-num=N alone: set that CPU's PC to A. */
  | { kind: 'pc'; addr: number; cpuNum: number };

export interface IcountConfig {
  /** Virtual ns per instruction = 2^shift; 'auto' adapts to real time (QEMU's shift=auto). */
  shift: number | 'auto';
  align: boolean;
  /** sleep=off: while the guest sleeps, virtual time jumps to the next deadline. */
  sleep: boolean;
}

export interface RtcConfig {
  clock: 'host' | 'rt' | 'vm';
  /** 'utc', 'localtime', or an ISO date[time] string. */
  base: string;
}

export interface SemihostingConfig {
  enabled: boolean;
  target: 'native' | 'gdb' | 'auto';
  /** Guest argv: the arg=... values, or (QEMU's fallback) [kernel, ...-append words]. */
  args: string[];
  /** args joined by spaces: what SYS_GET_CMDLINE returns. */
  cmdline: string;
  /** chardev=ID for semihosting console output, or null (stdout/stderr). */
  chardev: string | null;
  userspace: boolean;
}

/** The `-d` items cmemu implements. */
export type LogItem = Exclude<LogCategory, 'trace'>;

export interface GdbConfig {
  /** The -gdb device string as given ('tcp::1234' for -s), or null with only -S. */
  dev: string | null;
  address: SocketAddress | null;
  /** -S: do not start the CPU until a debugger (or monitor) says so. */
  waitForGdb: boolean;
}

export interface IvshmemFlatSpec {
  /** Id of the -chardev (a unix socket client to the ivshmem server). */
  chardev: string;
  /** x-irq-qompath as given, or null. */
  irqPath: string | null;
  /** The NVIC node that path names: the path without its `[N]` and quotes (checked against the board by the launcher), or null. */
  irqNode: string | null;
  /** NVIC input N from the path's `gpio-in[N]`, or null (the board's default). */
  irq: number | null;
  /** MMIO register window (x-bus-address-iomem), or null: the board's default. */
  iomemAddr: number | null;
  /** Shared memory window (x-bus-address-shmem), or null: the board's default. */
  shmemAddr: number | null;
  /** shmem-size in bytes, or null when not given: then the server's region size is used (QEMU would default to 4 MiB and demand an exact match). */
  shmemSize: number | null;
}

export type InfoRequest =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'machine-help' }
  | { kind: 'machine-props'; machine: string }
  | { kind: 'cpu-help' }
  | { kind: 'device-help' }
  | { kind: 'device-props'; device: string }
  | { kind: 'log-help' }
  | { kind: 'trace-help' };

export interface QemuConfig {
  /** Set when the command line asks for information instead of a run (print infoText(info), exit 0). */
  info: InfoRequest | null;
  machine: { name: string; props: Record<string, string> };
  cpu: 'cortex-m3';
  kernel: string | null;
  /** -append text (M-profile ignores it except as the semihosting command line fallback). */
  append: string | null;
  loaders: LoaderSpec[];
  /** Every chardev, by id: explicit -chardev ones and those made from -serial/-monitor strings (serial0, ...). */
  chardevs: Map<string, ChardevSpec>;
  /** Serial port i ← serials[i], in command-line order (entries are shared objects from `chardevs`). */
  serials: ChardevSpec[];
  monitor: MonitorSpec | null;
  nographic: boolean;
  icount: IcountConfig | null;
  rtc: RtcConfig;
  semihosting: SemihostingConfig;
  log: { items: LogItem[]; file: string | null; events: string[] };
  pidfile: string | null;
  noReboot: boolean;
  noShutdown: boolean;
  gdb: GdbConfig | null;
  ivshmem: IvshmemFlatSpec[];
  /** -m in bytes, or null (the board's memory is fixed: recorded, not used). */
  memSize: number | null;
  /** -loadvm FILE: start from a cmemu snapshot file (QEMU takes a snapshot tag of a qcow2 image; there are no disk images here). */
  loadvm: string | null;
  /** One-line notes for stderr, e.g. about accepted-but-ignored options. */
  notes: string[];
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

export const QEMU_COMPAT_VERSION = '9.2.0';
export const CMEMU_VERSION = '0.1.0';

/** The boards (src/machine/boards), as -machine knows them. */
export const MACHINES: readonly { name: string; description: string }[] = BOARDS.map((b) => ({ name: b.name, description: b.description }));

export const CPUS: readonly string[] = ['cortex-m3'];

export const LOG_ITEMS: readonly { name: LogItem; help: string }[] = [
  { name: 'in_asm', help: 'show target assembly code for each compiled TB' },
  { name: 'int', help: 'show interrupts/exceptions in short format' },
  { name: 'exec', help: 'show trace before each executed TB (lots of logs)' },
  { name: 'cpu', help: 'show CPU registers before entering a TB (lots of logs)' },
  { name: 'nochain', help: 'do not chain compiled TBs so that "exec" and "cpu" show complete traces' },
  { name: 'cpu_reset', help: 'show CPU state before CPU resets' },
  { name: 'unimp', help: 'log unimplemented functionality' },
  { name: 'guest_errors', help: 'log when the guest OS does something invalid (eg accessing a non-existent register)' },
];

/** Items QEMU knows that cmemu accepts and ignores (with a note). */
const QEMU_ONLY_LOG_ITEMS = [
  'out_asm', 'op', 'op_opt', 'op_ind', 'op_plugin', 'fpu', 'mmu', 'pcall', 'page',
  'plugin', 'strace', 'tid', 'vpu', 'invalid_mem',
];

const DEVICES: readonly { name: string; help: string }[] = [
  { name: 'loader', help: 'Generic Loader: file=PATH[,addr=A][,force-raw=on] | addr=A,data=V,data-len=N[,data-be=on] | addr=A,cpu-num=N' },
  {
    name: 'ivshmem-flat',
    help: 'Inter-VM shared memory (flat): chardev=ID,x-irq-qompath=PATH,x-bus-address-iomem=A,x-bus-address-shmem=A[,shmem-size=N]',
  },
];

const MAX_ICOUNT_SHIFT = 10;

// ---------------------------------------------------------------------------------------------
// key=value lists (QemuOpts)
// ---------------------------------------------------------------------------------------------

export interface KeyVal {
  key: string;
  /** null for a bare item (a flag, or the implied first value). */
  value: string | null;
}

/** Split a QEMU option list: `,` separates, `,,` is a literal comma. */
export function splitOptList(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === ',') {
      if (s[i + 1] === ',') {
        cur += ',';
        i++;
      } else {
        out.push(cur);
        cur = '';
      }
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * Parse `a,k=v,flag,...` (`opt` prefixes error messages, e.g. '-chardev stdio,id=x'). With `implied`, a first item without `=` is the value of that key.
 * Bare later items are flags: `x` → x=on, `nox` → x=off (QEMU's short-form booleans).
 */
export function parseKeyVals(opt: string, s: string, implied?: string): Map<string, string> {
  const out = new Map<string, string>();
  const items = splitOptList(s);
  items.forEach((item, i) => {
    const eq = item.indexOf('=');
    if (eq < 0) {
      if (i === 0 && implied) {
        out.set(implied, item);
        return;
      }
      if (item === '') {
        if (items.length === 1) return;
        throw new UsageError(`${opt}: empty item in option list`);
      }
      if (item.startsWith('no') && item.length > 2) out.set(item.slice(2), 'off');
      else out.set(item, 'on');
      return;
    }
    const key = item.slice(0, eq);
    if (key === '') throw new UsageError(`${opt}: empty parameter name in '${item}'`);
    if (key === 'arg' && out.has('arg')) out.set('arg', out.get('arg') + '\0' + item.slice(eq + 1));
    else out.set(key, item.slice(eq + 1));
  });
  return out;
}

function parseBool(opt: string, key: string, v: string): boolean {
  switch (v) {
    case 'on': case 'yes': case 'true': case 'y':
      return true;
    case 'off': case 'no': case 'false': case 'n':
      return false;
    default:
      throw new UsageError(`${opt}: parameter '${key}' expects 'on' or 'off' (got '${v}')`);
  }
}

/** An unsigned integer as QEMU reads one (strtoull base 0: 0x.. hex, 0.. octal, decimal). */
function parseUint(opt: string, key: string, v: string, max = 0xffff_ffff): number {
  let n: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(v)) n = parseInt(v.slice(2), 16);
  else if (/^0[0-7]+$/.test(v)) n = parseInt(v.slice(1), 8);
  else if (/^[0-9]+$/.test(v)) n = parseInt(v, 10);
  else throw new UsageError(`${opt}: parameter '${key}' expects a number (got '${v}')`);
  if (n > max) throw new UsageError(`${opt}: parameter '${key}' value ${v} is out of range (max 0x${max.toString(16)})`);
  return n;
}

/** A size with an optional K/M/G/T suffix (binary); `defaultUnit` multiplies a bare number. */
function parseSize(opt: string, v: string, defaultUnit = 1): number {
  const m = /^(0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?)([kKmMgGtTbB]?)$/.exec(v);
  if (!m) throw new UsageError(`${opt}: invalid size '${v}'`);
  const base = m[1].startsWith('0x') || m[1].startsWith('0X') ? parseInt(m[1], 16) : Number(m[1]);
  const unit: Record<string, number> = { '': defaultUnit, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  const n = Math.round(base * unit[m[2].toLowerCase()]);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${opt}: size '${v}' is too large`);
  return n;
}

function rejectUnknown(opt: string, kv: Map<string, string>, allowed: readonly string[], what?: string): void {
  for (const k of kv.keys()) {
    if (!allowed.includes(k)) throw new UsageError(`${opt}: invalid parameter '${k}'${what ? ` for ${what}` : ''}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The option table
// ---------------------------------------------------------------------------------------------

type Handler = (ctx: Ctx, arg: string) => void;
interface OptDef {
  arg: boolean;
  handle: Handler;
}

interface SerialRequest {
  /** A resolved spec, or a chardev:ID reference resolved after all -chardev options are seen. */
  spec: ChardevSpec | null;
  ref: string | null;
  /** mon:... (a monitor shares this serial's chardev) */
  monitor: boolean;
  text: string;
}

class Ctx {
  readonly cfg: QemuConfig;
  readonly serialReqs: SerialRequest[] = [];
  serialGiven = false;
  monitorReq: { spec: ChardevSpec | null; ref: string | null; mode: 'readline' | 'control'; text: string; opt: string } | null = null;
  monitorGiven = false;
  monitorNoted = false;
  nodefaults = false;
  semihostingArgs: string[] = [];
  displayNone = false;
  private monCount = 0;

  constructor() {
    this.cfg = {
      info: null,
      machine: { name: '', props: {} },
      cpu: 'cortex-m3',
      kernel: null,
      append: null,
      loaders: [],
      chardevs: new Map(),
      serials: [],
      monitor: null,
      nographic: false,
      icount: null,
      rtc: { clock: 'host', base: 'utc' },
      semihosting: { enabled: false, target: 'auto', args: [], cmdline: '', chardev: null, userspace: false },
      log: { items: [], file: null, events: [] },
      pidfile: null,
      noReboot: false,
      noShutdown: false,
      gdb: null,
      ivshmem: [],
      memSize: null,
      loadvm: null,
      notes: [],
    };
  }
  note(msg: string): void {
    if (!this.cfg.notes.includes(msg)) this.cfg.notes.push(msg);
  }
  info(req: InfoRequest): void {
    if (!this.cfg.info) this.cfg.info = req;
  }
  nextMonitorId(): string {
    return `compat_monitor${this.monCount++}`;
  }
  noteMonitor(): void {
    if (this.monitorNoted) return;
    this.monitorNoted = true;
    this.note('the QEMU monitor is not implemented: -mon/-monitor accepted, its chardev carries only the serial console');
  }
  gdbState(): GdbConfig {
    if (!this.cfg.gdb) this.cfg.gdb = { dev: null, address: null, waitForGdb: false };
    return this.cfg.gdb;
  }
}

const noteIgnored = (what: string): Handler => (ctx) => ctx.note(`${what}: not applicable to this emulator, ignored`);

const OPTIONS: Record<string, OptDef> = {
  machine: { arg: true, handle: handleMachine },
  M: { arg: true, handle: handleMachine },
  cpu: { arg: true, handle: handleCpu },
  kernel: {
    arg: true,
    handle: (ctx, a) => {
      ctx.cfg.kernel = a;
    },
  },
  append: {
    arg: true,
    handle: (ctx, a) => {
      ctx.cfg.append = a;
      ctx.note('-append: M-profile boards have no kernel command line; used only as the semihosting command line fallback');
    },
  },
  nographic: {
    arg: false,
    handle: (ctx) => {
      ctx.cfg.nographic = true;
    },
  },
  serial: { arg: true, handle: handleSerial },
  chardev: { arg: true, handle: handleChardev },
  mon: { arg: true, handle: handleMon },
  monitor: { arg: true, handle: handleMonitor },
  qmp: { arg: true, handle: (ctx) => ctx.note('-qmp: the QEMU monitor (QMP) is not implemented, ignored') },
  icount: { arg: true, handle: handleIcount },
  loadvm: {
    arg: true,
    handle: (ctx, a) => {
      if (a === '') throw new UsageError('-loadvm: give a snapshot file (made by sys.snapshot(), --snapshot-at or SIGUSR1)');
      ctx.cfg.loadvm = a;
    },
  },
  rtc: { arg: true, handle: handleRtc },
  semihosting: {
    arg: false,
    handle: (ctx) => {
      ctx.cfg.semihosting.enabled = true;
      ctx.cfg.semihosting.target = 'auto';
    },
  },
  'semihosting-config': { arg: true, handle: handleSemihostingConfig },
  d: { arg: true, handle: handleLog },
  D: {
    arg: true,
    handle: (ctx, a) => {
      ctx.cfg.log.file = a;
    },
  },
  vga: {
    arg: true,
    handle: (ctx, a) => {
      if (a !== 'none') ctx.note(`-vga ${a}: this board has no display, ignored`);
    },
  },
  display: {
    arg: true,
    handle: (ctx, a) => {
      const kind = splitOptList(a)[0];
      if (kind === 'none') ctx.displayNone = true;
      else ctx.note(`-display ${kind}: there is no graphical display, ignored`);
    },
  },
  net: {
    arg: true,
    handle: (ctx, a) => {
      if (a !== 'none') ctx.note(`-net ${a}: networking is not emulated, ignored`);
    },
  },
  nic: {
    arg: true,
    handle: (ctx, a) => {
      if (a !== 'none') ctx.note(`-nic ${a}: networking is not emulated, ignored`);
    },
  },
  netdev: { arg: true, handle: (ctx, a) => ctx.note(`-netdev ${a}: networking is not emulated, ignored`) },
  pidfile: {
    arg: true,
    handle: (ctx, a) => {
      ctx.cfg.pidfile = a;
    },
  },
  'no-reboot': {
    arg: false,
    handle: (ctx) => {
      ctx.cfg.noReboot = true;
    },
  },
  'no-shutdown': {
    arg: false,
    handle: (ctx) => {
      ctx.cfg.noShutdown = true;
    },
  },
  S: {
    arg: false,
    handle: (ctx) => {
      ctx.gdbState().waitForGdb = true;
    },
  },
  s: { arg: false, handle: (ctx) => handleGdb(ctx, 'tcp::1234', '-s') },
  gdb: { arg: true, handle: (ctx, a) => handleGdb(ctx, a, '-gdb') },
  m: { arg: true, handle: handleMem },
  device: { arg: true, handle: handleDevice },
  global: { arg: true, handle: (ctx, a) => ctx.note(`-global ${a}: device properties are fixed on this emulator, ignored`) },
  bios: {
    arg: true,
    handle: () => {
      throw new UsageError('-bios: not supported on this board (use -kernel for the firmware image)');
    },
  },
  drive: { arg: true, handle: noBlock('-drive') },
  sd: { arg: true, handle: noBlock('-sd') },
  hda: { arg: true, handle: noBlock('-hda') },
  mtdblock: { arg: true, handle: noBlock('-mtdblock') },
  pflash: { arg: true, handle: noBlock('-pflash') },
  cdrom: { arg: true, handle: noBlock('-cdrom') },
  version: { arg: false, handle: (ctx) => ctx.info({ kind: 'version' }) },
  h: { arg: false, handle: (ctx) => ctx.info({ kind: 'help' }) },
  help: { arg: false, handle: (ctx) => ctx.info({ kind: 'help' }) },
  nodefaults: {
    arg: false,
    handle: (ctx) => {
      ctx.nodefaults = true;
    },
  },
  'no-user-config': { arg: false, handle: () => {} },
  name: { arg: true, handle: () => {} },
  accel: {
    arg: true,
    handle: (ctx, a) => {
      const kind = splitOptList(a)[0];
      if (kind !== 'tcg') throw new UsageError(`-accel ${kind}: accelerator not available (cmemu runs guest code in its own JIT; use -accel tcg or nothing)`);
    },
  },
  'enable-kvm': {
    arg: false,
    handle: () => {
      throw new UsageError('-enable-kvm: KVM cannot run Cortex-M guests');
    },
  },
  smp: {
    arg: true,
    handle: (ctx, a) => {
      const kv = parseKeyVals(`-smp ${a}`, a, 'cpus');
      const n = kv.get('cpus');
      if (n !== undefined && n !== '1') throw new UsageError(`-smp ${a}: this board has exactly one CPU`);
    },
  },
  L: { arg: true, handle: noteIgnored('-L') },
  msg: { arg: true, handle: noteIgnored('-msg') },
  trace: { arg: true, handle: (ctx, a) => handleTrace(ctx, a) },
  daemonize: {
    arg: false,
    handle: () => {
      throw new UsageError('-daemonize: not supported (run cmemu in the background with your shell)');
    },
  },
};

function noBlock(opt: string): Handler {
  return () => {
    throw new UsageError(`${opt}: not supported on this board (it has no block devices; use -kernel or -device loader)`);
  };
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

function handleMachine(ctx: Ctx, a: string): void {
  const kv = parseKeyVals(`-machine ${a}`, a, 'type');
  const name = kv.get('type');
  kv.delete('type');
  if (name === 'help' || name === '?') {
    ctx.info({ kind: 'machine-help' });
    return;
  }
  if (name !== undefined) {
    if (!MACHINES.some((m) => m.name === name)) {
      throw new UsageError(`-machine ${a}: unsupported machine type '${name}' (supported: ${MACHINES.map((m) => m.name).join(', ')}; use -machine help)`);
    }
    ctx.cfg.machine.name = name;
  }
  if (kv.has('help')) {
    kv.delete('help');
    ctx.info({ kind: 'machine-props', machine: name ?? ctx.cfg.machine.name });
  }
  for (const [k, v] of kv) {
    ctx.cfg.machine.props[k] = v;
    if (k === 'accel') {
      if (v !== 'tcg') throw new UsageError(`-machine ${a}: accelerator '${v}' not available (use accel=tcg or nothing)`);
      continue;
    }
    ctx.note(`-machine ${k}=${v}: machine property not supported, ignored`);
  }
}

function handleCpu(ctx: Ctx, a: string): void {
  const [model, ...features] = splitOptList(a);
  if (model === 'help' || model === '?') {
    ctx.info({ kind: 'cpu-help' });
    return;
  }
  if (!CPUS.includes(model)) {
    throw new UsageError(`-cpu ${model}: unsupported CPU model (supported: ${CPUS.join(', ')})`);
  }
  if (features.length) ctx.note(`-cpu ${a}: CPU properties are not supported, ignored`);
}

/** Parse a legacy device string (as -serial / -monitor take) into a chardev spec. */
function parseCompatChardev(opt: string, text: string, id: string): { spec: ChardevSpec | null; ref: string | null; mux: boolean } {
  let s = text;
  let mux = false;
  if (s.startsWith('mon:')) {
    mux = true;
    s = s.slice(4);
  }
  const base = { id, mux };
  if (s === 'null') return { spec: { ...base, backend: 'null' }, ref: null, mux };
  if (s === 'stdio') return { spec: { ...base, backend: 'stdio', signal: true }, ref: null, mux };
  if (s.startsWith('chardev:')) {
    const ref = s.slice(8);
    if (!ref) throw new UsageError(`${opt} ${text}: missing chardev id after 'chardev:'`);
    return { spec: null, ref, mux };
  }
  if (s.startsWith('file:')) {
    const path = s.slice(5);
    if (!path) throw new UsageError(`${opt} ${text}: missing file name after 'file:'`);
    return { spec: { ...base, backend: 'file', path, append: false }, ref: null, mux };
  }
  if (s.startsWith('pipe:')) {
    const path = s.slice(5);
    if (!path) throw new UsageError(`${opt} ${text}: missing path after 'pipe:'`);
    return { spec: { ...base, backend: 'pipe', path }, ref: null, mux };
  }
  if (s.startsWith('unix:')) {
    const kv = parseKeyVals(`${opt} ${text}`, s.slice(5), 'path');
    const path = kv.get('path');
    if (!path) throw new UsageError(`${opt} ${text}: missing socket path after 'unix:'`);
    kv.delete('path');
    return { spec: { ...base, ...socketOptions(`${opt} ${text}`, kv, { type: 'unix', path }) }, ref: null, mux };
  }
  if (s.startsWith('tcp:')) {
    const rest = s.slice(4);
    const items = splitOptList(rest);
    const hp = items[0];
    const colon = hp.lastIndexOf(':');
    if (colon < 0) throw new UsageError(`${opt} ${text}: expected tcp:[HOST]:PORT`);
    let host = hp.slice(0, colon);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    const port = parsePort(`${opt} ${text}`, hp.slice(colon + 1));
    const kv = parseKeyVals(`${opt} ${text}`, items.slice(1).map((i) => i.replace(/,/g, ',,')).join(','));
    return { spec: { ...base, ...socketOptions(`${opt} ${text}`, kv, { type: 'tcp', host: host || '127.0.0.1', port }) }, ref: null, mux };
  }
  const kind = /^[a-z]+/.exec(s)?.[0] ?? s;
  throw new UsageError(
    `${opt} ${text}: unsupported character device '${kind || s}' (supported: stdio, null, none, chardev:ID, file:PATH, pipe:PATH, unix:PATH, tcp:HOST:PORT, mon:stdio)`,
  );
}

function parsePort(opt: string, p: string): number {
  if (!/^[0-9]+$/.test(p)) throw new UsageError(`${opt}: invalid port '${p}'`);
  const n = parseInt(p, 10);
  if (n > 65535) throw new UsageError(`${opt}: invalid port '${p}'`);
  return n;
}

type SocketPart = Extract<ChardevSpec, { backend: 'socket' }>;
function socketOptions(opt: string, kv: Map<string, string>, address: SocketAddress): Omit<SocketPart, 'id' | 'mux'> {
  // QEMU's short-form 'nodelay' flag parses as delay=off.
  if (kv.has('delay')) {
    kv.set('nodelay', parseBool(opt, 'delay', kv.get('delay')!) ? 'off' : 'on');
    kv.delete('delay');
  }
  rejectUnknown(opt, kv, ['server', 'wait', 'nodelay', 'reconnect', 'reconnect-ms', 'telnet', 'websocket', 'tls-creds', 'abstract', 'tight'], 'a socket');
  for (const k of ['telnet', 'websocket', 'tls-creds'] as const) {
    if (kv.has(k) && (k === 'tls-creds' || parseBool(opt, k, kv.get(k)!))) throw new UsageError(`${opt}: socket option '${k}' is not supported`);
  }
  const server = kv.has('server') ? parseBool(opt, 'server', kv.get('server')!) : false;
  if (!server && kv.has('wait')) throw new UsageError(`${opt}: 'wait' option is incompatible with socket in client connect mode`);
  const wait = kv.has('wait') ? parseBool(opt, 'wait', kv.get('wait')!) : true;
  const nodelay = kv.has('nodelay') ? parseBool(opt, 'nodelay', kv.get('nodelay')!) : false;
  let reconnect = 0;
  if (kv.has('reconnect')) reconnect = parseUint(opt, 'reconnect', kv.get('reconnect')!);
  if (kv.has('reconnect-ms')) reconnect = parseUint(opt, 'reconnect-ms', kv.get('reconnect-ms')!) / 1000;
  if (server && reconnect) throw new UsageError(`${opt}: 'reconnect' option is incompatible with socket in server listen mode`);
  return { backend: 'socket', address, server, wait: server ? wait : false, nodelay, reconnect };
}

function handleSerial(ctx: Ctx, a: string): void {
  ctx.serialGiven = true;
  if (a === 'none') return; // no chardev for this port index (QEMU does not consume an index)
  if (a === 'help') throw new UsageError('-serial help: backends are stdio, null, none, chardev:ID, file:PATH, pipe:PATH, unix:PATH[,server=on][,wait=off], tcp:HOST:PORT[,server=on][,wait=off], mon:stdio');
  const r = parseCompatChardev('-serial', a, `serial${ctx.serialReqs.length}`);
  if (r.spec) {
    if (ctx.cfg.chardevs.has(r.spec.id)) throw new UsageError(`-serial ${a}: Duplicate ID '${r.spec.id}' for chardev`);
    ctx.cfg.chardevs.set(r.spec.id, r.spec);
  }
  ctx.serialReqs.push({ spec: r.spec, ref: r.ref, monitor: r.mux, text: a });
}

function handleChardev(ctx: Ctx, a: string): void {
  const opt = `-chardev ${a}`;
  const kv = parseKeyVals(opt, a, 'backend');
  const backend = kv.get('backend');
  if (!backend) throw new UsageError(`${opt}: missing backend (e.g. -chardev stdio,id=con)`);
  if (backend === 'help') throw new UsageError('-chardev help: available backends: stdio, null, file, pipe, socket');
  const id = kv.get('id');
  if (!id) throw new UsageError(`${opt}: parameter 'id' is missing`);
  if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(id)) throw new UsageError(`${opt}: invalid chardev id '${id}' (letters, digits, '-', '.', '_'; starting with a letter)`);
  if (ctx.cfg.chardevs.has(id)) throw new UsageError(`${opt}: Duplicate ID '${id}' for chardev`);
  const mux = kv.has('mux') ? parseBool(opt, 'mux', kv.get('mux')!) : false;
  const common = ['backend', 'id', 'mux', 'logfile', 'logappend'];
  if (kv.has('logfile')) ctx.note(`${opt}: logfile= is not implemented, ignored`);
  const base = { id, mux };
  let spec: ChardevSpec;
  switch (backend) {
    case 'stdio': {
      rejectUnknown(opt, kv, [...common, 'signal'], 'backend stdio');
      spec = { ...base, backend: 'stdio', signal: kv.has('signal') ? parseBool(opt, 'signal', kv.get('signal')!) : true };
      break;
    }
    case 'null':
      rejectUnknown(opt, kv, common, 'backend null');
      spec = { ...base, backend: 'null' };
      break;
    case 'file': {
      rejectUnknown(opt, kv, [...common, 'path', 'append', 'input-path'], 'backend file');
      const path = kv.get('path');
      if (!path) throw new UsageError(`${opt}: chardev: file: no filename given`);
      if (kv.has('input-path')) throw new UsageError(`${opt}: chardev: file: input-path is not supported`);
      spec = { ...base, backend: 'file', path, append: kv.has('append') ? parseBool(opt, 'append', kv.get('append')!) : false };
      break;
    }
    case 'pipe': {
      rejectUnknown(opt, kv, [...common, 'path'], 'backend pipe');
      const path = kv.get('path');
      if (!path) throw new UsageError(`${opt}: chardev: pipe: no device path given`);
      spec = { ...base, backend: 'pipe', path };
      break;
    }
    case 'socket': {
      const path = kv.get('path');
      const host = kv.get('host');
      const port = kv.get('port');
      for (const k of [...common, 'path', 'host', 'port', 'to', 'ipv4', 'ipv6']) kv.delete(k);
      let address: SocketAddress;
      if (path !== undefined) {
        if (host !== undefined || port !== undefined) throw new UsageError(`${opt}: chardev: socket: give either path= or host=/port=, not both`);
        if (!path) throw new UsageError(`${opt}: chardev: socket: empty path`);
        address = { type: 'unix', path };
      } else {
        if (host === undefined) throw new UsageError(`${opt}: chardev: socket: no host given`);
        if (port === undefined) throw new UsageError(`${opt}: chardev: socket: no port given`);
        address = { type: 'tcp', host: host || '127.0.0.1', port: parsePort(opt, port) };
      }
      spec = { ...base, ...socketOptions(opt, kv, address) };
      break;
    }
    default:
      throw new UsageError(`${opt}: chardev backend '${backend}' is not supported (supported: stdio, null, file, pipe, socket)`);
  }
  ctx.cfg.chardevs.set(id, spec);
}

function handleMon(ctx: Ctx, a: string): void {
  const opt = `-mon ${a}`;
  const kv = parseKeyVals(opt, a, 'chardev');
  rejectUnknown(opt, kv, ['chardev', 'mode', 'pretty', 'id']);
  const ref = kv.get('chardev');
  if (!ref) throw new UsageError(`${opt}: parameter 'chardev' is missing`);
  const mode = kv.get('mode') ?? 'readline';
  if (mode !== 'readline' && mode !== 'control') throw new UsageError(`${opt}: mode must be readline or control (got '${mode}')`);
  ctx.monitorGiven = true;
  ctx.monitorReq = { spec: null, ref, mode, text: a, opt };
  ctx.noteMonitor();
}

function handleMonitor(ctx: Ctx, a: string): void {
  ctx.monitorGiven = true;
  if (a === 'none') {
    ctx.monitorReq = null;
    return;
  }
  const id = ctx.nextMonitorId();
  const r = parseCompatChardev('-monitor', a, id);
  if (r.spec) {
    if (ctx.cfg.chardevs.has(id)) throw new UsageError(`-monitor ${a}: Duplicate ID '${id}' for chardev`);
    ctx.cfg.chardevs.set(id, r.spec);
  }
  ctx.monitorReq = { spec: r.spec, ref: r.ref, mode: 'readline', text: a, opt: `-monitor ${a}` };
  // `-monitor null` (FreeRTOS's and many scripts' way of asking for no monitor) loses nothing.
  if (a !== 'null') ctx.noteMonitor();
}

function handleIcount(ctx: Ctx, a: string): void {
  const opt = `-icount ${a}`;
  const kv = parseKeyVals(opt, a, 'shift');
  for (const k of ['rr', 'rrfile', 'rrsnapshot']) if (kv.has(k)) throw new UsageError(`${opt}: record/replay (${k}=) is not supported`);
  rejectUnknown(opt, kv, ['shift', 'align', 'sleep', 'q']);
  const shiftS = kv.get('shift');
  const align = kv.has('align') ? parseBool(opt, 'align', kv.get('align')!) : false;
  const sleep = kv.has('sleep') ? parseBool(opt, 'sleep', kv.get('sleep')!) : true;
  if (shiftS === undefined) {
    if (kv.has('align')) throw new UsageError(`${opt}: Please specify shift option when using align`);
    throw new UsageError(`${opt}: Please specify shift=N or shift=auto`);
  }
  if (align && !sleep) throw new UsageError(`${opt}: align=on and sleep=off are incompatible`);
  let shift: number | 'auto';
  if (shiftS === 'auto') {
    if (align) throw new UsageError(`${opt}: shift=auto and align=on are incompatible`);
    if (!sleep) throw new UsageError(`${opt}: shift=auto and sleep=off are incompatible`);
    shift = 'auto';
  } else {
    if (!/^[0-9]+$/.test(shiftS) || parseInt(shiftS, 10) > MAX_ICOUNT_SHIFT)
      throw new UsageError(`${opt}: icount: Invalid shift value '${shiftS}' (0..${MAX_ICOUNT_SHIFT} or auto)`);
    shift = parseInt(shiftS, 10);
  }
  if (align) ctx.note(`${opt}: align=on is not implemented (virtual time is not throttled to real time), ignored`);
  ctx.cfg.icount = { shift, align, sleep };
}

function handleRtc(ctx: Ctx, a: string): void {
  const opt = `-rtc ${a}`;
  const kv = parseKeyVals(opt, a);
  rejectUnknown(opt, kv, ['base', 'clock', 'driftfix']);
  const clock = kv.get('clock');
  if (clock !== undefined) {
    if (clock !== 'host' && clock !== 'rt' && clock !== 'vm') throw new UsageError(`${opt}: invalid clock '${clock}' (host, rt or vm)`);
    ctx.cfg.rtc.clock = clock;
  }
  const base = kv.get('base');
  if (base !== undefined) {
    if (base !== 'utc' && base !== 'localtime' && !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?$/.test(base))
      throw new UsageError(`${opt}: invalid base '${base}' (utc, localtime, or YYYY-MM-DD[THH:MM:SS])`);
    ctx.cfg.rtc.base = base;
  }
  const drift = kv.get('driftfix');
  if (drift !== undefined && drift !== 'none' && drift !== 'slew') throw new UsageError(`${opt}: invalid driftfix '${drift}' (none or slew)`);
}

function handleSemihostingConfig(ctx: Ctx, a: string): void {
  const opt = `-semihosting-config ${a}`;
  const kv = parseKeyVals(opt, a, 'enable');
  rejectUnknown(opt, kv, ['enable', 'target', 'chardev', 'userspace', 'arg']);
  const sh = ctx.cfg.semihosting;
  sh.enabled = kv.has('enable') ? parseBool(opt, 'enable', kv.get('enable')!) : true;
  const target = kv.get('target');
  if (target !== undefined) {
    if (target !== 'native' && target !== 'gdb' && target !== 'auto') throw new UsageError(`${opt}: target must be native, gdb or auto (got '${target}')`);
    sh.target = target;
    if (target === 'gdb') ctx.note(`${opt}: semihosting calls are handled natively, not forwarded to the debugger`);
  }
  if (kv.has('chardev')) sh.chardev = kv.get('chardev')!;
  if (kv.has('userspace')) sh.userspace = parseBool(opt, 'userspace', kv.get('userspace')!);
  if (kv.has('arg')) ctx.semihostingArgs.push(...kv.get('arg')!.split('\0'));
}

function addTracePattern(ctx: Ctx, opt: string, pat: string): void {
  if (!pat) throw new UsageError(`${opt}: missing trace event pattern`);
  const re = traceGlob(pat.replace(/^-/, ''));
  if (!TRACE_EVENTS.some((e) => re.test(e.name))) ctx.note(`${opt}: no trace event matches '${pat}' (see -d trace:help)`);
  if (!ctx.cfg.log.events.includes(pat)) ctx.cfg.log.events.push(pat);
}

/** -trace [enable=]PATTERN[,file=FILE] (QEMU's -trace; events=FILE reads patterns from a file). */
function handleTrace(ctx: Ctx, a: string): void {
  if (a === 'help' || a === '?' || a === 'enable=help') {
    ctx.info({ kind: 'trace-help' });
    return;
  }
  const kv = parseKeyVals(`-trace ${a}`, a, 'enable');
  rejectUnknown(`-trace ${a}`, kv, ['enable', 'file', 'events']);
  const en = kv.get('enable');
  if (en) addTracePattern(ctx, `-trace ${a}`, en);
  const evf = kv.get('events');
  if (evf) {
    let text: string;
    try {
      text = readFileSync(evf, 'utf8');
    } catch (e) {
      throw new UsageError(`-trace events=${evf}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    for (const line of text.split('\n').map((l) => l.trim())) if (line && !line.startsWith('#')) addTracePattern(ctx, `-trace events=${evf}`, line);
  }
  const file = kv.get('file');
  if (file) ctx.cfg.log.file = file;
}

function handleLog(ctx: Ctx, a: string): void {
  const opt = `-d ${a}`;
  if (a === 'help' || a === '?') {
    ctx.info({ kind: 'log-help' });
    return;
  }
  const known = LOG_ITEMS.map((i) => i.name as string);
  const items: LogItem[] = [];
  for (const item of a.split(',')) {
    if (known.includes(item)) {
      if (!items.includes(item as LogItem)) items.push(item as LogItem);
    } else if (item.startsWith('trace:')) {
      const pat = item.slice(6);
      if (pat === 'help' || pat === '?') {
        ctx.info({ kind: 'trace-help' });
        return;
      }
      addTracePattern(ctx, `-d ${item}`, pat);
    } else if (QEMU_ONLY_LOG_ITEMS.includes(item)) {
      ctx.note(`-d ${item}: log item not implemented by cmemu, ignored`);
    } else {
      throw new UsageError(`${opt}: unknown log item '${item}' (known items: ${known.join(', ')}; see -d help)`);
    }
  }
  // As QEMU: the last -d wins.
  ctx.cfg.log.items = items;
}

function parseGdbDev(opt: string, dev: string): SocketAddress {
  let s = dev;
  if (/^[0-9]+$/.test(s)) s = `tcp::${s}`; // QEMU accepts a bare port
  if (s.startsWith('tcp:')) {
    const hp = splitOptList(s.slice(4))[0];
    const colon = hp.lastIndexOf(':');
    if (colon < 0) throw new UsageError(`${opt}: expected tcp:[HOST]:PORT`);
    const port = parsePort(opt, hp.slice(colon + 1));
    return { type: 'tcp', host: hp.slice(0, colon) || '127.0.0.1', port };
  }
  if (s.startsWith('unix:')) {
    const path = splitOptList(s.slice(5))[0];
    if (!path) throw new UsageError(`${opt}: missing socket path`);
    return { type: 'unix', path };
  }
  throw new UsageError(`${opt}: unsupported gdb device '${dev}' (tcp:[HOST]:PORT, unix:PATH, a port number, or none)`);
}

function handleGdb(ctx: Ctx, dev: string, opt: string): void {
  const g = ctx.gdbState();
  if (dev === 'none') {
    g.dev = null;
    g.address = null;
    return;
  }
  g.address = parseGdbDev(opt === '-s' ? '-s' : `-gdb ${dev}`, dev);
  g.dev = dev;
}

function handleMem(ctx: Ctx, a: string): void {
  const kv = parseKeyVals(`-m ${a}`, a, 'size');
  rejectUnknown(`-m ${a}`, kv, ['size', 'slots', 'maxmem']);
  const size = kv.get('size');
  if (!size) throw new UsageError(`-m ${a}: missing size`);
  ctx.cfg.memSize = parseSize(`-m ${a}`, size, 1024 * 1024);
  ctx.note(`-m ${a}: the board's memory map is fixed, ignored`);
}

function handleDevice(ctx: Ctx, a: string): void {
  const opt = `-device ${a}`;
  const kv = parseKeyVals(opt, a, 'driver');
  const driver = kv.get('driver');
  if (driver === 'help' || driver === '?') {
    ctx.info({ kind: 'device-help' });
    return;
  }
  if (!driver) throw new UsageError(`${opt}: missing device name (see -device help)`);
  if (!DEVICES.some((d) => d.name === driver)) throw new UsageError(`${opt}: '${driver}' is not a valid device model name (supported: ${DEVICES.map((d) => d.name).join(', ')})`);
  if (kv.has('help')) {
    ctx.info({ kind: 'device-props', device: driver });
    return;
  }
  kv.delete('driver');
  kv.delete('id');
  if (driver === 'loader') ctx.cfg.loaders.push(parseLoader(opt, kv));
  else ctx.cfg.ivshmem.push(parseIvshmem(opt, kv));
}

function parseLoader(opt: string, kv: Map<string, string>): LoaderSpec {
  rejectUnknown(opt, kv, ['file', 'addr', 'data', 'data-len', 'data-be', 'cpu-num', 'force-raw'], 'device loader');
  const addr = kv.has('addr') ? parseUint(opt, 'addr', kv.get('addr')!) : null;
  const cpuNum = kv.has('cpu-num') ? parseUint(opt, 'cpu-num', kv.get('cpu-num')!) : null;
  if (cpuNum !== null && cpuNum !== 0) throw new UsageError(`${opt}: cpu-num ${cpuNum} does not exist (this board has one CPU, number 0)`);
  const file = kv.get('file');
  if (file !== undefined) {
    if (kv.has('data') || kv.has('data-len') || kv.has('data-be')) throw new UsageError(`${opt}: data can not be specified when setting a file`);
    if (!file) throw new UsageError(`${opt}: empty file name`);
    const forceRaw = kv.has('force-raw') ? parseBool(opt, 'force-raw', kv.get('force-raw')!) : false;
    if (forceRaw && addr === null) throw new UsageError(`${opt}: force-raw=on needs addr=`);
    return { kind: 'file', file, addr, forceRaw, cpuNum };
  }
  if (kv.has('force-raw')) throw new UsageError(`${opt}: force-raw needs file=`);
  if (kv.has('data') || kv.has('data-len')) {
    if (addr === null) throw new UsageError(`${opt}: addr is required with data=`);
    if (!kv.has('data')) throw new UsageError(`${opt}: data-len given without data`);
    if (!kv.has('data-len')) throw new UsageError(`${opt}: data-len must be specified when data is set`);
    const len = parseUint(opt, 'data-len', kv.get('data-len')!);
    if (len !== 1 && len !== 2 && len !== 4 && len !== 8) throw new UsageError(`${opt}: data-len must be 1, 2, 4 or 8 (got ${len})`);
    const dv = kv.get('data')!;
    let value: bigint;
    if (/^0[xX][0-9a-fA-F]+$/.test(dv) || /^[0-9]+$/.test(dv)) value = BigInt(dv);
    else throw new UsageError(`${opt}: parameter 'data' expects a number (got '${dv}')`);
    if (value >= 1n << BigInt(8 * len)) throw new UsageError(`${opt}: data ${dv} does not fit in ${len} bytes`);
    const be = kv.has('data-be') ? parseBool(opt, 'data-be', kv.get('data-be')!) : false;
    const bytes = new Uint8Array(len);
    for (let i = 0; i < len; i++) bytes[be ? len - 1 - i : i] = Number((value >> BigInt(8 * i)) & 0xffn);
    return { kind: 'data', addr, bytes, cpuNum };
  }
  if (addr !== null && cpuNum !== null) return { kind: 'pc', addr, cpuNum };
  throw new UsageError(`${opt}: give file=PATH, or addr=A,data=V,data-len=N, or addr=A,cpu-num=N`);
}

function parseIvshmem(opt: string, kv: Map<string, string>): IvshmemFlatSpec {
  rejectUnknown(opt, kv, ['chardev', 'x-irq-qompath', 'x-bus-address-iomem', 'x-bus-address-shmem', 'shmem-size'], 'device ivshmem-flat');
  const chardev = kv.get('chardev');
  if (!chardev) throw new UsageError(`${opt}: ivshmem-flat needs chardev=ID (a socket to the ivshmem server)`);
  const irqPath = kv.get('x-irq-qompath') ?? null;
  let irq: number | null = null;
  let irqNode: string | null = null;
  if (irqPath !== null) {
    const m = /^(.*)\[(\d+)\]$/.exec(irqPath.replace(/^(['"])(.*)\1$/, '$2'));
    if (!m || !/gpio-in$/.test(m[1]!)) throw new UsageError(`${opt}: x-irq-qompath '${irqPath}' does not name an NVIC input (…/nvic/unnamed-gpio-in[N])`);
    irqNode = m[1]!;
    irq = parseInt(m[2]!, 10);
  }
  const iomemAddr = kv.has('x-bus-address-iomem') ? parseUint(opt, 'x-bus-address-iomem', kv.get('x-bus-address-iomem')!) : null;
  const shmemAddr = kv.has('x-bus-address-shmem') ? parseUint(opt, 'x-bus-address-shmem', kv.get('x-bus-address-shmem')!) : null;
  const shmemSize = kv.has('shmem-size') ? parseSize(opt, kv.get('shmem-size')!) : null;
  if (shmemSize !== null && (shmemSize === 0 || shmemSize > 0x4000_0000)) throw new UsageError(`${opt}: shmem-size ${kv.get('shmem-size')} is out of range`);
  if (shmemSize !== null && shmemAddr !== null && shmemAddr + shmemSize > 0x1_0000_0000) throw new UsageError(`${opt}: shared memory at 0x${shmemAddr.toString(16)} (+${shmemSize}) runs past 4 GiB`);
  return { chardev, irqPath, irqNode, irq, iomemAddr, shmemAddr, shmemSize };
}

// ---------------------------------------------------------------------------------------------
// Main entry
// ---------------------------------------------------------------------------------------------

export function parseQemuArgs(argv: string[]): QemuConfig {
  const ctx = new Ctx();
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (!tok.startsWith('-') || tok === '-' || tok === '--') {
      throw new UsageError(`unexpected argument '${tok}' (disk images are not supported; the firmware goes in -kernel FILE)`);
    }
    let name = tok.startsWith('--') ? tok.slice(2) : tok.slice(1);
    const eq = name.indexOf('=');
    if (eq > 0) {
      const base = name.slice(0, eq);
      if (OPTIONS[base]) throw new UsageError(`${tok}: '-opt=value' is not QEMU syntax: write '-${base} ${name.slice(eq + 1)}'`);
      throw new UsageError(`unknown option ${tok.slice(0, tok.indexOf('='))}`);
    }
    const def = Object.prototype.hasOwnProperty.call(OPTIONS, name) ? OPTIONS[name] : undefined;
    if (!def) throw new UsageError(`unknown option -${name}`);
    let arg = '';
    if (def.arg) {
      if (i + 1 >= argv.length) throw new UsageError(`-${name}: requires an argument`);
      arg = argv[++i];
    }
    def.handle(ctx, arg);
  }
  return finish(ctx);
}

function finish(ctx: Ctx): QemuConfig {
  const cfg = ctx.cfg;
  if (cfg.info) return cfg;

  if (!cfg.machine.name) throw new UsageError('No machine specified, and there is no default (use -machine help to list supported boards)');

  const resolve = (ref: string, opt: string): ChardevSpec => {
    const c = cfg.chardevs.get(ref);
    if (!c) throw new UsageError(`${opt}: chardev '${ref}' not found`);
    return c;
  };

  // Serial ports, in order.
  for (const r of ctx.serialReqs) cfg.serials.push(r.spec ?? resolve(r.ref!, `-serial ${r.text}`));

  // Defaults (as QEMU's vl.c): no -serial → serial0 = mon:stdio (monitor muxed on stdio).
  const stdioTaken = (): boolean => [...cfg.chardevs.values()].some((c) => c.backend === 'stdio');
  if (!ctx.serialGiven && !ctx.nodefaults) {
    if (!cfg.nographic) ctx.note('no graphical display: serial port 0 goes to stdio (as with -nographic)');
    if (stdioTaken()) {
      ctx.note('stdio is already in use by another chardev: serial port 0 is not connected');
    } else {
      const spec: ChardevSpec = { id: 'serial0', mux: !ctx.monitorGiven, backend: 'stdio', signal: true };
      cfg.chardevs.set(spec.id, spec);
      cfg.serials.push(spec);
      if (!ctx.monitorGiven) cfg.monitor = { chardev: spec.id, mode: 'readline' };
    }
  }

  // The monitor (recorded only).
  const serialMon = ctx.serialReqs.find((r) => r.monitor);
  if (ctx.monitorReq) {
    const m = ctx.monitorReq;
    const spec = m.spec ?? resolve(m.ref!, m.opt);
    cfg.monitor = { chardev: spec.id, mode: m.mode };
  } else if (serialMon && !ctx.monitorGiven) {
    const spec = serialMon.spec ?? resolve(serialMon.ref!, `-serial ${serialMon.text}`);
    spec.mux = true;
    cfg.monitor = { chardev: spec.id, mode: 'readline' };
  }
  // (With -nographic and an explicit -serial, QEMU also puts a monitor on stdio when stdio is
  // free; the monitor is not implemented, so nothing is recorded for it.)

  // Semihosting chardev.
  if (cfg.semihosting.chardev) resolve(cfg.semihosting.chardev, '-semihosting-config');

  // ivshmem-flat chardevs must exist and be sockets.
  for (const d of cfg.ivshmem) {
    const c = resolve(d.chardev, '-device ivshmem-flat');
    if (c.backend !== 'socket') throw new UsageError(`-device ivshmem-flat: chardev '${d.chardev}' must be a socket to the ivshmem server (it is ${c.backend})`);
    if (c.server) throw new UsageError(`-device ivshmem-flat: chardev '${d.chardev}' must be a client socket (server=off) to the ivshmem server`);
  }

  // Front ends per chardev: sharing needs mux=on.
  const users = new Map<string, string[]>();
  const use = (id: string, who: string): void => {
    const l = users.get(id) ?? [];
    l.push(who);
    users.set(id, l);
  };
  cfg.serials.forEach((s, i) => use(s.id, `serial${i}`));
  if (cfg.monitor) use(cfg.monitor.chardev, 'the monitor');
  if (cfg.semihosting.chardev) use(cfg.semihosting.chardev, 'semihosting');
  cfg.ivshmem.forEach((d) => use(d.chardev, 'ivshmem-flat'));
  for (const [id, who] of users) {
    const c = cfg.chardevs.get(id)!;
    if (who.length > 1 && !c.mux) throw new UsageError(`chardev '${id}' is used by ${who.join(' and ')}: add mux=on to share it`);
    if (c.mux && who.includes('ivshmem-flat')) throw new UsageError(`chardev '${id}': ivshmem-flat needs a chardev of its own (no mux=on)`);
  }
  const stdios = [...cfg.chardevs.values()].filter((c) => c.backend === 'stdio');
  if (stdios.length > 1) throw new UsageError(`cannot use stdio by multiple character devices (${stdios.map((c) => c.id).join(', ')}): share one with mux=on`);

  // Guest image.
  if (!cfg.kernel && !cfg.loaders.some((l) => l.kind === 'file')) throw new UsageError('Guest image must be specified (using -kernel)');

  // Semihosting argv: explicit arg=..., else QEMU's fallback from -kernel/-append.
  const sh = cfg.semihosting;
  sh.args = ctx.semihostingArgs.length
    ? ctx.semihostingArgs
    : cfg.kernel
      ? [cfg.kernel, ...(cfg.append ?? '').split(' ').filter((w) => w)]
      : [];
  sh.cmdline = sh.args.join(' ');
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Information output
// ---------------------------------------------------------------------------------------------

const HELP = `usage: cmemu [options]   (a qemu-system-arm subset for Cortex-M boards)

Machine:
-machine|-M NAME[,prop=val]   board: ${MACHINES.map((m) => m.name).join(', ')} (-M help, -M NAME,help)
-cpu cortex-m3                the only CPU (-cpu help)
-kernel FILE                  firmware ELF (loaded by physical address) 
-device loader,file=F[,addr=A] | loader,addr=A,data=V,data-len=N | loader,addr=A,cpu-num=0
-device ivshmem-flat,chardev=ID,x-irq-qompath=…gpio-in[N],x-bus-address-iomem=A,x-bus-address-shmem=A[,shmem-size=N]
-m SIZE                       accepted; the board's memory is fixed
Character devices:
-nographic                    serial port 0 (and the monitor) on stdio
-serial DEV                   stdio | null | none | chardev:ID | file:PATH | pipe:PATH |
                              unix:PATH[,server=on][,wait=off] | tcp:HOST:PORT[,server=on][,wait=off] | mon:stdio
-chardev BACKEND,id=ID[,mux=on][,...]   stdio[,signal=off] | null | file,path=P | pipe,path=P |
                              socket,path=P|host=H,port=N[,server=on][,wait=off]
-mon chardev=ID[,mode=readline], -monitor none|stdio   accepted (no monitor)
Time:
-icount shift=N|auto[,sleep=on|off]   instruction-counted virtual time (deterministic)
-rtc clock=host|rt|vm[,base=...]
Semihosting:
-semihosting, -semihosting-config enable=on,target=native[,arg=A]...
Debug:
-d ITEM[,ITEM]                log items: ${LOG_ITEMS.map((i) => i.name).join(', ')} (-d help)
-D FILE                       log to FILE
-s, -S, -gdb DEV              GDB stub: -s = -gdb tcp::1234 (bound to 127.0.0.1 unless a host is given);
                              -gdb unix:PATH; -S waits for the debugger to continue
Other:
-no-reboot, -no-shutdown, -pidfile FILE, -append TEXT, -version, -help
-vga none, -net none, -nic none, -display none, -global ...: accepted
`;

/** The text QEMU would print for an information request (caller prints it to stdout, exits 0). */
export function infoText(req: InfoRequest): string {
  switch (req.kind) {
    case 'help':
      return HELP;
    case 'version':
      return `QEMU emulator version ${QEMU_COMPAT_VERSION} (cmemu ${CMEMU_VERSION}: a qemu-system-arm subset for Cortex-M)\n`;
    case 'machine-help':
      return 'Supported machines are:\n' + MACHINES.map((m) => `${m.name.padEnd(20)} ${m.description}\n`).join('');
    case 'machine-props': {
      const m = MACHINES.find((x) => x.name === req.machine);
      if (!m) return 'No machine specified: use -machine NAME,help\n';
      return `${m.name}: ${m.description}\n${m.name}-machine options:\n  (none configurable: memory and devices are fixed)\n`;
    }
    case 'cpu-help':
      return 'Available CPUs:\n' + CPUS.map((c) => `  ${c}\n`).join('');
    case 'device-help':
      return 'Devices:\n' + DEVICES.map((d) => `name "${d.name}"\n`).join('');
    case 'device-props': {
      const d = DEVICES.find((x) => x.name === req.device)!;
      return `${d.name} options:\n  ${d.help}\n`;
    }
    case 'log-help':
      return (
        'Log items (comma separated):\n' +
        LOG_ITEMS.map((i) => `${i.name.padEnd(15)} ${i.help}\n`).join('') +
        `trace:PATTERN       enable trace events (see -d trace:help)\n` +
        `accepted and ignored: ${QEMU_ONLY_LOG_ITEMS.join(', ')}\n`
      );
    case 'trace-help':
      return 'Trace events (-d trace:PATTERN or -trace PATTERN; * and ? match, a leading - disables):\n' + TRACE_EVENTS.map((e) => `${e.name.padEnd(38)} ${e.help}\n`).join('');
  }
}
