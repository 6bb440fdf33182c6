/**
 * The debugger's hold on a System: halt, resume, single-step, breakpoints and watchpoints, and
 * stop notifications. The GDB stub (gdb/server.ts) is one client; anything else that wants to
 * stop and step a board (a UI, a test) uses the same control, `sys.debug`.
 *
 * The control does not run the system. Whatever runs it (run(), a runUntil, a world, the CLI)
 * waits while it is halted; stops that belong to the control (its breakpoints, watchpoints, a
 * step, a halt request) halt it and are announced to the listeners. While halted, virtual time
 * stands still (icount), and the real-time clock does not move either (the machine holds it).
 */
import type { FinalOutcome, Outcome } from '../machine/machine.js';
import type { System } from './system.js';
import { UsageError } from './errors.js';

export type WatchKind = 'write' | 'read' | 'access';

export type DebugStop =
  | { kind: 'breakpoint'; address: number; hardware: boolean }
  | { kind: 'watchpoint'; address: number; access: WatchKind }
  | { kind: 'step' }
  /** Halted on request: halt(), or held before the first instruction. */
  | { kind: 'halt' }
  /** The core locked up or the engine failed, and the control holds it for inspection (holdFinished). */
  | { kind: 'finished'; outcome: FinalOutcome };

export interface Watchpoint {
  address: number;
  length: number;
  kind: WatchKind;
}

export class DebugControl {
  private isHalted = false;
  private gateWaiters: (() => void)[] = [];
  private inRun = false;
  private haltWanted = false;
  private stepping = false;
  private readonly listeners: ((s: DebugStop) => void)[] = [];
  private readonly exitListeners: ((o: FinalOutcome) => void)[] = [];
  private readonly bps = new Map<number, boolean>();
  private readonly watches = new Map<string, Watchpoint>();
  /** The last stop (what a client that asks "why are we halted?" is told). */
  lastStop: DebugStop = { kind: 'halt' };
  /** Hold a lockup or engine error (for a debugger to look at) instead of ending the run. */
  holdFinished = false;

  constructor(private readonly sys: System) {}

  /** Whether the system is halted by the control (and not inside a run). */
  get halted(): boolean {
    return this.isHalted && !this.inRun;
  }
  /** Whether a machine run is in progress. */
  get running(): boolean {
    return this.inRun;
  }

  /** Called with every stop of the control's, once the system is halted. */
  onStop(cb: (s: DebugStop) => void): () => void {
    this.listeners.push(cb);
    return () => {
      const i = this.listeners.indexOf(cb);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }
  /** Called when the guest exits (or the run is stopped) while the control is in use. */
  onExit(cb: (o: FinalOutcome) => void): () => void {
    this.exitListeners.push(cb);
    return () => {
      const i = this.exitListeners.indexOf(cb);
      if (i >= 0) this.exitListeners.splice(i, 1);
    };
  }

  /** Halt: a running system stops at its next stop (within a block); an idle one is halted at once. */
  halt(): void {
    if (this.inRun) {
      this.haltWanted = true;
      this.sys.machine.pause('debugger halt');
    } else if (!this.isHalted) {
      this.isHalted = true;
      this.announce({ kind: 'halt' });
    }
  }

  /** Hold the system before it runs (QEMU's -S). */
  holdAtStart(): void {
    if (!this.inRun) {
      this.isHalted = true;
      this.lastStop = { kind: 'halt' };
    }
  }

  /**
   * Let a halted system run: freely, or for one instruction (`step`; taking or returning from an
   * exception counts as one). `pc` moves the core first. Returns false if the system was not halted.
   */
  resume(opts: { step?: boolean; pc?: number } = {}): boolean {
    if (!this.halted) return false;
    if (opts.pc !== undefined) this.sys.cpu.set('pc', opts.pc);
    this.stepping = opts.step === true;
    this.sys.machine.setStepping(this.stepping);
    this.apply();
    this.open();
    return true;
  }

  /** Let go: no more breakpoints, watchpoints or steps, and the system runs on (a debugger detaching). */
  release(): void {
    this.bps.clear();
    this.watches.clear();
    this.stepping = false;
    this.haltWanted = false;
    this.holdFinished = false;
    if (!this.inRun) {
      this.sys.machine.setStepping(false);
      this.apply();
    }
    this.open();
  }

  // ---- points (change only while halted) ----

  setBreakpoint(address: number, on: boolean, hardware = false): void {
    this.mustBeHalted('breakpoints');
    const a = (address & ~1) >>> 0;
    if (on) this.bps.set(a, hardware);
    else this.bps.delete(a);
    this.apply();
  }
  get breakpoints(): number[] {
    return [...this.bps.keys()];
  }

  setWatchpoint(w: Watchpoint, on: boolean): void {
    this.mustBeHalted('watchpoints');
    const key = `${w.kind}:${w.address >>> 0}:${w.length}`;
    if (on) this.watches.set(key, { address: w.address >>> 0, length: w.length, kind: w.kind });
    else this.watches.delete(key);
    this.apply();
  }
  get watchpoints(): Watchpoint[] {
    return [...this.watches.values()];
  }

  private mustBeHalted(what: string): void {
    if (this.inRun) throw new UsageError(`${what} change only while the system is halted`);
  }

  private apply(): void {
    this.sys.setDebugBreakpoints([...this.bps.keys()]);
    this.sys.machine.setWatchpoints([...this.watches.values()]);
  }

  // ---- the hold (System's run loop) ----

  /** @internal Wait while halted. */
  async gate(): Promise<void> {
    while (this.isHalted) await new Promise<void>((r) => this.gateWaiters.push(r));
    this.inRun = true;
  }

  /** @internal A machine run returned: true when the stop is the control's (now halted), false when it is the caller's. */
  stopped(o: Outcome): boolean {
    this.inRun = false;
    const m = this.sys.machine;
    if (o.kind === 'paused') {
      let stop: DebugStop | null = null;
      if (m.watchHit && this.watches.size) stop = { kind: 'watchpoint', address: m.watchHit.address, access: this.watchFor(m.watchHit.address, m.watchHit.write) };
      else if (m.breakpointHit !== null && this.bps.has(m.breakpointHit)) stop = { kind: 'breakpoint', address: m.breakpointHit, hardware: this.bps.get(m.breakpointHit)! };
      else if (this.stepping && m.stepDone) stop = { kind: 'step' };
      else if (this.haltWanted) stop = { kind: 'halt' };
      if (stop === null) return false;
      this.haltWanted = false;
      this.isHalted = true;
      this.announce(stop);
      return true;
    }
    this.haltWanted = false;
    if (o.kind !== 'exit' && o.kind !== 'stopped' && this.holdFinished) {
      this.isHalted = true;
      this.announce({ kind: 'finished', outcome: o });
      return true;
    }
    for (const l of [...this.exitListeners]) l(o);
    return false;
  }

  private watchFor(addr: number, write: boolean): WatchKind {
    let best: WatchKind = write ? 'write' : 'read';
    for (const w of this.watches.values()) {
      if (addr < w.address || addr >= w.address + w.length) continue;
      if (w.kind === 'access') best = 'access';
      else if ((w.kind === 'write') === write) return w.kind;
    }
    return best;
  }

  private announce(s: DebugStop): void {
    this.lastStop = s;
    for (const l of [...this.listeners]) l(s);
  }

  private open(): void {
    this.isHalted = false;
    const w = this.gateWaiters;
    this.gateWaiters = [];
    for (const r of w) r();
  }
}
