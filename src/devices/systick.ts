/**
 * ARMv7-M SysTick timer (SYST_CSR/RVR/CVR/CALIB at 0xE000E010), on the virtual clock.
 *
 * No per-tick events: while counting, the state is an origin (virtual time and counter value at that
 * time) plus the reload value, so CVR is computed from clock.now() and one timer is armed at the next
 * wrap. Time is kept exactly (BigInt, in 1/den ns where the tick period is num/den ns), so a 12 MHz
 * clock does not drift and a clock jump of any size (icount warp) costs the same.
 *
 * Behaviour as QEMU 7.2's hw/timer/armv7m_systick.c (ptimer with WRAP_AFTER_ONE_PERIOD,
 * NO_IMMEDIATE_RELOAD, TRIGGER_ONLY_ON_DECREMENT), checked against qemu-system-arm 7.2:
 *  - the counter decrements once per tick; the tick that takes it from 1 to 0 sets COUNTFLAG and, with
 *    TICKINT, pends SysTick; the next tick reloads RVR (so a period is RVR+1 ticks);
 *  - enabling starts from the current CVR (0 after reset or a CVR write: the first tick reloads);
 *  - disabling freezes CVR; re-enabling resumes from the frozen value;
 *  - a CVR write (any value) clears CVR and COUNTFLAG; an RVR write takes effect at the next reload;
 *  - reaching 0 with RVR = 0 stops the counter (CSR.ENABLE stays set) until ENABLE is written 0 then 1;
 *    so does a CVR write or an enable while RVR = 0;
 *  - COUNTFLAG clears when CSR is read;
 *  - without a reference clock (lm3s6965evb) CLKSOURCE reads 1 always and CALIB = NOREF (0x80000000);
 *    with one, CALIB.TENMS = ticks in 10 ms - 1 (SKEW when that is not exact): 0x270F at 1 MHz.
 *  - registers are word-only (QEMU: valid.min_access_size = 4); other offsets of the 0xE0-byte window
 *    read 0 and log "SysTick: Bad read offset".
 */
import type { AccessSize, Logger, MmioDevice } from './device.js';
import { SILENT } from './device.js';
import type { Clock, ClockTimer } from '../time/clock.js';
import { logGuestError } from './peripheral.js';
import { captureState, restoreState, type DeviceState } from './state.js';

const CSR = 0x0;
const RVR = 0x4;
const CVR = 0x8;
const CALIB = 0xc;

export const SYST_CSR_ENABLE = 1 << 0;
export const SYST_CSR_TICKINT = 1 << 1;
export const SYST_CSR_CLKSOURCE = 1 << 2;
export const SYST_CSR_COUNTFLAG = 1 << 16;
export const SYST_CALIB_NOREF = 0x80000000;
export const SYST_CALIB_SKEW = 0x40000000;

export interface SysTickOptions {
  clock: Clock;
  /** Processor clock in Hz (CLKSOURCE = 1). */
  cpuHz: number;
  /** External reference clock in Hz (CLKSOURCE = 0); 0 or absent: not connected. */
  refHz?: number;
  /** Called at each wrap with TICKINT set: pend exception 15. */
  pend: () => void;
  logger?: Logger;
  name?: string;
  /**
   * Real-time clocks only: a wrap noticed more than half a period late counts once and the next
   * period starts from it (as QEMU's ptimer effectively behaves when the host is slow), instead of
   * delivering the missed wraps back to back. In icount mode wraps are never late, so this is off.
   */
  slipLateWraps?: boolean;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Floor division for BigInt (which truncates toward zero). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16);
}

/** Tick period as a fraction num/den of a nanosecond. */
interface Period {
  num: bigint;
  den: bigint;
}

function periodOf(hz: number): Period {
  if (!(hz > 0) || !Number.isInteger(hz)) throw new Error(`systick: clock frequency must be a positive integer (got ${hz})`);
  const h = BigInt(hz);
  const g = gcd(1_000_000_000n, h);
  return { num: 1_000_000_000n / g, den: h / g };
}

export class SysTick implements MmioDevice {
  readonly name: string;
  readonly size = 0xe0;
  private readonly clock: Clock;
  private readonly timer: ClockTimer;
  private readonly pend: () => void;
  private readonly log: Logger;
  private cpuPeriod: Period;
  private refPeriod: Period | null;
  private refHz: number;

  private readonly slip: boolean;
  private control = 0;
  private reload = 0;
  /** Counter value while not counting. */
  private count = 0;
  private counting = false;
  // While counting: tick k happens at (origin + k*num)/den ns; the counter is c0 at tick 0.
  private period: Period = { num: 1n, den: 1n };
  private origin = 0n;
  private c0 = 0n;
  /** Wraps at ticks <= firedUpTo have been signalled. */
  private firedUpTo = 0n;
  /** The next wrap tick after firedUpTo (-1n: none), as armed in the timer. */
  private nextWrap = -1n;

  constructor(opts: SysTickOptions) {
    this.name = opts.name ?? 'systick';
    this.clock = opts.clock;
    this.pend = opts.pend;
    this.log = opts.logger ?? SILENT;
    this.cpuPeriod = periodOf(opts.cpuHz);
    this.refHz = opts.refHz ?? 0;
    this.refPeriod = this.refHz ? periodOf(this.refHz) : null;
    this.timer = this.clock.timer(this.name, () => this.onTimer());
    this.slip = opts.slipLateWraps ?? false;
    this.reset();
  }

  /** Snapshot state (src/devices/state.ts). */
  saveState(): DeviceState {
    return captureState(this);
  }
  loadState(s: DeviceState): void {
    restoreState(this, s, 'systick');
  }

  reset(): void {
    this.timer.cancel();
    this.counting = false;
    this.count = 0;
    this.reload = 0;
    this.control = this.refPeriod ? 0 : SYST_CSR_CLKSOURCE;
  }

  /** Change the clocks (e.g. a board's PLL setting); a running count continues at the new rate. */
  setClocks(cpuHz: number, refHz = this.refHz): void {
    const now = this.clock.now();
    const was = this.counting;
    if (was) this.freeze(now);
    this.cpuPeriod = periodOf(cpuHz);
    this.refHz = refHz;
    this.refPeriod = refHz ? periodOf(refHz) : null;
    if (!this.refPeriod) this.control |= SYST_CSR_CLKSOURCE;
    if (was) this.start(now, this.count);
  }

  /**
   * Set the processor clock by its period in whole ns (lm3s6965evb: QEMU's Stellaris system control
   * gives SYSCLK a period of 5 * (SYSDIV + 1) ns, not always a whole number of Hz); a running count
   * continues at the new rate, as QEMU's ptimer on a clock change.
   */
  setCpuPeriodNs(ns: number): void {
    if (!(ns > 0) || !Number.isInteger(ns)) throw new Error(`systick: clock period must be a positive integer of ns (got ${ns})`);
    const now = this.clock.now();
    const was = this.counting;
    if (was) this.freeze(now);
    this.cpuPeriod = { num: BigInt(ns), den: 1n };
    if (was) this.start(now, this.count);
  }

  /** Whether the counter is counting (ENABLE set and not stopped by RVR = 0). */
  get running(): boolean {
    return this.counting;
  }

  /** The virtual time of the next wrap, or Infinity (for tests and diagnostics). */
  get nextWrapNs(): number {
    return this.timer.armed ? this.timer.deadline : Infinity;
  }

  read(offset: number, size: AccessSize): number {
    if (size !== 4 || (offset & 3) !== 0) {
      this.badSize('read', offset, size);
      return 0;
    }
    switch (offset) {
      case CSR: {
        this.catchUp(this.clock.now());
        const v = this.control;
        this.control &= ~SYST_CSR_COUNTFLAG;
        return v >>> 0;
      }
      case RVR:
        return this.reload;
      case CVR: {
        const now = this.clock.now();
        this.catchUp(now);
        return this.counting ? this.valueAt(this.tickAt(now)) : this.count;
      }
      case CALIB:
        return this.calib();
      default:
        logGuestError(this.log, `SysTick: Bad read offset ${hex(offset)}`);
        return 0;
    }
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) {
      this.badSize('write', offset, size);
      return;
    }
    value >>>= 0;
    const now = this.clock.now();
    switch (offset) {
      case CSR:
        this.writeCsr(now, value);
        return;
      case RVR:
        this.writeRvr(now, value & 0xffffff);
        return;
      case CVR:
        this.catchUp(now);
        this.control &= ~SYST_CSR_COUNTFLAG;
        if (this.counting) this.start(now, 0);
        else this.count = 0;
        return;
      default:
        logGuestError(this.log, `SysTick: Bad write offset ${hex(offset)}`);
    }
  }

  private badSize(what: string, offset: number, size: number): void {
    if (this.log.enabled('guest_errors')) {
      this.log.log('guest_errors', `Invalid ${what} at addr ${hex(offset)}, size ${size}, region '${this.name}', reason: invalid size (min:4 max:4)`);
    }
  }

  private calib(): number {
    if (!this.refHz) return SYST_CALIB_NOREF;
    // Ticks of the reference clock in 10 ms, minus one; SKEW when 10 ms is not a whole number of ticks.
    const ticks = Math.floor(this.refHz / 100);
    let v = (ticks - 1) & 0xffffff;
    if (this.refHz % 100 !== 0) v |= SYST_CALIB_SKEW;
    return v >>> 0;
  }

  private writeCsr(now: number, value: number): void {
    this.catchUp(now);
    if (!this.refPeriod) value |= SYST_CSR_CLKSOURCE;
    const old = this.control;
    const changed = (old ^ value) & (SYST_CSR_ENABLE | SYST_CSR_CLKSOURCE);
    const wasCounting = this.counting;
    if (changed && wasCounting) this.freeze(now);
    this.control = ((old & ~7) | (value & 7)) >>> 0;
    if (!changed) return;
    const enabled = (this.control & SYST_CSR_ENABLE) !== 0;
    if (!enabled) return;
    // Start on 0 → 1; after a clock-source change continue only if it was counting (QEMU keeps a
    // ptimer stopped by RVR = 0 stopped until ENABLE is rewritten).
    if ((old & SYST_CSR_ENABLE) === 0 || wasCounting) this.start(now, this.count);
  }

  private writeRvr(now: number, value: number): void {
    if (!this.counting) {
      this.reload = value;
      return;
    }
    this.catchUp(now);
    if (this.counting) {
      // Rebase on the current tick so that the new reload only applies from the next reload on.
      const k = this.tickAt(now);
      const v = this.valueAt(k);
      this.origin += k * this.period.num;
      this.c0 = BigInt(v);
      this.firedUpTo = 0n;
      this.reload = value;
      if (v === 0 && value === 0) this.stop(0);
      else this.schedule();
      return;
    }
    this.reload = value;
  }

  // ---- the counter ----

  private currentPeriod(): Period {
    return this.control & SYST_CSR_CLKSOURCE || !this.refPeriod ? this.cpuPeriod : this.refPeriod;
  }

  /** Start counting at `now` from counter value `c`. */
  private start(now: number, c: number): void {
    if (c === 0 && this.reload === 0) {
      this.stop(0);
      return;
    }
    this.period = this.currentPeriod();
    this.counting = true;
    this.origin = BigInt(now) * this.period.den;
    this.c0 = BigInt(c);
    this.firedUpTo = 0n;
    this.schedule();
  }

  private stop(value: number): void {
    this.counting = false;
    this.nextWrap = -1n;
    this.count = value;
    this.timer.cancel();
  }

  /** Stop counting at `now`, keeping the current value (ENABLE cleared, clock source changed). */
  private freeze(now: number): void {
    this.catchUp(now);
    if (this.counting) this.stop(this.valueAt(this.tickAt(now)));
  }

  private tickAt(now: number): bigint {
    const k = floorDiv(BigInt(now) * this.period.den - this.origin, this.period.num);
    return k < 0n ? 0n : k;
  }

  private valueAt(k: bigint): number {
    const c0 = this.c0;
    if (k <= c0) return Number(c0 - k);
    if (this.reload === 0) return 0;
    const p = BigInt(this.reload) + 1n;
    return this.reload - Number((k - c0 - 1n) % p);
  }

  /** The first tick index > after at which the counter decrements to 0, or -1n if none. */
  private nextWrapAfter(after: bigint): bigint {
    const c0 = this.c0;
    if (this.reload === 0) return c0 > 0n && after < c0 ? c0 : -1n;
    const p = BigInt(this.reload) + 1n;
    const m0 = c0 > 0n ? 0n : 1n;
    let m = floorDiv(after - c0, p) + 1n;
    if (m < m0) m = m0;
    return c0 + m * p;
  }

  /** Signal the wraps that happened up to `now` (COUNTFLAG, SysTick pending) and stop on RVR = 0. */
  private catchUp(now: number): void {
    if (!this.counting) return;
    if (this.nextWrap < 0n) return;
    const k = this.tickAt(now);
    if (this.nextWrap > k) return;
    if (this.slip && this.reload !== 0 && (k - this.nextWrap) * 2n > BigInt(this.reload) + 1n) {
      // Late by more than half a period: this wrap happens now (counter 0 at tick k), and the
      // next one a full period later.
      this.origin += k * this.period.num;
      this.c0 = 0n;
      this.firedUpTo = 0n;
      this.control |= SYST_CSR_COUNTFLAG;
      if (this.control & SYST_CSR_TICKINT) this.pend();
      this.schedule();
      return;
    }
    this.firedUpTo = k;
    this.control |= SYST_CSR_COUNTFLAG;
    if (this.control & SYST_CSR_TICKINT) this.pend();
    if (this.reload === 0) this.stop(0);
    else this.schedule();
  }

  private schedule(): void {
    const next = this.nextWrapAfter(this.firedUpTo);
    this.nextWrap = next;
    if (next < 0n) {
      this.timer.cancel();
      return;
    }
    const t = this.origin + next * this.period.num;
    const ns = floorDiv(t + this.period.den - 1n, this.period.den);
    this.timer.setAt(Number(ns));
  }

  private onTimer(): void {
    this.catchUp(this.clock.now());
    if (this.counting) this.schedule();
  }
}
