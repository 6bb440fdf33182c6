/**
 * A machine: one board, one CPU, the System Control Space, the devices, the clock, and the run loop.
 *
 * The run loop (run()):  fire due timers → take external events → take pending exceptions (or sleep)
 * → run the CPU natively up to the next deadline → handle exactly the stop reason → repeat.
 * JavaScript runs only at device accesses and at stops; guest code runs inside Unicorn.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { type NativeAddon, type NativeCpu, Access, loadNative, Reg, Stop } from '../native/cpu.js';
import { type CoreState, Cpu, XPSR_T } from '../cpu/cpu.js';
import { ExceptionModel, type ExceptionModelState, Lockup } from '../cpu/exceptions.js';
import { captureState, restoreState, StateError, type DeviceState } from '../devices/state.js';
import type { TimerState } from '../time/clock.js';
import { CFSR, EXC_HARDFAULT, EXC_NMI } from '../cpu/exception-controller.js';
import { coprocessorFault, interruptAction } from '../cpu/unicorn-exceptions.js';
import type { IrqLine, Logger } from '../devices/device.js';
import { SILENT } from '../devices/device.js';
import { AddressMap } from './address-map.js';
import { Scheduler } from '../time/clock.js';
import { IcountTime, RealTime, type IcountOptions } from '../time/sources.js';
import type { BoardContext, BoardDef } from './board.js';
import { BitBand, type BusAccess } from '../devices/bitband.js';
import type { SerialPort } from '../devices/cmsdk-uart.js';
import { createScs, type ScsParts } from './scs-wiring.js';

export type { IcountOptions };

export interface MachineOptions {
  board: BoardDef;
  /** null = real-time clock. */
  icount?: IcountOptions | null;
  logger?: Logger;
  /** Output byte sinks for serial ports 0..n (null = not connected). */
  serials?: (SerialPort | null)[];
  /** AIRCR.SYSRESETREQ (and lockup) exits instead of resetting, as QEMU's -no-reboot. */
  noReboot?: boolean;
}

export type Outcome =
  | { kind: 'exit'; code: number; reason: string }
  | { kind: 'lockup'; message: string }
  | { kind: 'error'; message: string }
  | { kind: 'stopped'; reason: string }
  /** pause() took effect: the machine is intact and run() carries on from here. */
  | { kind: 'paused'; reason: string };

/** A terminal outcome: the machine will not run again (run() returns it at once). */
export type FinalOutcome = Exclude<Outcome, { kind: 'paused' }>;

/** Something the run loop calls at a BKPT 0xAB when semihosting is on. */
export interface SemihostingHandler {
  handle(): void;
}

const SLICE_INSNS = 4_000_000;
const SLICE_NS = 20_000_000;
const YIELD_EVERY_NS = 10_000_000;
const FORCED_TURN_NS = 50_000_000;

export class Machine {
  readonly board: BoardDef;
  readonly addon: NativeAddon;
  readonly native: NativeCpu;
  readonly cpu: Cpu;
  readonly exceptions: ExceptionModel;
  readonly scs: ScsParts;
  readonly map: AddressMap;
  readonly sched: Scheduler;
  readonly log: Logger;
  readonly devices = new Map<string, import('../devices/device.js').MmioDevice>();
  private readonly ram = new Map<string, ArrayBuffer>();
  private readonly serialInput = new Map<number, (data: Uint8Array) => void>();
  semihosting: SemihostingHandler | null = null;

  private readonly icount: IcountOptions | null;
  /** Where virtual time comes from: exactly one of the two is set. */
  private readonly icountTime: IcountTime | null;
  private readonly realTime: RealTime | null;
  /** Host time when the CPU last stopped running or the last idle wait ended. */
  private progressNs = 0;
  private running = false;
  private sleeping: 'wfi' | 'wfe' | null = null;
  private outcome: FinalOutcome | null = null;
  /** pause() was called: run() returns 'paused' at the next stop, the machine stays intact. */
  private pauseReason: string | null = null;
  /** The core has been reset and run (run() resumes from here, it does not reset again). */
  private started = false;
  /** Absolute instruction count at which run() pauses (pauseAtInstruction), or Infinity. */
  private insnTarget = Infinity;
  private resetRequested = false;
  /** HardFault or NMI active, as last told to the native MPU check. */
  private hfNmiActive = false;
  /** What the native mask watch was last set to (priority, PRIGROUP mask); NaN: not set. */
  private readonly maskWatch = [NaN, NaN];
  /** kick() was called (from an event-loop turn) since the current idle wait began. */
  private kicked = false;
  private readonly noReboot: boolean;
  /** Watched fds: token → handler (addEventSource). */
  private readonly eventHandlers = new Map<number, () => void>();
  private nextEventToken = 1;
  /** Called during every system reset, before the core reads its vector table (e.g. to reload the images, as QEMU's ROM blobs). */
  onReset: () => void = () => {};
  /** Called after every core reset (e.g. -device loader,addr=A,cpu-num=0 sets the PC). */
  afterReset: () => void = () => {};

  constructor(opts: MachineOptions) {
    this.board = opts.board;
    this.log = opts.logger ?? SILENT;
    this.icount = opts.icount ?? null;
    this.noReboot = opts.noReboot ?? false;
    this.addon = loadNative();
    this.native = new this.addon.NativeCpu();
    this.cpu = new Cpu(this.native);
    this.native.setReturnCallback(this.inlineReturn);
    this.icountTime = this.icount ? new IcountTime(this.icount, () => this.cpu.icount()) : null;
    this.realTime = this.icount ? null : new RealTime(() => this.addon.monotonicNs(), () => this.native.stolenNs());
    // The clock stands still until the first run (a debugger may hold the machine before it starts).
    this.realTime?.hold();
    this.sched = new Scheduler((this.icountTime ?? this.realTime)!);
    this.sched.onEarlierDeadline = () => {
      this.deadlineMoved = true;
      this.kick();
    };
    this.map = new AddressMap(this.log);

    this.scs = createScs({
      board: this.board,
      clock: this.sched,
      log: this.log,
      ipsr: () => this.cpu.ipsr(),
      onChange: () => this.kick(),
      onSystemReset: () => {
        this.resetRequested = true;
        this.kick();
      },
      onCcrChange: (ccr) => this.applyCcr(ccr),
      realTime: this.icount === null,
    });
    this.exceptions = new ExceptionModel(this.cpu, this.scs.nvic, this.log, this.scs.mpu);
    // MPU enforcement is native (the TLB-fill hook): every register change goes there at once.
    const mpu = this.scs.mpu;
    const { rbar, rasr } = mpu.raw();
    const pushMpu = (this.pushMpu = () => this.native.setMpu(mpu.ctrl, rbar, rasr));
    const prevOnChange = mpu.onChange;
    mpu.onChange = () => {
      prevOnChange();
      pushMpu();
    };
    pushMpu();

    this.buildMemory();
    // Bit-band and tools reach the bus through the address map (valid once committed, before any access).
    const bus: BusAccess = { read: (a, size) => this.map.busRead(a, size), write: (a, size, v) => this.map.busWrite(a, size, v) };
    const serials = opts.serials ?? [];
    const ctx: BoardContext = {
      irq: (n) => this.scs.nvic.line(n),
      nmi: { set: (l) => l && this.scs.nvic.setPending(EXC_NMI), pulse: () => this.scs.nvic.setPending(EXC_NMI) },
      clock: this.sched,
      log: this.log,
      serial: (i) => serials[i] ?? null,
      onSerialInput: (i, receive) => this.serialInput.set(i, receive),
      bus,
      // lm3s6965evb (boards team): the system control block drives SysTick's clock from RCC/RCC2.
      setCpuClockPeriodNs: (ns) => this.scs.systick.setCpuPeriodNs(ns),
      // mps2-an385's watchdog reset output (same path as AIRCR.SYSRESETREQ).
      systemReset: () => {
        this.resetRequested = true;
        this.kick();
      },
    };
    this.map.addDevice('scs', 0xe000e000, this.scs.device);
    this.devices.set('scs', this.scs.device);
    if (this.board.bitband) {
      this.map.addDevice('bitband 0x22000000', 0x22000000, new BitBand('bitband-sram', 0x20000000, bus));
      this.map.addDevice('bitband 0x42000000', 0x42000000, new BitBand('bitband-periph', 0x40000000, bus));
    }
    const parts = (this.parts = this.board.setup?.(ctx));
    for (const d of this.board.devices) {
      const dev = d.create(ctx, parts);
      this.devices.set(d.name, dev);
      this.map.addDevice(d.name, d.base, dev);
    }
    this.native.setMmioHandlers(
      (region, offset, size) => this.map.read(region, offset, size),
      (region, offset, size, value) => this.map.write(region, offset, size, value),
    );
    this.native.setEventCallback(() => this.kick());
  }

  /** CCR bits the native engine enforces (DIV_0_TRP, UNALIGN_TRP, USERSETMPEND). */
  private applyCcr(ccr: number): void {
    this.native.setDivideTrap((ccr & (1 << 4)) !== 0);
    this.native.setUnalignedTrap((ccr & (1 << 3)) !== 0);
    this.native.setUserSetMPend((ccr & (1 << 1)) !== 0);
  }
  private pushMpu: () => void = () => {};
  /** What the board's setup step made (shared gates, a control block): part of the machine's state. */
  private parts: unknown;

  /** Add a device after construction (e.g. -device ivshmem-flat); call before anything is loaded or run. */
  addDevice(name: string, base: number, dev: import('../devices/device.js').MmioDevice): void {
    if (this.committed) throw new Error(`machine: device ${name} added after the memory map was committed`);
    this.devices.set(name, dev);
    this.map.addDevice(name, base, dev);
  }

  /**
   * Map host memory the machine does not own (e.g. an mmapped shared-memory region) into the guest,
   * zero copy: guest loads and stores go straight to `buffer`. Before anything is loaded or run.
   */
  addHostMemory(name: string, base: number, buffer: ArrayBuffer, size = buffer.byteLength, writable = true): void {
    if (this.committed) throw new Error(`machine: memory ${name} added after the memory map was committed`);
    this.map.addRam(name, base, buffer, { size, writable });
  }

  /**
   * Watch host fds (eventfds) with the native watcher thread. When one becomes readable it is
   * drained, a running CPU stops (Stop.External), a sleeping one wakes (native sleep or event
   * loop), and `handler(i)` (i = the fd's index in `fds`) runs on the JS thread at the top of the
   * run loop, before pending exceptions are taken: a device raising an IRQ there is seen at once.
   * Returns a function that stops watching (call it before the fds are closed).
   */
  addEventSource(fds: readonly number[], handler: (index: number) => void): () => void {
    const watched = fds.map((fd, i) => {
      const token = this.nextEventToken++;
      this.eventHandlers.set(token, () => handler(i));
      this.native.watchFd(fd, token);
      return { fd, token };
    });
    return () => {
      for (const w of watched.splice(0)) {
        this.native.unwatchFd(w.fd);
        this.eventHandlers.delete(w.token);
      }
    };
  }

  /** Route fired watched fds to their handlers. */
  private takeExternalEvents(): void {
    if (this.eventHandlers.size === 0) return;
    for (const token of this.native.takeEvents()) this.eventHandlers.get(token)?.();
  }

  private buildMemory(): void {
    for (const m of this.board.memory) {
      const buf = this.addon.allocHostMemory(m.size);
      this.ram.set(m.name, buf);
      this.map.addRam(m.name, m.base, buf, { size: m.size, writable: !m.readOnly });
      for (const a of m.aliases ?? []) this.map.addRam(`${m.name} (mirror)`, a, buf, { size: m.size, writable: !m.readOnly });
    }
    for (const u of this.board.unimplemented) this.map.addUnimplemented(u.name, u.base, u.size);
  }

  /** Map memory and devices into the CPU. Call once, after loading nothing yet. */
  private committed = false;
  commit(): void {
    if (this.committed) return;
    this.map.commit(this.native);
    this.committed = true;
  }

  /** Write bytes into guest memory (RAM or flash, ignoring read-only: this is the loader). */
  load(addr: number, data: Uint8Array): void {
    this.commit();
    const end = addr + data.length;
    for (let a = addr; a < end; ) {
      const r = this.map.regionAt(a);
      if (!r || r.kind !== 'ram') {
        throw new LoadError(`image data at 0x${(a >>> 0).toString(16)} is outside any memory of ${this.board.name}`);
      }
      const chunkEnd = Math.min(end, r.base + r.size);
      new Uint8Array(r.buffer, r.offset + (a - r.base), chunkEnd - a).set(data.subarray(a - addr, chunkEnd - addr));
      a = chunkEnd;
    }
  }

  /** Feed input bytes to serial port i (from a chardev or a test). */
  serialReceive(i: number, data: Uint8Array): void {
    this.serialInput.get(i)?.(data);
    this.kick();
  }

  now(): number {
    return this.sched.now();
  }

  /** Something changed outside the CPU (IRQ, timer armed, input, reset request): re-evaluate soon. */
  kick(): void {
    if (this.running) this.native.requestStop();
    this.kicked = true;
  }

  /** Stop the run loop from outside, for good (tests, Ctrl-a x, signals): run() returns an 'exit' outcome. */
  stop(reason: string, code = 0): void {
    if (!this.outcome) this.outcome = { kind: 'exit', code, reason };
    this.kick();
  }

  /**
   * Make run() return { kind: 'paused', reason } at the next stop (from a device access, a timer or
   * an event handler: within the current translated block), leaving the machine as it is: the next
   * run() carries on from the same instruction. No effect once the machine has finished.
   */
  pause(reason: string): void {
    if (this.pauseReason === null) this.pauseReason = reason;
    this.kick();
  }

  /** Pause when the executed-instruction count reaches `count` (absolute, see instructions()); Infinity: never. */
  pauseAtInstruction(count: number): void {
    this.insnTarget = count;
  }

  /** Stop before executing an instruction at any of these addresses (run() pauses; see breakpointHit). Replaces the set. */
  setBreakpoints(addresses: readonly number[]): void {
    this.commit();
    this.native.setBreakpoints(addresses.map((a) => (a & ~1) >>> 0));
    this.breakpointCount = addresses.length;
  }
  private breakpointCount = 0;
  /** The scheduler's next deadline moved earlier (since inlineReturn cleared it). */
  private deadlineMoved = false;
  private watchpointCount = 0;
  private get debugPoints(): boolean {
    return this.breakpointCount + this.watchpointCount > 0;
  }

  /** The breakpoint address the last pause stopped at, or null. Cleared when run() starts. */
  breakpointHit: number | null = null;

  /**
   * Single-step mode (debuggers): run() executes one instruction and pauses ('step'). Taking or
   * returning from an exception counts as the step: a step that enters a handler (a pending
   * interrupt, a fault, SVC) stops at the handler's first instruction, not yet executed.
   */
  setStepping(on: boolean): void {
    if (on === this.stepping) return;
    this.commit();
    this.stepping = on;
    this.native.setStepMode(on);
  }
  private stepping = false;
  /** The step completed by the last pause ('step'), or false. */
  stepDone = false;

  /** Replace the watchpoints (kind: 'write', 'read' or 'access'); run() pauses after a watched access. */
  setWatchpoints(list: readonly { address: number; length: number; kind: 'write' | 'read' | 'access' }[]): void {
    this.commit();
    this.native.setWatchpoints(list.map((w) => ({ address: w.address >>> 0, length: w.length, kind: w.kind === 'write' ? 1 : w.kind === 'read' ? 2 : 3 })));
    this.watchpointCount = list.length;
  }
  /** The watchpoint access the last pause stopped after, or null. Cleared when run() starts. */
  watchHit: { address: number; write: boolean; pc: number } | null = null;

  /** Deterministic virtual time (-icount) rather than the host clock. */
  get icountMode(): boolean {
    return this.icount !== null;
  }

  /** A system reset at the top of the run loop (as AIRCR.SYSRESETREQ; -no-reboot exits instead). */
  requestReset(): void {
    this.resetRequested = true;
    this.kick();
  }

  /**
   * Instructions executed since the machine was made: exact in icount mode; in real-time mode
   * only the runs toward an instruction target (runFor/runUntil `instructions`) count (real-time
   * runs pay nothing per block, see docs/unicorn.md).
   */
  instructions(): number {
    return this.cpu.icount();
  }

  /** The terminal outcome once the machine has exited, locked up or failed; null while it can run. */
  get finished(): FinalOutcome | null {
    return this.outcome;
  }

  /** Called at the top of every run-loop iteration (after timers and events): for conditions checked between stops. */
  onIteration: (() => void) | null = null;

  /** Reset everything: devices, SCS, core (SP/PC from the vector table). */
  reset(): void {
    for (const d of this.devices.values()) d.reset();
    this.onReset();
    this.exceptions.reset();
    this.afterReset();
    this.sleeping = null;
  }

  /**
   * Commit the memory map and reset the core from the vector table, once (run() does it if nobody
   * did): after this the registers are the reset state. A lockup at reset is the machine's outcome.
   */
  powerOn(): void {
    this.commit();
    if (this.started || this.outcome) return;
    this.started = true;
    try {
      this.reset();
    } catch (e) {
      if (e instanceof Lockup) this.outcome = { kind: 'lockup', message: e.message };
      else throw e;
    }
  }

  /**
   * Run until the guest exits, locks up, stop() is called (a final outcome), or pause() is called
   * (then the next run() carries on). The first run() resets the core from the vector table.
   */
  async run(): Promise<Outcome> {
    this.powerOn();
    if (this.outcome) return this.outcome;
    this.breakpointHit = null;
    this.watchHit = null;
    this.stepDone = false;
    // Time spent paused (a debugger halt, the host between two runs) is not guest time.
    this.realTime?.release();
    try {
      return await this.runLoop();
    } finally {
      this.realTime?.hold();
    }
  }

  /**
   * A watchpoint stopped the last run with its instruction half done (the access made, PC at it):
   * the next run first completes that instruction with the watchpoints suppressed, so that it
   * neither fires again nor lets an interrupt in between. Returns whether it ran.
   */
  private completeWatched(): boolean {
    const pc = this.watchResume;
    this.watchResume = null;
    if (pc === null || (this.cpu.pc & ~1) !== pc || this.outcome) return false;
    this.native.setStepMode(true, true);
    let s: Stop;
    try {
      this.running = true;
      this.cpu.engineRunning(true);
      s = this.native.run(Number.MAX_SAFE_INTEGER, 0);
    } finally {
      this.running = false;
      this.cpu.engineRunning(false);
      this.native.setStepMode(this.stepping, false);
    }
    if (s !== Stop.Step) this.handleStop(s);
    return true;
  }
  private watchResume: number | null = null;
  private stepRan = false;

  private async runLoop(): Promise<Outcome> {
    try {
      // The completion of a half-done watched instruction is the step, when stepping.
      if (this.completeWatched() && this.stepping) {
        this.stepDone = true;
        this.pause('step');
      }
      // A step is done once an instruction ran (Stop.Step; real-time runs count no instructions,
      // so the count alone cannot tell), PC moved (WFI), or an exception was entered or returned from.
      this.stepRan = false;
      const stepMark = this.stepping ? { icount: this.cpu.icount(), pc: this.cpu.pc, entries: this.exceptions.entries, returns: this.exceptions.returns } : null;
      const stepped = () =>
        stepMark !== null &&
        (this.stepRan || this.cpu.icount() !== stepMark.icount || this.cpu.pc !== stepMark.pc || this.exceptions.entries !== stepMark.entries || this.exceptions.returns !== stepMark.returns);
      // lastYield: the event loop last had a turn, or was seen idle by a native idle wait (which
      // watches its fds and timers); lastTurn: it really ran (forced every FORCED_TURN_NS, for
      // watchers it registers with its epoll only when it polls).
      let lastYield = this.addon.monotonicNs();
      let lastTurn = lastYield;
      while (!this.outcome && this.pauseReason === null) {
        // Give the event loop a turn now and then (signals, sockets, stdin), whatever the guest does.
        const t = this.addon.monotonicNs();
        if (t - lastYield > YIELD_EVERY_NS || t - lastTurn > FORCED_TURN_NS) {
          await yieldToEventLoop();
          lastYield = lastTurn = this.addon.monotonicNs();
          if (this.outcome || this.pauseReason !== null) break;
        }
        this.sched.runDue();
        this.takeExternalEvents();
        this.onIteration?.();
        if (this.insnTarget !== Infinity && this.cpu.icount() >= this.insnTarget) this.pause('instruction count reached');
        if (this.outcome || this.pauseReason !== null) break;
        if (this.resetRequested) {
          this.resetRequested = false;
          if (this.noReboot) {
            this.outcome = { kind: 'exit', code: 0, reason: 'system reset requested (-no-reboot)' };
            break;
          }
          this.reset();
          continue;
        }
        if (this.sleeping) {
          if (this.exceptions.wakeupPending() || (this.sleeping === 'wfe' && this.exceptions.eventRegister)) {
            if (this.sleeping === 'wfe') this.exceptions.eventRegister = false;
            this.sleeping = null;
          } else {
            const waited = await this.idle();
            if (waited !== 'none') lastYield = this.addon.monotonicNs();
            if (waited === 'turn') lastTurn = lastYield;
            this.progressNs = this.addon.monotonicNs();
            continue;
          }
        }
        let taken = 0;
        while (this.exceptions.takePending()) {
          if (++taken > 1000) throw new Error('exception storm: more than 1000 nested entries without running an instruction');
        }
        if (stepped()) {
          this.stepDone = true;
          this.pause('step');
          break;
        }
        this.exceptions.raiseDeferredInvState();
        if (this.exceptions.sleepOnExit) {
          this.exceptions.sleepOnExit = false;
          this.sleeping = 'wfi';
          continue;
        }
        this.syncNativeWatches();

        const deadline = this.sched.nextDeadline();
        let limit: number;
        let hostDeadline: number;
        const nowHost = this.addon.monotonicNs();
        if (this.icount) {
          const ic = this.cpu.icount();
          limit = ic + SLICE_INSNS;
          if (deadline !== Infinity) limit = Math.min(limit, Math.max(ic + 1, this.icountTime!.instructionsAt(deadline)));
          hostDeadline = 0;
        } else {
          limit = Number.MAX_SAFE_INTEGER;
          hostDeadline = nowHost + SLICE_NS;
          if (deadline !== Infinity) hostDeadline = Math.min(hostDeadline, this.realTime!.hostTimeAt(deadline));
        }
        if (this.insnTarget !== Infinity) limit = Math.min(limit, Math.max(this.cpu.icount() + 1, this.insnTarget));
        if (this.realTime) this.realTime.compensateStall(this.progressNs);
        this.running = true;
        this.cpu.engineRunning(true);
        let stop: Stop;
        try {
          stop = this.native.run(limit, hostDeadline);
        } finally {
          this.running = false;
          this.cpu.engineRunning(false);
          this.progressNs = this.addon.monotonicNs();
        }
        this.handleStop(stop);
        if (stepped() && this.pauseReason === null) {
          this.stepDone = true;
          this.pause('step');
        }
      }
    } catch (e) {
      if (e instanceof Lockup) {
        this.outcome = { kind: 'lockup', message: e.message };
      } else if (e instanceof GuestExit) {
        this.outcome = { kind: 'exit', code: e.code, reason: e.message };
      } else {
        throw e;
      }
    }
    if (this.outcome) return this.outcome;
    const reason = this.pauseReason ?? 'paused';
    this.pauseReason = null;
    return { kind: 'paused', reason };
  }

  /** Before a run: what the native side watches for the exception model (the masks, HardFault/NMI active). */
  private syncNativeWatches(): void {
    const maskPrio = this.exceptions.maskedPendingPriority();
    const groupMask = this.scs.nvic.groupMask();
    if (maskPrio !== this.maskWatch[0] || groupMask !== this.maskWatch[1]) {
      // The native watch is state only this call changes: sent when it changes.
      this.maskWatch[0] = maskPrio;
      this.maskWatch[1] = groupMask;
      this.native.setMaskWatch(maskPrio, groupMask);
    }
    const hfNmi = this.scs.nvic.isActive(EXC_HARDFAULT) || this.scs.nvic.isActive(EXC_NMI);
    if (hfNmi !== this.hfNmiActive) {
      this.hfNmiActive = hfNmi;
      this.native.setHfNmiActive(hfNmi);
    }
  }

  /**
   * An exception return offered by the native run (setReturnCallback), the engine stopped at it:
   * done here, with what the run loop would do before the next run (take what is now takeable,
   * the iteration hook, the native watches), and the run carries on (1). Stops the run (2) when
   * the loop has more to do: sleep-on-exit, a return to T = 0, a pause, an outcome, a reset.
   * Declined (0: an ordinary stop) while single-stepping or with breakpoints or watchpoints set.
   */
  private readonly inlineReturn = (pc: number): number => {
    if (this.stepping || this.debugPoints || this.pauseReason !== null || this.outcome || this.resetRequested) return 0;
    this.cpu.engineRunning(false);
    // The engine is stopped: what changes here is handled here (kick() asks no stop), except an
    // earlier timer deadline than the run's limit or host deadline, which ends the run.
    this.running = false;
    this.deadlineMoved = false;
    try {
      this.exceptions.exceptionReturn(pc | 1);
      if (this.exceptions.sleepOnExit || this.exceptions.invStateDeferred) return 2;
      let taken = 0;
      while (this.exceptions.takePending()) {
        if (++taken > 1000) throw new Error('exception storm: more than 1000 nested entries without running an instruction');
      }
      this.onIteration?.();
      if (this.pauseReason !== null || this.outcome || this.resetRequested || this.deadlineMoved) return 2;
      this.syncNativeWatches();
      return 1;
    } finally {
      this.running = true;
      this.cpu.engineRunning(true);
    }
  };

  /** The guest asked to leave (semihosting SYS_EXIT): unwinds from inside a handler. */
  exit(code: number, reason: string): never {
    throw new GuestExit(code, reason);
  }

  private handleStop(stop: Stop): void {
    switch (stop) {
      case Stop.Limit:
      case Stop.Requested:
      case Stop.HostDeadline:
      case Stop.External:
        return;
      case Stop.Interrupt:
        this.handleInterrupt(this.native.stopIntno());
        return;
      case Stop.Wfi:
        this.sleeping = 'wfi';
        return;
      case Stop.Wfe:
        if (this.exceptions.eventRegister) this.exceptions.eventRegister = false;
        else this.sleeping = 'wfe';
        return;
      case Stop.InvalidInsn: {
        const pc = this.cpu.pc & ~1;
        const xpsr = this.cpu.reg(Reg.XPSR);
        if (!(xpsr & XPSR_T)) {
          this.exceptions.raiseFault('usagefault', { cfsr: CFSR.INVSTATE, what: 'execution in ARM state (T bit clear)' }, pc);
          return;
        }
        let h = 0;
        try {
          h = this.cpu.read16(pc);
        } catch {
          /* fetch of the instruction failed: report as undefined */
        }
        // Coprocessor instructions (no coprocessor on a Cortex-M3): NOCP (src/cpu/unicorn-exceptions.ts).
        const isCoproc = coprocessorFault(h) === 'nocp';
        this.exceptions.raiseFault(
          'usagefault',
          isCoproc ? { cfsr: CFSR.NOCP, what: `coprocessor instruction 0x${h.toString(16)}` } : { cfsr: CFSR.UNDEFINSTR, what: `undefined instruction 0x${h.toString(16)}` },
          pc,
        );
        return;
      }
      case Stop.MemFault: {
        const info = this.native.stopInfo();
        const pc = this.cpu.pc & ~1;
        const what = `${info.access === Access.Write ? 'write to' : 'read from'} 0x${(info.address >>> 0).toString(16)} (no memory there)`;
        this.exceptions.raiseFault('busfault', { cfsr: CFSR.PRECISERR, bfar: info.address, what }, pc);
        return;
      }
      case Stop.MpuFault: {
        const info = this.native.stopInfo();
        const addr = info.address >>> 0;
        if (info.access === Access.Fetch) {
          this.exceptions.raiseFault('memmanage', { cfsr: CFSR.IACCVIOL, what: `instruction fetch from 0x${addr.toString(16)} refused by the MPU` }, addr & ~1);
        } else {
          const what = `${info.access === Access.Write ? 'write to' : 'read from'} 0x${addr.toString(16)} refused by the MPU`;
          this.exceptions.raiseFault('memmanage', { cfsr: CFSR.DACCVIOL, mmfar: addr, what }, this.cpu.pc & ~1);
        }
        return;
      }
      case Stop.FetchFault: {
        const info = this.native.stopInfo();
        const addr = info.address >>> 0;
        if (info.xn) {
          this.exceptions.raiseFault('memmanage', { cfsr: CFSR.IACCVIOL, what: `instruction fetch from execute-never address 0x${addr.toString(16)}` }, addr & ~1);
        } else {
          this.exceptions.raiseFault('busfault', { cfsr: CFSR.IBUSERR, what: `instruction fetch from 0x${addr.toString(16)} (no memory there)` }, addr & ~1);
        }
        return;
      }
      case Stop.DivByZero:
        this.exceptions.raiseFault('usagefault', { cfsr: CFSR.DIVBYZERO, what: 'integer divide by zero' }, this.cpu.pc & ~1);
        return;
      case Stop.Unaligned:
        this.exceptions.raiseFault('usagefault', { cfsr: CFSR.UNALIGNED, what: 'unaligned access with CCR.UNALIGN_TRP set' }, this.cpu.pc & ~1);
        return;
      case Stop.Breakpoint: {
        const addr = this.native.stopInfo().address >>> 0;
        this.breakpointHit = addr;
        this.pause(`breakpoint at 0x${addr.toString(16)}`);
        return;
      }
      case Stop.Step:
        this.stepRan = true; // run() sees that the instruction ran
        return;
      case Stop.Watchpoint: {
        // On RAM the access is done and PC is still at the instruction (as QEMU reports it, and
        // as GDB expects on ARM: it steps over the instruction itself with the watchpoints out).
        const w = this.native.watchInfo();
        if (!w.mmio && (this.cpu.pc & ~1) === w.pc) this.watchResume = w.pc >>> 0;
        this.watchHit = { address: w.address >>> 0, write: w.write, pc: w.pc >>> 0 };
        this.pause(`${w.write ? 'write' : 'read'} watchpoint at 0x${(w.address >>> 0).toString(16)}`);
        return;
      }
      case Stop.HandlerError:
        return; // the wrapper rethrows before we get here
      case Stop.EngineError: {
        const info = this.native.stopInfo();
        this.outcome = { kind: 'error', message: `CPU engine error at PC=0x${this.cpu.pc.toString(16)}: ${info.ucErrorText} (${info.ucError})` };
        return;
      }
    }
  }

  private handleInterrupt(intno: number): void {
    const pc = this.cpu.pc & ~1;
    switch (intno) {
      case 2: // SVC: PC is after the instruction
        this.exceptions.svc(pc);
        return;
      case 7: {
        // BKPT: PC at the instruction
        let insn = 0;
        try {
          insn = this.cpu.read16(pc);
        } catch {
          /* unreadable */
        }
        if (insn === 0xbeab && this.semihosting) {
          this.cpu.pc = pc + 2;
          this.semihosting.handle();
          return;
        }
        this.exceptions.raiseFault('debug', { what: `BKPT 0x${(insn & 0xff).toString(16)} with no debugger attached` }, pc);
        return;
      }
      case 8: // exception return: PC = EXC_RETURN & ~1
        this.exceptions.exceptionReturn(pc | 1);
        return;
      case 3: {
        const addr = pc;
        this.exceptions.raiseFault('memmanage', { cfsr: CFSR.IACCVIOL, what: `instruction fetch from 0x${addr.toString(16)} not permitted` }, addr);
        return;
      }
      default: {
        // Every other exception Unicorn raises is an architectural fault (src/cpu/unicorn-exceptions.ts).
        let hw1 = 0;
        try {
          hw1 = this.cpu.read16(pc);
        } catch {
          /* unreadable */
        }
        const a = interruptAction(intno, hw1);
        if (a.kind === 'usagefault') this.exceptions.raiseFault('usagefault', { cfsr: a.cfsr, what: a.what }, pc);
        else if (a.kind === 'busfault') this.exceptions.raiseFault('busfault', { cfsr: CFSR.PRECISERR, what: a.what }, pc);
        else this.log.log('guest_errors', `cmemu: ${a.what} at PC=0x${pc.toString(16)}`);
      }
    }
  }

  /** The guest sleeps (WFI/WFE/sleep-on-exit) and nothing is pending: let time pass. */
  /** 'turn': the event loop had a turn; 'waited': a native wait saw it idle; 'none': no wait (icount warp). */
  private async idle(): Promise<'turn' | 'waited' | 'none'> {
    const deadline = this.sched.nextDeadline();
    if (this.icount && !this.icount.sleep) {
      if (deadline !== Infinity) {
        const now = this.sched.now();
        if (deadline > now) this.icountTime!.warp(deadline - now);
        return 'none';
      }
      return this.waitOutside(Infinity);
    }
    const now = this.sched.now();
    const waitNs = deadline === Infinity ? Infinity : Math.max(0, deadline - now);
    const before = this.addon.monotonicNs();
    const yielded = await this.waitOutside(waitNs);
    if (this.icount) {
      // sleep=on: virtual time follows real time while the guest sleeps, up to the deadline.
      const slept = this.addon.monotonicNs() - before;
      this.icountTime!.warp(Math.min(slept, waitNs === Infinity ? slept : waitNs));
    }
    return yielded;
  }

  /**
   * Wait up to `ns` of host time, until a watched fd fires (an ivshmem doorbell: woken in
   * microseconds, straight from the native wait) or until kick() is called from an event-loop turn
   * (input, timers, sockets). The thread blocks in the native idleWait, which returns whenever
   * Node's event loop has work; the loop then gets one turn. Returns 'turn' if it had one.
   */
  private async waitOutside(ns: number): Promise<'turn' | 'waited'> {
    const hostDeadline = ns === Infinity ? Infinity : this.addon.monotonicNs() + ns;
    let yielded = false;
    this.kicked = false;
    while (!this.outcome && this.pauseReason === null && !this.kicked) {
      if (this.native.idleWait(hostDeadline, yielded) !== 2) break;
      await yieldToEventLoop();
      yielded = true;
    }
    return yielded ? 'turn' : 'waited';
  }

  /**
   * The whole machine's state for a snapshot, between runs: registers (banked SPs, masks, xPSR,
   * CONTROL), the exception model, every device (the SCS with NVIC, SCB, SysTick and MPU), what
   * the board's setup shares, the scheduled events with their due times, virtual time and the
   * instruction count, and the contents of the board's memories (in `memory`, not JSON).
   */
  saveState(): { state: MachineState; memory: { name: string; data: Uint8Array }[] } {
    if (this.running) throw new Error('machine: saveState while the CPU runs');
    this.powerOn();
    const devices: Record<string, DeviceState> = {};
    for (const [name, d] of this.devices) devices[name] = d.saveState();
    const state: MachineState = {
      board: this.board.name,
      cpu: this.cpu.snapshot(),
      exceptions: this.exceptions.saveState(),
      devices,
      parts: this.parts && typeof this.parts === 'object' ? captureState(this.parts) : null,
      timers: this.sched.saveTimers(),
      icount: this.cpu.icount(),
      warpNs: this.icountTime?.warpNs ?? 0,
      now: this.sched.now(),
      icountMode: this.icount !== null,
      run: { sleeping: this.sleeping, resetRequested: this.resetRequested, outcome: this.outcome },
    };
    const memory = [...this.ram].map(([name, buf]) => ({ name, data: new Uint8Array(buf.slice(0)) }));
    return { state, memory };
  }

  /**
   * Put back what saveState returned, into a machine of the same board (powered on; any earlier
   * run is forgotten). The translated code is dropped (the memory changed behind the engine).
   */
  loadState(state: MachineState, memory: readonly { name: string; data: Uint8Array }[]): void {
    if (this.running) throw new Error('machine: loadState while the CPU runs');
    if (state.board !== this.board.name) throw new StateError(`the snapshot is of board ${state.board}, this machine is ${this.board.name}`);
    if (state.icountMode !== (this.icount !== null)) throw new StateError(`the snapshot was taken in ${state.icountMode ? 'icount' : 'real-time'} mode, this machine runs in ${this.icount ? 'icount' : 'real-time'} mode`);
    for (const name of Object.keys(state.devices)) if (!this.devices.has(name)) throw new StateError(`the snapshot has a device ${name} this machine does not`);
    for (const name of this.devices.keys()) if (!(name in state.devices)) throw new StateError(`this machine has a device ${name} the snapshot does not`);
    for (const m of memory) {
      const buf = this.ram.get(m.name);
      if (!buf || buf.byteLength !== m.data.byteLength) throw new StateError(`the snapshot's memory ${m.name} (${m.data.byteLength} bytes) does not fit this board's`);
    }
    this.powerOn();
    for (const m of memory) new Uint8Array(this.ram.get(m.name)!).set(m.data); // sizes checked above
    for (const [name, s] of Object.entries(state.devices)) this.devices.get(name)!.loadState(s);
    if (state.parts && this.parts && typeof this.parts === 'object') restoreState(this.parts, state.parts, `${this.board.name} shared parts`);
    try {
      this.sched.loadTimers(state.timers);
    } catch (e) {
      throw new StateError((e as Error).message);
    }
    this.cpu.setIcount(state.icount);
    if (this.icountTime) this.icountTime.warpNs = state.warpNs;
    this.realTime?.restoreNow(state.now);
    this.cpu.restore(state.cpu);
    this.exceptions.loadState(state.exceptions);
    this.applyCcr(this.scs.nvic.scb.ccr);
    this.pushMpu();
    this.hfNmiActive = this.scs.nvic.isActive(EXC_HARDFAULT) || this.scs.nvic.isActive(EXC_NMI);
    this.native.setHfNmiActive(this.hfNmiActive);
    this.sleeping = state.run.sleeping;
    this.resetRequested = state.run.resetRequested;
    this.outcome = state.run.outcome ?? null;
    this.pauseReason = null;
    this.watchResume = null;
    // Guest code may differ from what was translated: forget every translated block.
    for (const m of this.board.memory) {
      this.native.invalidateCode(m.base, m.size);
      for (const a of m.aliases ?? []) this.native.invalidateCode(a, m.size);
    }
  }

  /** Free the engine (its threads, code cache, mappings) and give the board's RAM back. Idempotent. */
  close(): void {
    this.native.close();
    for (const buf of this.ram.values()) this.addon.releaseHostMemory(buf);
    this.ram.clear();
  }
}

export class LoadError extends Error {}

/** A machine's state in a snapshot (JSON-safe; memory contents travel beside it). */
export interface MachineState {
  board: string;
  cpu: CoreState;
  exceptions: ExceptionModelState;
  devices: Record<string, DeviceState>;
  parts: DeviceState | null;
  timers: TimerState[];
  icount: number;
  warpNs: number;
  /** Virtual time (ns) at the snapshot. */
  now: number;
  icountMode: boolean;
  /** outcome: the machine had finished (it stays finished once restored). */
  run: { sleeping: 'wfi' | 'wfe' | null; resetRequested: boolean; outcome: FinalOutcome | null };
}

class GuestExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export type { IrqLine };
