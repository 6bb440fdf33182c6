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

export interface LaunchExtras {
  /** Exit 0 as soon as this text appears on serial port 0. */
  until?: string;
  /** Give up after this many seconds of host time (exit 3). */
  timeoutSec?: number;
  /** Where notes and errors go (stderr by default). */
  stderr?: (s: string) => void;
}

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
  if (config.ivshmem.length) throw new UsageError('-device ivshmem-flat is not implemented yet');

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
