/**
 * No guest instruction ends the emulator: every exception number Unicorn raises maps to an
 * architectural fault (src/cpu/unicorn-exceptions.ts), checked on a real machine for the
 * coprocessor space (NOCP / UNDEFINSTR per ARMv7-M A5.3.18) and as a table for the rest.
 */
import { describe, expect, it } from 'vitest';
import { lm3s6965evb } from '../../src/machine/boards/lm3s6965evb.js';
import { Machine } from '../../src/machine/machine.js';
import { CFSR } from '../../src/cpu/exception-controller.js';
import { coprocessorFault, interruptAction } from '../../src/cpu/unicorn-exceptions.js';

/** Reset runs `insn` at 0x40; HardFault (0x60) stores CFSR at 0x20000000 and its low byte to UART0. */
function image(insn: number[]): Uint8Array {
  const img = new Uint8Array(0x200).fill(0xff);
  const dv = new DataView(img.buffer);
  dv.setUint32(0x00, 0x20001000, true);
  dv.setUint32(0x04, 0x41, true);
  dv.setUint32(0x0c, 0x61, true);
  const code = (at: number, hw: number[]) => hw.forEach((h, i) => dv.setUint16(at + 2 * i, h, true));
  code(0x40, [...insn, 0xe7fe]);
  // ldr r0,=0xE000ED28; ldr r1,[r0]; ldr r2,[r0,#16]; ldr r3,=0x20000000; str r1,[r3]; str r2,[r3,#4];
  // ldr r4,=0x4000C000; str r1,[r4]; b .
  code(0x60, [0x4807, 0x6801, 0x6902, 0x4b07, 0x6019, 0x605a, 0x4c06, 0x6021, 0xe7fe]);
  dv.setUint32(0x80, 0xe000ed28, true);
  dv.setUint32(0x84, 0x20000000, true);
  dv.setUint32(0x88, 0x4000c000, true);
  return img;
}

async function cfsrAfter(insn: number[]): Promise<{ kind: string; cfsr: number }> {
  let m: Machine | null = null;
  m = new Machine({ board: lm3s6965evb, icount: { shift: 6, sleep: false }, serials: [{ write: () => m!.stop('done') }] });
  try {
    m.load(0, image(insn));
    const outcome = await Promise.race([m.run(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 5000))]);
    return { kind: outcome.kind, cfsr: m.map.busRead(0x20000000, 4) };
  } finally {
    m.close();
  }
}

describe('guest instructions that Unicorn raises exceptions for', () => {
  const cases: [string, number[], number][] = [
    ['ldc2l p10, c12, [lr, #-936] (the fuzzer find: "unexpected CPU interrupt 17")', [0xfd5e, 0xcaea], CFSR.NOCP],
    ['mcr p15, 0, r0, c1, c0, 0', [0xee01, 0x0f10], CFSR.NOCP],
    ['cdp p7', [0xee12, 0x1783], CFSR.NOCP],
    ['mrrc p3 (op1 000101)', [0xec51, 0x0312], CFSR.NOCP],
    ['op1 00000x in coprocessor space (UNDEFINED on ARMv7-M; QEMU: NOCP)', [0xec00, 0x0a00], CFSR.UNDEFINSTR],
    ['0xEF00 (op1 11xxxx: UNDEFINED; was NOCP)', [0xef00, 0x0000], CFSR.UNDEFINSTR],
    ['0xFF80 (op1 11xxxx)', [0xff80, 0x0f10], CFSR.UNDEFINSTR],
    ['udf #0', [0xde00], CFSR.UNDEFINSTR],
  ];
  for (const [name, insn, cfsr] of cases) {
    it(`${name}: a UsageFault (here escalated to HardFault), the machine runs on`, async () => {
      const r = await cfsrAfter(insn);
      expect(r.kind).toBe('exit'); // stopped by the test after the handler wrote to the UART
      expect(r.cfsr >>> 0).toBe(cfsr);
    });
  }
  it('maps every exception number to a fault or a no-op, never an emulator error', () => {
    for (let n = 0; n < 64; n++) {
      const a = interruptAction(n, 0xde00);
      expect(['usagefault', 'busfault', 'ignore']).toContain(a.kind);
    }
    expect(interruptAction(17, 0xfd5e)).toMatchObject({ kind: 'usagefault', cfsr: CFSR.NOCP });
    expect(interruptAction(18, 0)).toMatchObject({ cfsr: CFSR.INVSTATE });
    expect(interruptAction(22, 0)).toMatchObject({ cfsr: CFSR.UNALIGNED });
    expect(interruptAction(23, 0)).toMatchObject({ cfsr: CFSR.DIVBYZERO });
    expect(interruptAction(21, 0)).toMatchObject({ cfsr: CFSR.UNDEFINSTR });
    expect(interruptAction(5, 0).kind).toBe('ignore');
  });
  it('classifies the whole coprocessor space', () => {
    let nocp = 0, undef = 0;
    for (let hw = 0xe800; hw <= 0xffff; hw++) {
      const c = coprocessorFault(hw);
      if (c === 'nocp') nocp++;
      else if (c === 'undef') undef++;
    }
    // 2 x 1024 first halfwords; op1 = hw1[9:4]: 00000x and 11xxxx (18 of 64) are UNDEFINED
    expect([nocp, undef]).toEqual([2 * (64 - 18) * 16, 2 * 18 * 16]);
  });
});
