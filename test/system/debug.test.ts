/**
 * sys.debug, the control under the GDB stub, driven directly: hold at start, breakpoints, a step,
 * a write watchpoint (the access done, PC at the instruction), halt from outside, release.
 */
import { describe, expect, it } from 'vitest';
import { createSystem, type DebugStop } from '../../src/index.js';
import { firmwarePath } from '../support/run-cmemu.js';

describe('sys.debug', () => {
  it('holds, stops at breakpoints and watchpoints, steps one instruction, halts on request, and lets go', async () => {
    const sys = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'gdb_target'), time: { icount: 7 }, semihosting: true });
    const dbg = sys.debug;
    const stops: DebugStop[] = [];
    let wake: (() => void) | null = null;
    dbg.onStop((s) => {
      stops.push(s);
      wake?.();
    });
    const next = () => new Promise<DebugStop>((r) => (wake = () => r(stops[stops.length - 1]!)));
    dbg.holdAtStart();
    const run = sys.run();
    await new Promise((r) => setTimeout(r, 20));
    expect(sys.instructions()).toBe(0); // held before the first instruction
    expect(dbg.halted).toBe(true);

    const bump = sys.symbols.address('bump');
    dbg.setBreakpoint(bump, true);
    let st = next();
    dbg.resume();
    expect(await st).toEqual({ kind: 'breakpoint', address: bump & ~1, hardware: false });
    expect(sys.cpu.get('r0')).toBe(1);

    const n = sys.instructions();
    const pc = sys.cpu.pc;
    st = next();
    dbg.resume({ step: true });
    expect(await st).toEqual({ kind: 'step' });
    expect(sys.instructions()).toBe(n + 1);
    expect(sys.cpu.pc).not.toBe(pc);

    dbg.setBreakpoint(bump, false);
    const counter = sys.symbols.address('counter');
    dbg.setWatchpoint({ address: counter, length: 4, kind: 'write' }, true);
    st = next();
    dbg.resume();
    const w = await st;
    expect(w).toEqual({ kind: 'watchpoint', address: counter, access: 'write' });
    expect(sys.symbols.read('counter')).toBe(1); // the store is done; PC is still at it
    st = next();
    dbg.resume();
    await st;
    expect(sys.symbols.read('counter')).toBe(3); // the next store, not the same one again
    dbg.setWatchpoint({ address: counter, length: 4, kind: 'write' }, false);

    // Halt from outside while it idles in WFI (SysTick at 100 Hz), then let it finish.
    dbg.setBreakpoint(sys.symbols.address('checkpoint'), true);
    st = next();
    dbg.resume();
    await st;
    st = next();
    dbg.resume();
    await st; // checkpoint 2
    dbg.setBreakpoint(sys.symbols.address('checkpoint'), false);
    st = next();
    dbg.resume();
    await new Promise((r) => setTimeout(r, 50));
    dbg.halt();
    expect(await st).toEqual({ kind: 'halt' });
    const t = sys.now();
    await new Promise((r) => setTimeout(r, 50));
    expect(sys.now()).toBe(t);
    sys.symbols.write('release', 9);
    dbg.release();
    expect(await run).toMatchObject({ kind: 'exit', code: 0 });
    expect(sys.uart(0).text()).toContain('released with 0x9\nPASS: gdb_target');
    await sys.close();
  });
});
