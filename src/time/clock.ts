/**
 * Virtual clock and event scheduler. Devices never count cycles: they ask the clock for the
 * current virtual time and arm timers; the run loop runs the CPU up to the next deadline and
 * fires due timers between runs (never inside a device access).
 *
 * Two sources of time (chosen by the machine):
 *  - real time: virtual ns follow the host monotonic clock;
 *  - icount: virtual ns = executed instructions << shift, plus the time warped over while the
 *    guest slept in WFI with sleep=off (QEMU's -icount shift=N).
 */
export interface Clock {
  /** Current virtual time in nanoseconds since machine start (integral, < 2^53). */
  now(): number;
  /**
   * A timer whose callback runs from the run loop when its deadline has passed. `transient`: the
   * harness's own (a run's time limit), left out of snapshots; every other timer is guest state.
   */
  timer(name: string, callback: () => void, opts?: { transient?: boolean }): ClockTimer;
}

/** A scheduled event in a snapshot: which timer (its name, and which of the timers of that name, in creation order) and its due time. */
export interface TimerState {
  name: string;
  /** 0 for the first timer of that name, 1 for the second, ... */
  index: number;
  /** Virtual ns it is due at; null when not armed. */
  due: number | null;
}

export interface ClockTimer {
  readonly name: string;
  /** Absolute deadline in virtual ns; replaces any earlier arming. */
  setAt(ns: number): void;
  /** Deadline = now() + delta. */
  setIn(deltaNs: number): void;
  cancel(): void;
  readonly armed: boolean;
  readonly deadline: number;
}

/** Where `now()` comes from; the machine provides one. */
export interface TimeSource {
  now(): number;
}

export class Scheduler implements Clock {
  private readonly timers: SchedTimer[] = [];
  /** Called when a timer is armed with a deadline earlier than the current one (the CPU may be mid-run). */
  onEarlierDeadline: (ns: number) => void = () => {};

  constructor(private source: TimeSource) {}

  setSource(source: TimeSource): void {
    this.source = source;
  }

  now(): number {
    return this.source.now();
  }

  timer(name: string, callback: () => void, opts: { transient?: boolean } = {}): ClockTimer {
    const t = new SchedTimer(this, name, callback, opts.transient ?? false);
    this.timers.push(t);
    return t;
  }

  /**
   * The scheduled events, for a snapshot: every guest timer (transient ones left out) as (name,
   * index, due time). Timers are made by the devices as the machine is built, so a fresh machine
   * of the same board has the same ones, and loadTimers finds each again by its name.
   */
  saveTimers(): TimerState[] {
    return this.guestTimers().map(({ t, index }) => ({ name: t.name, index, due: t.armed ? t.deadline : null }));
  }

  /** The guest timers (transient ones left out), each with its index among the timers of its name. */
  private guestTimers(): { t: SchedTimer; index: number }[] {
    const seen = new Map<string, number>();
    const out: { t: SchedTimer; index: number }[] = [];
    for (const t of this.timers) {
      if (t.transient) continue;
      const index = seen.get(t.name) ?? 0;
      seen.set(t.name, index + 1);
      out.push({ t, index });
    }
    return out;
  }

  /** Re-arm the timers as saveTimers recorded them (the others disarmed). Throws when an armed timer of the snapshot does not exist here. */
  loadTimers(list: readonly TimerState[]): void {
    const byKey = new Map(this.guestTimers().map(({ t, index }) => [`${t.name}#${index}`, t] as const));
    for (const s of list) {
      if (s.due !== null && !byKey.has(`${s.name}#${s.index}`)) throw new Error(`the snapshot has a scheduled event '${s.name}' that this machine has no timer for`);
    }
    for (const t of byKey.values()) t.disarm();
    for (const s of list) {
      const t = byKey.get(`${s.name}#${s.index}`);
      if (t && s.due !== null) {
        t.armed = true;
        t.deadline = s.due;
      }
    }
  }

  /** Earliest armed deadline, or Infinity. */
  nextDeadline(): number {
    let best = Infinity;
    for (const t of this.timers) if (t.armed && t.deadline < best) best = t.deadline;
    return best;
  }

  /** Fire every timer due at `now` (in deadline order; a callback may re-arm). Returns how many fired. */
  runDue(now = this.now()): number {
    let fired = 0;
    for (;;) {
      let due: SchedTimer | undefined;
      for (const t of this.timers) {
        if (t.armed && t.deadline <= now && (!due || t.deadline < due.deadline)) due = t;
      }
      if (!due) return fired;
      due.disarm();
      fired++;
      due.callback();
      if (fired > 100_000) throw new Error(`scheduler: timer storm (${due.name} re-arms in the past)`);
    }
  }

  /** @internal */
  armed(t: SchedTimer, previous: number): void {
    if (t.deadline < previous) this.onEarlierDeadline(t.deadline);
  }
}

class SchedTimer implements ClockTimer {
  armed = false;
  deadline = Infinity;
  constructor(
    private readonly sched: Scheduler,
    readonly name: string,
    readonly callback: () => void,
    readonly transient: boolean,
  ) {}
  setAt(ns: number): void {
    const previous = this.sched.nextDeadline();
    this.deadline = Math.max(0, Math.floor(ns));
    this.armed = true;
    this.sched.armed(this, previous);
  }
  setIn(deltaNs: number): void {
    this.setAt(this.sched.now() + Math.max(0, deltaNs));
  }
  cancel(): void {
    this.disarm();
  }
  disarm(): void {
    this.armed = false;
    this.deadline = Infinity;
  }
}

/** A source that returns a settable value: for unit tests of devices. */
export class ManualTime implements TimeSource {
  ns = 0;
  now(): number {
    return this.ns;
  }
}
