/**
 * Regression test for a Unicorn 2.1.4 defect we work around (docs/unicorn.md, "IT state and the
 * TLB-fill hook"): a TLB fill caused by an access inside an IT block rolls ITSTATE back to that
 * access, and when the IT block ends inside the same translated block nothing writes it back, so
 * the next block runs as if still inside the IT block (a 16-bit SUBS stops setting flags). QEMU
 * also chains that wrongly-translated block, so the damage repeats on later passes. newlib's
 * memcpy hit this at unaligned destinations.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Reg, Stop } from '../../src/native/cpu.js';
import { RAM, closeAll, rig } from './helpers.js';

// Each pass loads from a fresh 1 KiB page in the first instruction of an ITT block (a TLB miss,
// so a fill that rolls ITSTATE back to "two conditional instructions left"), then checks that a
// flag-setting SUBS, the second instruction of the next block, sets Z.
const CODE = [
  0x2500, //          movs r5, #0
  0x2301, // loop:    movs r3, #1
  0x07db, //          lsls r3, r3, #31     N=1 Z=0 C=0
  0xbf1c, //          itt ne
  0x780c, //          ldrbne r4, [r1]      fresh page: TLB fill inside the IT block
  0x7004, //          strbne r4, [r0]
  0xd300, //          bcc 1f
  0xde01, //          udf #1
  0x2201, // 1:       movs r2, #1
  0x3a01, //          subs r2, #1          must set Z (outside the IT block)
  0xd107, //          bne bad
  0x3501, //          adds r5, #1
  0xf501, 0x6180, //  add.w r1, r1, #1024
  0xf3af, 0x8000, //  nop.w                (the store stays on one page: only the load fills)
  0x2d08, //          cmp r5, #8
  0xd1ee, //          bne loop
  0xde00, //          udf #0               done
  0xde02, // bad:     udf #2
];

afterAll(closeAll);

describe('IT state across TLB fills (Unicorn 2.1.4 workaround)', () => {
  it('keeps ITSTATE right after a fill inside an IT block, on every pass', () => {
    const r = rig(CODE);
    r.set({ R0: RAM + 0x4000, R1: RAM + 0x8000 });
    const stop = r.cpu.run(1e9, 0);
    expect(stop).toBe(Stop.InvalidInsn);
    const pc = r.reg(Reg.PC) & ~1;
    expect(r.reg(Reg.R5)).toBe(8);
    expect(pc).toBe(0x1000 + 2 * (CODE.length - 2)); // the final `udf #0`, not `udf #2`
    // The stores inside the IT blocks landed.
    expect(r.stats().tlbFills).toBeGreaterThan(8);
  });
});
