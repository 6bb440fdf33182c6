/**
 * Worlds: several boards in one process on one virtual timeline (Renode's model). Every board runs
 * in icount mode; the world advances them in turn, one quantum at a time, so that no board is ever
 * more than one quantum ahead of another. Boards connect through in-process ivshmem-flat groups:
 * shared memory is one host buffer mapped into every member (stores are seen at once), doorbells
 * are delivered at quantum boundaries in the order they were rung. Nothing depends on the host's
 * timing, so the same world gives byte-identical consoles on every run.
 */
import { UsageError, MachineFinishedError, TimeoutError } from './errors.js';
import { type Duration, formatDuration, parseDuration, parseSize, type Size } from './units.js';
import { System, type Driver, type SystemConfig } from './system.js';
import { InProcessIvshmem, type InProcessIvshmemState } from './inproc-link.js';
import { serveSnapshotWaiters, Snapshot, type SnapshotWaiter } from './snapshot.js';
import type { SystemState } from './system.js';
import { InputError } from './errors.js';
import type { UartConsole } from './uart.js';
import { findBoard } from '../machine/boards/index.js';
import { loadNative } from '../native/cpu.js';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { WebView, WebViewOptions } from './web/server.js';
import type { IvshmemFlatConfig } from '../machine/ivshmem-flat.js';

export interface WorldConfig {
  /** How far one board may run ahead of the others (virtual time); default '100 us'. */
  quantum?: Duration;
}

/** A board of a world: a SystemConfig whose time is always icount (default: the board's shift, as Zephyr's board files). */
export type WorldBoardConfig = Omit<SystemConfig, 'time'> & { time?: { icount: number; sleep?: boolean } };

export interface WorldIvshmemConfig extends Omit<IvshmemFlatConfig, 'size'> {
  /** The boards that share it, in peer-id order (0, 1, ...). */
  peers: System[];
  /** Shared memory size; default '4M' (QEMU's ivshmem-flat default). */
  size?: Size;
  /** Vectors per peer (1..64); default 1. */
  vectors?: number;
}

/** A world's part of a snapshot. */
export interface WorldState {
  t: number;
  quanta: number;
  quantumNs: number;
  boards: SystemState[];
  groups: (InProcessIvshmemState & { size: number; vectors: number; blob: number })[];
}

export async function createWorld(config: WorldConfig = {}): Promise<World> {
  return new World(config);
}

export class World implements Driver {
  readonly quantumNs: number;
  readonly systems: System[] = [];
  private readonly groups: InProcessIvshmem[] = [];
  private started = false;
  private running = false;
  private closed = false;
  private t = 0;
  /** Quanta run so far. */
  quanta = 0;
  /** The board the world is running (or waiting on, when it is halted), null between runs. */
  current: System | null = null;
  /** @internal While > 0 (a live view is serving), the run gives the event loop a turn every ~10 ms of host time. */
  hostTurns = 0;
  private readonly views: WebView[] = [];

  constructor(config: WorldConfig = {}) {
    this.quantumNs = parseDuration(config.quantum ?? '100 us', 'quantum');
    if (this.quantumNs < 1) throw new UsageError('quantum: must be at least 1 ns');
  }

  /** Add a board (before the world first runs). */
  async add(config: WorldBoardConfig): Promise<System> {
    if (this.started) throw new UsageError('world.add(): boards are added before the world first runs');
    if ((config as SystemConfig).time === 'realtime') throw new UsageError('a world runs on one virtual timeline: its boards use icount time, not realtime');
    const board = typeof config.board === 'string' ? findBoard(config.board) : config.board;
    const time = config.time ?? (board ? { icount: board.icountShift } : undefined);
    const sys = await System.build({ ...config, time: time ?? { icount: 7 } }, this);
    this.systems.push(sys);
    return sys;
  }

  /** Connect boards through an ivshmem-flat each, sharing `size` bytes (before the world first runs). */
  ivshmem(cfg: WorldIvshmemConfig): InProcessIvshmem {
    if (this.started) throw new UsageError('world.ivshmem(): links are made before the world first runs');
    const size = parseSize(cfg.size ?? '4M', 'ivshmem size');
    if (size <= 0 || size % 1024) throw new UsageError(`ivshmem size ${size} is not a positive multiple of 1 KiB`);
    const vectors = cfg.vectors ?? 1;
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > 64) throw new UsageError(`ivshmem vectors: ${vectors} is not 1..64`);
    for (const p of cfg.peers) if (!this.systems.includes(p)) throw new UsageError('world.ivshmem(): every peer must be a board of this world');
    const group = new InProcessIvshmem(loadNative().allocHostMemory(size), vectors);
    for (const p of cfg.peers) {
      const link = group.join();
      p.attachIvshmem({ irq: cfg.irq, iomem: cfg.iomem, shmem: cfg.shmem, link });
    }
    this.groups.push(group);
    this.memberIds.set(group, [...cfg.peers]);
    return group;
  }

  /** The world's virtual time (ns): every board has run at least this far. */
  now(): number {
    return this.t;
  }

  /** Run every board for `d` of virtual time. */
  async runFor(d: Duration): Promise<void> {
    const until = this.t + parseDuration(d, 'runFor');
    await this.advance(() => this.t >= until, `time ${formatDuration(until)}`, undefined, undefined, until);
  }

  /**
   * Run until `cond` holds (checked at quantum boundaries) or every board has finished. Throws
   * TimeoutError after `timeout` of virtual time.
   */
  async runUntil(cond: () => boolean, opts: { timeout?: Duration } = {}): Promise<void> {
    await this.advance(cond, 'the condition', opts.timeout);
  }

  /** @internal Driver: waits on a board's console drive the whole world. */
  async runUntilCondition(cond: () => boolean, what: string, timeout: Duration | undefined, console?: UartConsole): Promise<void> {
    await this.advance(cond, what, timeout, console);
  }

  private async advance(cond: () => boolean, what: string, timeout: Duration | undefined, console?: UartConsole, stopAt = Infinity): Promise<void> {
    if (this.closed) throw new UsageError('the world is closed');
    if (this.running) throw new UsageError('the world is already running (one run at a time)');
    if (this.systems.length === 0) throw new UsageError('the world has no boards (world.add)');
    this.start();
    const timeoutAt = timeout === undefined ? Infinity : this.t + parseDuration(timeout, 'timeout');
    this.running = true;
    let lastTurn = performance.now();
    try {
      for (;;) {
        if (cond()) return;
        const live = this.systems.filter((s) => !s.finished);
        if (live.length === 0) {
          if (stopAt !== Infinity) return;
          const con = console ?? this.systems[0]!.uart(0);
          throw new MachineFinishedError(`${what} did not happen: every board of the world has finished; ${con.name} said:\n${con.tail()}`, this.systems[0]!.finished!, con.tail());
        }
        if (this.t >= timeoutAt) {
          const con = console ?? this.systems[0]!.uart(0);
          throw new TimeoutError(`${what} did not happen within ${formatDuration(parseDuration(timeout!))} (virtual time); ${con.name} said:\n${con.tail()}`, con.tail());
        }
        const next = Math.min(this.t + this.quantumNs, stopAt, timeoutAt);
        if (this.hostTurns > 0 && performance.now() - lastTurn > 10) {
          // Boards of a world rarely return to the event loop by themselves (idle time is warped over): a server needs turns.
          await yieldToEventLoop();
          lastTurn = performance.now();
          if (cond()) return;
        }
        for (const s of live) {
          this.current = s;
          await s.advanceTo(next);
        }
        this.t = next;
        this.quanta++;
        for (const g of this.groups) g.deliver();
        if (this.snapshotWaiters.length > 0) this.serveSnapshots();
      }
    } finally {
      this.running = false;
      this.current = null;
    }
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    for (const s of this.systems) s.boot();
    this.systems.forEach((s, i) => {
      s.onFinished = () => {
        for (const g of this.groups) {
          const id = this.peerIndex(g, i);
          if (id >= 0) g.leave(id);
        }
      };
    });
  }

  // ---- snapshots ----

  private snapshotWaiters: SnapshotWaiter[] = [];

  /**
   * Save the whole world: every board (as sys.snapshot() does), the timeline (virtual time,
   * quanta), and each in-process ivshmem group (its shared memory, doorbells not yet delivered,
   * who is still there). Between runs it is taken at once; while the world runs, at the next
   * quantum boundary (every board at the same virtual time), and the run carries on.
   */
  async snapshot(): Promise<Snapshot> {
    if (this.closed) throw new UsageError('the world is closed');
    if (this.systems.length === 0) throw new UsageError('the world has no boards (world.add)');
    if (!this.running) return this.snapshotNow();
    return new Promise<Snapshot>((resolve, reject) => this.snapshotWaiters.push({ resolve, reject }));
  }

  private serveSnapshots(): void {
    serveSnapshotWaiters(this.snapshotWaiters, () => this.snapshotNow());
  }

  private snapshotNow(): Snapshot {
    this.start();
    const blobs: Uint8Array[] = [];
    const state: WorldState = {
      t: this.t,
      quanta: this.quanta,
      quantumNs: this.quantumNs,
      boards: this.systems.map((s) => s.saveBoard(blobs)),
      groups: this.groups.map((g) => ({ ...g.saveState(), size: g.shm.byteLength, vectors: g.vectors, blob: blobs.push(new Uint8Array(g.shm.slice(0))) - 1 })),
    };
    return new Snapshot('world', this.systems.map((s) => s.snapshotBoard()), state, blobs);
  }

  /**
   * Put the world back as `snap` recorded it, into a world built the same way (the same boards
   * with the same images, in the same order, and the same ivshmem groups). Not while running.
   */
  restore(snap: Snapshot): void {
    if (this.closed) throw new UsageError('the world is closed');
    if (this.running) throw new UsageError('world.restore(): the world is running; wait for its run first');
    if (snap.kind !== 'world') throw new InputError('world.restore(): this is a snapshot of one board: restore it with sys.restore()');
    const st = snap.state as WorldState;
    if (st.boards.length !== this.systems.length) throw new InputError(`the snapshot is of a world of ${st.boards.length} boards, this world has ${this.systems.length}`);
    if (st.groups.length !== this.groups.length) throw new InputError(`the snapshot's world has ${st.groups.length} ivshmem groups, this world ${this.groups.length}`);
    st.groups.forEach((g, i) => {
      const mine = this.groups[i]!;
      if (g.size !== mine.shm.byteLength || g.vectors !== mine.vectors) throw new InputError(`ivshmem group ${i}: the snapshot's is ${g.size} bytes with ${g.vectors} vectors, this world's ${mine.shm.byteLength} bytes with ${mine.vectors}`);
      if (!snap.blobs[g.blob] || snap.blobs[g.blob]!.byteLength !== g.size) throw new InputError(`ivshmem group ${i}: the snapshot's shared memory is missing`);
    });
    this.start();
    this.systems.forEach((s, i) => s.restoreBoard(snap.boards[i]!, st.boards[i]!, snap.blobs));
    st.groups.forEach((g, i) => {
      const mine = this.groups[i]!;
      mine.loadState(g);
      new Uint8Array(mine.shm).set(snap.blobs[g.blob]!);
    });
    this.t = st.t;
    this.quanta = st.quanta;
  }

  /** The in-process ivshmem groups, with their members in peer-id order. */
  get ivshmemGroups(): { group: InProcessIvshmem; peers: System[] }[] {
    return this.groups.map((group) => ({ group, peers: [...(this.memberIds.get(group) ?? [])] }));
  }

  /**
   * Serve the live view (consoles, shared memory, doorbells, rates; pause/resume/step) over HTTP
   * and a WebSocket, on `host` (default 127.0.0.1) and `port` (default 0: any free one). Pausing
   * halts every board through sys.debug, which halts the timeline. close() (or world.close()) ends it.
   */
  async serve(opts: WebViewOptions = {}): Promise<WebView> {
    if (this.closed) throw new UsageError('the world is closed');
    const v = await (await import('./web/server.js')).WebView.listen({ world: this, systems: this.systems }, opts);
    this.views.push(v);
    return v;
  }

  private readonly memberIds = new Map<InProcessIvshmem, System[]>();
  private peerIndex(g: InProcessIvshmem, sysIndex: number): number {
    return (this.memberIds.get(g) ?? []).indexOf(this.systems[sysIndex]!);
  }

  /** Close every board. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const v of this.views) await v.close();
    for (const s of this.systems) await s.close();
  }
}
