import { describe, expect, it } from 'vitest';
import { CmsdkTimer } from '../../src/devices/cmsdk-timer.js';
import { ManualTime, Scheduler } from '../../src/time/clock.js';
import type { IrqLine, Logger } from '../../src/devices/device.js';

const CTRL = 0x0;
const VALUE = 0x4;
const RELOAD = 0x8;
const INTSTATUS = 0xc;
const TICK = 40; // ns at 25 MHz

function make() {
  const time = new ManualTime();
  const sched = new Scheduler(time);
  const irq = { level: false, rises: 0, set(v: boolean) { if (v && !irq.level) irq.rises++; irq.level = v; }, pulse() {} };
  const errors: string[] = [];
  const log: Logger = { enabled: () => true, log: (_c, m) => errors.push(m) };
  const t = new CmsdkTimer('timer0', { clock: sched, pclkHz: 25_000_000, irq: irq satisfies IrqLine, log });
  const at = (ns: number) => {
    time.ns = ns;
    sched.runDue(ns);
  };
  return { t, irq, at, sched, errors };
}

describe('CMSDK APB timer', () => {
  it('resets to zero, reports its IDs, logs bad offsets', () => {
    const { t, errors } = make();
    for (const off of [CTRL, VALUE, RELOAD, INTSTATUS]) expect(t.read(off, 4)).toBe(0);
    const ids = Array.from({ length: 12 }, (_, i) => t.read(0xfd0 + 4 * i, 4));
    expect(ids).toEqual([0x04, 0, 0, 0, 0x22, 0xb8, 0x1b, 0, 0x0d, 0xf0, 0x05, 0xb1]);
    expect(t.read(0x10, 4)).toBe(0);
    t.write(0xfe0, 4, 1);
    expect(errors.some((e) => e.includes('bad offset 10'))).toBe(true);
    expect(errors.some((e) => e.includes('RO offset 0xfe0'))).toBe(true);
  });

  it('CTRL keeps 4 bits; RELOAD sets VALUE; sub-word reads are truncated', () => {
    const { t } = make();
    t.write(CTRL, 4, 0xfffffff6); // EN clear
    expect(t.read(CTRL, 4)).toBe(0x6);
    t.write(RELOAD, 4, 0x12345678);
    expect(t.read(RELOAD, 4)).toBe(0x12345678);
    expect(t.read(VALUE, 4)).toBe(0x12345678);
    expect(t.read(RELOAD, 1)).toBe(0x78);
    expect(t.read(RELOAD, 2)).toBe(0x5678);
  });

  it('counts down on the 25 MHz clock, interrupts at 1 -> 0 and reloads one tick later (period RELOAD+1)', () => {
    const { t, irq, at, sched } = make();
    t.write(RELOAD, 4, 100);
    t.write(CTRL, 4, 0x9); // EN | IRQEN
    expect(sched.nextDeadline()).toBe(100 * TICK);
    at(10 * TICK + 5);
    expect(t.read(VALUE, 4)).toBe(90); // counts down, shown rounded up within a tick
    at(100 * TICK);
    expect(t.read(INTSTATUS, 4)).toBe(1);
    expect(irq.level).toBe(true);
    expect(t.read(VALUE, 4)).toBe(0);
    t.write(INTSTATUS, 4, 1);
    expect(irq.level).toBe(false);
    expect(sched.nextDeadline()).toBe(201 * TICK);
    at(201 * TICK);
    expect(irq.rises).toBe(2);
  });

  it('without IRQEN the count wraps but INTSTATUS stays clear', () => {
    const { t, at } = make();
    t.write(RELOAD, 4, 10);
    t.write(CTRL, 4, 0x1);
    at(1000 * TICK);
    expect(t.read(INTSTATUS, 4)).toBe(0);
  });

  it('disabling freezes VALUE; re-enabling resumes', () => {
    const { t, at } = make();
    t.write(RELOAD, 4, 1000);
    t.write(CTRL, 4, 0x1);
    at(300 * TICK + 5);
    t.write(CTRL, 4, 0);
    const v = t.read(VALUE, 4);
    expect(v).toBe(700);
    at(900 * TICK);
    expect(t.read(VALUE, 4)).toBe(700);
  });

  it('RELOAD = 0 and a VALUE write: one-shot, then stays at 0', () => {
    const { t, irq, at, sched } = make();
    t.write(VALUE, 4, 50);
    t.write(CTRL, 4, 0x9);
    at(50 * TICK);
    expect(irq.rises).toBe(1);
    expect(t.read(VALUE, 4)).toBe(0);
    expect(sched.nextDeadline()).toBe(Infinity);
    at(10_000 * TICK);
    expect(irq.rises).toBe(1);
  });

  it('writing RELOAD 0 stops the counter', () => {
    const { t, sched } = make();
    t.write(RELOAD, 4, 100);
    t.write(CTRL, 4, 0x1);
    t.write(RELOAD, 4, 0);
    expect(sched.nextDeadline()).toBe(Infinity);
  });

  it('reset stops the counter and clears everything', () => {
    const { t, irq, at, sched } = make();
    t.write(RELOAD, 4, 10);
    t.write(CTRL, 4, 0x9);
    at(10 * TICK);
    expect(irq.level).toBe(true);
    t.reset();
    expect(irq.level).toBe(false);
    expect(sched.nextDeadline()).toBe(Infinity);
    for (const off of [CTRL, VALUE, RELOAD, INTSTATUS]) expect(t.read(off, 4)).toBe(0);
  });
});
