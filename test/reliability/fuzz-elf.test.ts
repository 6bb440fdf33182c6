/**
 * Fuzzing the image loader (issue 11): real firmware ELFs with mutated headers, program and section
 * tables, symbol tables, sizes that overflow 32 bits, segments overlapping each other and devices,
 * and raw images at hostile addresses. Every case must either be refused with an InputError whose
 * message is one line, or boot and run a little (whatever the guest then does: faults, lockup,
 * exit); anything else (another exception, a hang, a host signal) fails the test with its seed.
 * A few cases go through bin/cmemu for the process's view: exit 2, one line, no stack trace.
 * Seeds are fixed; FUZZ_ITER=N runs N times as many cases.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSystem, type FirmwareSpec } from '../../src/system/system.js';
import { CmemuError, InputError } from '../../src/system/errors.js';
import { firmwarePath, runCmemu } from '../support/run-cmemu.js';
import { Rng, iterations } from '../support/fuzz.js';

const BOARDS = ['mps2-an385', 'lm3s6965evb'] as const;
const tmp = mkdtempSync(join(tmpdir(), 'cmemu-fuzz-elf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const u32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getUint32(o, true);
const u16 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getUint16(o, true);
const put32 = (b: Uint8Array, o: number, v: number) => o + 4 <= b.length && new DataView(b.buffer, b.byteOffset).setUint32(o, v >>> 0, true);
const put16 = (b: Uint8Array, o: number, v: number) => o + 2 <= b.length && new DataView(b.buffer, b.byteOffset).setUint16(o, v & 0xffff, true);

interface Layout {
  phoff: number;
  phnum: number;
  shoff: number;
  shnum: number;
  /** Offsets of SHT_SYMTAB entries' data. */
  symtabs: { off: number; size: number; shdr: number }[];
}
function layout(b: Uint8Array): Layout {
  const shoff = u32(b, 32);
  const shnum = u16(b, 48);
  const symtabs = [];
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * 40;
    if (u32(b, sh + 4) === 2) symtabs.push({ off: u32(b, sh + 16), size: u32(b, sh + 20), shdr: sh });
  }
  return { phoff: u32(b, 28), phnum: u16(b, 44), shoff, shnum, symtabs };
}

/** Device and unmapped addresses worth landing a segment on. */
const HOSTILE_ADDRS = [0x40000000, 0x40004000, 0x400ff000, 0xe000e000, 0xe000ed00, 0xe0000000, 0xfffff000, 0xffffffff, 0x20000000 - 4, 0x1ffffffc, 0x60000000, 0xa0000000, 0x00000001];

/** One mutation of a copy of `orig`; `what` says which (for the failure message). */
function mutate(orig: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const b = new Uint8Array(orig);
  const L = layout(b);
  const ph = (i: number) => L.phoff + (i % Math.max(1, L.phnum)) * 32;
  const kind = rng.int(12);
  switch (kind) {
    case 0: {
      const n = 1 + rng.int(6);
      for (let i = 0; i < n; i++) b[rng.int(52)] = rng.u32() & 0xff;
      return { bytes: b, what: `${n} random header bytes` };
    }
    case 1: {
      const f = rng.pick([24, 28, 32, 42, 44, 46, 48, 50]);
      if (f >= 42) put16(b, f, rng.edgy32());
      else put32(b, f, rng.edgy32());
      return { bytes: b, what: `header field @${f} = ${f >= 42 ? u16(b, f) : u32(b, f)}` };
    }
    case 2: {
      const i = rng.int(L.phnum);
      const f = rng.pick([0, 4, 8, 12, 16, 20, 24, 28]);
      put32(b, ph(i) + f, rng.edgy32());
      return { bytes: b, what: `phdr ${i} field +${f} = 0x${u32(b, ph(i) + f).toString(16)}` };
    }
    case 3: {
      // Sizes that overflow 32 bits together with the address / offset.
      const i = rng.int(L.phnum);
      put32(b, ph(i) + 12, 0xffffffff - rng.int(0x1000));
      put32(b, ph(i) + 20, Math.max(u32(b, ph(i) + 16), 0x1000 + rng.int(0x10000)));
      return { bytes: b, what: `phdr ${i} paddr near 4 GiB with memsz 0x${u32(b, ph(i) + 20).toString(16)}` };
    }
    case 4: {
      const i = rng.int(L.phnum);
      put32(b, ph(i) + 4, 0xffffffff - rng.int(16));
      return { bytes: b, what: `phdr ${i} offset near 4 GiB` };
    }
    case 5: {
      // Two segments at the same place (overlap), or one shifted into the next.
      if (L.phnum < 2) return { bytes: b, what: 'no-op (one phdr)' };
      const i = rng.int(L.phnum);
      const j = (i + 1 + rng.int(L.phnum - 1)) % L.phnum;
      put32(b, ph(j) + 12, u32(b, ph(i) + 12) + rng.int(64));
      put32(b, ph(j) + 0, 1);
      return { bytes: b, what: `phdr ${j} overlaps phdr ${i}` };
    }
    case 6: {
      const i = rng.int(L.phnum);
      const a = rng.pick(HOSTILE_ADDRS);
      put32(b, ph(i) + 12, a);
      put32(b, ph(i) + 8, a);
      return { bytes: b, what: `phdr ${i} at 0x${a.toString(16)}` };
    }
    case 7: {
      const n = 1 + rng.int(16);
      for (let k = 0; k < n; k++) b[L.phoff + rng.int(Math.max(1, L.phnum * 32))] = rng.u32() & 0xff;
      return { bytes: b, what: `${n} random phdr bytes` };
    }
    case 8: {
      if (L.shnum === 0) return { bytes: b, what: 'no-op (no sections)' };
      const i = rng.int(L.shnum);
      const f = rng.pick([0, 4, 12, 16, 20, 24, 28, 36]);
      put32(b, L.shoff + i * 40 + f, rng.edgy32());
      return { bytes: b, what: `shdr ${i} field +${f}` };
    }
    case 9: {
      const st = L.symtabs[0];
      if (!st) return { bytes: b, what: 'no-op (no symtab)' };
      const n = 1 + rng.int(32);
      for (let k = 0; k < n; k++) {
        const s = st.off + 16 * rng.int(Math.max(1, st.size / 16));
        put32(b, s + rng.pick([0, 4, 8]), rng.edgy32());
        if (rng.chance(0.3)) put16(b, s + 14, rng.edgy32());
      }
      return { bytes: b, what: `${n} symbols mangled` };
    }
    case 10: {
      const cut = rng.int(b.length);
      return { bytes: b.subarray(0, cut), what: `truncated to ${cut} bytes` };
    }
    default: {
      // The vector table's reset PC / SP (the first loaded bytes) anywhere.
      const i = rng.int(L.phnum);
      const off = u32(b, ph(i) + 4);
      put32(b, off, rng.edgy32());
      put32(b, off + 4, rng.edgy32());
      return { bytes: b, what: `phdr ${i} first words (SP / reset vector) replaced` };
    }
  }
}

type Verdict = 'refused' | 'booted';
async function tryImage(board: string, firmware: FirmwareSpec | FirmwareSpec[], label: string): Promise<Verdict> {
  let sys;
  try {
    sys = await createSystem({ board, firmware, time: { icount: 3 } });
  } catch (e) {
    if (!(e instanceof InputError)) throw new Error(`${label}: ${(e as Error).constructor.name} instead of an InputError: ${(e as Error).stack}`);
    expect(e.message, label).not.toMatch(/\n/);
    expect(e.message.length, label).toBeLessThan(400);
    if (process.env.FUZZ_SHOW) console.log(`${label}: ${e.message}`);
    return 'refused';
  }
  try {
    // Bounded in virtual time too: a guest may sleep for good (WFI with nothing to wake it).
    const r = await sys.runUntil({ instructions: 20_000 }, { timeout: '1 s' });
    expect(['instructions', 'finished', 'time'], `${label}: ${JSON.stringify(r)}`).toContain(r.reason);
    if (r.outcome?.kind === 'error') throw new Error(`${label}: emulator error ${JSON.stringify(r.outcome)}`);
    return 'booted';
  } catch (e) {
    if (e instanceof CmemuError) return 'booted'; // TimeoutError, MachineFinishedError: the guest's business
    throw new Error(`${label}: ${(e as Error).stack}`);
  } finally {
    await sys.close();
  }
}

describe('ELF loader fuzz', () => {
  for (const board of BOARDS) {
    it(`${board}: ${iterations(150)} mutated ELFs (seed 11), each refused in one line or booted`, async () => {
      const orig = readFileSync(firmwarePath(board, 'hello'));
      const rng = new Rng(11 + board.length);
      const tally = { refused: 0, booted: 0 };
      for (let i = 0; i < iterations(150); i++) {
        const { bytes, what } = mutate(orig, rng);
        tally[await tryImage(board, bytes, `${board} case ${i} (${what})`)]++;
      }
      console.log(`fuzz-elf ${board}: ${JSON.stringify(tally)}`);
      expect(tally.refused).toBeGreaterThan(10);
      expect(tally.booted).toBeGreaterThan(10);
    }, 120_000);
  }

  it(`raw images at hostile addresses and sizes, and overlapping images (${iterations(60)} cases, seed 12)`, async () => {
    const rng = new Rng(12);
    const tally = { refused: 0, booted: 0 };
    const hello = readFileSync(firmwarePath('mps2-an385', 'hello'));
    for (let i = 0; i < iterations(60); i++) {
      const addr = rng.chance(0.5) ? rng.pick(HOSTILE_ADDRS) : rng.edgy32();
      const data = rng.bytes(rng.pick([0, 1, 3, 4, 1024, 70000]));
      const specs: FirmwareSpec[] = rng.chance(0.5) ? [hello, { raw: data, addr }] : [{ raw: data, addr }];
      tally[await tryImage('mps2-an385', specs, `raw case ${i} (${data.length} bytes at 0x${addr.toString(16)})`)]++;
    }
    console.log(`fuzz-raw: ${JSON.stringify(tally)}`);
    expect(tally.refused + tally.booted).toBe(iterations(60));
  }, 120_000);

  it('a guest that sleeps for good (reset PC on `wfi; b .`): a run ends by its timeout, or by sys.pause() (which a run used to ignore)', async () => {
    const hello = readFileSync(firmwarePath('mps2-an385', 'hello'));
    // Byte 4 = 11 moves hello's reset vector onto sh_exit's `wfi; b.n` loop (0x60a): nothing ever wakes it.
    const sys = await createSystem({ board: 'mps2-an385', firmware: [hello, { raw: Uint8Array.of(11), addr: 4 }], time: { icount: 3 } });
    try {
      await expect(sys.runUntil({ instructions: 20_000 }, { timeout: '1 s' })).rejects.toThrow(/did not happen within 1 s \(virtual time\)/);
      setTimeout(() => sys.pause(), 100);
      const r = await sys.runFor({ instructions: 20_000 });
      expect(r.reason).toBe('paused');
      expect(r.instructions).toBeLessThan(20_000);
    } finally {
      await sys.close();
    }
  });

  it('through bin/cmemu: exit 2 and one line, never a stack trace', async () => {
    const orig = readFileSync(firmwarePath('mps2-an385', 'hello'));
    // The first PT_LOAD program header (hello.elf may start with another type).
    const load = (b: Uint8Array) => {
      for (let i = 0; i < u16(b, 44); i++) if (u32(b, u32(b, 28) + i * 32) === 1) return u32(b, 28) + i * 32;
      throw new Error('no PT_LOAD');
    };
    const cases: [string, (b: Uint8Array) => void, RegExp][] = [
      ['phnum 0xffff', (b) => put16(b, 44, 0xffff), /absurd program header count 65535/],
      ['segment past 4 GiB', (b) => { put32(b, load(b) + 12, 0xfffff000); put32(b, load(b) + 20, 0x10000); }, /runs past the end of the 32-bit address space/],
      ['segment offset past the end', (b) => put32(b, load(b) + 4, 0xfffffff0), /truncated segment/],
      ['segment on the NVIC', (b) => put32(b, load(b) + 12, 0xe000e000), /./],
    ];
    for (const [name, f, re] of cases) {
      const b = new Uint8Array(orig);
      f(b);
      const path = join(tmp, `${name.replace(/\W+/g, '_')}.elf`);
      writeFileSync(path, b);
      const r = await runCmemu(['-M', 'mps2-an385', '-nographic', '-monitor', 'none', '-kernel', path], { timeoutMs: 20_000 });
      expect(r.code, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr, name).toMatch(/^cmemu: [^\n]+\n$/);
      expect(r.stderr, name).toMatch(re);
      console.log(`fuzz-elf cli ${name}: ${r.stderr.trim()}`);
      expect(r.stderr, name).not.toMatch(/internal error|\n\s+at /);
    }
  }, 60_000);
});
