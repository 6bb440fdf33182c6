import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ElfError, PF_R, PF_W, PF_X, findDivideSites, isElf, loadRawBinary, parseElf } from '../src/machine/elf.js';

// ---- a minimal ELF32 writer -------------------------------------------------------------
interface TSeg {
  type?: number;
  vaddr: number;
  paddr?: number;
  data: number[] | Uint8Array;
  memsz?: number;
  flags: number;
}
interface TSym {
  name: string;
  value: number;
  size: number;
  type: number; // STT_*
  bind?: number; // STB_*
  shndx?: number;
}
interface TElf {
  cls?: number;
  dataEnc?: number;
  type?: number;
  machine?: number;
  entry?: number;
  segs: TSeg[];
  syms?: TSym[];
  phentsize?: number;
}

function buildElf(o: TElf): Uint8Array {
  const ph = 52;
  const phnum = o.segs.length;
  let off = ph + phnum * 32;
  const segOffs: number[] = [];
  for (const s of o.segs) {
    segOffs.push(off);
    off += s.data.length;
  }
  // symtab: null symbol + syms; strtab; shstrtab unused (shstrndx 0)
  const syms = o.syms ?? [];
  const strParts: number[] = [0];
  const nameOffs: number[] = [];
  for (const s of syms) {
    nameOffs.push(strParts.length);
    for (const c of Buffer.from(s.name, 'latin1')) strParts.push(c);
    strParts.push(0);
  }
  const symtabOff = off;
  const symtabSize = syms.length ? (syms.length + 1) * 16 : 0;
  off += symtabSize;
  const strtabOff = off;
  off += syms.length ? strParts.length : 0;
  while (off & 3) off++;
  const shoff = syms.length ? off : 0;
  const shnum = syms.length ? 3 : 0;
  const total = off + shnum * 40;
  const b = new Uint8Array(total);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, o.cls ?? 1, o.dataEnc ?? 1, 1]);
  dv.setUint16(16, o.type ?? 2, true);
  dv.setUint16(18, o.machine ?? 40, true);
  dv.setUint32(20, 1, true);
  dv.setUint32(24, o.entry ?? 0x101, true);
  dv.setUint32(28, ph, true);
  dv.setUint32(32, shoff, true);
  dv.setUint16(40, 52, true);
  dv.setUint16(42, o.phentsize ?? 32, true);
  dv.setUint16(44, phnum, true);
  dv.setUint16(46, 40, true);
  dv.setUint16(48, shnum, true);
  o.segs.forEach((s, i) => {
    const p = ph + i * 32;
    dv.setUint32(p, s.type ?? 1, true);
    dv.setUint32(p + 4, segOffs[i], true);
    dv.setUint32(p + 8, s.vaddr, true);
    dv.setUint32(p + 12, s.paddr ?? s.vaddr, true);
    dv.setUint32(p + 16, s.data.length, true);
    dv.setUint32(p + 20, s.memsz ?? s.data.length, true);
    dv.setUint32(p + 24, s.flags, true);
    dv.setUint32(p + 28, 4, true);
    b.set(s.data, segOffs[i]);
  });
  if (syms.length) {
    syms.forEach((s, i) => {
      const p = symtabOff + (i + 1) * 16;
      dv.setUint32(p, nameOffs[i], true);
      dv.setUint32(p + 4, s.value, true);
      dv.setUint32(p + 8, s.size, true);
      b[p + 12] = ((s.bind ?? 1) << 4) | s.type;
      dv.setUint16(p + 14, s.shndx ?? 1, true);
    });
    b.set(strParts, strtabOff);
    // section 0: null; 1: .symtab (link 2); 2: .strtab
    const s1 = shoff + 40;
    dv.setUint32(s1 + 4, 2, true);
    dv.setUint32(s1 + 16, symtabOff, true);
    dv.setUint32(s1 + 20, symtabSize, true);
    dv.setUint32(s1 + 24, 2, true);
    dv.setUint32(s1 + 36, 16, true);
    const s2 = shoff + 80;
    dv.setUint32(s2 + 4, 3, true);
    dv.setUint32(s2 + 16, strtabOff, true);
    dv.setUint32(s2 + 20, strParts.length, true);
  }
  return b;
}

const CODE: TSeg = { vaddr: 0, data: [1, 2, 3, 4, 5, 6, 7, 8], flags: PF_R | PF_X };

function elfErr(bytes: Uint8Array): string {
  try {
    parseElf(bytes, 'img.elf');
  } catch (e) {
    expect(e).toBeInstanceOf(ElfError);
    const m = (e as Error).message;
    expect(m).not.toContain('\n');
    return m;
  }
  throw new Error('expected an ElfError');
}

describe('parseElf: good input', () => {
  it('reads entry, segments (by physical address, filesz data, memsz) and flags', () => {
    const img = parseElf(
      buildElf({
        entry: 0x1234_5679,
        segs: [
          CODE,
          { vaddr: 0x2000_0000, paddr: 0x8, data: [9, 9], memsz: 0x100, flags: PF_R | PF_W },
          { type: 4, vaddr: 0, data: [1], flags: PF_R }, // PT_NOTE: ignored
          { vaddr: 0x3000, data: [], memsz: 0, flags: PF_R }, // empty: skipped
        ],
      }),
      'x',
    );
    expect(img.entry).toBe(0x1234_5679);
    expect(img.segments).toHaveLength(2);
    expect(img.segments[0]).toMatchObject({ paddr: 0, vaddr: 0, memsz: 8, flags: PF_R | PF_X });
    expect([...img.segments[0].data]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(img.segments[1]).toMatchObject({ paddr: 8, vaddr: 0x2000_0000, memsz: 0x100 });
    expect([...img.segments[1].data]).toEqual([9, 9]);
  });

  it('accepts ET_DYN (loaded at link addresses)', () => {
    expect(parseElf(buildElf({ type: 3, segs: [CODE] }), 'x').segments).toHaveLength(1);
  });

  it('keeps symbols and answers symbolAt', () => {
    const img = parseElf(
      buildElf({
        segs: [CODE],
        syms: [
          { name: 'main', value: 0x101, size: 0x20, type: 2 },
          { name: 'buf', value: 0x2000_0000, size: 16, type: 1 },
          { name: '$t', value: 0x100, size: 0, type: 0, bind: 0 },
          { name: 'label', value: 0x200, size: 0, type: 0 },
          { name: 'undef', value: 0, size: 0, type: 0, shndx: 0 },
          { name: 'dup', value: 0x300, size: 4, type: 1, bind: 0 },
          { name: 'dup', value: 0x400, size: 4, type: 1, bind: 1 },
          { name: 'dup', value: 0x500, size: 4, type: 1, bind: 0 },
        ],
      }),
      'x',
    );
    expect(img.symbols.get('main')).toEqual({ value: 0x101, size: 0x20, type: 'func' });
    expect(img.symbols.get('buf')).toEqual({ value: 0x2000_0000, size: 16, type: 'object' });
    expect(img.symbols.has('$t')).toBe(false);
    expect(img.symbols.has('undef')).toBe(false);
    expect(img.symbols.get('dup')?.value).toBe(0x400); // the global wins
    expect(img.symbolAt(0x100)).toBe('main');
    expect(img.symbolAt(0x101)).toBe('main+0x1');
    expect(img.symbolAt(0x11e)).toBe('main+0x1e');
    expect(img.symbolAt(0x120)).toBeUndefined();
    expect(img.symbolAt(0x2000_0004)).toBe('buf+0x4');
    expect(img.symbolAt(0x200)).toBe('label');
    expect(img.symbolAt(0x201)).toBeUndefined();
    expect(img.symbolAt(0)).toBeUndefined();
  });

  it('has no symbols when there is no section table', () => {
    const img = parseElf(buildElf({ segs: [CODE] }), 'x');
    expect(img.symbols.size).toBe(0);
    expect(img.symbolAt(0)).toBeUndefined();
  });

  it('isElf', () => {
    expect(isElf(buildElf({ segs: [CODE] }))).toBe(true);
    expect(isElf(new Uint8Array([1, 2, 3, 4]))).toBe(false);
  });
});

describe('parseElf: bad input gives a precise ElfError', () => {
  const good = (): Uint8Array => buildElf({ segs: [CODE] });
  it('not an ELF', () => {
    expect(elfErr(new Uint8Array([0x4d, 0x5a, 0, 0, 0, 0, 0, 0]))).toBe('img.elf: not an ELF file (bad magic)');
    expect(elfErr(new Uint8Array(0))).toBe('img.elf: not an ELF file (bad magic)');
  });
  it('ELFCLASS64', () => {
    expect(elfErr(buildElf({ cls: 2, segs: [CODE] }))).toBe('img.elf: 64-bit ELF (ELFCLASS64); an ELF32 Arm image is needed');
    expect(elfErr(buildElf({ cls: 7, segs: [CODE] }))).toBe('img.elf: bad ELF class 7 (expected 1, ELFCLASS32)');
  });
  it('big-endian', () => {
    expect(elfErr(buildElf({ dataEnc: 2, segs: [CODE] }))).toBe('img.elf: big-endian ELF; Cortex-M images are little-endian');
    expect(elfErr(buildElf({ dataEnc: 0, segs: [CODE] }))).toBe('img.elf: bad ELF data encoding 0 (expected 1, little-endian)');
  });
  it('not EM_ARM', () => {
    expect(elfErr(buildElf({ machine: 62, segs: [CODE] }))).toBe('img.elf: not an Arm ELF (e_machine 62, expected 40 EM_ARM)');
  });
  it('not an executable', () => {
    expect(elfErr(buildElf({ type: 1, segs: [CODE] }))).toBe('img.elf: relocatable object (ET_REL), not an executable: link it first');
    expect(elfErr(buildElf({ type: 4, segs: [CODE] }))).toBe('img.elf: core dump (ET_CORE), not an executable');
    expect(elfErr(buildElf({ type: 0, segs: [CODE] }))).toBe('img.elf: not an executable (e_type 0, expected 2 ET_EXEC)');
  });
  it('truncated header', () => {
    expect(elfErr(good().subarray(0, 30))).toBe('img.elf: truncated ELF header (30 bytes, need 52)');
    expect(elfErr(good().subarray(0, 5))).toBe('img.elf: truncated ELF header (5 bytes, need 52)');
  });
  it('truncated program headers', () => {
    expect(elfErr(good().subarray(0, 60))).toBe(
      'img.elf: truncated program headers (1 at offset 0x34 run past end of file, 60 bytes)',
    );
  });
  it('truncated segment data', () => {
    const b = good();
    expect(elfErr(b.subarray(0, b.length - 2))).toBe(
      'img.elf: truncated segment 0 data (offset 0x54 + size 0x8 past end of file, 90 bytes)',
    );
  });
  it('no PT_LOAD segments', () => {
    expect(elfErr(buildElf({ segs: [{ type: 4, vaddr: 0, data: [1], flags: 4 }] }))).toBe('img.elf: no PT_LOAD segments: nothing to load');
    expect(elfErr(buildElf({ segs: [] }))).toBe('img.elf: no program headers (no PT_LOAD segments)');
  });
  it('absurd sizes', () => {
    expect(elfErr(buildElf({ segs: [{ ...CODE, memsz: 0x8000_0000 }] }))).toBe('img.elf: segment 0: absurd memory size 0x80000000');
    expect(elfErr(buildElf({ segs: [{ ...CODE, vaddr: 0xffff_fff0, memsz: 0x100 }] }))).toBe(
      'img.elf: segment 0: 0xfffffff0+0x100 runs past the end of the 32-bit address space',
    );
    expect(elfErr(buildElf({ segs: [{ ...CODE, memsz: 4 }] }))).toBe('img.elf: segment 0: file size 0x8 larger than memory size 0x4');
    const b = good();
    new DataView(b.buffer).setUint16(44, 60000, true);
    expect(elfErr(b)).toBe('img.elf: absurd program header count 60000');
    expect(elfErr(buildElf({ segs: [CODE], phentsize: 56 }))).toBe('img.elf: bad program header size 56 (expected 32)');
  });
});

describe('loadRawBinary', () => {
  it('returns the blob at the address', () => {
    const d = new Uint8Array([1, 2, 3]);
    expect(loadRawBinary(d, 0x2000_0000)).toEqual({ paddr: 0x2000_0000, data: d });
  });
  it('rejects bad addresses', () => {
    expect(() => loadRawBinary(new Uint8Array(4), -1)).toThrow('loader: address -1 is not a 32-bit address');
    expect(() => loadRawBinary(new Uint8Array(32), 0xffff_fff0)).toThrow(
      'loader: 32 bytes at 0xfffffff0 run past the end of the 32-bit address space',
    );
  });
});

describe('findDivideSites', () => {
  it('finds UDIV and SDIV at halfword-aligned addresses of executable segments only', () => {
    // udiv r0, r0, r1 = fbb0 f0f1 ; sdiv r2, r3, r4 = fb93 f2f4 ; nop = bf00
    const code = [0x00, 0xbf, 0xb0, 0xfb, 0xf1, 0xf0, 0x93, 0xfb, 0xf4, 0xf2, 0x00, 0xbf];
    // a near miss: fbb0 with second halfword 0x00f1 (not ...F.F.), and mla fb00
    const miss = [0xb0, 0xfb, 0xf1, 0x00, 0x00, 0xfb, 0xf0, 0xf0];
    const img = parseElf(
      buildElf({
        segs: [
          { vaddr: 0x100, data: [...code, ...miss], flags: PF_R | PF_X },
          { vaddr: 0x2000_0000, data: code, flags: PF_R | PF_W }, // not executable
        ],
      }),
      'x',
    );
    expect(findDivideSites(img)).toEqual([0x102, 0x106]);
  });
  it('uses the execution (virtual) address', () => {
    const seg = { paddr: 0x8000, vaddr: 0x2000_0000, data: new Uint8Array([0xbf, 0xfb, 0xf0, 0xf0]), memsz: 4, flags: PF_X };
    expect(findDivideSites({ segments: [seg] })).toEqual([0x2000_0000]);
  });
  it('stays halfword-aligned when a segment starts at an odd address', () => {
    const seg = { paddr: 1, vaddr: 1, data: new Uint8Array([0, 0xb0, 0xfb, 0xf0, 0xf0, 0, 0xb0, 0xfb, 0xf0, 0xf0, 0]), memsz: 11, flags: PF_X };
    expect(findDivideSites({ segments: [seg] })).toEqual([2]);
  });
});

describe('a real image from arm-none-eabi-gcc', () => {
  const GCC = '/usr/bin/arm-none-eabi-gcc';
  const dir = mkdtempSync(join(tmpdir(), 'cmemu-elf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const have = existsSync(GCC);
  if (!have) console.warn(`\n*** ${GCC} not found: SKIPPING the real-ELF test ***\n`);

  it.skipIf(!have)('loads segments and symbols', () => {
    const src = join(dir, 't.c');
    const ld = join(dir, 't.ld');
    const out = join(dir, 't.elf');
    writeFileSync(
      src,
      `
unsigned counter = 5;            /* .data: LMA in flash, VMA in RAM */
unsigned zeroes[16];             /* .bss */
unsigned divide(unsigned a, unsigned b) { return a / b; }
int sdivide(int a, int b) { return a / b; }
void Reset_Handler(void) { zeroes[1] = divide(counter, 3) + sdivide(-7, 2); for (;;) {} }
__attribute__((section(".vectors"), used)) const void *vectors[2] = { (void *)0x20001000, (void *)Reset_Handler };
`,
    );
    writeFileSync(
      ld,
      `
MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 256K  RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 64K }
ENTRY(Reset_Handler)
SECTIONS {
  .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH
  .data : { *(.data*) } > RAM AT > FLASH
  .bss (NOLOAD) : { *(.bss*) *(COMMON) } > RAM
}
`,
    );
    execFileSync(GCC, ['-mcpu=cortex-m3', '-mthumb', '-nostdlib', '-O1', '-T', ld, '-o', out, src]);
    const img = parseElf(new Uint8Array(readFileSync(out)), out);
    const fn = img.symbols.get('Reset_Handler');
    expect(fn?.type).toBe('func');
    expect(fn!.value & 1).toBe(1);
    expect(img.entry).toBe(fn!.value);
    expect(img.symbols.get('counter')).toMatchObject({ value: 0x2000_0000, size: 4, type: 'object' });
    expect(img.symbols.get('zeroes')).toMatchObject({ size: 64, type: 'object' });
    expect(img.symbolAt(fn!.value & ~1)).toBe('Reset_Handler');
    expect(img.symbolAt((fn!.value & ~1) + 2)).toBe('Reset_Handler+0x2');
    // text at 0 in flash; .data loaded by physical address in flash, runs from RAM
    const text = img.segments.find((s) => s.flags & PF_X)!;
    expect(text.paddr).toBe(0);
    expect(new DataView(text.data.buffer, text.data.byteOffset).getUint32(0, true)).toBe(0x2000_1000);
    const data = img.segments.find((s) => s.vaddr === 0x2000_0000 && s.data.length > 0)!;
    expect(data.paddr).toBeLessThan(0x4_0000);
    expect(new DataView(data.data.buffer, data.data.byteOffset).getUint32(0, true)).toBe(5);
    // one UDIV in divide(), one SDIV in sdivide()
    const sites = findDivideSites(img);
    const d = img.symbols.get('divide')!;
    const s = img.symbols.get('sdivide')!;
    const inside = (a: number, sym: { value: number; size: number }) => a >= (sym.value & ~1) && a < (sym.value & ~1) + sym.size;
    expect(sites.some((a) => inside(a, d))).toBe(true);
    expect(sites.some((a) => inside(a, s))).toBe(true);
  });
});
