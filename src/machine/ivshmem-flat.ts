/**
 * Putting an ivshmem-flat on a machine: where it goes (defaults from the board, every address
 * checked against the board's map), then the register window, the shared memory mapped straight
 * into the guest, the IRQ and the doorbells. One typed configuration, parsed once by whoever reads
 * the user's words (the QEMU-style parser, the System API), is all this consumes.
 */
import { IVSHMEM_FLAT_WINDOW, IvshmemFlat } from '../devices/ivshmem-flat.js';
import type { IvshmemLink } from '../devices/ivshmem-link.js';
import type { Logger } from '../log/logger.js';
import type { BoardDef } from './board.js';
import type { Machine } from './machine.js';

/** Where an ivshmem-flat goes on the board; each field defaults to the board's (its ivshmemDefaults). */
export interface IvshmemFlatConfig {
  /** NVIC input (QEMU's x-irq-qompath …/nvic/unnamed-gpio-in[N]). */
  irq?: number | null;
  /** Register window address (x-bus-address-iomem), 256-byte aligned. */
  iomem?: number | null;
  /** Shared memory address (x-bus-address-shmem), 1 KiB aligned. */
  shmem?: number | null;
  /** Bytes of shared memory the guest sees (shmem-size); default: the whole region the link has. */
  size?: number | null;
}

/** A placement resolved against a board: every address known and checked as far as it can be before the link exists. */
export interface IvshmemFlatPlacement {
  /** Prefix for messages, e.g. `-device ivshmem-flat,chardev=ID`. */
  what: string;
  irq: number;
  iomem: number;
  shmem: number;
  size: number | null;
}

/** Where the ivshmem-flat goes without a board preference: QEMU's examples in its v3 series. */
export const IVSHMEM_FLAT_DEFAULTS = { iomem: 0x400ff000, shmem: 0x40100000, irq: 0 } as const;

const KIB = 0x400;
const hex = (v: number) => '0x' + (v >>> 0).toString(16);

export class IvshmemPlacementError extends Error {}

export function placeIvshmemFlat(board: BoardDef, cfg: IvshmemFlatConfig, what = 'ivshmem-flat'): IvshmemFlatPlacement {
  const d = board.ivshmemDefaults ?? IVSHMEM_FLAT_DEFAULTS;
  const irq = cfg.irq ?? d.irq;
  const iomem = cfg.iomem ?? d.iomem;
  const shmem = cfg.shmem ?? d.shmem;
  const size = cfg.size ?? null;
  const fail = (m: string): never => {
    throw new IvshmemPlacementError(`${what}: ${m}`);
  };
  if (!Number.isInteger(irq) || irq < 0 || irq >= board.numIrqs) fail(`NVIC input ${irq} does not exist on ${board.name} (external IRQs 0..${board.numIrqs - 1})`);
  for (const [name, a] of [['x-bus-address-iomem', iomem], ['x-bus-address-shmem', shmem]] as const) {
    if (!Number.isInteger(a) || a < 0 || a > 0xffffffff) fail(`${name} ${String(a)} is not an address`);
  }
  if (iomem % IVSHMEM_FLAT_WINDOW) fail(`x-bus-address-iomem ${hex(iomem)} is not ${IVSHMEM_FLAT_WINDOW}-byte aligned`);
  if (shmem % KIB) fail(`x-bus-address-shmem ${hex(shmem)} is not 1 KiB aligned`);
  if (size !== null && (!Number.isInteger(size) || size <= 0 || size % KIB)) fail(`shmem-size ${size} is not a multiple of 1 KiB`);
  for (const [name, a] of [['x-bus-address-iomem', iomem], ['x-bus-address-shmem', shmem]] as const) {
    if (a >= 0xe0000000) fail(`${name} ${hex(a)} is in the system region (0xE0000000 and up)`);
  }
  return { what, irq, iomem, shmem, size };
}

export interface InstallOptions {
  /** 0 for the first ivshmem-flat (named `ivshmem-flat`), n for `ivshmem-flatN`. */
  index?: number;
  log?: Logger;
  /** Told once if the server connection closes (the board keeps running). */
  onServerGone?: (reason: string) => void;
  /** Told once per shrink of the shared-memory object under the board (the board keeps running). */
  onShmLost?: (message: string) => void;
}

/** Map the shared memory, add the register window, wire the IRQ and the doorbells. Before the machine's memory map is committed. */
export function installIvshmemFlat(machine: Machine, p: IvshmemFlatPlacement, link: IvshmemLink, opts: InstallOptions = {}): IvshmemFlat {
  const fail = (m: string): never => {
    throw new IvshmemPlacementError(`${p.what}: ${m}`);
  };
  const size = p.size ?? link.shmSize;
  if (size > link.shmSize) fail(`shmem-size ${size} is larger than the server's region (${link.shmSize} bytes)`);
  if (size % KIB) fail(`the server's region of ${size} bytes is not a multiple of 1 KiB (the CPU maps whole 1 KiB pages)`);
  if (p.shmem + size > 0xe0000000) fail(`shared memory at ${hex(p.shmem)} (+${size}) runs into the system region (0xE0000000)`);
  const names = (l: { name: string }[]) => [...new Set(l.map((r) => r.name))].join(', ');
  const taken = machine.map.occupants(p.shmem, size);
  if (taken.length) fail(`shared memory ${hex(p.shmem)}-${hex(p.shmem + size - 1)} overlaps ${names(taken)} on ${machine.board.name}`);
  // The registers must not overlap anything, nor share a 1 KiB page with RAM (RAM is mapped in whole pages).
  const page = Math.floor(p.iomem / KIB) * KIB;
  const regsTaken = [...machine.map.occupants(p.iomem, IVSHMEM_FLAT_WINDOW), ...machine.map.occupants(page, KIB).filter((r) => r.kind === 'ram')];
  if (p.shmem < page + KIB && page < p.shmem + size) regsTaken.push({ name: 'its own shared memory', kind: 'ram' });
  if (regsTaken.length) {
    fail(`registers ${hex(p.iomem)}-${hex(p.iomem + IVSHMEM_FLAT_WINDOW - 1)} overlap ${names(regsTaken)} (or share its 1 KiB page) on ${machine.board.name}`);
  }
  const suffix = opts.index ? String(opts.index) : '';
  const dev = new IvshmemFlat(link, {
    shmemAddr: p.shmem,
    shmemSize: size,
    // An edge per event (the NVIC's pulse pends the input whatever its level).
    irq: machine.scs.nvic.line(p.irq),
    log: opts.log,
    clock: machine.sched,
    onServerGone: opts.onServerGone,
    onShmLost: opts.onShmLost,
  });
  machine.addHostMemory(`ivshmem-flat${suffix} shared memory`, p.shmem, link.shm, size);
  machine.addDevice(`ivshmem-flat${suffix}`, p.iomem, dev);
  if (link.ownVectorFds.length) {
    // No size check per doorbell (an fstat, ~5 % of a message's host CPU): a truncation shows at
    // the first access past the new end (the SIGBUS guard repairs it and rings shmEventFd) and at
    // every peer event.
    machine.addEventSource(link.ownVectorFds, (v) => dev.vectorFired(v));
  }
  if (link.shmEventFd !== undefined) machine.addEventSource([link.shmEventFd], () => link.checkShm?.());
  link.onDoorbell?.((v) => {
    dev.vectorFired(v);
    machine.kick();
  });
  return dev;
}
