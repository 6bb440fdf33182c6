import { describe, expect, it } from 'vitest';
import { Mps2Scc } from '../../src/devices/mps2-scc.js';
import type { Logger } from '../../src/devices/device.js';

function make() {
  const errors: string[] = [];
  const log: Logger = { enabled: () => true, log: (_c, m) => errors.push(m) };
  const scc = new Mps2Scc('scc', { id: 0x41043850, aid: 0x00200008, cfg4: 2, oscclk: [50_000_000, 24_576_000, 25_000_000], log });
  return { scc, errors };
}
const START = 0x80000000, WRITE = 0x40000000, FN1 = 1 << 20;

describe('MPS2 SCC (AN385)', () => {
  it('reset values as QEMU 7.2 gives them for mps2-an385', () => {
    const { scc } = make();
    const r = (o: number) => scc.read(o, 4);
    expect([r(0x0), r(0x4), r(0xc), r(0x10)]).toEqual([0, 0, 0, 2]);
    expect([r(0xa0), r(0xa4), r(0xa8), r(0xac)]).toEqual([0, 0, 0x100000, 0]);
    expect(r(0x100)).toBe(0xffff0001);
    expect(r(0xff8)).toBe(0x00200008);
    expect(r(0xffc)).toBe(0x41043850);
  });

  it('CFG2, CFG5-7 are absent on AN385; CFG3/CFG4 are read-only', () => {
    const { scc, errors } = make();
    for (const o of [0x8, 0x14, 0x18, 0x1c]) expect(scc.read(o, 4)).toBe(0);
    scc.write(0x10, 4, 7);
    scc.write(0xc, 4, 7);
    expect(scc.read(0x10, 4)).toBe(2);
    expect(scc.read(0xc, 4)).toBe(0);
    expect(errors.length).toBe(6);
  });

  it('CFG0/CFG1/CFGDATA_OUT read as written; DLL keeps only its lock mask', () => {
    const { scc } = make();
    scc.write(0x0, 4, 0xdeadbeef);
    scc.write(0x4, 4, 0xa5);
    scc.write(0xa4, 4, 0x1234);
    expect([scc.read(0x0, 4), scc.read(0x4, 4), scc.read(0xa4, 4)]).toEqual([0xdeadbeef, 0xa5, 0x1234]);
    expect(scc.leds).toBe(0xa5);
    scc.write(0x100, 4, 0x12345678);
    expect(scc.read(0x100, 4)).toBe(0x12ff0001);
  });

  it('CFGCTRL: oscillator reads and writes complete at once; bad requests set ERROR', () => {
    const { scc } = make();
    for (const [i, hz] of [50_000_000, 24_576_000, 25_000_000].entries()) {
      scc.write(0xa8, 4, START | FN1 | i);
      expect(scc.read(0xac, 4)).toBe(1);
      expect(scc.read(0xa0, 4)).toBe(hz);
    }
    expect(scc.read(0xa8, 4)).toBe(FN1 | 2); // START and reserved fields read as 0
    scc.write(0xa8, 4, START | FN1 | 3);
    expect(scc.read(0xac, 4)).toBe(3);
    scc.write(0xa8, 4, 0);
    expect(scc.read(0xac, 4)).toBe(0); // a CFGCTRL write clears CFGSTAT
    scc.write(0xa4, 4, 1000);
    scc.write(0xa8, 4, START | WRITE | FN1 | 1);
    scc.write(0xa8, 4, START | FN1 | 1);
    expect(scc.read(0xa0, 4)).toBe(1000);
    scc.write(0xa8, 4, 0xffffffff & ~START);
    expect(scc.read(0xa8, 4)).toBe(0x43f00fff);
    scc.reset();
    scc.write(0xa8, 4, START | FN1 | 1);
    expect(scc.read(0xa0, 4)).toBe(24_576_000); // reset restores the oscillators
  });
});
