import { describe, expect, it } from 'vitest';
import { AddressMap } from '../../src/machine/address-map.js';
import type { AccessSize, Logger, MmioDevice } from '../../src/devices/device.js';
import type { NativeCpu } from '../../src/native/cpu.js';

function fakeCpu() {
  const maps: { kind: string; base: number; size: number; id?: number }[] = [];
  const cpu = {
    mapHostMemory: (base: number, _b: ArrayBuffer, _o: number, size: number) => maps.push({ kind: 'ram', base, size }),
    mapMmio: (base: number, size: number, id: number) => maps.push({ kind: 'mmio', base, size, id }),
  } as unknown as NativeCpu;
  return { cpu, maps };
}

class Reg32 implements MmioDevice {
  readonly name = 'reg';
  value = 0;
  accesses: string[] = [];
  constructor(readonly size: number) {}
  read(offset: number, size: AccessSize) {
    this.accesses.push(`r${offset}/${size}`);
    return this.value + offset;
  }
  write(offset: number, size: AccessSize, v: number) {
    this.accesses.push(`w${offset}/${size}=${v}`);
  }
  reset() {}
}

describe('AddressMap', () => {
  it('lets RAM and devices win over unimplemented regions and leaves gaps unmapped', () => {
    const logs: string[] = [];
    const log: Logger = { enabled: () => true, log: (_c, m) => logs.push(m) };
    const map = new AddressMap(log);
    map.addUnimplemented('periph', 0x40000000, 0x10000);
    const dev = new Reg32(0x1000);
    map.addDevice('uart', 0x40004000, dev);
    map.addRam('ram', 0x20000000, new ArrayBuffer(0x4000));
    const { cpu, maps } = fakeCpu();
    map.commit(cpu);
    expect(map.layout()).toEqual([
      { start: 0x20000000, end: 0x20004000, name: 'ram', kind: 'ram' },
      { start: 0x40000000, end: 0x40004000, name: 'periph', kind: 'unimp' },
      { start: 0x40004000, end: 0x40005000, name: 'uart', kind: 'device' },
      { start: 0x40005000, end: 0x40010000, name: 'periph', kind: 'unimp' },
    ]);
    // One RAM mapping, one MMIO window covering the contiguous peripheral pieces.
    expect(maps).toEqual([
      { kind: 'ram', base: 0x20000000, size: 0x4000 },
      { kind: 'mmio', base: 0x40000000, size: 0x10000, id: 0 },
    ]);
    expect(map.read(0, 0x4004, 4)).toBe(4);
    expect(dev.accesses).toEqual(['r4/4']);
    expect(map.read(0, 0x100, 2)).toBe(0);
    map.write(0, 0x5000, 1, 7);
    expect(logs.some((l) => l.includes('periph: unimplemented device read'))).toBe(true);
    expect(logs.some((l) => l.includes('unimplemented device write'))).toBe(true);
    expect(map.regionAt(0x30000000)).toBeUndefined();
  });

  it('maps a small device into a page-aligned window and answers the rest of the page as unassigned', () => {
    const logs: string[] = [];
    const map = new AddressMap({ enabled: () => true, log: (_c, m) => logs.push(m) });
    const dev = new Reg32(16);
    map.addDevice('ivshmem-flat', 0x400ff000, dev);
    const { cpu, maps } = fakeCpu();
    map.commit(cpu);
    expect(maps).toEqual([{ kind: 'mmio', base: 0x400ff000, size: 0x400, id: 0 }]);
    expect(map.read(0, 8, 4)).toBe(8);
    expect(map.read(0, 0x10, 4)).toBe(0);
    expect(logs.some((l) => l.includes('unassigned address 0x400ff010'))).toBe(true);
  });

  it('refuses RAM that is not 1 KiB aligned and regions outside 32 bits', () => {
    const map = new AddressMap({ enabled: () => false, log() {} });
    expect(() => map.addRam('big', 0xffff0000, new ArrayBuffer(0x20000))).toThrow(/outside the 32-bit space/);
    map.addRam('odd', 0x100, new ArrayBuffer(0x400));
    expect(() => map.commit(fakeCpu().cpu)).toThrow(/not 1 KiB aligned/);
  });
});

describe('bus access by address, and bit-band on top of it', () => {
  it('reads and writes RAM, respects read-only RAM, and reaches devices', async () => {
    const { BitBand } = await import('../../src/devices/bitband.js');
    const map = new AddressMap({ enabled: () => false, log() {} });
    const ram = new ArrayBuffer(0x1000);
    const rom = new ArrayBuffer(0x400);
    new Uint8Array(rom)[0] = 0x5a;
    const dev = new Reg32(0x1000);
    map.addRam('sram', 0x20000000, ram);
    map.addRam('flash', 0x00000000, rom, { writable: false });
    map.addDevice('uart', 0x40004000, dev);
    const bus = { read: map.busRead.bind(map), write: map.busWrite.bind(map) } as const;
    map.addDevice('bitband', 0x22000000, new BitBand('bb', 0x20000000, bus));
    map.commit(fakeCpu().cpu);

    map.busWrite(0x20000010, 4, 0x12345678);
    expect(new DataView(ram).getUint32(0x10, true)).toBe(0x12345678);
    expect(map.busRead(0x20000012, 2)).toBe(0x1234);
    map.busWrite(0x00000000, 1, 0xff);
    expect(map.busRead(0x00000000, 1)).toBe(0x5a);
    expect(map.busRead(0x40004008, 4)).toBe(8);
    expect(map.busRead(0x30000000, 4)).toBe(0);

    // Bit 3 of the byte at 0x20000010 lives at 0x22000000 + 0x10*32 + 3*4.
    const bit3 = 0x22000000 + 0x10 * 32 + 3 * 4;
    expect(map.busRead(bit3, 4)).toBe(1); // 0x78 has bit 3 set
    map.busWrite(bit3, 4, 0);
    expect(new Uint8Array(ram)[0x10]).toBe(0x70);
    map.busWrite(0x22000000 + 0x11 * 32 + 7 * 4, 4, 1); // bit 7 of 0x20000011 (0x56)
    expect(new Uint8Array(ram)[0x11]).toBe(0xd6);
    expect(map.busRead(0x22000000 + 0x11 * 32 + 0 * 4, 4)).toBe(0);
  });
});
