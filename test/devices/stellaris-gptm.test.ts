import { describe, expect, it } from 'vitest';
import { RIS_RTC, RIS_TATO, StellarisGptm } from '../../src/devices/stellaris-gptm.js';
import { ManualTime, Scheduler } from '../../src/time/clock.js';
import type { IrqLine, Logger } from '../../src/devices/device.js';

const CFG = 0x00, TAMR = 0x04, TBMR = 0x08, CTL = 0x0c, IMR = 0x18, RIS = 0x1c, MIS = 0x20, ICR = 0x24;
const TAILR = 0x28, TBILR = 0x2c, TAMATCHR = 0x30, TBMATCHR = 0x34, TAPR = 0x38, TBPR = 0x3c, TAPMR = 0x40, TBPMR = 0x44;
const TAR = 0x48, TBR = 0x4c;

function make(periodNs = 80) {
  const time = new ManualTime();
  const sched = new Scheduler(time);
  const irq = { level: false, rises: 0, set(v: boolean) { if (v && !irq.level) irq.rises++; irq.level = v; }, pulse() {} };
  const trigger = { pulses: 0, set() {}, pulse() { trigger.pulses++; } };
  const logs: string[] = [];
  const logger: Logger = { enabled: () => true, log: (c, m) => logs.push(`${c}: ${m}`) };
  const clk = { period: periodNs };
  const t = new StellarisGptm('gptm0', { clock: sched, sysclkPeriodNs: () => clk.period, irq: irq satisfies IrqLine, trigger, logger });
  const at = (ns: number) => {
    time.ns = ns;
    sched.runDue(ns);
  };
  return { t, sched, time, at, irq, trigger, logs, clk };
}

describe('Stellaris GPTM: reset and registers', () => {
  it('reads zero everywhere at reset, with nothing armed', () => {
    const { t, sched } = make();
    for (const off of [CFG, TAMR, TBMR, CTL, IMR, RIS, MIS, ICR, TAILR, TBILR, TAMATCHR, TBMATCHR, TAPR, TBPR, TAPMR, TBPMR, TAR, TBR]) {
      expect(t.read(off, 4), `offset 0x${off.toString(16)}`).toBe(0);
    }
    expect(sched.nextDeadline()).toBe(Infinity);
  });
  it('masks IMR to 0x77 and splits TAILR/TAMATCHR into halves as QEMU', () => {
    const { t } = make();
    t.write(IMR, 4, 0xffffffff);
    expect(t.read(IMR, 4)).toBe(0x77);
    t.write(TAILR, 4, 0x12345678);
    expect(t.read(TAILR, 4)).toBe(0x12345678);
    expect(t.read(TBILR, 4)).toBe(0x1234);
    t.write(TAMATCHR, 4, 0xabcdef01);
    expect(t.read(TAMATCHR, 4)).toBe(0xabcdef01);
    expect(t.read(TBMATCHR, 4)).toBe(0xabcd);
    // 16-bit configuration: the A registers hold 16 bits, B its own.
    t.write(CFG, 4, 4);
    t.write(TAILR, 4, 0x11112222);
    t.write(TBILR, 4, 0x33334444);
    expect(t.read(TAILR, 4)).toBe(0x2222);
    expect(t.read(TBILR, 4)).toBe(0x4444);
  });
  it('keeps QEMU 7.2’s quirks: TBMATCHR stores value >> 16, TBPMR writes land in TAPMR', () => {
    const { t } = make();
    t.write(TBMATCHR, 4, 0x12345678);
    expect(t.read(TBMATCHR, 4)).toBe(0x1234);
    t.write(TBPMR, 4, 0x55);
    expect(t.read(TAPMR, 4)).toBe(0x55);
    expect(t.read(TBPMR, 4)).toBe(0);
    t.write(TAPR, 4, 7);
    t.write(TBPR, 4, 9);
    expect([t.read(TAPR, 4), t.read(TBPR, 4)]).toEqual([7, 9]);
  });
  it('logs bad offsets and unsupported counter reads', () => {
    const { t, logs } = make();
    expect(t.read(0x50, 4)).toBe(0);
    t.write(0x50, 4, 1);
    expect(t.read(TAR, 4)).toBe(0);
    expect(t.read(TBR, 4)).toBe(0);
    expect(logs).toEqual([
      'guest_errors: GPTM: read at bad offset 0x50',
      'guest_errors: GPTM: write at bad offset 0x50',
      'unimp: GPTM: read of TAR but timer read not supported',
      'unimp: GPTM: read of TBR but timer read not supported',
    ]);
  });
});

describe('Stellaris GPTM: 32-bit timer on the system clock', () => {
  it('periodic: times out every TAILR ticks of the system clock, without drift', () => {
    const { t, sched, at, irq } = make(80);
    t.write(TAMR, 4, 2); // periodic
    t.write(TAILR, 4, 1000);
    t.write(IMR, 4, RIS_TATO);
    at(500);
    t.write(CTL, 4, 1);
    expect(sched.nextDeadline()).toBe(500 + 80_000);
    at(80_499);
    expect(t.read(RIS, 4)).toBe(0);
    at(80_500);
    expect(t.read(RIS, 4)).toBe(RIS_TATO);
    expect(t.read(MIS, 4)).toBe(RIS_TATO);
    expect(irq.level).toBe(true);
    expect(sched.nextDeadline()).toBe(500 + 160_000);
    t.write(ICR, 4, RIS_TATO);
    expect(irq.level).toBe(false);
    at(500 + 160_000 + 30); // late service: the next deadline still counts from the previous one
    expect(irq.level).toBe(true);
    expect(sched.nextDeadline()).toBe(500 + 240_000);
    expect(t.read(CTL, 4)).toBe(1);
  });
  it('one-shot: times out once and clears TAEN', () => {
    const { t, sched, at, irq } = make();
    t.write(TAMR, 4, 1);
    t.write(TAILR, 4, 10);
    t.write(CTL, 4, 1);
    at(800);
    expect(t.read(RIS, 4)).toBe(RIS_TATO);
    expect(irq.level).toBe(false); // masked
    expect(t.read(CTL, 4)).toBe(0);
    expect(sched.nextDeadline()).toBe(Infinity);
  });
  it('disabling cancels the timeout; re-enabling starts a full period from now', () => {
    const { t, sched, at } = make();
    t.write(TAMR, 4, 2);
    t.write(TAILR, 4, 100);
    t.write(CTL, 4, 1);
    at(4000);
    t.write(CTL, 4, 0);
    expect(sched.nextDeadline()).toBe(Infinity);
    at(10_000);
    t.write(CTL, 4, 1);
    expect(sched.nextDeadline()).toBe(18_000);
  });
  it('takes the system clock period at each reload (an RCC change applies from the next period)', () => {
    const { t, sched, at, clk } = make(80);
    t.write(TAMR, 4, 2);
    t.write(TAILR, 4, 100);
    t.write(CTL, 4, 1);
    clk.period = 20;
    expect(sched.nextDeadline()).toBe(8000);
    at(8000);
    expect(sched.nextDeadline()).toBe(10_000);
  });
  it('pulses the ADC trigger on timeouts with TAOTE', () => {
    const { t, at, trigger } = make();
    t.write(TAMR, 4, 2);
    t.write(TAILR, 4, 1);
    t.write(CTL, 4, 0x21);
    at(80);
    at(160);
    expect(trigger.pulses).toBe(2);
  });
  it('a load of 0 is not armed (QEMU would spin) and is logged', () => {
    const { t, sched, logs } = make();
    t.write(CTL, 4, 1);
    expect(sched.nextDeadline()).toBe(Infinity);
    expect(logs.some((l) => l.startsWith('guest_errors: GPTM: gptm0 timer A started with a load value of 0'))).toBe(true);
  });
});

describe('Stellaris GPTM: RTC and 16-bit modes', () => {
  it('RTC: counts seconds of virtual time, wraps after TAMATCHR and sets RTCRIS (which IMR cannot unmask: QEMU keeps IMR & 0x77)', () => {
    const { t, at, irq } = make();
    t.write(CFG, 4, 1);
    t.write(TAMATCHR, 4, 2);
    t.write(IMR, 4, RIS_RTC);
    t.write(CTL, 4, 1);
    at(1e9);
    expect(t.read(TAR, 4)).toBe(1);
    at(2e9);
    expect(t.read(TAR, 4)).toBe(2);
    expect(t.read(RIS, 4)).toBe(0);
    at(3e9);
    expect(t.read(TAR, 4)).toBe(0);
    expect(t.read(RIS, 4)).toBe(RIS_RTC);
    expect(t.read(IMR, 4)).toBe(0);
    expect(irq.level).toBe(false);
  });
  it('16-bit modes are not modelled (QEMU 7.2: logged, nothing armed); PWM mode is silent', () => {
    const { t, sched, logs } = make();
    t.write(CFG, 4, 4);
    t.write(TAMR, 4, 2);
    t.write(TBMR, 4, 0xa);
    t.write(TAILR, 4, 100);
    t.write(CTL, 4, 0x101);
    expect(sched.nextDeadline()).toBe(Infinity);
    expect(logs).toEqual(['unimp: GPTM: 16-bit timer mode unimplemented: 0x2']);
  });
  it('reset stops everything', () => {
    const { t, sched } = make();
    t.write(TAILR, 4, 5);
    t.write(CTL, 4, 1);
    t.reset();
    expect(sched.nextDeadline()).toBe(Infinity);
    expect(t.read(TAILR, 4)).toBe(0);
    expect(t.armed(0)).toBe(false);
  });
});
