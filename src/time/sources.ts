/**
 * The two sources of virtual time a machine can run on (QEMU's default clock and `-icount`).
 *
 *  - IcountTime: virtual ns = executed instructions << shift, plus the time warped over while the
 *    guest slept (sleep=off: straight to the next deadline; sleep=on: as long as the host slept).
 *    Deterministic: the same guest gives the same times on every run.
 *  - RealTime: virtual ns follow the host monotonic clock from the machine's creation, minus host
 *    stalls (GC, preemption) hidden from the guest, never going back and never standing still.
 */
import type { TimeSource } from './clock.js';

export interface IcountOptions {
  shift: number;
  /** sleep=on: while the guest sleeps, virtual time follows real time; sleep=off: it jumps to the next deadline. */
  sleep: boolean;
}

export class IcountTime implements TimeSource {
  readonly kind = 'icount';
  /** Virtual ns warped over while the guest slept. */
  warpNs = 0;
  private readonly nsPerInsn: number;

  constructor(
    readonly options: IcountOptions,
    /** Instructions executed so far. */
    private readonly icount: () => number,
  ) {
    this.nsPerInsn = 2 ** options.shift;
  }

  now(): number {
    return this.warpNs + this.icount() * this.nsPerInsn;
  }

  /** The absolute instruction count at which virtual time reaches `deadlineNs` (rounded up). */
  instructionsAt(deadlineNs: number): number {
    return Math.ceil((deadlineNs - this.warpNs) / this.nsPerInsn);
  }

  /** Let `ns` of virtual time pass without instructions (a sleeping guest). */
  warp(ns: number): void {
    if (ns > 0) this.warpNs += ns;
  }
}

/** Real-time mode: run-loop time between CPU runs beyond this is a host stall, hidden from the guest. */
const STALL_SLACK_NS = 100_000;

export class RealTime implements TimeSource {
  readonly kind = 'realtime';
  private readonly startNs: number;
  /** Host time the run loop spent stalled between CPU runs, hidden from the guest. */
  private stolenNs = 0;
  private lastNs = 0;

  constructor(
    /** CLOCK_MONOTONIC in ns. */
    private readonly monotonicNs: () => number,
    /** Host time lost to stalls inside CPU runs (the native engine measures them). */
    private readonly runStolenNs: () => number,
  ) {
    // Real time starts when the machine is made (devices and semihosting may read the clock before it runs).
    this.startNs = monotonicNs();
  }

  /**
   * Stop the clock (the machine is not running: a debugger halt, the host between two runs):
   * now() stays where it is until release(), and the time in between is never the guest's.
   */
  hold(): void {
    if (this.heldAt !== null) return;
    this.heldAt = this.now();
    this.heldMono = this.monotonicNs();
  }
  release(): void {
    if (this.heldAt === null) return;
    this.stolenNs += this.monotonicNs() - this.heldMono;
    this.heldAt = null;
  }
  private heldAt: number | null = null;
  private heldMono = 0;

  now(): number {
    if (this.heldAt !== null) return this.heldAt;
    // A stall that would take back time the guest has already seen is only partly hidden (the
    // guest would read a timer twice and see it frozen).
    const v = this.monotonicNs() - this.startNs - this.stolenNs - this.runStolenNs();
    if (v > this.lastNs) this.lastNs = v;
    else if (v < this.lastNs) {
      this.stolenNs -= this.lastNs - v;
      this.lastNs += 1;
    }
    return this.lastNs;
  }

  /** Make virtual time read `ns` from now on (a restored snapshot), held or not. */
  restoreNow(ns: number): void {
    const mono = this.monotonicNs();
    this.stolenNs = mono - this.startNs - this.runStolenNs() - ns;
    this.lastNs = ns;
    if (this.heldAt !== null) {
      this.heldAt = ns;
      this.heldMono = mono;
    }
  }

  /** The host monotonic time at which virtual time reaches `deadlineNs`. */
  hostTimeAt(deadlineNs: number): number {
    return this.startNs + this.stolenNs + this.runStolenNs() + deadlineNs;
  }

  /**
   * The host may stall the run loop between two CPU runs. Without this, the guest would see that
   * time pass between, say, a SysTick wrap and its handler, and get wraps back to back that silicon
   * never shows. Time since `progressNs` (when the CPU last ran) beyond STALL_SLACK_NS is hidden.
   */
  compensateStall(progressNs: number): void {
    const now = this.monotonicNs();
    const gap = now - progressNs;
    if (progressNs === 0 || gap <= STALL_SLACK_NS) return;
    const maxStolen = now - this.startNs - this.runStolenNs() - this.lastNs;
    this.stolenNs = Math.min(this.stolenNs + gap - STALL_SLACK_NS, Math.max(this.stolenNs, maxStolen));
  }
}
