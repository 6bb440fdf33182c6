// Exact instruction counting (virtual time) across limits, stops and faults.
import { afterEach, describe, expect, it } from 'vitest';
import { Reg, Stop } from '../../src/native/cpu.js';
import { addon, closeAll, FLASH_CODE, RAM, rig } from './helpers.js';

afterEach(closeAll);

// A loop with a store: 1 + 4 per iteration + the final SVC.
const STORE_LOOP = [
  0x2000, //   0: movs r0, #0
  0x3001, //   2: loop: adds r0, #1
  0x6008, //   4: str  r0, [r1, #0]
  0x4290, //   6: cmp  r0, r2
  0xd1fb, //   8: bne.n loop
  0xdf00, //   a: svc  0
  0xe7fe, //   c: b.n  .
];
const LOOP = FLASH_CODE + 2;

describe('instruction counting', () => {
  it('counts a store loop exactly when run to completion', () => {
    const { cpu, reg, set, ram } = rig(STORE_LOOP);
    set({ R1: RAM + 0x4000, R2: 100_000 });
    expect(cpu.run(1e12, 0)).toBe(Stop.Interrupt);
    expect(cpu.stopInfo().intno).toBe(2);
    expect(reg(Reg.R0)).toBe(100_000);
    expect(new Uint32Array(ram)[0x1000]).toBe(100_000);
    expect(cpu.icount()).toBe(1 + 4 * 100_000 + 1);
  });

  it('stays exact across many limit stops, overshooting by less than one block', () => {
    const { cpu, reg, set } = rig(STORE_LOOP);
    const n = 5000;
    set({ R1: RAM + 0x4000, R2: n });
    let limit = 0;
    let stops = 0;
    for (let step = 1; ; step = (step % 13) + 1) {
      limit = cpu.icount() + step;
      const r = cpu.run(limit, 0);
      if (r === Stop.Interrupt) break;
      expect(r).toBe(Stop.Limit);
      stops++;
      const ic = cpu.icount();
      expect(ic).toBeGreaterThanOrEqual(limit);
      expect(ic - limit).toBeLessThan(5); // the largest block (the first: movs + loop body) has 5
      // At a block boundary inside the loop the count is a function of r0.
      if (reg(Reg.PC) === LOOP) expect(ic).toBe(1 + 4 * reg(Reg.R0));
    }
    expect(stops).toBeGreaterThan(1000);
    expect(reg(Reg.R0)).toBe(n);
    expect(cpu.icount()).toBe(1 + 4 * n + 1);
  });

  it('counts a `b .` self-loop exactly (the next block is the same block)', () => {
    const { cpu, reg } = rig([0xe7fe]); // b.n .
    for (const limit of [1, 2, 3, 10, 11, 1000, 1001, 123_457]) {
      expect(cpu.run(limit, 0)).toBe(Stop.Limit);
      expect(cpu.icount()).toBe(limit);
      expect(reg(Reg.PC)).toBe(FLASH_CODE);
    }
  });

  it('keeps `b .` exact across requested stops, host deadlines and external events', () => {
    const { cpu } = rig([0xe7fe]); // b.n .
    expect(cpu.run(500, 0)).toBe(Stop.Limit);
    cpu.requestStop();
    expect(cpu.run(1e12, 0)).toBe(Stop.Requested);
    expect(cpu.icount()).toBe(500);
    expect(cpu.run(1e12, addon.monotonicNs() + 2e6)).toBe(Stop.HostDeadline);
    const afterDeadline = cpu.icount();
    expect(afterDeadline).toBeGreaterThan(500);
    const fd = addon.createEventFd();
    cpu.watchFd(fd, 1);
    addon.writeEventFdLater(fd, 1, 1e6);
    expect(cpu.run(1e12, 0)).toBe(Stop.External);
    expect(cpu.takeEvents()).toEqual([1]);
    cpu.unwatchFd(fd);
    addon.closeFd(fd);
    const base = cpu.icount();
    expect(base).toBeGreaterThan(afterDeadline);
    expect(cpu.run(base + 7, 0)).toBe(Stop.Limit);
    expect(cpu.icount()).toBe(base + 7);
  });

  it('a stop from the block hook prevents that block: 2-instruction loop, limit 1', () => {
    // loop: adds r0, #1 ; b.n loop
    const { cpu, reg } = rig([0x3001, 0xe7fd]);
    expect(cpu.run(1, 0)).toBe(Stop.Limit);
    expect(cpu.icount()).toBe(2); // the first block ran whole
    expect(reg(Reg.R0)).toBe(1); // and the second did not start
    expect(cpu.run(3, 0)).toBe(Stop.Limit);
    expect(cpu.icount()).toBe(4);
    expect(reg(Reg.R0)).toBe(2);
  });

  it('returns Limit at once when the limit is already reached', () => {
    const { cpu, reg } = rig([0x3001, 0xe7fd]);
    cpu.setIcount(1000);
    expect(cpu.run(1000, 0)).toBe(Stop.Limit);
    expect(cpu.icount()).toBe(1000);
    expect(reg(Reg.R0)).toBe(0);
  });

  it('corrects the count of a block cut short by a fault', () => {
    const code = [
      0x2001, //   0: movs r0, #1
      0x3001, //   2: adds r0, #1
      0x608b, //   4: str  r3, [r1, #8]   (r1 unmapped)
      0x3001, //   6: adds r0, #1
      0xe7fe, //   8: b.n .
    ];
    const { cpu, reg, set } = rig(code);
    set({ R1: 0x3000_0000 });
    cpu.setIcount(10);
    expect(cpu.run(1e9, 0)).toBe(Stop.MemFault);
    expect(cpu.icount()).toBe(12);
    expect(reg(Reg.R0)).toBe(2);
    // Again from the faulting store: nothing more executes.
    expect(cpu.run(1e9, 0)).toBe(Stop.MemFault);
    expect(cpu.icount()).toBe(12);
  });

  it('counts 32-bit instructions as one', () => {
    const code = [
      0xf04f, 0x0001, //   0: mov.w r0, #1
      0xf100, 0x0001, //   4: add.w r0, r0, #1
      0x3001, //          8: adds r0, #1
      0xf8c1, 0x0000, //   a: str.w r0, [r1]
      0xdf00, //          e: svc 0
    ];
    const { cpu, reg, set } = rig(code);
    set({ R1: RAM + 0x100 });
    expect(cpu.run(1e9, 0)).toBe(Stop.Interrupt);
    expect(reg(Reg.R0)).toBe(3);
    expect(cpu.icount()).toBe(5);
  });
});
