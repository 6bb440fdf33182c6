/**
 * The system bus: RAM (host memory, possibly aliased), MMIO devices and "unimplemented device"
 * regions (read 0, ignore writes, log under -d unimp), with priorities as QEMU's memory API
 * (unimplemented regions lie under everything else). `commit()` flattens the map into Unicorn
 * mappings: RAM with uc_mem_map_ptr, everything else as MMIO windows whose accesses come to
 * `read`/`write` here with one JS call each. Addresses that nothing covers stay unmapped, so a
 * guest access there is a precise BusFault.
 */
import type { AccessSize, Logger, MmioDevice } from '../devices/device.js';
import type { NativeCpu } from '../native/cpu.js';

const PAGE = 0x400;

export interface RamRegion {
  kind: 'ram';
  name: string;
  base: number;
  size: number;
  buffer: ArrayBuffer;
  /** Offset of `base` inside `buffer` (aliases map the same buffer elsewhere). */
  offset: number;
  writable: boolean;
}

export interface DeviceRegion {
  kind: 'device';
  name: string;
  base: number;
  size: number;
  device: MmioDevice;
  /** Offset of `base` inside the device's window (for a device mapped in parts). */
  offset: number;
}

export interface UnimplementedRegion {
  kind: 'unimp';
  name: string;
  base: number;
  size: number;
}

export type Region = RamRegion | DeviceRegion | UnimplementedRegion;

interface Piece {
  start: number;
  end: number; // exclusive
  region: Region;
}

/** One Unicorn MMIO window and what lies in it. */
interface Window {
  base: number;
  /** Either one region covering the whole window (fast path) or several pieces. */
  single: Region | null;
  pieces: Piece[];
}

function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}

export class AddressMap {
  private readonly regions: Region[] = [];
  private windows: Window[] = [];
  private flat: Piece[] = [];

  constructor(private readonly log: Logger) {}

  addRam(name: string, base: number, buffer: ArrayBuffer, opts: { offset?: number; size?: number; writable?: boolean } = {}): void {
    const size = opts.size ?? buffer.byteLength - (opts.offset ?? 0);
    this.check(name, base, size);
    this.regions.push({ kind: 'ram', name, base, size, buffer, offset: opts.offset ?? 0, writable: opts.writable ?? true });
  }

  addDevice(name: string, base: number, device: MmioDevice, size = device.size, offset = 0): void {
    this.check(name, base, size);
    this.regions.push({ kind: 'device', name, base, size, device, offset });
  }

  addUnimplemented(name: string, base: number, size: number): void {
    this.check(name, base, size);
    this.regions.push({ kind: 'unimp', name, base, size });
  }

  /** The RAM and device regions (unimplemented ones do not count) that [base, base+size) overlaps. */
  occupants(base: number, size: number): { name: string; kind: 'ram' | 'device' }[] {
    const out: { name: string; kind: 'ram' | 'device' }[] = [];
    for (const r of this.regions) if (r.kind !== 'unimp' && r.base < base + size && base < r.base + r.size) out.push({ name: r.name, kind: r.kind });
    return out;
  }

  private check(name: string, base: number, size: number): void {
    if (!Number.isInteger(base) || !Number.isInteger(size) || base < 0 || size <= 0 || base + size > 2 ** 32) {
      throw new Error(`address map: region ${name} at ${hex(base)} size ${size} is outside the 32-bit space`);
    }
  }

  /** The flattened map (after commit): what the guest sees, in address order. */
  layout(): { start: number; end: number; name: string; kind: Region['kind'] }[] {
    return this.flat.map((p) => ({ start: p.start, end: p.end, name: p.region.name, kind: p.region.kind }));
  }

  /** Which region answers at `addr` (after commit). */
  regionAt(addr: number): Region | undefined {
    return this.findPiece(addr >>> 0)?.region;
  }

  private findPiece(addr: number): Piece | undefined {
    let lo = 0;
    let hi = this.flat.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = this.flat[mid]!;
      if (addr < p.start) hi = mid - 1;
      else if (addr >= p.end) lo = mid + 1;
      else return p;
    }
    return undefined;
  }

  /** Flatten by priority (later-added RAM/devices win over earlier ones; unimplemented regions lose to all). */
  private flatten(): Piece[] {
    const prio = (r: Region, i: number) => (r.kind === 'unimp' ? -1e9 + i : i);
    const cuts = new Set<number>();
    for (const r of this.regions) {
      cuts.add(r.base);
      cuts.add(r.base + r.size);
    }
    const points = [...cuts].sort((a, b) => a - b);
    const pieces: Piece[] = [];
    for (let k = 0; k + 1 < points.length; k++) {
      const start = points[k]!;
      const end = points[k + 1]!;
      let best: Region | undefined;
      let bestPrio = -Infinity;
      this.regions.forEach((r, i) => {
        if (r.base <= start && r.base + r.size >= end && prio(r, i) > bestPrio) {
          best = r;
          bestPrio = prio(r, i);
        }
      });
      if (!best) continue;
      const last = pieces[pieces.length - 1];
      if (last && last.region === best && last.end === start) last.end = end;
      else pieces.push({ start, end, region: best });
    }
    return pieces;
  }

  /** Map everything into the CPU. Call once, after all regions are added. */
  commit(cpu: NativeCpu): void {
    this.flat = this.flatten();
    this.windows = [];
    // RAM pieces must be page aligned. Non-RAM pieces that touch or share a 1 KiB page are grouped
    // into one page-aligned MMIO window (Unicorn maps whole pages).
    let pending: Piece[] = [];
    const flushWindow = () => {
      if (!pending.length) return;
      const base = Math.floor(pending[0]!.start / PAGE) * PAGE;
      const end = Math.ceil(pending[pending.length - 1]!.end / PAGE) * PAGE;
      const only = pending[0]!;
      const single = pending.length === 1 && only.start === base && only.end === end ? only.region : null;
      const id = this.windows.length;
      this.windows.push({ base, single, pieces: pending });
      cpu.mapMmio(base, end - base, id);
      pending = [];
    };
    for (const p of this.flat) {
      if (p.region.kind === 'ram') {
        flushWindow();
        const r = p.region;
        if (p.start % PAGE || p.end % PAGE) {
          throw new Error(`address map: RAM ${r.name} piece ${hex(p.start)}-${hex(p.end)} is not 1 KiB aligned`);
        }
        cpu.mapHostMemory(p.start, r.buffer, r.offset + (p.start - r.base), p.end - p.start, r.writable);
        continue;
      }
      const prev = pending[pending.length - 1];
      if (prev && Math.ceil(prev.end / PAGE) * PAGE < Math.floor(p.start / PAGE) * PAGE) flushWindow();
      pending.push(p);
    }
    flushWindow();
  }

  read(window: number, offset: number, size: number): number {
    const w = this.windows[window]!;
    const addr = w.base + offset;
    return this.regionRead(w.single ?? this.findPiece(addr)?.region, addr, size);
  }

  write(window: number, offset: number, size: number, value: number): void {
    const w = this.windows[window]!;
    const addr = w.base + offset;
    this.regionWrite(w.single ?? this.findPiece(addr)?.region, addr, size, value);
  }

  /**
   * Guest-physical access by absolute address (after commit), for bit-band and tools: RAM straight
   * from its host memory (read-only RAM ignores writes), devices and unimplemented regions as the
   * guest sees them, nothing mapped reads 0.
   */
  busRead(addr: number, size: AccessSize): number {
    addr >>>= 0;
    const r = this.findPiece(addr)?.region;
    if (r?.kind === 'ram') return this.ramView(r, addr, size).read();
    return this.regionRead(r, addr, size);
  }

  busWrite(addr: number, size: AccessSize, value: number): void {
    addr >>>= 0;
    const r = this.findPiece(addr)?.region;
    if (r?.kind === 'ram') {
      if (r.writable) this.ramView(r, addr, size).write(value);
      return;
    }
    this.regionWrite(r, addr, size, value);
  }

  private ramView(r: RamRegion, addr: number, size: AccessSize) {
    const dv = new DataView(r.buffer, r.offset + (addr - r.base), size);
    return {
      read: () => (size === 1 ? dv.getUint8(0) : size === 2 ? dv.getUint16(0, true) : dv.getUint32(0, true)),
      write: (v: number) => (size === 1 ? dv.setUint8(0, v) : size === 2 ? dv.setUint16(0, v, true) : dv.setUint32(0, v >>> 0, true)),
    };
  }

  private regionRead(r: Region | undefined, addr: number, size: number): number {
    if (r?.kind === 'device') return r.device.read(r.offset + (addr - r.base), size as AccessSize) >>> 0;
    if (r?.kind === 'unimp') {
      if (this.log.enabled('unimp')) {
        this.log.log('unimp', `${r.name}: unimplemented device read  (size ${size}, offset 0x${(addr - r.base).toString(16)})`);
      }
      return 0;
    }
    return this.unassigned(addr, size, 'read');
  }

  private regionWrite(r: Region | undefined, addr: number, size: number, value: number): void {
    if (r?.kind === 'device') {
      r.device.write(r.offset + (addr - r.base), size as AccessSize, value >>> 0);
      return;
    }
    if (r?.kind === 'unimp') {
      if (this.log.enabled('unimp')) {
        this.log.log(
          'unimp',
          `${r.name}: unimplemented device write (size ${size}, offset 0x${(addr - r.base).toString(16)}, value 0x${(value >>> 0).toString(16)})`,
        );
      }
      return;
    }
    this.unassigned(addr, size, 'write');
  }

  /**
   * An access inside a mapped 1 KiB window that no region covers (a small device's page).
   * Unicorn cannot fault from an MMIO callback, so this reads 0 and is logged as a guest error.
   */
  private unassigned(addr: number, size: number, what: string): number {
    if (this.log.enabled('guest_errors')) this.log.log('guest_errors', `${what} of size ${size} at unassigned address ${hex(addr)}`);
    return 0;
  }

  /** A human-readable memory map, as `-M board,help` prints it. */
  describe(): string {
    return this.layout()
      .map((p) => `  ${hex(p.start)}-${hex(p.end - 1)}  ${p.kind.padEnd(6)}  ${p.name}`)
      .join('\n');
  }
}
