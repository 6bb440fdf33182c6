// The watcher thread: eventfds stop a running CPU (External), host deadlines (HostDeadline),
// and the JS event callback, which must not keep the event loop alive by itself.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Reg, Stop } from '../../src/native/cpu.js';
import { addon, closeAll, median, quantile, rig } from './helpers.js';

afterEach(closeAll);

const SPIN = [0xe7fe]; // b.n .
const ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/cmemu.node', import.meta.url));

describe('watched eventfds', () => {
  it('a write from another thread stops a running b . loop with External, well under a millisecond', () => {
    const { cpu, reg } = rig(SPIN);
    const fd = addon.createEventFd();
    cpu.watchFd(fd, 7);
    const lat: number[] = [];
    for (let i = 0; i < 30; i++) {
      // t0 before the write is scheduled: on a loaded machine this thread can be preempted for
      // longer than the 1 ms delay between scheduling and run(), so the write may land first
      // (run() then returns External at once, which is also right).
      const t0 = addon.monotonicNs();
      addon.writeEventFdLater(fd, 1, 1e6);
      const r = cpu.run(1e15, 0);
      const t = addon.monotonicNs();
      expect(r).toBe(Stop.External);
      const w = addon.lastLaterWriteNs();
      expect(w).toBeGreaterThanOrEqual(t0 + 1e6); // this round's write, after its delay
      lat.push((t - w) / 1e3);
      expect(cpu.takeEvents()).toEqual([7]);
      expect(addon.readEventFd(fd)).toBe(0); // drained by the watcher
      expect(reg(Reg.PC)).toBe(0x1000);
    }
    const med = median(lat);
    console.log(`eventfd write -> run() returned: median ${med.toFixed(1)} us, min ${Math.min(...lat).toFixed(1)} us, max ${Math.max(...lat).toFixed(1)} us`);
    // Other test files run in parallel on few CPUs and can preempt either thread (the lower quartile
    // passed 1 ms twice in full-suite runs on a loaded 2-core machine): judge the fastest of the 30,
    // which preemption cannot make slow unless every round is hit. Latency figures: make bench.
    expect(Math.min(...lat)).toBeLessThan(1000);
    cpu.unwatchFd(fd);
    addon.closeFd(fd);
  });

  it('events that arrived while idle make the next run return External at once, each token once', async () => {
    const { cpu } = rig(SPIN);
    const a = addon.createEventFd();
    const b = addon.createEventFd();
    cpu.watchFd(a, 1);
    cpu.watchFd(b, 2);
    let calls = 0;
    const called = new Promise<void>((resolve) => cpu.setEventCallback(() => {
      calls++;
      resolve();
    }));
    addon.writeEventFd(a, 1);
    addon.writeEventFd(b, 3);
    addon.writeEventFd(a, 1);
    await called;
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(cpu.run(1e12, 0)).toBe(Stop.External);
    expect(cpu.icount()).toBe(0);
    expect(cpu.takeEvents().sort()).toEqual([1, 2]);
    expect(cpu.takeEvents()).toEqual([]);
    expect(cpu.run(100, 0)).toBe(Stop.Limit);
    // Unwatched fds no longer stop anything.
    cpu.unwatchFd(a);
    cpu.unwatchFd(b);
    addon.writeEventFd(a, 1);
    await new Promise((r) => setTimeout(r, 10));
    expect(cpu.run(200, 0)).toBe(Stop.Limit);
    expect(cpu.takeEvents()).toEqual([]);
    cpu.setEventCallback(null);
    addon.closeFd(a);
    addon.closeFd(b);
  });

  it('the watcher keeps the process alive only while fds are watched', () => {
    const script = (body: string) => `
      const a = require(${JSON.stringify(ADDON_PATH)});
      const cpu = new a.NativeCpu();
      ${body}
    `;
    const run = (body: string) =>
      spawnSync(process.execPath, ['-e', script(body)], {
        timeout: 10_000,
        encoding: 'utf8',
      });
    // Watched: stays alive until the delayed write arrives and the callback unwatches.
    const watched = run(`
      const fd = a.createEventFd();
      cpu.watchFd(fd, 1);
      cpu.setEventCallback(() => { console.log('event', cpu.takeEvents()); cpu.unwatchFd(fd); cpu.close(); });
      a.writeEventFdLater(fd, 1, 200e6);
    `);
    // Unwatched again: exits at once although the watcher thread exists.
    const unwatched = run(`
      const fd = a.createEventFd();
      cpu.watchFd(fd, 1);
      cpu.unwatchFd(fd);
      cpu.run(10, a.monotonicNs() + 1e6);
      console.log('done');
    `);
    if (watched.error || unwatched.error) throw watched.error ?? unwatched.error;
    expect(watched.stderr).toBe('');
    expect(watched.stdout.trim()).toBe('event [ 1 ]');
    expect(unwatched.status).toBe(0);
    expect(unwatched.stdout.trim()).toBe('done');
  });

  it('a CPU dropped without close() is finalized safely', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', `
      const a = require(${JSON.stringify(ADDON_PATH)});
      (async () => {
      for (let i = 0; i < 20; i++) {
        let cpu = new a.NativeCpu();
        const fd = a.createEventFd();
        cpu.watchFd(fd, i);
        cpu.unwatchFd(fd);
        cpu.mapHostMemory(0x20000000, a.allocHostMemory(0x10000), 0, 0x10000, true);
        cpu.run(10, a.monotonicNs() + 1e5);
        cpu = null;
        globalThis.gc();
        a.closeFd(fd);
      }
      await new Promise((r) => setTimeout(r, 50));
      globalThis.gc();
      console.log('ok');
      })();
    `], { timeout: 20_000, encoding: 'utf8' });
    if (r.error) throw r.error;
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('ok');
    expect(r.status).toBe(0);
  });
});

describe('host deadline', () => {
  it('stops a b . loop within about a millisecond of the deadline', () => {
    const { cpu } = rig(SPIN);
    const late: number[] = [];
    for (let i = 0; i < 20; i++) {
      const d = addon.monotonicNs() + 3e6;
      const r = cpu.run(1e15, d);
      const t = addon.monotonicNs();
      expect(r).toBe(Stop.HostDeadline);
      expect(t).toBeGreaterThanOrEqual(d);
      late.push((t - d) / 1e3);
    }
    const med = median(late);
    console.log(`host deadline -> run() returned: median ${med.toFixed(1)} us late, min ${Math.min(...late).toFixed(1)} us, max ${Math.max(...late).toFixed(1)} us`);
    // Other test files run in parallel on few CPUs and can preempt us: judge the lower quartile.
    expect(quantile(late, 0.25)).toBeLessThan(1000);
  });

  it('a past deadline returns at once; a deadline from an earlier run does not leak into the next', async () => {
    const { cpu } = rig(SPIN);
    expect(cpu.run(1e12, addon.monotonicNs() - 1)).toBe(Stop.HostDeadline);
    expect(cpu.icount()).toBe(0);
    // Arm a deadline, finish the run earlier (limit), then run without a deadline past it. The
    // deadline is generous (1000 instructions, translation included, take microseconds, but a
    // loaded host can stall us for milliseconds); the wait then goes well past it.
    expect(cpu.run(1000, addon.monotonicNs() + 50e6)).toBe(Stop.Limit);
    await new Promise((r) => setTimeout(r, 80));
    expect(cpu.run(1_000_000, 0)).toBe(Stop.Limit);
    expect(cpu.icount()).toBe(1_000_000);
  });
});
