import { describe, expect, it } from 'vitest';
import { CmsdkDualTimer } from '../../src/devices/cmsdk-dualtimer.js';
import { ManualTime, Scheduler } from '../../src/time/clock.js';
import type { Logger } from '../../src/devices/device.js';

const TICK = 40;
const LOAD = 0x0, VALUE = 0x4, CONTROL = 0x8, INTCLR = 0xc, RIS = 0x10, MIS = 0x14, BGLOAD = 0x18;
const T2 = 0x20;
const ONESHOT = 1, SIZE32 = 2, PRE16 = 4, PRE256 = 8, INTEN = 0x20, PERIODIC = 0x40, ENABLE = 0x80;

function line() {
  const l = { level: false, rises: 0, set(v: boolean) { if (v && !l.level) l.rises++; l.level = v; }, pulse() {} };
  return l;
}

function make() {
  const time = new ManualTime();
  const sched = new Scheduler(time);
  const combined = line(), timint1 = line(), timint2 = line();
  const errors: string[] = [];
  const log: Logger = { enabled: () => true, log: (_c, m) => errors.push(m) };
  const d = new CmsdkDualTimer('dualtimer', { clock: sched, timclkHz: 25_000_000, combined, timint1, timint2, log });
  const at = (ns: number) => {
    time.ns = ns;
    sched.runDue(ns);
  };
  return { d, combined, timint1, timint2, at, sched, errors };
}

describe('CMSDK APB dual timer', () => {
  it('reset values and IDs', () => {
    const { d } = make();
    for (const b of [0, T2]) {
      expect(d.read(b + LOAD, 4)).toBe(0);
      expect(d.read(b + VALUE, 4)).toBe(0xffffffff);
      expect(d.read(b + CONTROL, 4)).toBe(INTEN);
      expect(d.read(b + RIS, 4)).toBe(0);
      expect(d.read(b + MIS, 4)).toBe(0);
      expect(d.read(b + BGLOAD, 4)).toBe(0);
    }
    expect(d.read(0xf00, 4)).toBe(0);
    expect(Array.from({ length: 12 }, (_, i) => d.read(0xfd0 + 4 * i, 4))).toEqual([0x04, 0, 0, 0, 0x23, 0xb8, 0x1b, 0, 0x0d, 0xf0, 0x05, 0xb1]);
  });

  it('CONTROL keeps its 8 valid bits; bad offsets and write-only reads are logged', () => {
    const { d, errors } = make();
    d.write(CONTROL, 4, 0xffffffff); // bit 4 and bits 31:8 are not valid
    expect(d.read(CONTROL, 4)).toBe(0xef);
    d.write(CONTROL, 4, 0);
    expect(d.read(INTCLR, 4)).toBe(0);
    expect(d.read(0x40, 4)).toBe(0);
    expect(d.read(0xf04, 4)).toBe(0);
    expect(errors.filter((e) => e.includes('bad offset')).length).toBe(3);
    d.write(CONTROL, 4, PRE16 | PRE256);
    expect(errors.some((e) => e.includes('PRESCALE==0b11'))).toBe(true);
  });

  it('periodic 32-bit: interrupts every LOAD+1 ticks after the first LOAD, ORed on the combined line', () => {
    const { d, combined, timint1, at, sched } = make();
    d.write(LOAD, 4, 1000);
    d.write(CONTROL, 4, ENABLE | PERIODIC | INTEN | SIZE32);
    expect(sched.nextDeadline()).toBe(1000 * TICK);
    at(500 * TICK + 5);
    expect(d.read(VALUE, 4)).toBe(500); // within a tick VALUE shows the value it counts down from
    at(1000 * TICK);
    expect(d.read(RIS, 4)).toBe(1);
    expect(d.read(MIS, 4)).toBe(1);
    expect(combined.level && timint1.level).toBe(true);
    d.write(INTCLR, 4, 0);
    expect(combined.level).toBe(false);
    at(2001 * TICK);
    expect(combined.rises).toBe(2);
  });

  it('one-shot: a single interrupt, then VALUE holds 0', () => {
    const { d, combined, at, sched } = make();
    d.write(T2 + LOAD, 4, 300);
    d.write(T2 + CONTROL, 4, ENABLE | ONESHOT | INTEN | SIZE32);
    at(300 * TICK);
    expect(combined.rises).toBe(1);
    expect(d.read(T2 + VALUE, 4)).toBe(0);
    expect(sched.nextDeadline()).toBe(Infinity);
  });

  it('INTEN clear: RIS set, MIS and the line low; setting INTEN raises it', () => {
    const { d, combined, at } = make();
    d.write(LOAD, 4, 10);
    d.write(CONTROL, 4, ENABLE | ONESHOT | SIZE32);
    at(10 * TICK);
    expect(d.read(RIS, 4)).toBe(1);
    expect(d.read(MIS, 4)).toBe(0);
    expect(combined.level).toBe(false);
    d.write(CONTROL, 4, ONESHOT | SIZE32 | INTEN);
    expect(combined.level).toBe(true);
  });

  it('16-bit free-running: LOAD sets the count, the counter wraps at 0xFFFF, VALUE keeps its upper half', () => {
    const { d, at } = make();
    d.write(LOAD, 4, 0x12340010);
    expect(d.read(VALUE, 4)).toBe(0x12340010);
    expect(d.read(LOAD, 4)).toBe(0x12340010);
    d.write(CONTROL, 4, ENABLE | INTEN);
    at(0x10 * TICK);
    expect(d.read(RIS, 4)).toBe(1);
    at(0x10 * TICK + 1 + 10 * TICK);
    expect(d.read(VALUE, 4)).toBe(0x1234fff6);
  });

  it('prescale /16 and /256 stretch the tick', () => {
    const { d, sched } = make();
    d.write(LOAD, 4, 100);
    d.write(CONTROL, 4, ENABLE | PERIODIC | SIZE32 | PRE16);
    expect(sched.nextDeadline()).toBe(100 * 16 * TICK);
    d.write(CONTROL, 4, SIZE32 | PERIODIC);
    d.write(T2 + LOAD, 4, 100);
    d.write(T2 + CONTROL, 4, ENABLE | PERIODIC | SIZE32 | PRE256);
    expect(sched.nextDeadline()).toBe(100 * 256 * TICK);
  });

  it('BGLOAD sets the limit only; LOAD while periodic and enabled restarts as one-shot (QEMU 7.2)', () => {
    const { d, combined, at } = make();
    d.write(LOAD, 4, 1000);
    d.write(CONTROL, 4, ENABLE | PERIODIC | INTEN | SIZE32);
    d.write(BGLOAD, 4, 50);
    expect(d.read(LOAD, 4)).toBe(50);
    at(100 * TICK + 5);
    expect(d.read(VALUE, 4)).toBe(900); // the count is untouched by BGLOAD
    d.write(LOAD, 4, 100);
    at(201 * TICK);
    expect(combined.rises).toBe(1);
    d.write(INTCLR, 4, 1);
    at(100_000 * TICK);
    expect(combined.rises).toBe(1); // one-shot now
  });

  it('TIMERITCR/TIMERITOP drive the outputs directly', () => {
    const { d, combined, timint1, timint2 } = make();
    d.write(0xf00, 4, 0xffffffff);
    expect(d.read(0xf00, 4)).toBe(1);
    d.write(0xf04, 4, 2);
    expect([timint1.level, timint2.level, combined.level]).toEqual([false, true, true]);
    d.write(0xf04, 4, 1);
    expect([timint1.level, timint2.level, combined.level]).toEqual([true, false, true]);
    d.write(0xf00, 4, 0);
    expect(combined.level).toBe(false);
  });
});
