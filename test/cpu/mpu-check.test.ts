import { describe, expect, it } from 'vitest';
import { mpuAllows, type MpuView } from '../../src/cpu/mpu-check.js';

// RASR: ENABLE bit 0, SIZE bits 5:1 (region = 2^(SIZE+1) bytes), SRD bits 15:8, AP bits 26:24, XN bit 28.
const rasr = (sizeLog2: number, ap: number, opts: { xn?: boolean; srd?: number } = {}) =>
  (1 | ((sizeLog2 - 1) << 1) | ((opts.srd ?? 0) << 8) | (ap << 24) | (opts.xn ? 1 << 28 : 0)) >>> 0;

function mpu(ctrl: number, regions: { base: number; rasr: number }[]): MpuView {
  const all = [...regions];
  while (all.length < 8) all.push({ base: 0, rasr: 0 });
  return { ctrl, regions: () => all };
}

describe('PMSAv7 permission check', () => {
  it('allows everything while the MPU is off', () => {
    expect(mpuAllows(mpu(0, []), 0x20000000, 'write', false)).toBe(true);
  });

  it('uses the default map for privileged code only with PRIVDEFENA', () => {
    expect(mpuAllows(mpu(1 | 4, []), 0x20000000, 'write', true)).toBe(true);
    expect(mpuAllows(mpu(1 | 4, []), 0x20000000, 'write', false)).toBe(false);
    expect(mpuAllows(mpu(1, []), 0x20000000, 'read', true)).toBe(false);
  });

  it('applies the highest-numbered matching region: a 32-byte read-only stack guard inside RAM', () => {
    const m = mpu(1 | 4, [
      { base: 0x20000000, rasr: rasr(22, 3) }, // 4 MiB RAM, full access
      { base: 0x20001000, rasr: rasr(5, 5, { xn: true }) }, // 32-byte guard, privileged read-only
    ]);
    expect(mpuAllows(m, 0x20000ffc, 'write', true)).toBe(true);
    expect(mpuAllows(m, 0x20001000, 'write', true)).toBe(false);
    expect(mpuAllows(m, 0x2000101c, 'write', true)).toBe(false);
    expect(mpuAllows(m, 0x2000101c, 'read', true)).toBe(true);
    expect(mpuAllows(m, 0x20001020, 'write', true)).toBe(true);
    expect(mpuAllows(m, 0x2000101c, 'read', false)).toBe(false);
  });

  it('skips disabled subregions and honours XN and the unprivileged AP columns', () => {
    const m = mpu(1, [{ base: 0x20000000, rasr: rasr(11, 2, { srd: 0b00000010, xn: true }) }]); // 2 KiB, sub 1 off
    expect(mpuAllows(m, 0x20000000, 'read', false)).toBe(true); // AP=2: user read-only
    expect(mpuAllows(m, 0x20000000, 'write', false)).toBe(false);
    expect(mpuAllows(m, 0x20000000, 'write', true)).toBe(true);
    expect(mpuAllows(m, 0x20000100, 'read', true)).toBe(false); // subregion 1 disabled, no background
    expect(mpuAllows(m, 0x20000000, 'exec', true)).toBe(false);
  });

  it('does not apply at negative priority unless HFNMIENA', () => {
    const m = mpu(1, []);
    expect(mpuAllows(m, 0x20000000, 'write', true, true)).toBe(true);
    expect(mpuAllows(mpu(1 | 2, []), 0x20000000, 'write', true, true)).toBe(false);
  });

  it('follows QEMU 7.2: SIZE 0 and misaligned bases disable a region; the system region never executes', () => {
    expect(mpuAllows(mpu(1, [{ base: 0x20000000, rasr: 1 | (3 << 24) }]), 0x20000000, 'read', true)).toBe(false);
    // 1 KiB region at a base aligned to 512 only: ignored.
    expect(mpuAllows(mpu(1, [{ base: 0x20000200, rasr: rasr(10, 3) }]), 0x20000200, 'read', true)).toBe(false);
    expect(mpuAllows(mpu(1, [{ base: 0x20000400, rasr: rasr(10, 3) }]), 0x20000400, 'read', true)).toBe(true);
    expect(mpuAllows(mpu(1, [{ base: 0xe0000000, rasr: rasr(29, 3) }]), 0xe0100000, 'exec', true)).toBe(false);
    expect(mpuAllows(mpu(1, [{ base: 0xe0000000, rasr: rasr(29, 3) }]), 0xe0100000, 'write', true)).toBe(true);
  });
});
