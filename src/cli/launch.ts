/**
 * From a parsed command line to a running machine: open the character devices, build the board,
 * load the images, wire semihosting, run, and turn the outcome into an exit code.
 *
 * Exit codes: the guest's own (semihosting exit), 0 when stopped by the user or by --until,
 * 1 on a guest lockup or emulator error, 2 for bad input (command line, image), 3 on --timeout.
 */
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { type QemuConfig, UsageError } from './qemu-args.js';
import { findBoard } from '../machine/boards/index.js';
import { LoadError, Machine, type Outcome } from '../machine/machine.js';
import { CategoryLogger } from '../machine/log.js';
import { ElfError, type ElfImage, findDivideSites, isElf, parseElf } from '../machine/elf.js';
import { type CharBackend, openCharBackend } from '../machine/chardev.js';
import { Semihosting } from '../devices/semihosting.js';
import { Reg } from '../cpu/native.js';
import { coreReg } from '../cpu/cpu.js';
import type { BoardDef } from '../machine/board.js';
import type { IrqLine, Logger } from '../devices/device.js';
import { EXC_EXTERNAL0 } from '../cpu/exception-controller.js';
import { IVSHMEM_FLAT_WINDOW, IvshmemFlat } from '../devices/ivshmem-flat.js';
import type { ConnectOptions, IvshmemLink } from '../devices/ivshmem/link.js';
import { connectIvshmem } from '../devices/ivshmem/client.js';

export interface LaunchExtras {
  /** Exit 0 as soon as this text appears on serial port 0. */
  until?: string;
  /** Give up after this many seconds of host time (exit 3). */
  timeoutSec?: number;
  /** Where notes and errors go (stderr by default). */
  stderr?: (s: string) => void;
  /** How to reach an ivshmem server (tests inject fakes); the real client by default. */
  connectIvshmem?: IvshmemConnector;
  /** Called with the machine once it is built, before it runs (tests and tools). */
  onMachine?: (m: Machine) => void;
}

export type IvshmemConnector = (socketPath: string, opts: ConnectOptions) => Promise<IvshmemLink>;

export class InputError extends Error {}

interface LoadedImage {
  chunks: { addr: number; data: Uint8Array }[];
  elf: ElfImage | null;
}

function readImage(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`could not load ${what} '${path}': ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String((e as Error).message)}`);
  }
}

function loadKernel(path: string): LoadedImage {
  const bytes = readImage(path, 'kernel');
  if (!isElf(bytes)) throw new InputError(`'${path}' is not an ELF file (use -device loader,file=${path},addr=ADDR for a raw binary)`);
  let elf: ElfImage;
  try {
    elf = parseElf(bytes, path);
  } catch (e) {
    if (e instanceof ElfError) throw new InputError(e.message);
    throw e;
  }
  const chunks: { addr: number; data: Uint8Array }[] = [];
  for (const s of elf.segments) {
    const data = new Uint8Array(s.memsz);
    data.set(s.data.subarray(0, Math.min(s.data.length, s.memsz)));
    chunks.push({ addr: s.paddr, data });
  }
  return { chunks, elf };
}

export async function launch(config: QemuConfig, extras: LaunchExtras = {}): Promise<number> {
  const err = extras.stderr ?? ((s: string) => process.stderr.write(s));
  const board = findBoard(config.machine.name);
  if (!board) throw new UsageError(`unsupported machine type '${config.machine.name}' (use -M help)`);
  for (const n of config.notes) err(`cmemu: note: ${n}\n`);
  if (!config.kernel && !config.loaders.some((l) => l.kind === 'file' || l.kind === 'data')) {
    throw new UsageError('no guest image: give -kernel FILE.elf or -device loader,file=FILE,addr=ADDR');
  }
  if (config.gdb) err('cmemu: note: the GDB stub is not implemented yet; -s/-S/-gdb are ignored\n');
  const ivshmemPlans = config.ivshmem.map((spec) => planIvshmem(board, spec, config.chardevs.get(spec.chardev)!, (n) => err(`cmemu: note: ${n}\n`)));

  // Images first: bad input must fail before anything is started.
  const images: LoadedImage[] = [];
  if (config.kernel) images.push(loadKernel(config.kernel));
  let startPc: number | null = null;
  for (const l of config.loaders) {
    if (l.kind === 'pc') startPc = l.addr;
    else if (l.kind === 'data') images.push({ chunks: [{ addr: l.addr, data: l.bytes }], elf: null });
    else {
      const bytes = readImage(l.file, 'loader file');
      if (isElf(bytes) && !l.forceRaw) {
        images.push(loadKernel(l.file));
      } else {
        if (l.addr === null) throw new InputError(`loader: '${l.file}' is not ELF, so it needs addr=`);
        images.push({ chunks: [{ addr: l.addr, data: bytes }], elf: null });
      }
    }
  }

  const logger = new CategoryLogger(config.log.items, config.log.file ?? undefined);
  // ivshmem servers next, before anything is built: an unreachable socket is bad input (exit 2).
  const links: IvshmemLink[] = [];
  try {
    for (const plan of ivshmemPlans) links.push(await connectPlan(plan, extras.connectIvshmem, logger));
  } catch (e) {
    for (const l of links) l.close();
    throw e;
  }
  const machineRef: { m: Machine | null } = { m: null };
  const backends: CharBackend[] = [];
  const opened = new Map<string, CharBackend>();
  const backendFor = async (spec: QemuConfig['serials'][number]): Promise<CharBackend> => {
    let b = opened.get(spec.id);
    if (!b) {
      b = await openCharBackend(spec, {
        onQuit: () => machineRef.m?.stop('quit from the console (Ctrl-a x)', 0),
        logger,
      });
      opened.set(spec.id, b);
      backends.push(b);
    }
    return b;
  };
  const serialBackends: (CharBackend | null)[] = [];
  for (const spec of config.serials) serialBackends.push(spec.backend === 'null' ? null : await backendFor(spec));

  let untilBuf = '';
  let untilHit = false;
  const serials = serialBackends.map((b, i) => {
    if (!b && !(i === 0 && extras.until)) return null;
    return {
      write: (byte: number) => {
        b?.write(Uint8Array.of(byte));
        if (i === 0 && extras.until && !untilHit) {
          untilBuf = (untilBuf + String.fromCharCode(byte)).slice(-Math.max(256, extras.until.length * 2));
          if (untilBuf.includes(extras.until)) {
            untilHit = true;
            machineRef.m?.stop(`found "${extras.until}" on serial port 0`, 0);
          }
        }
      },
    };
  });

  const icount = config.icount
    ? { shift: config.icount.shift === 'auto' ? 3 : config.icount.shift, sleep: config.icount.sleep }
    : null;
  if (config.icount?.shift === 'auto') err('cmemu: note: -icount shift=auto runs as shift=3\n');
  const machine = new Machine({ board, icount, logger, serials, noReboot: config.noReboot });
  machineRef.m = machine;
  try {
    ivshmemPlans.forEach((plan, i) => installIvshmem(machine, plan, links[i]!, i, logger, err));
  } catch (e) {
    for (const l of links) l.close();
    machine.close();
    throw e;
  }
  serialBackends.forEach((b, i) => b?.onData((data) => machine.serialReceive(i, data)));

  const loadAll = () => {
    for (const img of images) for (const c of img.chunks) machine.load(c.addr, c.data);
  };
  try {
    loadAll();
  } catch (e) {
    if (e instanceof LoadError) throw new InputError(e.message);
    throw e;
  }
  // As QEMU's ROM blobs: a system reset copies the images in again.
  machine.onReset = () => loadAll();
  const sites = images.flatMap((i) => (i.elf ? findDivideSites(i.elf) : []));
  machine.native.setDivideSites(sites);

  if (config.semihosting.enabled) {
    const spRegion = (() => {
      const sp = images[0]?.chunks[0] ? new DataView(images[0].chunks[0].data.buffer, images[0].chunks[0].data.byteOffset).getUint32(0, true) : 0;
      return board.memory.find((m) => sp > m.base && sp <= m.base + m.size) ?? board.memory[0]!;
    })();
    let heapBase = spRegion.base;
    for (const img of images) {
      for (const c of img.chunks) {
        const end = c.addr + c.data.length;
        if (c.addr >= spRegion.base && end <= spRegion.base + spRegion.size && end > heapBase) heapBase = end;
      }
    }
    const out = serialBackends[0];
    machine.semihosting = new Semihosting({
      cpu: {
        readReg: (n) => machine.cpu.reg(coreReg(n)),
        writeReg: (n, v) => machine.cpu.setReg(coreReg(n), v),
        readMem: (a, len) => machine.native.memRead(a, len),
        writeMem: (a, d) => machine.native.memWrite(a, d),
      },
      stdout: (d) => (out ? out.write(d) : process.stdout.write(d)),
      stderr: (d) => process.stderr.write(d),
      // As QEMU 7.2: the semihosting console (WRITEC/WRITE0) goes to stderr, ":tt" opened "w" to stdout.
      console: (d) => process.stderr.write(d),
      readStdin: () => -1,
      clock: { nowNs: () => machine.now() },
      hostTimeSec: () => Math.floor(Date.now() / 1000),
      heap: { base: (heapBase + 7) & ~7, limit: spRegion.base + spRegion.size, stackBase: spRegion.base + spRegion.size, stackLimit: spRegion.base },
      cmdline: config.semihosting.cmdline,
      onExit: (code) => machine.exit(code, `guest exit (semihosting) with code ${code}`),
      logger,
    });
  }

  if (config.pidfile) writeFileSync(config.pidfile, `${process.pid}\n`);
  let timedOut = false;
  const timer = extras.timeoutSec
    ? setTimeout(() => {
        timedOut = true;
        machine.stop(`timeout after ${extras.timeoutSec} s`, 3);
      }, extras.timeoutSec * 1000)
    : null;
  const onSignal = (sig: NodeJS.Signals) => machine.stop(`terminating on signal ${sig}`, 0);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (startPc !== null) {
    const pc = startPc;
    machine.afterReset = () => machine.cpu.setReg(Reg.PC, (pc & ~1) | 1);
  }

  extras.onMachine?.(machine);
  let outcome: Outcome;
  try {
    outcome = await machine.run();
  } finally {
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const b of backends) await b.flush().catch(() => {});
    for (const b of backends) await b.close().catch(() => {});
    if (config.pidfile) rmSync(config.pidfile, { force: true });
    machine.close();
    for (const l of links) l.close();
  }
  switch (outcome.kind) {
    case 'exit':
      if (timedOut) err(`cmemu: ${extras.until ? `"${extras.until}" did not appear on serial port 0 within ${extras.timeoutSec} s` : outcome.reason}\n`);
      else if (outcome.reason.startsWith('terminating')) err(`cmemu: ${outcome.reason}\n`);
      return outcome.code;
    case 'lockup':
      err(`cmemu: ${outcome.message}\n`);
      return 1;
    case 'error':
      err(`cmemu: ${outcome.message}\n`);
      return 1;
    case 'stopped':
      return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// -device ivshmem-flat
// ---------------------------------------------------------------------------------------------

/** The NVIC input path of each board, as QEMU's QOM tree names it (x-irq-qompath without `[N]`). */
const NVIC_QOM_PATHS: Record<string, string> = {
  'mps2-an385': '/machine/armv7m/nvic/unnamed-gpio-in',
  lm3s6965evb: '/machine/soc/v7m/nvic/unnamed-gpio-in',
};
const KIB = 0x400;
const hex = (v: number) => '0x' + (v >>> 0).toString(16);

/** Where one ivshmem-flat goes, checked against the board as far as possible before connecting. */
export interface IvshmemPlan {
  /** Prefix for messages: `-device ivshmem-flat,chardev=ID`. */
  what: string;
  socketPath: string;
  irq: number;
  iomem: number;
  shmem: number;
  /** shmem-size if given, else null (the server's size). */
  shmemSize: number | null;
}

/**
 * Resolve and check an ivshmem-flat's placement on `board` (defaults: the board's ivshmemDefaults).
 * x-irq-qompath: the board's own NVIC path; the other known board's form is accepted with a note
 * (copied run lines are common, the input number is what matters); anything else is an error.
 */
export function planIvshmem(board: BoardDef, spec: QemuConfig['ivshmem'][number], chardev: QemuConfig['chardevs'] extends Map<string, infer C> ? C : never, note: (s: string) => void = () => {}): IvshmemPlan {
  const what = `-device ivshmem-flat,chardev=${spec.chardev}`;
  if (chardev.backend !== 'socket' || !('path' in chardev.address)) {
    throw new UsageError(`${what}: chardev '${spec.chardev}' must be a UNIX socket (path=) to the ivshmem server`);
  }
  const defaults = board.ivshmemDefaults;
  let irq = defaults?.irq ?? 0;
  if (spec.irqPath !== null) {
    const path = spec.irqPath.replace(/^(['"])(.*)\1$/, '$2');
    const m = /^(.*)\[(\d+)\]$/.exec(path);
    const own = defaults?.qompath.replace(/\[\d+\]$/, '') ?? NVIC_QOM_PATHS[board.name];
    if (!m) throw new UsageError(`${what}: x-irq-qompath '${spec.irqPath}' does not name an NVIC input (${own ?? '…/nvic/unnamed-gpio-in'}[N])`);
    const other = Object.entries(NVIC_QOM_PATHS).find(([b, p]) => b !== board.name && p === m[1]);
    if (m[1] !== own) {
      if (!other) throw new UsageError(`${what}: x-irq-qompath '${spec.irqPath}' is not an NVIC input of ${board.name} (${own}[N])`);
      note(`${what}: x-irq-qompath '${path}' is ${other[0]}'s NVIC path; on ${board.name} it is '${own}[${m[2]}]': taken as NVIC input ${m[2]}`);
    }
    irq = parseInt(m[2]!, 10);
  }
  if (irq >= board.numIrqs) throw new UsageError(`${what}: NVIC input ${irq} does not exist on ${board.name} (external IRQs 0..${board.numIrqs - 1})`);
  // Defaults: the board's, else QEMU's v3 series examples (the parser applied those).
  const iomem = spec.iomemAddr === 0x400ff000 && defaults ? defaults.iomem : spec.iomemAddr;
  const shmem = spec.shmemAddr === 0x40100000 && defaults ? defaults.shmem : spec.shmemAddr;
  if (iomem % IVSHMEM_FLAT_WINDOW) throw new UsageError(`${what}: x-bus-address-iomem ${hex(iomem)} is not ${IVSHMEM_FLAT_WINDOW}-byte aligned`);
  if (shmem % KIB) throw new UsageError(`${what}: x-bus-address-shmem ${hex(shmem)} is not 1 KiB aligned`);
  if (spec.shmemSize !== null && spec.shmemSize % KIB) throw new UsageError(`${what}: shmem-size ${spec.shmemSize} is not a multiple of 1 KiB`);
  for (const [name, a] of [['x-bus-address-iomem', iomem], ['x-bus-address-shmem', shmem]] as const) {
    if (a >= 0xe0000000) throw new UsageError(`${what}: ${name} ${hex(a)} is in the system region (0xE0000000 and up)`);
  }
  return { what, socketPath: chardev.address.path, irq, iomem, shmem, shmemSize: spec.shmemSize };
}

async function connectPlan(plan: IvshmemPlan, connector: IvshmemConnector | undefined, log: Logger): Promise<IvshmemLink> {
  try {
    return await (connector ?? connectIvshmem)(plan.socketPath, { shmemSize: plan.shmemSize ?? undefined, log, timeoutMs: 5000 });
  } catch (e) {
    throw new InputError(`${plan.what}: ${(e as Error).message.replace(/^ivshmem: /, '')}`);
  }
}

/** An NVIC input driven by edges: a pulse pends the IRQ without touching the line's level (another device may share it). */
function edgeIrq(machine: Machine, n: number): IrqLine {
  const line = machine.scs.nvic.line(n);
  return { set: (level) => line.set(level), pulse: () => machine.scs.nvic.setPending(EXC_EXTERNAL0 + n) };
}

/** Map the shared memory, add the register window, wire the IRQ and the doorbell eventfds. */
export function installIvshmem(machine: Machine, plan: IvshmemPlan, link: IvshmemLink, index: number, log: Logger, err: (s: string) => void): IvshmemFlat {
  const size = plan.shmemSize ?? link.shmSize;
  if (size > link.shmSize) throw new InputError(`${plan.what}: shmem-size ${size} is larger than the server's region (${link.shmSize} bytes)`);
  if (size % KIB) throw new InputError(`${plan.what}: the server's region of ${size} bytes is not a multiple of 1 KiB (the CPU maps whole 1 KiB pages)`);
  if (plan.shmem + size > 0xe0000000) throw new InputError(`${plan.what}: shared memory at ${hex(plan.shmem)} (+${size}) runs into the system region (0xE0000000)`);
  const names = (l: { name: string }[]) => [...new Set(l.map((r) => r.name))].join(', ');
  const taken = machine.map.occupants(plan.shmem, size);
  if (taken.length) throw new InputError(`${plan.what}: shared memory ${hex(plan.shmem)}-${hex(plan.shmem + size - 1)} overlaps ${names(taken)} on ${machine.board.name}`);
  // The registers must not overlap anything, nor share a 1 KiB page with RAM (RAM is mapped in whole pages).
  const page = Math.floor(plan.iomem / KIB) * KIB;
  const regsTaken = [
    ...machine.map.occupants(plan.iomem, IVSHMEM_FLAT_WINDOW),
    ...machine.map.occupants(page, KIB).filter((r) => r.kind === 'ram'),
  ];
  if (plan.shmem < page + KIB && page < plan.shmem + size) regsTaken.push({ name: 'its own shared memory', kind: 'ram' });
  if (regsTaken.length) {
    throw new InputError(`${plan.what}: registers ${hex(plan.iomem)}-${hex(plan.iomem + IVSHMEM_FLAT_WINDOW - 1)} overlap ${names(regsTaken)} (or share its 1 KiB page) on ${machine.board.name}`);
  }
  const suffix = index ? String(index) : '';
  const dev = new IvshmemFlat(link, {
    shmemAddr: plan.shmem,
    shmemSize: size,
    irq: edgeIrq(machine, plan.irq),
    log,
    onServerGone: (reason) => {
      err(`cmemu: ivshmem-flat${suffix}: the ivshmem server went away (${reason}); the board keeps running with its shared memory, doorbells to other peers are dropped\n`);
    },
  });
  machine.addHostMemory(`ivshmem-flat${suffix} shared memory`, plan.shmem, link.shm, size);
  machine.addDevice(`ivshmem-flat${suffix}`, plan.iomem, dev);
  machine.addEventSource(link.ownVectorFds, (v) => dev.vectorFired(v));
  return dev;
}
