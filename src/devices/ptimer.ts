/**
 * A down-counter on the virtual clock that behaves like QEMU 7.2's ptimer (hw/core/ptimer.c) with the
 * policy set every CMSDK timer uses: WRAP_AFTER_ONE_PERIOD | TRIGGER_ONLY_ON_DECREMENT |
 * NO_IMMEDIATE_RELOAD | NO_COUNTER_ROUND_DOWN. The CMSDK APB timer, dual timer and watchdog sit on it,
 * so that what the guest reads (VALUE) and when it is interrupted match qemu-system-arm exactly in
 * icount mode: the same state (delta, limit, last/next event), the same reload arithmetic, the same
 * transactions.
 *
 * In short: the counter loads `limit` and counts down once per period; the tick that takes it to 0
 * calls `onExpire` (not a load or a start at 0); a periodic timer then stays at 0 for one period and
 * reloads (a period is limit + 1 ticks); a one-shot timer stops at 0. No per-tick events: one clock
 * timer is armed at the next expiry.
 *
 * Calls that change state (setCount, setLimit, run, stop, setPeriod) must sit between begin() and
 * commit(), as in QEMU; commit() restarts the countdown from "now" when needed. `onExpire` runs inside
 * the transaction of the expiry and may call those functions without begin/commit of its own.
 *
 * Left out: QEMU's real-time-only rate limit (a periodic ptimer never fires more often than every
 * 10 µs without -icount) and its stderr messages ("Timer with delta zero, disabling"). Added: an
 * expiry noticed very late (a loaded host in real-time mode) counts once (see tick()).
 */
import type { Clock, ClockTimer } from '../time/clock.js';
import { captureState, restoreState, type DeviceState } from './state.js';

const DELTA_ADJUST = 1;
/** See tick(): lateness below this is normal jitter and is caught up exactly, as QEMU does. */
const LATE_SLIP_NS = 200_000;
const DELTA_NO_ADJUST = -1;

export class Ptimer {
  /** 0 disabled, 1 periodic, 2 one-shot (QEMU's encoding). */
  private enabled: 0 | 1 | 2 = 0;
  private limit = 0;
  private delta = 0;
  /** Period: `period` whole ns plus `periodFrac` / 2^32 ns. */
  private period = 0;
  private periodFrac = 0;
  private lastEvent = 0;
  private nextEvent = 0;
  private inTransaction = false;
  private needReload = false;
  private readonly timer: ClockTimer;

  constructor(
    private readonly clock: Clock,
    name: string,
    private readonly onExpire: () => void,
  ) {
    this.timer = clock.timer(name, () => this.tick());
  }

  /** Snapshot state (src/devices/state.ts). */
  saveState(): DeviceState {
    return captureState(this);
  }
  loadState(s: DeviceState): void {
    restoreState(this, s, 'ptimer');
  }

  get running(): boolean {
    return this.enabled !== 0;
  }

  get oneShot(): boolean {
    return this.enabled === 2;
  }

  /** Virtual time of the next expiry, or Infinity (tests, diagnostics). */
  get nextExpiryNs(): number {
    return this.timer.armed ? this.timer.deadline : Infinity;
  }

  begin(): void {
    if (this.inTransaction) throw new Error('ptimer: nested transaction');
    this.inTransaction = true;
    this.needReload = false;
  }

  commit(): void {
    this.assertTx();
    while (this.needReload && this.enabled) {
      this.needReload = false;
      this.nextEvent = this.clock.now();
      this.reload(0);
    }
    this.inTransaction = false;
  }

  /** Period from a clock of `hz` Hz divided by `divisor` (ptimer_set_period_from_clock). */
  setPeriodFromHz(hz: number, divisor = 1): void {
    // QEMU's Clock holds the period in 2^-32 ns units: (10^9 << 32) / hz, truncated.
    this.setPeriodRaw(((1_000_000_000n << 32n) / BigInt(hz)) * BigInt(divisor));
  }

  /** Period from a clock given by its period in ns (QEMU's clock_set_ns; 2^-32 ns resolution). */
  setPeriodFromNs(ns: number, divisor = 1): void {
    this.setPeriodRaw(BigInt(Math.round(ns * 2 ** 32)) * BigInt(divisor));
  }

  private setPeriodRaw(raw: bigint): void {
    this.assertTx();
    this.delta = this.count();
    this.period = Number(raw >> 32n);
    this.periodFrac = Number(raw & 0xffffffffn);
    if (this.enabled) this.needReload = true;
  }

  getLimit(): number {
    return this.limit;
  }

  /** ptimer_set_limit: the new limit; with `reload` the count too (and a running timer restarts from it). */
  setLimit(limit: number, reload: boolean): void {
    this.assertTx();
    this.limit = limit;
    if (reload) this.delta = limit;
    if (this.enabled && reload) this.needReload = true;
  }

  /** ptimer_set_count */
  setCount(count: number): void {
    this.assertTx();
    this.delta = count;
    if (this.enabled) this.needReload = true;
  }

  /** ptimer_run: start (or switch a running timer between periodic and one-shot). */
  run(oneShot: boolean): void {
    this.assertTx();
    const wasDisabled = !this.enabled;
    if (wasDisabled && this.period === 0) return;
    this.enabled = oneShot ? 2 : 1;
    if (wasDisabled) this.needReload = true;
  }

  /** ptimer_stop: freeze the count. */
  stop(): void {
    this.assertTx();
    if (!this.enabled) return;
    this.delta = this.count();
    this.timer.cancel();
    this.enabled = 0;
    this.needReload = false;
  }

  /** ptimer_get_count: the counter value now. */
  count(): number {
    if (!this.enabled || this.delta === 0) return this.delta;
    const now = this.clock.now();
    const next = this.nextEvent;
    const last = this.lastEvent;
    const oneShot = this.enabled === 2;
    let counter: number;
    if (now - next >= 0) {
      counter = 0; // should have expired already: never underflow
    } else {
      counter = this.ticksIn(next - now);
      // WRAP_AFTER_ONE_PERIOD: a periodic counter holds 0 for one period before it reloads, which
      // shows as the count being one above the limit.
      if (!oneShot && this.delta === this.limit) {
        if (now === last) {
          if (counter === this.limit + DELTA_ADJUST) return 0;
        } else if (counter === this.limit) {
          return 0;
        }
      }
    }
    // NO_COUNTER_ROUND_DOWN: within a period the counter shows the value it is counting down from.
    if (now !== last) counter += 1;
    return counter;
  }

  /** Whole periods in `ns`, rounded down, by QEMU's scaled 64-bit division. */
  private ticksIn(ns: number): number {
    if (this.periodFrac === 0) return Math.floor(ns / this.period);
    let rem = BigInt(ns);
    let div = BigInt(this.period);
    const frac = BigInt(this.periodFrac);
    const shift = Math.min(clz64(rem), clz64(div));
    const mask64 = (1n << 64n) - 1n;
    rem = (rem << BigInt(shift)) & mask64;
    div = (div << BigInt(shift)) & mask64;
    if (shift >= 32) {
      div |= (frac << BigInt(shift - 32)) & mask64;
    } else {
      if (shift !== 0) div |= frac >> BigInt(32 - shift);
      if (((frac << BigInt(shift)) & 0xffffffffn) !== 0n) div += 1n;
    }
    return Number(rem / div);
  }

  private assertTx(): void {
    if (!this.inTransaction) throw new Error('ptimer: state change outside a transaction');
  }

  private reload(deltaAdjust: number): void {
    // TRIGGER_ONLY_ON_DECREMENT: a start or count write at 0 (deltaAdjust 0) does not trigger.
    const suppressTrigger = deltaAdjust === 0;
    if (this.delta === 0 && !suppressTrigger) this.onExpire();
    // onExpire may have changed anything: read the state only now.
    let delta = this.delta;
    const period = this.period;
    const periodFrac = this.periodFrac;
    if (period === 0) {
      this.timer.cancel();
      this.enabled = 0;
      return;
    }
    if (deltaAdjust !== DELTA_NO_ADJUST) delta += deltaAdjust; // WRAP_AFTER_ONE_PERIOD
    // NO_IMMEDIATE_RELOAD: a periodic timer at 0 reloads one period later.
    if (delta === 0 && this.enabled === 1 && this.limit !== 0) delta = 1;
    if (delta === 0) {
      if (this.enabled === 0) return; // onExpire disabled it already
      this.timer.cancel();
      this.enabled = 0;
      return;
    }
    this.lastEvent = this.nextEvent;
    let next = this.lastEvent + delta * period;
    if (periodFrac) next += Number((BigInt(periodFrac) * BigInt(delta)) >> 32n);
    this.nextEvent = next;
    this.timer.setAt(next);
  }

  private tick(): void {
    // Noticed late by more than half the countdown (and more than LATE_SLIP_NS: never in icount mode,
    // where timers fire at their instruction): count this expiry once, now, and the next a full
    // period later, instead of firing the missed ones back to back. QEMU's timers fire on time on an
    // idle host; cmemu's run loop can be late by milliseconds on a loaded one, and a watchdog would
    // take two back-to-back expiries for a reset.
    const late = this.clock.now() - this.nextEvent;
    if (late > LATE_SLIP_NS && late * 2 > (this.limit + 1) * this.period) this.nextEvent += late;
    this.begin();
    let trigger = true;
    if (this.enabled === 2) {
      this.delta = 0;
      this.enabled = 0;
    } else if (this.enabled === 1) {
      // delta 0: this is the deferred reload of NO_IMMEDIATE_RELOAD, not an expiry.
      const adjust = this.delta === 0 || this.limit === 0 ? DELTA_NO_ADJUST : DELTA_ADJUST;
      trigger = adjust === DELTA_ADJUST;
      this.delta = this.limit;
      this.reload(adjust);
    } else {
      trigger = false;
    }
    if (trigger) this.onExpire();
    this.commit();
  }
}

function clz64(v: bigint): number {
  if (v === 0n) return 64;
  return 64 - v.toString(2).length;
}
