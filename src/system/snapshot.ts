/**
 * The snapshot file: a small versioned binary container (docs/api.md, "Snapshots").
 *
 *   offset 0    8 bytes  magic "CMEMUSNP"
 *          8    u32 LE   container version (1)
 *          12   u32 LE   header length H
 *          16   H bytes  header: JSON (UTF-8), readable with `head -c`: format, version, kind
 *                        (system | world), the boards with their images' SHA-256, virtual time,
 *                        instruction counts, the body's length and SHA-256
 *          16+H u32 LE   body length B
 *          20+H B bytes  body: zlib (deflate) of [u32 LE JSON length J][J bytes state JSON][blobs]
 *
 * The state JSON holds the machines' registers, devices and scheduled events (src/machine/
 * machine.ts, MachineState); memory contents (RAM, flash, shared memory) are blobs, back to back
 * after it, each referred to by index with its length in the JSON. Anything that is not such a
 * file (another magic, another version, a truncated or altered body) is refused with a one-line
 * InputError; never a crash.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { deflateSync, inflateSync } from 'node:zlib';
import { InputError } from './errors.js';

export const SNAPSHOT_MAGIC = 'CMEMUSNP';
export const SNAPSHOT_VERSION = 1;

export interface SnapshotBoard {
  board: string;
  /** Every image loaded, by name (its path, or '<bytes>') and the SHA-256 of what was loaded (addresses and bytes). */
  images: { name: string; sha256: string }[];
  /** Virtual time (ns) and instructions executed at the snapshot. */
  timeNs: number;
  instructions: number;
}

export interface SnapshotHeader {
  format: 'cmemu-snapshot';
  version: number;
  kind: 'system' | 'world';
  boards: SnapshotBoard[];
  /** Length and SHA-256 (hex) of the body as stored (compressed). */
  bodyBytes: number;
  bodySha256: string;
  /** Length of the body once inflated. */
  rawBytes: number;
}

/** A saved board or world: `sys.snapshot()` / `world.snapshot()` make one, `restore` takes one. */
export class Snapshot {
  constructor(
    readonly kind: 'system' | 'world',
    readonly boards: SnapshotBoard[],
    /** @internal The state (JSON-safe), memory contents as indexes into `blobs`. */
    readonly state: unknown,
    /** @internal */
    readonly blobs: Uint8Array[],
  ) {}

  /** The file's bytes (see the format above). */
  toBuffer(): Buffer {
    const json = Buffer.from(JSON.stringify({ state: this.state, blobs: this.blobs.map((b) => b.byteLength) }), 'utf8');
    const jlen = Buffer.alloc(4);
    jlen.writeUInt32LE(json.length);
    const raw = Buffer.concat([jlen, json, ...this.blobs]);
    const body = deflateSync(raw, { level: 1 });
    const header: SnapshotHeader = {
      format: 'cmemu-snapshot',
      version: SNAPSHOT_VERSION,
      kind: this.kind,
      boards: this.boards,
      bodyBytes: body.length,
      bodySha256: createHash('sha256').update(body).digest('hex'),
      rawBytes: raw.length,
    };
    const h = Buffer.from(JSON.stringify(header), 'utf8');
    const pre = Buffer.alloc(16);
    pre.write(SNAPSHOT_MAGIC, 0, 'latin1');
    pre.writeUInt32LE(SNAPSHOT_VERSION, 8);
    pre.writeUInt32LE(h.length, 12);
    const blen = Buffer.alloc(4);
    blen.writeUInt32LE(body.length);
    return Buffer.concat([pre, h, blen, body]);
  }

  /** Write the file (see toBuffer). Returns its size in bytes. */
  save(path: string): number {
    const b = this.toBuffer();
    writeFileSync(path, b);
    return b.length;
  }

  /** Read a snapshot file; a file that is not one (or is cut short, or altered) is a one-line InputError. */
  static load(path: string): Snapshot {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InputError(`snapshot '${path}': ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
    }
    return Snapshot.fromBuffer(bytes, path);
  }

  /** Parse a snapshot's bytes (`what` names it in errors). */
  static fromBuffer(bytes: Uint8Array, what = 'snapshot'): Snapshot {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bad = (why: string): never => {
      throw new InputError(`${what}: not a cmemu snapshot (${why})`);
    };
    if (b.length < 16 || b.toString('latin1', 0, 8) !== SNAPSHOT_MAGIC) bad('no CMEMUSNP magic');
    const version = b.readUInt32LE(8);
    if (version !== SNAPSHOT_VERSION) throw new InputError(`${what}: snapshot format version ${version}, this cmemu reads version ${SNAPSHOT_VERSION}`);
    const hlen = b.readUInt32LE(12);
    if (16 + hlen + 4 > b.length) bad('truncated header');
    let header: SnapshotHeader;
    try {
      header = JSON.parse(b.toString('utf8', 16, 16 + hlen)) as SnapshotHeader;
    } catch {
      return bad('unreadable header');
    }
    if (header.format !== 'cmemu-snapshot' || (header.kind !== 'system' && header.kind !== 'world') || !Array.isArray(header.boards)) bad('unexpected header');
    const blen = b.readUInt32LE(16 + hlen);
    const start = 20 + hlen;
    if (start + blen > b.length || blen !== header.bodyBytes) throw new InputError(`${what}: truncated snapshot (${b.length - start} of ${header.bodyBytes} body bytes)`);
    if (start + blen < b.length) bad('trailing bytes after the body');
    const body = b.subarray(start, start + blen);
    if (createHash('sha256').update(body).digest('hex') !== header.bodySha256) throw new InputError(`${what}: corrupt snapshot (the body's SHA-256 does not match its header)`);
    let raw: Buffer;
    try {
      raw = inflateSync(body);
    } catch {
      return bad('body does not inflate');
    }
    if (raw.length !== header.rawBytes || raw.length < 4) bad('body of the wrong length');
    const jlen = raw.readUInt32LE(0);
    if (4 + jlen > raw.length) bad('state past the body');
    let parsed: { state: unknown; blobs: number[] };
    try {
      parsed = JSON.parse(raw.toString('utf8', 4, 4 + jlen)) as { state: unknown; blobs: number[] };
    } catch {
      return bad('unreadable state');
    }
    const blobs: Uint8Array[] = [];
    let at = 4 + jlen;
    for (const n of parsed.blobs ?? []) {
      if (!Number.isInteger(n) || n < 0 || at + n > raw.length) bad('memory past the body');
      blobs.push(new Uint8Array(raw.buffer, raw.byteOffset + at, n));
      at += n;
    }
    return new Snapshot(header.kind, header.boards, parsed.state, blobs);
  }

  /** Size of the file toBuffer() writes. */
  get byteLength(): number {
    return this.toBuffer().length;
  }
}

/** SHA-256 of a loaded image: its chunks' addresses and bytes, in order. */
export function imageHash(chunks: readonly { addr: number; data: Uint8Array }[]): string {
  const h = createHash('sha256');
  const a = Buffer.alloc(8);
  for (const c of chunks) {
    a.writeUInt32LE(c.addr >>> 0, 0);
    a.writeUInt32LE(c.data.length, 4);
    h.update(a).update(c.data);
  }
  return h.digest('hex');
}

/** Snapshots asked for while a run was going on, taken together at the next clean boundary. */
export type SnapshotWaiter = { resolve: (s: Snapshot) => void; reject: (e: unknown) => void };

/** Give every waiter (emptying the list) a snapshot from `take`, or the error it threw. */
export function serveSnapshotWaiters(waiters: SnapshotWaiter[], take: () => Snapshot): void {
  for (const w of waiters.splice(0)) {
    try {
      w.resolve(take());
    } catch (e) {
      w.reject(e);
    }
  }
}
