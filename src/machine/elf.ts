/**
 * ELF32 loader for Cortex-M images (what `-kernel` and `-device loader,file=` take).
 *
 * - Loads PT_LOAD segments by PHYSICAL address (p_paddr), as QEMU does: an initialised .data
 *   section is placed at its load address in flash (LMA) and the startup code copies it to RAM.
 * - Accepts ET_EXEC and ET_DYN (ET_DYN is loaded at its link addresses with no relocation,
 *   which is what QEMU's load_elf does for a bare-metal image); rejects ET_REL / ET_CORE.
 * - Keeps the symbol table (.symtab + its string table) for diagnostics (`symbolAt`).
 * - Every malformed input gives an `ElfError` with a one-line message naming the file.
 */

export class ElfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElfError';
  }
}

/** Program-header flags (p_flags). */
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

export const EM_ARM = 40;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;
export const PT_LOAD = 1;

export interface ElfSegment {
  /** Physical (load) address: where the bytes go in the guest. */
  paddr: number;
  /** Virtual (execution) address. */
  vaddr: number;
  /** The file bytes (p_filesz of them); the loader zero-fills up to memsz. */
  data: Uint8Array;
  memsz: number;
  /** PF_R | PF_W | PF_X bits. */
  flags: number;
}

export type ElfSymbolType = 'notype' | 'object' | 'func' | 'section' | 'file' | 'common' | 'tls' | 'other';

export interface ElfSymbol {
  /** st_value (for Thumb functions bit 0 is set, as in the file). */
  value: number;
  size: number;
  type: ElfSymbolType;
}

export interface ElfImage {
  /** e_entry (bit 0 set for Thumb). */
  entry: number;
  /** PT_LOAD segments with memsz > 0, in program-header order. */
  segments: ElfSegment[];
  /** Named symbols (FUNC/OBJECT/NOTYPE; mapping symbols $t/$d/$a and SECTION/FILE symbols skipped). Globals win over locals of the same name. */
  symbols: Map<string, ElfSymbol>;
  /** "name" or "name+0xoff" for the symbol covering addr (Thumb bit ignored), else undefined. */
  symbolAt(addr: number): string | undefined;
}

/** Largest single segment we accept: the whole M-profile address space is 4 GiB, no board has 1 GiB of memory. */
const MAX_SEGMENT = 0x4000_0000;
const MAX_PHNUM = 4096;
const EHDR_SIZE = 52;
const PHDR_SIZE = 32;
const SHDR_SIZE = 40;
const SYM_SIZE = 16;
const SHT_SYMTAB = 2;

const hex = (v: number): string => '0x' + (v >>> 0).toString(16);

/** True when the bytes start with the ELF magic. */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

export function parseElf(bytes: Uint8Array, name: string): ElfImage {
  const fail = (msg: string): never => {
    throw new ElfError(`${name}: ${msg}`);
  };
  if (bytes.length < 4 || !isElf(bytes)) fail('not an ELF file (bad magic)');
  if (bytes.length < 6) fail(`truncated ELF header (${bytes.length} bytes, need ${EHDR_SIZE})`);
  const cls = bytes[4];
  if (cls === 2) fail('64-bit ELF (ELFCLASS64); an ELF32 Arm image is needed');
  if (cls !== 1) fail(`bad ELF class ${cls} (expected 1, ELFCLASS32)`);
  const data = bytes[5];
  if (data === 2) fail('big-endian ELF; Cortex-M images are little-endian');
  if (data !== 1) fail(`bad ELF data encoding ${data} (expected 1, little-endian)`);
  if (bytes.length < EHDR_SIZE) fail(`truncated ELF header (${bytes.length} bytes, need ${EHDR_SIZE})`);

  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number): number => dv.getUint16(o, true);
  const u32 = (o: number): number => dv.getUint32(o, true);

  const type = u16(16);
  const machine = u16(18);
  if (machine !== EM_ARM) fail(`not an Arm ELF (e_machine ${machine}, expected ${EM_ARM} EM_ARM)`);
  if (type === ET_REL) fail('relocatable object (ET_REL), not an executable: link it first');
  if (type === ET_CORE) fail('core dump (ET_CORE), not an executable');
  if (type !== ET_EXEC && type !== ET_DYN) fail(`not an executable (e_type ${type}, expected 2 ET_EXEC)`);

  const entry = u32(24);
  const phoff = u32(28);
  const shoff = u32(32);
  const phentsize = u16(42);
  const phnum = u16(44);
  const shentsize = u16(46);
  const shnum = u16(48);

  if (phnum === 0) fail('no program headers (no PT_LOAD segments)');
  if (phnum > MAX_PHNUM) fail(`absurd program header count ${phnum}`);
  if (phentsize !== PHDR_SIZE) fail(`bad program header size ${phentsize} (expected ${PHDR_SIZE})`);
  if (phoff + phnum * PHDR_SIZE > bytes.length)
    fail(`truncated program headers (${phnum} at offset ${hex(phoff)} run past end of file, ${bytes.length} bytes)`);

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * PHDR_SIZE;
    if (u32(o) !== PT_LOAD) continue;
    const offset = u32(o + 4);
    const vaddr = u32(o + 8);
    const paddr = u32(o + 12);
    const filesz = u32(o + 16);
    const memsz = u32(o + 20);
    const flags = u32(o + 24);
    if (memsz === 0 && filesz === 0) continue;
    if (filesz > memsz) fail(`segment ${i}: file size ${hex(filesz)} larger than memory size ${hex(memsz)}`);
    if (memsz > MAX_SEGMENT) fail(`segment ${i}: absurd memory size ${hex(memsz)}`);
    if (paddr + memsz > 0x1_0000_0000)
      fail(`segment ${i}: ${hex(paddr)}+${hex(memsz)} runs past the end of the 32-bit address space`);
    if (offset + filesz > bytes.length)
      fail(`truncated segment ${i} data (offset ${hex(offset)} + size ${hex(filesz)} past end of file, ${bytes.length} bytes)`);
    segments.push({ paddr, vaddr, data: bytes.subarray(offset, offset + filesz), memsz, flags });
  }
  if (segments.length === 0) fail('no PT_LOAD segments: nothing to load');

  const symbols = readSymbols(bytes, dv, shoff, shentsize, shnum);
  const sorted = buildLookup(symbols);

  return {
    entry,
    segments,
    symbols,
    symbolAt: (addr: number) => lookup(sorted, addr >>> 0),
  };
}

/**
 * The symbol table is diagnostics only: a damaged section table never rejects a loadable image,
 * it just yields no symbols.
 */
function readSymbols(bytes: Uint8Array, dv: DataView, shoff: number, shentsize: number, shnum: number): Map<string, ElfSymbol> {
  const symbols = new Map<string, ElfSymbol>();
  const globals = new Set<string>();
  if (shoff === 0 || shnum === 0 || shentsize !== SHDR_SIZE || shoff + shnum * SHDR_SIZE > bytes.length) return symbols;
  const u32 = (o: number): number => dv.getUint32(o, true);
  const dec = new TextDecoder('latin1');
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * SHDR_SIZE;
    if (u32(sh + 4) !== SHT_SYMTAB) continue;
    const off = u32(sh + 16);
    const size = u32(sh + 20);
    const link = u32(sh + 24);
    if (off + size > bytes.length || link >= shnum) continue;
    const strSh = shoff + link * SHDR_SIZE;
    const strOff = u32(strSh + 16);
    const strSize = u32(strSh + 20);
    if (strOff + strSize > bytes.length) continue;
    const readName = (n: number): string => {
      if (n >= strSize) return '';
      let end = strOff + n;
      const lim = strOff + strSize;
      while (end < lim && bytes[end] !== 0) end++;
      return dec.decode(bytes.subarray(strOff + n, end));
    };
    for (let s = off; s + SYM_SIZE <= off + size; s += SYM_SIZE) {
      const nm = readName(u32(s));
      if (!nm || nm.startsWith('$')) continue; // mapping symbols $t $d $a
      const info = bytes[s + 12];
      const bind = info >> 4;
      const t = symType(info & 15);
      if (t === 'section' || t === 'file') continue;
      const shndx = dv.getUint16(s + 14, true);
      if (shndx === 0) continue; // undefined
      const isGlobal = bind === 1 || bind === 2;
      if (symbols.has(nm) && (globals.has(nm) || !isGlobal)) continue;
      symbols.set(nm, { value: u32(s + 4), size: u32(s + 8), type: t });
      if (isGlobal) globals.add(nm);
    }
  }
  return symbols;
}

function symType(t: number): ElfSymbolType {
  switch (t) {
    case 0: return 'notype';
    case 1: return 'object';
    case 2: return 'func';
    case 3: return 'section';
    case 4: return 'file';
    case 5: return 'common';
    case 6: return 'tls';
    default: return 'other';
  }
}

interface Sym {
  start: number;
  size: number;
  name: string;
}

function buildLookup(symbols: Map<string, ElfSymbol>): Sym[] {
  const out: Sym[] = [];
  for (const [name, s] of symbols) {
    const start = s.type === 'func' ? (s.value & ~1) >>> 0 : s.value >>> 0;
    out.push({ start, size: s.size, name });
  }
  // By start; for equal starts the larger one first (so a sized symbol beats a zero-size label).
  out.sort((a, b) => a.start - b.start || b.size - a.size);
  return out;
}

function lookup(sorted: Sym[], addr: number): string | undefined {
  // Last symbol with start <= addr.
  let lo = 0;
  let hi = sorted.length - 1;
  let idx = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid].start <= addr) {
      idx = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // Walk back over symbols starting at or before addr: the nearest one that covers addr wins.
  for (let i = idx; i >= 0 && i > idx - 64; i--) {
    const s = sorted[i];
    const off = addr - s.start;
    if (off === 0) {
      // Prefer a sized symbol with the same start (sorted first among equals).
      let j = i;
      while (j > 0 && sorted[j - 1].start === s.start) j--;
      return sorted[j].name;
    }
    if (off < s.size) return `${s.name}+0x${off.toString(16)}`;
  }
  return undefined;
}

/** A raw blob for `-device loader,file=PATH,addr=ADDR` (QEMU's generic loader for non-ELF files). */
export interface RawImage {
  paddr: number;
  data: Uint8Array;
}

export function loadRawBinary(data: Uint8Array, addr: number): RawImage {
  if (!Number.isInteger(addr) || addr < 0 || addr > 0xffff_ffff) throw new RangeError(`loader: address ${addr} is not a 32-bit address`);
  if (addr + data.length > 0x1_0000_0000)
    throw new RangeError(`loader: ${data.length} bytes at ${hex(addr)} run past the end of the 32-bit address space`);
  return { paddr: addr >>> 0, data };
}

/**
 * Addresses of T32 UDIV/SDIV encodings in executable PT_LOAD segments, at halfword-aligned
 * EXECUTION (virtual) addresses, sorted and unique. A hook there can raise the divide-by-zero
 * UsageFault (CCR.DIV_0_TRP) before the instruction runs. The scan is by pattern, so literal
 * data or the second half of another 32-bit instruction may match: hooks must re-check the
 * instruction (and the divisor register) when they fire.
 */
export function findDivideSites(image: Pick<ElfImage, 'segments'>): number[] {
  const out = new Set<number>();
  for (const seg of image.segments) {
    if (!(seg.flags & PF_X)) continue;
    const d = seg.data;
    const start = seg.vaddr & 1 ? 1 : 0; // first halfword-aligned byte
    for (let i = start; i + 4 <= d.length; i += 2) {
      const h1 = d[i] | (d[i + 1] << 8);
      if ((h1 & 0xfff0) !== 0xfbb0 && (h1 & 0xfff0) !== 0xfb90) continue;
      const h2 = d[i + 2] | (d[i + 3] << 8);
      if ((h2 & 0xf0f0) === 0xf0f0) out.add((seg.vaddr + i) >>> 0);
    }
  }
  return [...out].sort((a, b) => a - b);
}
