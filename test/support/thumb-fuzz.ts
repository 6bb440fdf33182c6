/**
 * Random Thumb-2 streams for firmware/tests/thumb_fuzz.c: the ELF's `fuzz_code` buffer starts as
 * 512 UDF halfwords (0xDE00), in .data's load image; patching those bytes in the file gives an ELF
 * that any emulator (cmemu, qemu-system-arm) runs the same way.
 */
import type { Rng } from './fuzz.js';

export const FUZZ_HALFWORDS = 96;
const CODE_HALFWORDS = 512;

/** A biased random stream: 32-bit encodings (0xE800-0xFFFF first halfword) half the time, so the Thumb-2 space is well covered. */
export function randomStream(rng: Rng, n: number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    if (rng.chance(0.45) && i + 1 < n) {
      out[i] = 0xe800 + rng.int(0x1800);
      out[++i] = rng.u32() & 0xffff;
    } else out[i] = rng.u32() & 0xffff;
  }
  return out;
}

/** File offset of fuzz_code's load image in the ELF. */
export function codeOffset(elf: Uint8Array): number {
  const pattern = Buffer.alloc(CODE_HALFWORDS * 2);
  for (let i = 0; i < CODE_HALFWORDS; i++) pattern.writeUInt16LE(0xde00, i * 2);
  const at = Buffer.from(elf.buffer, elf.byteOffset, elf.byteLength).indexOf(pattern);
  if (at < 0) throw new Error('thumb_fuzz.elf: the fuzz_code pattern is not in the file');
  return at;
}

/** The ELF with the first `n` halfwords of fuzz_code replaced by a random stream. */
export function fuzzImage(elf: Uint8Array, rng: Rng, n: number): Uint8Array {
  const at = codeOffset(elf);
  const out = new Uint8Array(elf);
  const s = randomStream(rng, n);
  for (let i = 0; i < n; i++) {
    out[at + 2 * i] = s[i]! & 0xff;
    out[at + 2 * i + 1] = s[i]! >> 8;
  }
  return out;
}
