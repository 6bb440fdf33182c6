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
  /** A timer whose callback runs from the run loop when its deadline has passed. */
  timer(name: string, callback: () => void): ClockTimer;
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

  timer(name: string, callback: () => void): ClockTimer {
    const t = new SchedTimer(this, name, callback);
    this.timers.push(t);
    return t;
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
