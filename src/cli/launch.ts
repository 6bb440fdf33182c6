/**
 * The QEMU-style command line's run: translate the parsed arguments into a SystemConfig, build the
 * system with the library (src/system/), run it, and do what only a process does: notes on stderr,
 * signals, the pid file, the --until/--timeout watch, and the exit code.
 *
 * Exit codes: the guest's own (semihosting exit), 0 when stopped by the user or by --until,
 * 1 on a guest lockup or emulator error, 2 for bad input (command line, image), 3 on --timeout.
 */
import { writeFileSync, rmSync } from 'node:fs';
import { type QemuConfig, type IvshmemFlatSpec, type ChardevSpec, UsageError } from './qemu-args.js';
import { findBoard } from '../machine/boards/index.js';
import type { Machine } from '../machine/machine.js';
import type { BoardDef } from '../machine/board.js';
import { createSystem, type IvshmemConfig, type SystemConfig } from '../system/system.js';
import type { FirmwareSpec } from '../system/images.js';
import type { ConnectOptions, IvshmemLink } from '../devices/ivshmem-link.js';

import { InputError, MachineFinishedError } from '../system/errors.js';
import { Snapshot } from '../system/snapshot.js';

export { InputError };

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
  /** Serve the live view there (`--web`). */
  web?: { host: string; port: number };
  /** Save a snapshot to `snapshotFile` once the run reaches this instruction count or virtual time (ns). */
  snapshotAt?: { instructions: number } | { time: number };
  /** Where --snapshot-at and SIGUSR1 save the snapshot (SIGUSR1 saves only when this is given). */
  snapshotFile?: string;
}

export type IvshmemConnector = (socketPath: string, opts: ConnectOptions) => Promise<IvshmemLink>;

/** The NVIC input node of each board, as QEMU's QOM tree names it (x-irq-qompath without `[N]`). */
const NVIC_QOM_NODES: Record<string, string> = {
  'mps2-an385': '/machine/armv7m/nvic/unnamed-gpio-in',
  lm3s6965evb: '/machine/soc/v7m/nvic/unnamed-gpio-in',
};

/**
 * -device ivshmem-flat,... as the library's IvshmemConfig. The chardev must be a UNIX socket (to
 * the ivshmem server). x-irq-qompath must be the board's own NVIC node; the other known board's
 * form is accepted with a note (copied run lines are common, the input number is what matters).
 */
export function ivshmemFromArgs(board: BoardDef, spec: IvshmemFlatSpec, chardev: ChardevSpec, note: (s: string) => void = () => {}): IvshmemConfig & { socket: string } {
  const what = `-device ivshmem-flat,chardev=${spec.chardev}`;
  if (chardev.backend !== 'socket' || !('path' in chardev.address)) {
    throw new UsageError(`${what}: chardev '${spec.chardev}' must be a UNIX socket (path=) to the ivshmem server`);
  }
  if (spec.irqNode !== null) {
    const own = board.ivshmemDefaults?.qompath.replace(/\[\d+\]$/, '') ?? NVIC_QOM_NODES[board.name];
    if (spec.irqNode !== own) {
      const other = Object.entries(NVIC_QOM_NODES).find(([b, p]) => b !== board.name && p === spec.irqNode);
      if (!other) throw new UsageError(`${what}: x-irq-qompath '${spec.irqPath}' is not an NVIC input of ${board.name} (${own}[N])`);
      note(`${what}: x-irq-qompath '${spec.irqNode}[${spec.irq}]' is ${other[0]}'s NVIC path; on ${board.name} it is '${own}[${spec.irq}]': taken as NVIC input ${spec.irq}`);
    }
  }
  return { name: what, socket: chardev.address.path, irq: spec.irq, iomem: spec.iomemAddr, shmem: spec.shmemAddr, size: spec.shmemSize };
}

/** The SystemConfig a QEMU-style command line describes (process concerns aside). */
export function systemConfigFromArgs(config: QemuConfig, err: (s: string) => void, extras: LaunchExtras = {}): SystemConfig {
  const board = findBoard(config.machine.name);
  if (!board) throw new UsageError(`unsupported machine type '${config.machine.name}' (use -M help)`);
  const note = (n: string) => err(`cmemu: note: ${n}\n`);
  if (!config.kernel && !config.loaders.some((l) => l.kind === 'file' || l.kind === 'data')) {
    throw new UsageError('no guest image: give -kernel FILE.elf or -device loader,file=FILE,addr=ADDR');
  }
  const firmware: FirmwareSpec[] = [];
  if (config.kernel) firmware.push(config.kernel);
  let entry: number | undefined;
  for (const l of config.loaders) {
    if (l.kind === 'pc') entry = l.addr;
    else if (l.kind === 'data') firmware.push({ raw: l.bytes, addr: l.addr });
    else firmware.push({ file: l.file, addr: l.addr, forceRaw: l.forceRaw });
  }
  const ivshmem = config.ivshmem.map((spec) => ivshmemFromArgs(board, spec, config.chardevs.get(spec.chardev)!, note));
  const serial0Connected = config.serials[0] !== undefined && config.serials[0].backend !== 'null';
  return {
    board,
    firmware,
    entry,
    time: config.icount ? { icount: config.icount.shift, sleep: config.icount.sleep } : 'realtime',
    serial: config.serials,
    semihosting: config.semihosting.enabled
      ? {
          cmdline: config.semihosting.cmdline,
          // As QEMU 7.2: ":tt" opened "w" goes to the first serial port's chardev (else stdout); the
          // semihosting console (WRITEC/WRITE0) and stderr go to stderr.
          stdout: serial0Connected ? undefined : (d) => process.stdout.write(d),
          stderr: (d) => process.stderr.write(d),
          console: (d) => process.stderr.write(d),
        }
      : false,
    append: config.append ?? undefined,
    ivshmem,
    log: { items: config.log.items, file: config.log.file ?? undefined, events: config.log.events },
    noReboot: config.noReboot,
    onNote: note,
    onHostMessage: (m) => err(`cmemu: ${m}\n`),
    connectIvshmem: extras.connectIvshmem,
  };
}

export async function launch(config: QemuConfig, extras: LaunchExtras = {}): Promise<number> {
  const err = extras.stderr ?? ((s: string) => process.stderr.write(s));
  if (!findBoard(config.machine.name)) {
    throw new UsageError(`unsupported machine type '${config.machine.name}' (use -M help)`);
  }
  for (const n of config.notes) err(`cmemu: note: ${n}\n`);
  if (config.gdb?.waitForGdb && !config.gdb.address) {
    throw new UsageError('-S holds the CPU until a debugger continues it: give -s or -gdb DEV too (there is no monitor to start it)');
  }
  const snap = config.loadvm !== null ? Snapshot.load(config.loadvm) : null; // a bad file fails before anything starts
  const sys = await createSystem(systemConfigFromArgs(config, err, extras));
  if (snap) {
    try {
      sys.restore(snap);
    } catch (e) {
      await sys.close();
      throw e instanceof InputError ? new InputError(`-loadvm ${config.loadvm}: ${e.message}`) : e;
    }
  }
  if (extras.web) {
    try {
      const v = await sys.serve(extras.web);
      err(`cmemu: live view at ${v.url}\n`);
    } catch (e) {
      await sys.close();
      throw e;
    }
  }
  if (config.gdb?.address) {
    const a = config.gdb.address;
    try {
      await sys.gdbServer(a.type === 'unix' ? { path: a.path, wait: config.gdb.waitForGdb } : { host: a.host, port: a.port, wait: config.gdb.waitForGdb });
    } catch (e) {
      await sys.close();
      throw e;
    }
  }

  // --until: stop as soon as the text appears on serial port 0.
  if (extras.until) {
    const want = extras.until;
    let buf = '';
    const off = sys.uart(0).onData((d) => {
      buf = (buf + String.fromCharCode(...d)).slice(-Math.max(256, want.length * 2));
      if (buf.includes(want)) {
        off();
        sys.stop(`found "${want}" on serial port 0`, 0);
      }
    });
  }
  if (config.pidfile) writeFileSync(config.pidfile, `${process.pid}\n`);
  let timedOut = false;
  const timer = extras.timeoutSec
    ? setTimeout(() => {
        timedOut = true;
        sys.stop(`timeout after ${extras.timeoutSec} s`, 3);
      }, extras.timeoutSec * 1000)
    : null;
  const onSignal = (sig: NodeJS.Signals) => sys.stop(`terminating on signal ${sig}`, 0);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A monitor-less save: SIGUSR1 (with --snapshot-file) pauses at the next stop, saves, and carries on.
  const file = extras.snapshotFile;
  const save = async (why: string) => {
    try {
      const s = await sys.snapshot();
      const n = s.save(file!);
      const b = s.boards[0]!;
      err(`cmemu: snapshot (${why}) saved to ${file}: ${n} bytes, at ${b.timeNs} ns, ${b.instructions} instructions\n`);
    } catch (e) {
      err(`cmemu: snapshot (${why}) not saved: ${(e as Error).message}\n`);
    }
  };
  const onUsr1 = () => void save('SIGUSR1');
  if (file) process.on('SIGUSR1', onUsr1);
  extras.onMachine?.(sys.machine);
  let outcome;
  try {
    if (extras.snapshotAt) {
      const at = extras.snapshotAt;
      try {
        await sys.runUntil(at);
        await save('instructions' in at ? `--snapshot-at ${at.instructions} instructions` : `--snapshot-at ${at.time} ns`);
      } catch (e) {
        if (!(e instanceof MachineFinishedError)) throw e;
        err(`cmemu: --snapshot-at: the run ended before it (${'instructions' in at ? `${at.instructions} instructions` : `${at.time} ns`}); no snapshot\n`);
      }
    }
    outcome = await sys.run();
  } finally {
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (file) process.off('SIGUSR1', onUsr1);
    if (config.pidfile) rmSync(config.pidfile, { force: true });
    await sys.close();
  }
  switch (outcome.kind) {
    case 'exit':
      if (timedOut) err(`cmemu: ${extras.until ? `"${extras.until}" did not appear on serial port 0 within ${extras.timeoutSec} s` : outcome.reason}\n`);
      else if (outcome.reason.startsWith('terminating')) err(`cmemu: ${outcome.reason}\n`);
      return outcome.code;
    case 'lockup':
    case 'error':
      err(`cmemu: ${outcome.message}\n`);
      return 1;
    case 'stopped':
      return 0;
  }
}
