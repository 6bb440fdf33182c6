import { describe, expect, it } from 'vitest';
import { Mpu } from '../../src/devices/mpu.js';
import type { Logger } from '../../src/devices/device.js';

// Offsets relative to MPU_TYPE (0xE000ED90).
const TYPE = 0x00;
const CTRL = 0x04;
const RNR = 0x08;
const RBAR = 0x0c;
const RASR = 0x10;
const RBAR_A1 = 0x14;
const RASR_A1 = 0x18;
const RBAR_A2 = 0x1c;
const RASR_A2 = 0x20;
const RBAR_A3 = 0x24;
const RASR_A3 = 0x28;

function make() {
  let changes = 0;
  const errors: string[] = [];
  const logger: Logger = { enabled: () => true, log: (_c, m) => errors.push(m) };
  const mpu = new Mpu({ regions: 8, onChange: () => changes++, logger });
  return { mpu, errors, changes: () => changes };
}

describe('MPU registers (PMSAv7, 8 regions)', () => {
  it('reset values: TYPE = 0x800, everything else 0', () => {
    const { mpu } = make();
    expect(mpu.read(TYPE)).toBe(0x800);
    for (const o of [CTRL, RNR, RBAR, RASR, RBAR_A1, RASR_A1, RBAR_A2, RASR_A2, RBAR_A3, RASR_A3]) expect(mpu.read(o)).toBe(0);
    expect(mpu.regions()).toEqual(Array.from({ length: 8 }, () => ({ base: 0, rasr: 0 })));
  });

  it('TYPE is read-only', () => {
    const { mpu } = make();
    mpu.write(TYPE, 4, 1);
    expect(mpu.read(TYPE)).toBe(0x800);
  });

  it('CTRL keeps ENABLE|HFNMIENA|PRIVDEFENA; HFNMIENA without ENABLE is logged but kept', () => {
    const { mpu, errors, changes } = make();
    mpu.write(CTRL, 4, 2);
    expect(mpu.read(CTRL)).toBe(2);
    expect(errors).toContain('MPU_CTRL: HFNMIENA and !ENABLE is UNPREDICTABLE');
    mpu.write(CTRL, 4, 0xfffffffc);
    expect(mpu.read(CTRL)).toBe(4);
    mpu.write(CTRL, 4, 0x5); // what Zephyr writes
    expect(mpu.ctrl).toBe(5);
    expect(changes()).toBe(3);
  });

  it('RNR >= 8 is logged and ignored', () => {
    const { mpu, errors } = make();
    mpu.write(RNR, 4, 7);
    mpu.write(RNR, 4, 0xff);
    mpu.write(RNR, 4, 0x103);
    expect(mpu.read(RNR)).toBe(7);
    expect(errors).toEqual(['MPU region out of range 255/8', 'MPU region out of range 259/8']);
  });

  it('RBAR with VALID selects the region; reads ADDR | RNR (values as qemu-system-arm 7.2)', () => {
    const { mpu, errors } = make();
    mpu.write(RNR, 4, 7);
    mpu.write(RBAR, 4, 0xffffffff); // VALID with region 15: ignored whole
    expect(mpu.read(RBAR)).toBe(0x00000007);
    expect(mpu.read(RNR)).toBe(7);
    mpu.write(RBAR, 4, 0x12345670 | 0x10 | 2);
    expect(mpu.read(RBAR)).toBe(0x12345662);
    expect(mpu.read(RNR)).toBe(2);
    mpu.write(RBAR, 4, 0x20000000 | 0x10 | 9); // out of range
    expect(mpu.read(RBAR)).toBe(0x12345662);
    expect(mpu.read(RNR)).toBe(2);
    mpu.write(RBAR, 4, 0xabcdef05); // no VALID: region from RNR, REGION bits dropped
    expect(mpu.read(RBAR)).toBe(0xabcdef02);
    expect(mpu.read(RNR)).toBe(2);
    expect(errors).toEqual(['MPU region out of range 15/8', 'MPU region out of range 9/8']);
  });

  it('keeps RBAR bits 31:5 as written whatever the region size', () => {
    const { mpu } = make();
    mpu.write(RBAR, 4, 0x20000020 | 0x10 | 1);
    mpu.write(RASR, 4, (31 << 1) | 1); // 4 GiB region
    expect(mpu.regions()[1]).toEqual({ base: 0x20000020, rasr: 0x3f });
  });

  it('RASR keeps XN, AP, TEX, S, C, B, SRD, SIZE, ENABLE (0x173FFF3F)', () => {
    const { mpu } = make();
    mpu.write(RASR, 4, 0xffffffff);
    expect(mpu.read(RASR)).toBe(0x173fff3f);
  });

  it('aliases access the RNR-selected region; RBAR_An VALID writes move RNR', () => {
    const { mpu } = make();
    mpu.write(RBAR_A1, 4, 0x30000000 | 0x10 | 4);
    expect(mpu.read(RBAR_A1)).toBe(0x30000004);
    expect(mpu.read(RNR)).toBe(4);
    expect(mpu.read(RBAR)).toBe(0x30000004);
    mpu.write(RASR_A1, 4, 0x0306002b);
    for (const o of [RASR, RASR_A1, RASR_A2, RASR_A3]) expect(mpu.read(o)).toBe(0x0306002b);
    mpu.write(RBAR_A2, 4, 0x55555555); // VALID, region 5
    expect(mpu.read(RNR)).toBe(5);
    expect(mpu.read(RBAR_A3)).toBe(0x55555545);
    expect(mpu.read(RASR_A2)).toBe(0);
    mpu.write(RNR, 4, 4);
    expect(mpu.read(RASR_A3)).toBe(0x0306002b);
  });

  it('the Zephyr switch-to-user sequence round-trips', () => {
    const { mpu } = make();
    const prog: [number, number][] = [
      [0x00000000 | 0x10 | 0, 0x0306002f],
      [0x20000000 | 0x10 | 1, 0x1306002d],
      [0x20001000 | 0x10 | 2, 0x13000017],
    ];
    mpu.write(CTRL, 4, 0);
    for (const [rbar, rasr] of prog) {
      mpu.write(RBAR, 4, rbar);
      mpu.write(RASR, 4, rasr);
    }
    mpu.write(CTRL, 4, 5);
    expect(mpu.regions().slice(0, 3)).toEqual([
      { base: 0x00000000, rasr: 0x0306002f },
      { base: 0x20000000, rasr: 0x1306002d },
      { base: 0x20001000, rasr: 0x13000017 },
    ]);
    mpu.reset();
    expect(mpu.ctrl).toBe(0);
    expect(mpu.rnr).toBe(0);
    expect(mpu.regions()[1]).toEqual({ base: 0, rasr: 0 });
  });
});
