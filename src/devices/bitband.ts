/**
 * Cortex-M3 bit-band alias region (32 MiB alias of a 1 MiB region): each word of the alias reads or
 * writes one bit of the target. As QEMU's armv7m bitband device: an access of size N reads the
 * N-byte unit containing the bit (read-modify-write for stores).
 */
import type { AccessSize, MmioDevice } from './device.js';
import { captureState, restoreState, type DeviceState } from './state.js';

/** Access to the target memory through the system bus (RAM or devices). */
export interface BusAccess {
  read(addr: number, size: AccessSize): number;
  write(addr: number, size: AccessSize, value: number): void;
}

export class BitBand implements MmioDevice {
  readonly size = 0x2000000;
  constructor(
    readonly name: string,
    private readonly target: number,
    private readonly bus: BusAccess,
  ) {}
  /** Snapshot state (src/devices/state.ts). */
  saveState(): DeviceState {
    return captureState(this);
  }
  loadState(s: DeviceState): void {
    restoreState(this, s, 'bitband');
  }

  reset(): void {}
  private locate(offset: number, size: AccessSize): { addr: number; bit: number } {
    const addr = (this.target + (offset >>> 5)) & -size;
    const bit = (offset >>> 2) & (size * 8 - 1);
    return { addr: addr >>> 0, bit };
  }
  read(offset: number, size: AccessSize): number {
    const { addr, bit } = this.locate(offset, size);
    return (this.bus.read(addr, size) >>> bit) & 1;
  }
  write(offset: number, size: AccessSize, value: number): void {
    const { addr, bit } = this.locate(offset, size);
    const old = this.bus.read(addr, size);
    const next = value & 1 ? old | (1 << bit) : old & ~(1 << bit);
    this.bus.write(addr, size, next >>> 0);
  }
}
