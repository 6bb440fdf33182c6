// Throughput of the native core (printed; only a loose floor is asserted for stores, the
// case the virtual-TLB design exists for).
import { afterAll, describe, expect, it } from 'vitest';
import { Reg, Stop } from '../../src/native/cpu.js';
import { addon, closeAll, FLASH_CODE as C, RAM, rig } from './helpers.js';

afterAll(closeAll);

const LOOPS = [
  0x680b, //  0: load: ldr r3, [r1, #0]
  0x684c, //  2: ldr r4, [r1, #4]
  0x688d, //  4: ldr r5, [r1, #8]
  0x68ce, //  6: ldr r6, [r1, #12]
  0x3801, //  8: subs r0, #1
  0xd1f9, //  a: bne.n load
  0xdf00, //  c: svc 0
  0x600b, //  e: store: str r3, [r1, #0]
  0x604c, // 10: str r4, [r1, #4]
  0x608d, // 12: str r5, [r1, #8]
  0x60ce, // 14: str r6, [r1, #12]
  0x3801, // 16: subs r0, #1
  0xd1f9, // 18: bne.n store
  0xdf00, // 1a: svc 0
  0x6813, // 1c: mmio: ldr r3, [r2, #0]
  0x3801, // 1e: subs r0, #1
  0xd1fc, // 20: bne.n mmio
  0xdf00, // 22: svc 0
];

function measure(entry: number, iterations: number, perIteration: number) {
  const { cpu, set, stats } = rig(LOOPS);
  cpu.mapMmio(0x4000_0000, 0x1000, 3);
  let reads = 0;
  cpu.setMmioHandlers(() => ++reads, () => {});
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    set({ PC: C + entry, R0: iterations, R1: RAM + 0x4000, R2: 0x4000_0010 });
    cpu.setIcount(0);
    const t0 = addon.monotonicNs();
    expect(cpu.run(1e15, 0)).toBe(Stop.Interrupt);
    best = Math.min(best, addon.monotonicNs() - t0);
    expect(cpu.icount()).toBe(iterations * perIteration + 1);
    expect(cpu.readReg(Reg.R0)).toBe(0);
  }
  const mips = (iterations * perIteration) / (best / 1e3);
  return { mips, nsPerIteration: best / iterations, tlbFills: stats().tlbFills, reads };
}

describe('throughput', () => {
  it('load loop, store loop, MMIO loop', () => {
    const load = measure(0x0, 5_000_000, 6);
    const store = measure(0xe, 5_000_000, 6);
    const mmio = measure(0x1c, 300_000, 3);
    console.log(
      `load loop ${load.mips.toFixed(0)} MIPS; store loop ${store.mips.toFixed(0)} MIPS (TLB fills ${store.tlbFills}); ` +
        `MMIO read loop ${mmio.mips.toFixed(1)} MIPS = ${mmio.nsPerIteration.toFixed(0)} ns per iteration (one JS read each)`,
    );
    expect(mmio.reads).toBe(3 * 300_000);
    expect(store.tlbFills).toBeLessThan(10);
    expect(store.mips).toBeGreaterThan(100);
  });
});
