/**
 * Guest images: ELF files (loaded by their program headers' physical addresses, as QEMU's -kernel)
 * and raw binaries at an address (as QEMU's -device loader). Everything is read and checked before
 * a machine is built: bad input fails first, with the CLI's one-line message.
 */
import { readFileSync } from 'node:fs';
import { ElfError, type ElfImage, isElf, parseElf } from '../machine/elf.js';
import { InputError } from './errors.js';

/** One image: a path or bytes; ELF unless `raw` with an address. */
export type FirmwareSpec =
  /** A file: must be an ELF (as -kernel). */
  | string
  /** ELF bytes. */
  | Uint8Array
  | { elf: string | Uint8Array }
  /** A raw binary (file or bytes) stored at `addr`. */
  | { raw: string | Uint8Array; addr: number }
  /** QEMU's -device loader,file=: an ELF by its headers, anything else raw at `addr` (which it then needs). */
  | { file: string; addr?: number | null; forceRaw?: boolean };

export interface LoadedImage {
  /** What it was loaded from (a path, or '<bytes>'). */
  name: string;
  chunks: { addr: number; data: Uint8Array }[];
  elf: ElfImage | null;
}

function readImage(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String((e as Error).message);
    throw new InputError(`could not load ${what} '${path}': ${why}`);
  }
}

function elfImage(bytes: Uint8Array, name: string): LoadedImage {
  let elf: ElfImage;
  try {
    elf = parseElf(bytes, name);
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
  return { name, chunks, elf };
}

function checkAddr(addr: unknown, name: string): number {
  if (typeof addr !== 'number' || !Number.isInteger(addr) || addr < 0 || addr > 0xffffffff) {
    throw new InputError(`raw image '${name}': addr must be an address (0..0xFFFFFFFF), not ${String(addr)}`);
  }
  return addr;
}

/** Read and check one image. `what` names it in messages ('kernel', 'loader file', 'firmware'). */
export function loadImage(spec: FirmwareSpec, what = 'firmware'): LoadedImage {
  if (typeof spec === 'string') {
    const bytes = readImage(spec, what);
    if (!isElf(bytes)) throw new InputError(`'${spec}' is not an ELF file (use -device loader,file=${spec},addr=ADDR for a raw binary)`);
    return elfImage(bytes, spec);
  }
  if (spec instanceof Uint8Array) {
    if (!isElf(spec)) throw new InputError(`${what} bytes are not an ELF image (give { raw: bytes, addr } for a raw binary)`);
    return elfImage(spec, '<bytes>');
  }
  if ('elf' in spec) {
    if (typeof spec.elf === 'string') return loadImage(spec.elf, what);
    return loadImage(spec.elf, what);
  }
  if ('raw' in spec) {
    const name = typeof spec.raw === 'string' ? spec.raw : '<bytes>';
    const data = typeof spec.raw === 'string' ? readImage(spec.raw, what) : spec.raw;
    return { name, chunks: [{ addr: checkAddr(spec.addr, name), data }], elf: null };
  }
  if ('file' in spec) {
    const bytes = readImage(spec.file, 'loader file');
    if (isElf(bytes) && !spec.forceRaw) return elfImage(bytes, spec.file);
    if (spec.addr === null || spec.addr === undefined) throw new InputError(`loader: '${spec.file}' is not ELF, so it needs addr=`);
    return { name: spec.file, chunks: [{ addr: checkAddr(spec.addr, spec.file), data: bytes }], elf: null };
  }
  throw new InputError(`${what}: give a path, ELF bytes, { elf }, { raw, addr } or { file }`);
}
