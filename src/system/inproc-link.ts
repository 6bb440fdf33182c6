/**
 * ivshmem without a server: the peers of one world (boards in one process) share one host memory
 * region and ring each other's vectors through the world, which delivers doorbells at quantum
 * boundaries, in the order they were rung, so every run is the same. Peer ids are 0..n-1 in the
 * order the peers were given, as an ivshmem server numbers peers that connect one after another.
 */
import type { IvshmemLink } from '../devices/ivshmem-link.js';

interface Member {
  id: number;
  link: InProcessLink;
  present: boolean;
}

export interface InProcessIvshmemState {
  queue: { to: number; vector: number }[];
  changes: { peer: number; joined: boolean }[];
  present: boolean[];
}

export class InProcessIvshmem {
  readonly shm: ArrayBuffer;
  private readonly members: Member[] = [];
  private queue: { to: number; vector: number }[] = [];
  private changes: { peer: number; joined: boolean }[] = [];

  constructor(
    shm: ArrayBuffer,
    readonly vectors: number,
  ) {
    this.shm = shm;
  }

  /** A new peer's link (ids in order). */
  join(): InProcessLink {
    const id = this.members.length;
    const link = new InProcessLink(this, id);
    this.members.push({ id, link, present: true });
    return link;
  }

  /** The peer is gone (its board finished or closed): the others are told at the next delivery. */
  leave(id: number): void {
    const m = this.members[id];
    if (!m || !m.present) return;
    m.present = false;
    this.changes.push({ peer: id, joined: false });
  }

  /** @internal */
  present(id: number): boolean {
    return this.members[id]?.present ?? false;
  }
  /** @internal */
  others(id: number): number[] {
    return this.members.filter((m) => m.present && m.id !== id).map((m) => m.id);
  }
  /** @internal */
  post(to: number, vector: number): void {
    this.queue.push({ to, vector });
  }

  /** Deliver the doorbells rung and departures seen since the last call, in order. Returns how many doorbells. */
  deliver(): number {
    const changes = this.changes;
    this.changes = [];
    for (const c of changes) for (const m of this.members) if (m.present && m.id !== c.peer) m.link.peerChanged(c.peer, c.joined);
    const q = this.queue;
    this.queue = [];
    for (const d of q) {
      const m = this.members[d.to];
      if (m?.present) m.link.ring(d.vector);
    }
    return q.length;
  }

  /** For a world snapshot: the doorbells and departures not yet delivered, and who is still there (the memory is saved beside). */
  saveState(): InProcessIvshmemState {
    return { queue: this.queue.map((q) => ({ ...q })), changes: this.changes.map((c) => ({ ...c })), present: this.members.map((m) => m.present) };
  }
  loadState(s: InProcessIvshmemState): void {
    if (s.present.length !== this.members.length) throw new Error(`the snapshot's ivshmem group has ${s.present.length} peers, this one ${this.members.length}`);
    this.queue = s.queue.map((q) => ({ ...q }));
    this.changes = s.changes.map((c) => ({ ...c }));
    s.present.forEach((p, i) => (this.members[i]!.present = p));
  }

  get pending(): number {
    return this.queue.length + this.changes.length;
  }
}

export class InProcessLink implements IvshmemLink {
  readonly ownVectorFds: readonly number[] = [];
  private doorbellCb: ((v: number) => void) | null = null;
  private readonly peerCbs: ((peer: number, joined: boolean) => void)[] = [];
  private closed = false;

  constructor(
    private readonly group: InProcessIvshmem,
    readonly id: number,
  ) {}

  get shm(): ArrayBuffer {
    return this.group.shm;
  }
  get shmSize(): number {
    return this.group.shm.byteLength;
  }
  peerVectors(peer: number): number {
    return this.group.present(peer) || peer === this.id ? this.group.vectors : 0;
  }
  peers(): number[] {
    return this.group.others(this.id);
  }
  notify(peer: number, vector: number): boolean {
    if (this.closed || vector < 0 || vector >= this.peerVectors(peer)) return false;
    this.group.post(peer, vector);
    return true;
  }
  onDoorbell(cb: (vector: number) => void): void {
    this.doorbellCb = cb;
  }
  onPeerChange(cb: (peer: number, joined: boolean) => void): void {
    this.peerCbs.push(cb);
  }
  onClose(): void {
    // An in-process group has no server to lose.
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.group.leave(this.id);
  }
  /** @internal */
  ring(vector: number): void {
    if (!this.closed) this.doorbellCb?.(vector);
  }
  /** @internal */
  peerChanged(peer: number, joined: boolean): void {
    if (!this.closed) for (const cb of this.peerCbs) cb(peer, joined);
  }
}
