import { describe, expect, it } from 'vitest';
import { SysTick } from '../../src/devices/systick.js';
import { ManualTime, Scheduler } from '../../src/time/clock.js';
import type { Logger } from '../../src/devices/device.js';

const CSR = 0x0;
const RVR = 0x4;
const CVR = 0x8;
const CALIB = 0xc;

function make(opts: { cpuHz?: number; refHz?: number } = {}) {
  const time = new ManualTime();
  const sched = new Scheduler(time);
  let pends = 0;
  const errors: string[] = [];
  const logger: Logger = { enabled: () => true, log: (_c, m) => errors.push(m) };
  const st = new SysTick({
    clock: sched,
    cpuHz: opts.cpuHz ?? 25_000_000,
    refHz: 'refHz' in opts ? opts.refHz : 1_000_000,
    pend: () => pends++,
    logger,
  });
  const at = (ns: number) => {
    time.ns = ns;
    sched.runDue(ns);
  };
  return { st, time, sched, at, pends: () => pends, errors };
}

describe('SysTick: reset and register masks', () => {
  it('is disabled at reset with a reference clock (mps2-an385: 1 MHz)', () => {
    const { st, sched } = make();
    expect(st.read(CSR, 4)).toBe(0);
    expect(st.read(RVR, 4)).toBe(0);
    expect(st.read(CVR, 4)).toBe(0);
    expect(st.read(CALIB, 4)).toBe(0x270f); // 10 ms = 10000 ticks of 1 MHz, exact: no SKEW
    expect(sched.nextDeadline()).toBe(Infinity);
  });

  it('without a reference clock (lm3s6965evb) CLKSOURCE reads 1 and CALIB is NOREF', () => {
    const { st } = make({ cpuHz: 12_000_000, refHz: 0 });
    expect(st.read(CSR, 4)).toBe(0x4);
    expect(st.read(CALIB, 4)).toBe(0x80000000);
    st.write(CSR, 4, 0);
    expect(st.read(CSR, 4)).toBe(0x4);
  });

  it('CALIB reports SKEW when 10 ms is not a whole number of reference ticks', () => {
    const { st } = make({ refHz: 32768 });
    expect(st.read(CALIB, 4)).toBe((0x40000000 | 326) >>> 0);
  });

  it('RVR keeps 24 bits; CSR keeps ENABLE/TICKINT/CLKSOURCE only', () => {
    const { st } = make();
    st.write(RVR, 4, 0xffffffff);
    expect(st.read(RVR, 4)).toBe(0xffffff);
    st.write(CSR, 4, 0xfffffff8);
    expect(st.read(CSR, 4)).toBe(0);
    st.write(CSR, 4, 0x6);
    expect(st.read(CSR, 4)).toBe(0x6);
  });

  it('a CVR write while disabled leaves CVR at 0', () => {
    const { st } = make();
    st.write(CVR, 4, 0x1234);
    expect(st.read(CVR, 4)).toBe(0);
  });

  it('is word-only: sub-word accesses read 0 and log a guest error', () => {
    const { st, errors } = make();
    st.write(RVR, 4, 0x123456);
    expect(st.read(RVR, 2)).toBe(0);
    st.write(RVR, 1, 0);
    expect(st.read(RVR, 4)).toBe(0x123456);
    expect(errors.some((e) => e.includes('invalid size'))).toBe(true);
  });

  it('other offsets of its window read 0 and log', () => {
    const { st, errors } = make();
    expect(st.read(0x10, 4)).toBe(0);
    expect(errors).toContain('SysTick: Bad read offset 0x10');
  });
});

describe('SysTick: counting on the CPU clock (25 MHz = 40 ns per tick)', () => {
  it('counts down from RVR after the first tick and wraps every RVR+1 ticks', () => {
    const { st, at } = make();
    st.write(RVR, 4, 999);
    at(1000);
    st.write(CSR, 4, 0x5); // ENABLE | CLKSOURCE
    expect(st.read(CVR, 4)).toBe(0); // counter is 0 until the first tick reloads it
    at(1039);
    expect(st.read(CVR, 4)).toBe(0);
    at(1040);
    expect(st.read(CVR, 4)).toBe(999);
    at(1080);
    expect(st.read(CVR, 4)).toBe(998);
    at(1000 + 40 * 500);
    expect(st.read(CVR, 4)).toBe(500);
    at(1000 + 40 * 1000 - 1);
    expect(st.read(CVR, 4)).toBe(1);
    expect(st.read(CSR, 4) & 0x10000).toBe(0);
    at(1000 + 40 * 1000);
    expect(st.read(CVR, 4)).toBe(0);
    expect(st.read(CSR, 4)).toBe(0x10005); // COUNTFLAG
    expect(st.read(CSR, 4)).toBe(0x5); // cleared by the read
    at(1000 + 40 * 1001);
    expect(st.read(CVR, 4)).toBe(999);
  });

  it('with TICKINT pends SysTick at each wrap, from one timer armed at the wrap', () => {
    const { st, at, sched, pends } = make();
    st.write(RVR, 4, 999);
    st.write(CSR, 4, 0x7);
    expect(sched.nextDeadline()).toBe(40_000);
    at(39_999);
    expect(pends()).toBe(0);
    at(40_000);
    expect(pends()).toBe(1);
    expect(sched.nextDeadline()).toBe(80_000);
    at(80_000);
    expect(pends()).toBe(2);
    expect(st.read(CSR, 4)).toBe(0x10007);
  });

  it('without TICKINT sets COUNTFLAG but does not pend', () => {
    const { st, at, pends } = make();
    st.write(RVR, 4, 9);
    st.write(CSR, 4, 0x5);
    at(400);
    expect(pends()).toBe(0);
    expect(st.read(CSR, 4)).toBe(0x10005);
  });

  it('a read catches up on a wrap the run loop has not fired yet', () => {
    const { st, time, pends } = make();
    st.write(RVR, 4, 9);
    st.write(CSR, 4, 0x7);
    time.ns = 400; // timer due but not fired
    expect(st.read(CSR, 4)).toBe(0x10007);
    expect(pends()).toBe(1);
  });

  it('survives a large clock jump: one pend, next wrap on the original grid', () => {
    const { st, at, sched, pends } = make();
    st.write(RVR, 4, 999);
    st.write(CSR, 4, 0x7);
    at(10_000_123); // 250 periods later and a bit
    expect(pends()).toBe(1);
    expect(sched.nextDeadline()).toBe(10_040_000);
    // the last wrap was at 10,000,000 (tick 250000); 123 ns = 3 ticks after it the counter reloaded then decremented twice
    expect(st.read(CVR, 4)).toBe(997);
  });

  it('CVR write clears the counter and COUNTFLAG; the next tick reloads', () => {
    const { st, at, sched } = make();
    st.write(RVR, 4, 99);
    st.write(CSR, 4, 0x5);
    at(40 * 100); // wrap
    at(40 * 150 + 7);
    expect(st.read(CVR, 4)).toBe(50);
    st.write(CVR, 4, 0xdead);
    expect(st.read(CVR, 4)).toBe(0);
    expect(st.read(CSR, 4)).toBe(0x5);
    expect(sched.nextDeadline()).toBe(40 * 150 + 7 + 40 * 100);
    at(40 * 151 + 7);
    expect(st.read(CVR, 4)).toBe(99);
  });

  it('an RVR write applies at the next reload, not to the current count', () => {
    const { st, at, sched } = make();
    st.write(RVR, 4, 99);
    st.write(CSR, 4, 0x5);
    at(40 * 50); // counter 50
    expect(st.read(CVR, 4)).toBe(50);
    st.write(RVR, 4, 9);
    expect(st.read(CVR, 4)).toBe(50);
    expect(sched.nextDeadline()).toBe(40 * 100);
    at(40 * 100);
    expect(st.read(CVR, 4)).toBe(0);
    at(40 * 101);
    expect(st.read(CVR, 4)).toBe(9);
    expect(sched.nextDeadline()).toBe(40 * 110);
  });

  it('handles the tickless pattern: RVR and CVR rewritten constantly', () => {
    const { st, at, sched, pends } = make();
    st.write(RVR, 4, 249_999); // as Zephyr's driver init: LOAD, VAL = 0, then CTRL
    st.write(CVR, 4, 0);
    st.write(CSR, 4, 0x7);
    let now = 0;
    for (let i = 0; i < 200; i++) {
      const load = 1000 + ((i * 7919) % 0xfcaf7f);
      st.write(RVR, 4, load);
      st.write(CVR, 4, 0);
      expect(sched.nextDeadline()).toBe(now + (load + 1) * 40);
      now += 40 * (i % 50) + 13;
      at(now);
      expect(st.read(CVR, 4)).toBe(i % 50 === 0 ? 0 : load - (i % 50) + 1);
    }
    expect(pends()).toBe(0);
  });

  it('disabling freezes CVR; re-enabling resumes from it', () => {
    const { st, at, sched } = make();
    st.write(RVR, 4, 99);
    st.write(CSR, 4, 0x5);
    at(40 * 52 + 5); // tick 1 reloads 99, tick 52 reads 48
    expect(st.read(CVR, 4)).toBe(48);
    st.write(CSR, 4, 0x4);
    expect(sched.nextDeadline()).toBe(Infinity);
    at(1_000_000);
    expect(st.read(CVR, 4)).toBe(48);
    st.write(CSR, 4, 0x5);
    expect(st.read(CVR, 4)).toBe(48);
    expect(sched.nextDeadline()).toBe(1_000_000 + 48 * 40);
  });
});

describe('SysTick: clock source', () => {
  it('CLKSOURCE = 0 counts the 1 MHz reference clock', () => {
    const { st, at, sched } = make();
    st.write(RVR, 4, 999);
    st.write(CSR, 4, 0x1);
    expect(sched.nextDeadline()).toBe(1_000_000); // 1000 ticks of 1 µs
    at(1000);
    expect(st.read(CVR, 4)).toBe(999);
    at(2000);
    expect(st.read(CVR, 4)).toBe(998);
  });

  it('switching the source while counting keeps the count and changes the rate', () => {
    const { st, at, sched } = make();
    st.write(RVR, 4, 999);
    st.write(CSR, 4, 0x1);
    at(101_000); // 101 ref ticks: 899
    expect(st.read(CVR, 4)).toBe(899);
    st.write(CSR, 4, 0x5);
    expect(st.read(CVR, 4)).toBe(899);
    expect(sched.nextDeadline()).toBe(101_000 + 899 * 40);
  });

  it('a 12 MHz clock (83.3 ns per tick) does not drift', () => {
    const { st, at, sched, pends } = make({ cpuHz: 12_000_000, refHz: 0 });
    st.write(RVR, 4, 11_999); // 1 ms
    st.write(CSR, 4, 0x7);
    for (let m = 1; m <= 1000; m++) {
      expect(sched.nextDeadline()).toBe(m * 1_000_000);
      at(m * 1_000_000);
    }
    expect(pends()).toBe(1000);
    at(1_000_000_000 + 250); // 3 ticks after the reload tick... 250 ns = 3 ticks
    expect(st.read(CVR, 4)).toBe(11_999 - 2);
  });

  it('setClocks changes the rate of a running counter', () => {
    const { st, at, sched } = make({ cpuHz: 12_000_000, refHz: 0 });
    st.write(RVR, 4, 999);
    st.write(CSR, 4, 0x5);
    st.setClocks(25_000_000);
    expect(sched.nextDeadline()).toBe(40_000);
    at(40);
    expect(st.read(CVR, 4)).toBe(999);
  });
});

describe('SysTick: RVR = 0', () => {
  it('reaching 0 with RVR = 0 wraps once and stops, ENABLE stays set (as QEMU)', () => {
    const { st, at, sched, pends } = make();
    st.write(RVR, 4, 99);
    st.write(CSR, 4, 0x7);
    at(40 * 10); // 90
    st.write(RVR, 4, 0);
    expect(st.read(CVR, 4)).toBe(90);
    at(40 * 100 - 1);
    expect(st.read(CVR, 4)).toBe(1);
    at(40 * 100);
    expect(pends()).toBe(1);
    expect(st.read(CSR, 4)).toBe(0x10007);
    expect(st.running).toBe(false);
    expect(sched.nextDeadline()).toBe(Infinity);
    at(40 * 1000);
    expect(st.read(CVR, 4)).toBe(0);
    // Rewriting RVR does not restart it; nor does a CVR write; toggling ENABLE does.
    st.write(RVR, 4, 9);
    st.write(CVR, 4, 0);
    at(40 * 2000);
    expect(st.read(CVR, 4)).toBe(0);
    expect(st.running).toBe(false);
    st.write(CSR, 4, 0x6);
    st.write(CSR, 4, 0x7);
    expect(st.running).toBe(true);
    at(40 * 2001);
    expect(st.read(CVR, 4)).toBe(9);
  });

  it('enabling with RVR = 0 and CVR = 0 never counts', () => {
    const { st, at, sched, pends } = make();
    st.write(CSR, 4, 0x7);
    expect(sched.nextDeadline()).toBe(Infinity);
    at(1_000_000);
    expect(st.read(CVR, 4)).toBe(0);
    expect(st.read(CSR, 4)).toBe(0x7);
    expect(pends()).toBe(0);
  });

  it('a CVR write while RVR = 0 stops the counter', () => {
    const { st, at } = make();
    st.write(RVR, 4, 99);
    st.write(CSR, 4, 0x5);
    at(400);
    st.write(RVR, 4, 0);
    st.write(CVR, 4, 0);
    expect(st.running).toBe(false);
    expect(st.read(CVR, 4)).toBe(0);
  });

  it('reset stops the counter and cancels the timer', () => {
    const { st, sched } = make();
    st.write(RVR, 4, 99);
    st.write(CSR, 4, 0x7);
    expect(sched.nextDeadline()).toBe(4000);
    st.reset();
    expect(sched.nextDeadline()).toBe(Infinity);
    expect(st.read(CSR, 4)).toBe(0);
    expect(st.read(RVR, 4)).toBe(0);
  });
});
