import { describe, expect, it } from 'vitest';
import { CmsdkWatchdog } from '../../src/devices/cmsdk-watchdog.js';
import { ManualTime, Scheduler } from '../../src/time/clock.js';
import type { Logger } from '../../src/devices/device.js';

const TICK = 40;
const LOAD = 0x0, VALUE = 0x4, CONTROL = 0x8, INTCLR = 0xc, RIS = 0x10, MIS = 0x14, LOCK = 0xc00, ITCR = 0xf00, ITOP = 0xf04;
const KEY = 0x1acce551;

function make(luminary = false) {
  const time = new ManualTime();
  const sched = new Scheduler(time);
  // Like QEMU's NMI input: every set(true) pends the NMI.
  const nmi = { level: false, pends: 0, set(v: boolean) { if (v) nmi.pends++; nmi.level = v; }, pulse() {} };
  let resets = 0;
  const errors: string[] = [];
  const log: Logger = { enabled: () => true, log: (_c, m) => errors.push(m) };
  const w = new CmsdkWatchdog('watchdog', { clock: sched, wdogclkHz: 25_000_000, irq: nmi, systemReset: () => resets++, luminary, log });
  const at = (ns: number) => {
    time.ns = ns;
    sched.runDue(ns);
  };
  return { w, nmi, at, sched, errors, resets: () => resets };
}

describe('CMSDK APB watchdog', () => {
  it('reset values and IDs; counts from reset with LOAD 0xFFFFFFFF', () => {
    const { w, at, sched } = make();
    expect(w.read(LOAD, 4)).toBe(0xffffffff);
    expect(w.read(CONTROL, 4)).toBe(0);
    expect(w.read(RIS, 4)).toBe(0);
    expect(w.read(MIS, 4)).toBe(0);
    expect(w.read(LOCK, 4)).toBe(0);
    expect(w.read(ITCR, 4)).toBe(0);
    expect(Array.from({ length: 12 }, (_, i) => w.read(0xfd0 + 4 * i, 4))).toEqual([0x04, 0, 0, 0, 0x24, 0xb8, 0x1b, 0, 0x0d, 0xf0, 0x05, 0xb1]);
    expect(sched.nextDeadline()).toBe(0xffffffff * TICK);
    at(1000 * TICK + 5);
    expect(w.read(VALUE, 4)).toBe(0xffffffff - 1000);
  });

  it('LOCK: any value but the key locks; locked writes are ignored and logged', () => {
    const { w, errors } = make();
    w.write(LOCK, 4, 0);
    expect(w.read(LOCK, 4)).toBe(1);
    w.write(LOAD, 4, 1234);
    w.write(CONTROL, 4, 3);
    expect(w.read(LOAD, 4)).toBe(0xffffffff);
    expect(w.read(CONTROL, 4)).toBe(0);
    expect(errors.some((e) => e.includes('locked'))).toBe(true);
    w.write(LOCK, 4, KEY);
    expect(w.read(LOCK, 4)).toBe(0);
    w.write(LOAD, 4, 1234);
    expect(w.read(LOAD, 4)).toBe(1234);
    w.write(CONTROL, 4, 0xff);
    expect(w.read(CONTROL, 4)).toBe(3);
  });

  it('first expiry sets RIS (NMI only with INTEN); INTCLR clears and reloads', () => {
    const { w, nmi, at } = make();
    w.write(LOAD, 4, 100);
    at(100 * TICK);
    expect(w.read(RIS, 4)).toBe(1);
    expect(w.read(MIS, 4)).toBe(0);
    expect(nmi.pends).toBe(0);
    w.write(CONTROL, 4, 1);
    expect(w.read(MIS, 4)).toBe(1);
    expect(nmi.pends).toBe(1);
    w.write(INTCLR, 4, 0);
    expect(w.read(RIS, 4)).toBe(0);
    expect(nmi.level).toBe(false);
    at(150 * TICK + 5);
    expect(w.read(VALUE, 4)).toBe(50);
  });

  it('a clock change (lm3s6965evb: RCC) changes the counting rate from then on', () => {
    const { w, at } = make(true);
    w.write(LOAD, 4, 1000);
    at(100 * TICK + 5); // 100 ticks at 25 MHz (40 ns)
    expect(w.read(VALUE, 4)).toBe(900);
    w.setClockPeriodNs(80); // 12.5 MHz
    at(100 * TICK + 5 + 100 * 80 + 5); // the new rate counts from the change
    expect(w.read(VALUE, 4)).toBe(800);
  });

  it('second expiry with RIS set latches the reset and stops; RESEN decides when the machine resets', () => {
    const { w, at, sched, resets } = make();
    w.write(LOAD, 4, 100);
    at(100 * TICK);
    at(201 * TICK); // the counter holds 0 for a tick before reloading, then counts 100 again
    expect(w.resetLatched).toBe(true);
    expect(sched.nextDeadline()).toBe(Infinity);
    expect(resets()).toBe(0); // RESEN clear
    w.write(CONTROL, 4, 2);
    expect(resets()).toBe(1); // set later: at once
  });

  it('with INTEN and RESEN: NMI on the first expiry, reset on the second', () => {
    const { w, nmi, at, resets } = make();
    w.write(LOAD, 4, 100);
    w.write(CONTROL, 4, 3);
    at(100 * TICK);
    expect(nmi.pends).toBe(1);
    expect(resets()).toBe(0);
    at(201 * TICK);
    expect(resets()).toBe(1);
    w.reset();
    expect(w.resetLatched).toBe(false);
    expect(w.read(CONTROL, 4)).toBe(0);
  });

  it('ITCR/ITOP drive WDOGINT and WDOGRES; ITOP and INTCLR read as 0 (write-only)', () => {
    const { w, nmi, resets, errors } = make();
    w.write(ITCR, 4, 0xffffffff);
    expect(w.read(ITCR, 4)).toBe(1);
    w.write(ITOP, 4, 2);
    expect(nmi.level).toBe(true);
    w.write(ITOP, 4, 1);
    expect(nmi.level).toBe(false);
    expect(resets()).toBe(1);
    expect(w.read(ITOP, 4)).toBe(0);
    expect(w.read(INTCLR, 4)).toBe(0);
    expect(errors.some((e) => e.includes('WO offset'))).toBe(true);
  });

  it('Stellaris variant: its IDs, no ITCR, CONTROL frozen once INTEN is set', () => {
    const { w } = make(true);
    expect(w.read(0xfe0, 4)).toBe(0x05);
    w.write(ITCR, 4, 1);
    expect(w.read(ITCR, 4)).toBe(0);
    w.write(CONTROL, 4, 1);
    w.write(CONTROL, 4, 0);
    expect(w.read(CONTROL, 4)).toBe(1);
  });
});
