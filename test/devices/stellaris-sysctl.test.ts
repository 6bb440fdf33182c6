import { describe, expect, it } from 'vitest';
import { INT_PLLL, LM3S6965_ID, RCC2_RESET, RCC_RESET, StellarisSysctl, sysclkPeriodNs } from '../../src/devices/stellaris-sysctl.js';
import type { IrqLine, Logger } from '../../src/devices/device.js';

function make() {
  const irq = { level: false, set(v: boolean) { irq.level = v; }, pulse() {} } satisfies IrqLine & { level: boolean };
  const logs: string[] = [];
  const logger: Logger = { enabled: () => true, log: (c, m) => logs.push(`${c}: ${m}`) };
  const s = new StellarisSysctl({ irq, logger });
  const clocks: number[] = [];
  s.onClockChange((ns) => clocks.push(ns));
  return { s, irq, logs, clocks };
}

describe('Stellaris system control: reset values (as read from qemu-system-arm 7.2)', () => {
  it('identifies an LM3S6965', () => {
    const { s } = make();
    const ids = [0x000, 0x004, 0x008, 0x010, 0x014, 0x018, 0x01c].map((o) => s.read(o, 4));
    expect(ids).toEqual([0x10010002, 0x1073402e, 0x00ff007f, 0x001133ff, 0x030f5317, 0x0f0f87ff, 0x5000007f]);
    expect(LM3S6965_ID.dc0 & 0xffff).toBe(0x7f); // (0x7f + 1) * 2 KiB = 256 KiB of flash
  });
  it('has QEMU’s reset values everywhere else', () => {
    const { s } = make();
    const regs: [number, number][] = [
      [0x030, 0x7ffd], // PBORCTL
      [0x034, 0], // LDOPCTL
      [0x040, 0], [0x044, 0], [0x048, 0], // SRCR0-2
      [0x050, 0], [0x054, 0], [0x058, 0], // RIS, IMC, MISC
      [0x05c, 0], // RESC
      [0x060, 0x078e3ac0], // RCC
      [0x064, 0x1902], // PLLCFG for XTAL = 0xB (6 MHz)
      [0x070, 0x07802810], // RCC2
      [0x100, 1], [0x104, 0], [0x108, 0], // RCGC0-2
      [0x110, 1], [0x114, 0], [0x118, 0], // SCGC0-2
      [0x120, 1], [0x124, 0], [0x128, 0], // DCGC0-2
      [0x150, 0], [0x160, 0], // CLKVCLR, LDOARST
      [0x1e0, 0x5452], [0x1e4, 0x563412], // USER0/1: MAC 52:54:00:12:34:56
    ];
    for (const [off, v] of regs) expect(s.read(off, 4), `offset 0x${off.toString(16)}`).toBe(v);
    expect(RCC_RESET).toBe(0x078e3ac0);
    expect(RCC2_RESET).toBe(0x07802810);
  });
  it('runs the system clock at 80 ns (12.5 MHz) at reset', () => {
    const { s, clocks } = make();
    expect(s.clockPeriodNs).toBe(80);
    expect(clocks).toEqual([80]);
  });
});

describe('Stellaris system control: writes', () => {
  it('masks PBORCTL, LDOPCTL, RESC and IMC; stores RCC2, gating and LDO registers whole', () => {
    const { s } = make();
    const cases: [number, number][] = [
      [0x030, 0xffff],
      [0x034, 0x1f],
      [0x05c, 0x3f],
      [0x054, 0x7f],
      [0x070, 0xffffffff],
      [0x100, 0xffffffff], [0x104, 0xffffffff], [0x108, 0xffffffff],
      [0x110, 0xffffffff], [0x114, 0xffffffff], [0x118, 0xffffffff],
      [0x120, 0xffffffff], [0x124, 0xffffffff], [0x128, 0xffffffff],
      [0x150, 0xffffffff], [0x160, 0xffffffff],
    ];
    for (const [off, v] of cases) {
      s.write(off, 4, 0xffffffff);
      expect(s.read(off, 4), `offset 0x${off.toString(16)}`).toBe(v);
    }
  });
  it('keeps the identity registers read-only and logs bad offsets (DSLPCLKCFG is not in QEMU 7.2)', () => {
    const { s, logs } = make();
    s.write(0x000, 4, 0);
    s.write(0x1e0, 4, 0);
    expect(s.read(0x000, 4)).toBe(0x10010002);
    expect(s.read(0x1e0, 4)).toBe(0x5452);
    expect(s.read(0x144, 4)).toBe(0);
    expect(s.read(0x00c, 4)).toBe(0);
    expect(logs).toContain('guest_errors: SSYS: write at bad offset 0x0');
    expect(logs).toContain('guest_errors: SSYS: read at bad offset 0x144');
    s.write(0x040, 4, 1);
    expect(logs).toContain('unimp: Peripheral reset not implemented');
  });
  it('RCGC1 read-modify-write (what Zephyr does to clock the UARTs)', () => {
    const { s } = make();
    s.write(0x104, 4, s.read(0x104, 4) | 1);
    expect(s.read(0x104, 4)).toBe(1);
  });
});

describe('Stellaris system control: PLL lock interrupt', () => {
  it('sets PLLLRIS when RCC.PWRDN goes 1 → 0, raises line 28 through IMC, clears through MISC', () => {
    const { s, irq } = make();
    s.write(0x060, 4, RCC_RESET & ~(1 << 13));
    expect(s.read(0x050, 4)).toBe(INT_PLLL);
    expect(s.read(0x058, 4)).toBe(0);
    expect(irq.level).toBe(false);
    s.write(0x054, 4, 0xff);
    expect(s.read(0x054, 4)).toBe(0x7f);
    expect(s.read(0x058, 4)).toBe(INT_PLLL);
    expect(irq.level).toBe(true);
    s.write(0x058, 4, INT_PLLL);
    expect(s.read(0x050, 4)).toBe(0);
    expect(irq.level).toBe(false);
  });
  it('does not set it when PWRDN stays clear or is set; RCC2.PWRDN2 works the same', () => {
    const { s } = make();
    s.write(0x060, 4, 0);
    s.write(0x050, 4, 0); // RIS is read-only (bad offset)
    s.write(0x058, 4, 0xff);
    s.write(0x060, 4, 0); // already clear: no new lock
    expect(s.read(0x050, 4)).toBe(0);
    s.write(0x070, 4, RCC2_RESET & ~(1 << 13));
    expect(s.read(0x050, 4)).toBe(INT_PLLL);
  });
  it('reset brings everything back, including the clock', () => {
    const { s, clocks } = make();
    s.write(0x060, 4, 0);
    s.write(0x054, 4, 0x40);
    s.reset();
    expect(s.read(0x060, 4)).toBe(RCC_RESET);
    expect(s.read(0x050, 4)).toBe(0);
    expect(s.read(0x054, 4)).toBe(0);
    expect(clocks).toEqual([80, 5, 80]);
  });
});

describe('Stellaris system control: system clock from RCC/RCC2 (QEMU: 200 MHz / (SYSDIV + 1))', () => {
  it('uses RCC.SYSDIV unless RCC2.USERCC2 is set, then RCC2.SYSDIV2 (6 bits)', () => {
    expect(sysclkPeriodNs(RCC_RESET, RCC2_RESET)).toBe(80);
    expect(sysclkPeriodNs(3 << 23, 0)).toBe(20); // 50 MHz
    expect(sysclkPeriodNs(0, 0)).toBe(5); // 200 MHz
    expect(sysclkPeriodNs(RCC_RESET, (1 << 31) | (0x3f << 23))).toBe(320);
    expect(sysclkPeriodNs(RCC_RESET, (1 << 31) | (2 << 23))).toBe(15); // 66.67 MHz: not a whole Hz
  });
  it('tells its listeners at every RCC/RCC2 write', () => {
    const { s, clocks } = make();
    s.write(0x060, 4, (RCC_RESET & ~(0xf << 23)) | (3 << 23));
    expect(s.clockPeriodNs).toBe(20);
    s.write(0x070, 4, (1 << 31) | (9 << 23));
    expect(s.clockPeriodNs).toBe(50);
    s.write(0x070, 4, 0);
    expect(s.clockPeriodNs).toBe(20);
    expect(clocks).toEqual([80, 20, 50, 20]);
  });
  it('PLLCFG follows RCC.XTAL through the Fury-class table', () => {
    const { s } = make();
    s.write(0x060, 4, 0xe << 6); // 8 MHz
    expect(s.read(0x064, 4)).toBe(0x0640);
    s.write(0x060, 4, 0x0 << 6); // 1 MHz
    expect(s.read(0x064, 4)).toBe(0x3200);
  });
});
