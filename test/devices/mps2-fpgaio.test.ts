import { describe, expect, it } from 'vitest';
import { Mps2Fpgaio } from '../../src/devices/mps2-fpgaio.js';
import { ManualTime, Scheduler } from '../../src/time/clock.js';
import type { Logger } from '../../src/devices/device.js';

const LED0 = 0x0, BUTTON = 0x8, CLK1HZ = 0x10, CLK100HZ = 0x14, COUNTER = 0x18, PRESCALE = 0x1c, PSCNTR = 0x20, MISC = 0x4c;
const TICK = 40;

function make() {
  const time = new ManualTime();
  const sched = new Scheduler(time);
  const errors: string[] = [];
  const log: Logger = { enabled: () => true, log: (_c, m) => errors.push(m) };
  const f = new Mps2Fpgaio('fpgaio', { clock: sched, prescaleClkHz: 25_000_000, log });
  return { f, time, errors };
}

describe('MPS2 FPGA IO', () => {
  it('reset values; LED0 keeps 2 bits, MISC reads as written, BUTTON is 0; DBGCTRL/SWITCH absent', () => {
    const { f, errors } = make();
    for (const o of [LED0, BUTTON, CLK1HZ, CLK100HZ, COUNTER, PRESCALE, PSCNTR, MISC]) expect(f.read(o, 4)).toBe(0);
    f.write(LED0, 4, 0xff);
    expect(f.read(LED0, 4)).toBe(3);
    f.write(MISC, 4, 0x5a);
    expect(f.read(MISC, 4)).toBe(0x5a);
    expect(f.read(0x4, 4)).toBe(0);
    expect(f.read(0x28, 4)).toBe(0);
    expect(errors.filter((e) => e.includes('bad offset')).length).toBe(2);
  });

  it('CLK1HZ and CLK100HZ count virtual time and continue from a written value', () => {
    const { f, time } = make();
    time.ns = 2_345_000_000;
    expect(f.read(CLK1HZ, 4)).toBe(2);
    expect(f.read(CLK100HZ, 4)).toBe(234);
    f.write(CLK100HZ, 4, 5000);
    f.write(CLK1HZ, 4, 7);
    time.ns += 1_000_000_000;
    expect(f.read(CLK100HZ, 4)).toBe(5100);
    expect(f.read(CLK1HZ, 4)).toBe(8);
  });

  it('PRESCALE 0: COUNTER counts every tick of the prescale clock', () => {
    const { f, time } = make();
    time.ns = 1000 * TICK + 39;
    expect(f.read(COUNTER, 4)).toBe(1000);
    expect(f.read(PSCNTR, 4)).toBe(0);
  });

  it('PSCNTR counts down and reloads from PRESCALE one tick after 0, incrementing COUNTER', () => {
    const { f, time } = make();
    f.write(PRESCALE, 4, 5);
    f.write(PSCNTR, 4, 7);
    const seen: [number, number][] = [];
    for (let t = 0; t <= 14; t++) {
      time.ns = t * TICK;
      seen.push([f.read(PSCNTR, 4), f.read(COUNTER, 4)]);
    }
    // QEMU's own example: PRESCALE 5, PSCNTR 7.
    expect(seen.map((s) => s[0])).toEqual([7, 6, 5, 4, 3, 2, 1, 0, 5, 4, 3, 2, 1, 0, 5]);
    expect(seen.map((s) => s[1])).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2]);
    // The same answer with one read after all the time (no per-tick state).
    const g = make();
    g.f.write(PRESCALE, 4, 5);
    g.f.write(PSCNTR, 4, 7);
    g.time.ns = 14 * TICK;
    expect([g.f.read(PSCNTR, 4), g.f.read(COUNTER, 4)]).toEqual([5, 2]);
  });

  it('reset restarts the clocks from now', () => {
    const { f, time } = make();
    f.write(LED0, 4, 1);
    time.ns = 3_000_000_000;
    f.reset();
    expect(f.read(CLK1HZ, 4)).toBe(0);
    expect(f.read(COUNTER, 4)).toBe(0);
    expect(f.read(LED0, 4)).toBe(0);
  });
});
