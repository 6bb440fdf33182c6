/** The lm3s6965evb board: its table, and what the built machine does with it (flash is ROM, RCC drives SysTick). */
import { describe, expect, it } from 'vitest';
import { lm3s6965evb } from '../../src/machine/boards/lm3s6965evb.js';
import { BOARDS, findBoard } from '../../src/machine/boards/index.js';
import { Machine } from '../../src/machine/machine.js';

describe('lm3s6965evb board table', () => {
  it('is registered and describes QEMU 7.2’s machine', () => {
    expect(findBoard('lm3s6965evb')).toBe(lm3s6965evb);
    expect(BOARDS.map((b) => b.name)).toEqual(['lm3s6965evb', 'mps2-an385']);
    const b = lm3s6965evb;
    expect(b.description).toBe('Stellaris LM3S6965EVB (Cortex-M3)');
    expect([b.numIrqs, b.priorityBits, b.sysclkHz, b.refclkHz, b.icountShift, b.bitband]).toEqual([64, 3, 12_500_000, 0, 6, true]);
    expect(b.memory).toEqual([
      { name: 'stellaris.flash', base: 0, size: 256 * 1024, readOnly: true },
      { name: 'stellaris.sram', base: 0x20000000, size: 64 * 1024 },
    ]);
    expect(b.ivshmemDefaults).toEqual({ iomem: 0x400ff000, shmem: 0x40100000, irq: 0, qompath: '/machine/soc/v7m/nvic/unnamed-gpio-in[0]' });
  });
  it('wires the devices where QEMU does', () => {
    const devs = Object.fromEntries(lm3s6965evb.devices.map((d) => [d.name, [d.base, d.irqs]]));
    expect(devs).toEqual({
      ssys: [0x400fe000, [28]],
      uart0: [0x4000c000, [5]],
      uart1: [0x4000d000, [6]],
      uart2: [0x4000e000, [33]],
      gptm0: [0x40030000, [19]],
      gptm1: [0x40031000, [21]],
      gptm2: [0x40032000, [23]],
      gptm3: [0x40033000, [35]],
      watchdog: [0x40000000, [18]],
      gpioA: [0x40004000, [0]],
      gpioB: [0x40005000, [1]],
      gpioC: [0x40006000, [2]],
      gpioD: [0x40007000, [3]],
      gpioE: [0x40024000, [4]],
      gpioF: [0x40025000, [30]],
      gpioG: [0x40026000, [31]],
      ssi0: [0x40008000, [7]],
    });
  });
  it('maps SSI0, GPIO A-G and the watchdog (their IDs read back through the bus)', () => {
    const m = new Machine({ board: lm3s6965evb, icount: { shift: 6, sleep: false } });
    try {
      m.load(0, image());
      m.reset();
      const bus = m.map;
      expect([0xfe0, 0xfe4, 0xfe8, 0xfec].map((o) => bus.busRead(0x40008000 + o, 4))).toEqual([0x22, 0x10, 0x04, 0x00]);
      expect(bus.busRead(0x4000800c, 4)).toBe(0x3); // SSI SR: TFE | TNF
      for (const base of [0x40004000, 0x40005000, 0x40006000, 0x40007000, 0x40024000, 0x40025000, 0x40026000]) {
        expect([0xfe0, 0xfe4, 0xfe8, 0xfec].map((o) => bus.busRead(base + o, 4))).toEqual([0x61, 0x00, 0x18, 0x01]);
        expect(bus.busRead(base + 0x500, 4)).toBe(0xff); // DR2R
      }
      expect([0xfe0, 0xfe4, 0xfe8, 0xfec].map((o) => bus.busRead(0x40000000 + o, 4))).toEqual([0x05, 0x18, 0x18, 0x01]);
      expect(bus.busRead(0x40000000, 4)).toBe(0xffffffff); // watchdog LOAD
    } finally {
      m.close();
    }
  });
  it('has no overlapping windows, every IRQ in range, and the ivshmem window free', () => {
    const b = lm3s6965evb;
    const windows = [
      ...b.memory.map((m) => ({ name: m.name, base: m.base, size: m.size })),
      ...b.devices.map((d) => ({ name: d.name, base: d.base, size: 0x1000 })),
      ...b.unimplemented,
      { name: 'ivshmem', base: b.ivshmemDefaults!.iomem, size: 0x1000 },
    ].sort((x, y) => x.base - y.base);
    for (let i = 1; i < windows.length; i++) {
      expect(windows[i]!.base, `${windows[i - 1]!.name} overlaps ${windows[i]!.name}`).toBeGreaterThanOrEqual(windows[i - 1]!.base + windows[i - 1]!.size);
    }
    for (const d of b.devices) for (const irq of d.irqs ?? []) expect(irq).toBeLessThan(b.numIrqs);
    expect(b.unimplemented.map((u) => u.name)).toEqual(
      expect.arrayContaining(['i2c-0', 'i2c-2', 'PWM', 'QEI-0', 'QEI-1', 'analogue-comparator', 'hibernation', 'flash-control']),
    );
  });
});

/** Thumb code: reset stores to flash; the fault handler saves CFSR and BFAR to SRAM and writes UART0. */
function image(): Uint8Array {
  const img = new Uint8Array(0x200).fill(0xff);
  const dv = new DataView(img.buffer);
  dv.setUint32(0x00, 0x20001000, true); // SP
  dv.setUint32(0x04, 0x41, true); // reset
  dv.setUint32(0x0c, 0x61, true); // HardFault
  dv.setUint32(0x14, 0x61, true); // BusFault
  const code = (at: number, hw: number[]) => hw.forEach((h, i) => dv.setUint16(at + 2 * i, h, true));
  // movs r0,#1; lsls r0,r0,#8; movs r1,#0x55; str r1,[r0]; b .
  code(0x40, [0x2001, 0x0200, 0x2155, 0x6001, 0xe7fe]);
  // ldr r0,=0xE000ED28; ldr r1,[r0]; ldr r2,[r0,#16]; ldr r3,=0x20000000; str r1,[r3]; str r2,[r3,#4];
  // ldr r4,=0x4000C000; str r1,[r4]; b .
  code(0x60, [0x4807, 0x6801, 0x6902, 0x4b07, 0x6019, 0x605a, 0x4c06, 0x6021, 0xe7fe]);
  dv.setUint32(0x80, 0xe000ed28, true);
  dv.setUint32(0x84, 0x20000000, true);
  dv.setUint32(0x88, 0x4000c000, true);
  return img;
}

describe('lm3s6965evb machine', () => {
  it('loads the image into flash, and a guest store to flash is a precise BusFault with BFAR', async () => {
    const out: number[] = [];
    let m: Machine | null = null;
    m = new Machine({ board: lm3s6965evb, icount: { shift: 6, sleep: false }, serials: [{ write: (b) => { out.push(b); m!.stop('done'); } }] });
    try {
      m.load(0, image());
      const outcome = await Promise.race([m.run(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 5000))]);
      expect(outcome.kind).toBe('exit');
      const cfsr = m.map.busRead(0x20000000, 4);
      const bfar = m.map.busRead(0x20000004, 4);
      expect(cfsr & 0xff00).toBe(0x8200); // BFARVALID | PRECISERR
      expect(bfar).toBe(0x100);
      expect(m.map.busRead(0x100, 4)).toBe(0xffffffff); // flash unchanged
      expect(out).toEqual([0x00]); // low byte of CFSR, written by the handler
    } finally {
      m.close();
    }
  });
  it('runs SysTick on the system clock that RCC sets (80 ns at reset, 20 ns with SYSDIV = 3)', () => {
    const m = new Machine({ board: lm3s6965evb, icount: { shift: 6, sleep: false } });
    try {
      m.load(0, image());
      m.reset();
      const bus = m.map;
      expect(bus.busRead(0xe000e010, 4)).toBe(0x4); // CLKSOURCE reads 1: no reference clock
      expect(bus.busRead(0xe000e01c, 4)).toBe(0x80000000); // CALIB: NOREF
      expect(bus.busRead(0xe000e004, 4)).toBe(1); // ICTR: 64 lines
      bus.busWrite(0xe000e014, 4, 999);
      bus.busWrite(0xe000e010, 4, 1);
      const t0 = m.now();
      expect(m.scs.systick.nextWrapNs - t0).toBe(1000 * 80);
      bus.busWrite(0x400fe060, 4, (bus.busRead(0x400fe060, 4) & ~(0xf << 23)) | (3 << 23));
      bus.busWrite(0xe000e018, 4, 0); // restart the count at the new rate
      expect(m.scs.systick.nextWrapNs - m.now()).toBe(1000 * 20);
      m.reset(); // the system control block's reset puts the clock back
      bus.busWrite(0xe000e014, 4, 999);
      bus.busWrite(0xe000e010, 4, 1);
      expect(m.scs.systick.nextWrapNs - m.now()).toBe(1000 * 80);
    } finally {
      m.close();
    }
  });
});
