import { describe, expect, it } from 'vitest';
import { GPIO_UNLOCK_KEY, Pl061 } from '../../src/devices/pl061.js';
import type { IrqLine, Logger } from '../../src/devices/device.js';

const DIR = 0x400, IS = 0x404, IBE = 0x408, IEV = 0x40c, IM = 0x410, RIS = 0x414, MIS = 0x418, ICR = 0x41c, AFSEL = 0x420;
const DR2R = 0x500, DR4R = 0x504, DR8R = 0x508, ODR = 0x50c, PUR = 0x510, PDR = 0x514, SLR = 0x518, DEN = 0x51c;
const LOCK = 0x520, CR = 0x524, AMSEL = 0x528;
const LUMINARY_REGS = [DR2R, DR4R, DR8R, ODR, PUR, PDR, SLR, DEN, LOCK, CR, AMSEL];
const ALL = 0x3fc; // DATA with every pin unmasked

function make(luminary = true, extra: { pullups?: number; pulldowns?: number } = {}) {
  const irq = { level: false, set(v: boolean) { irq.level = v; }, pulse() {} } satisfies IrqLine & { level: boolean };
  const logs: string[] = [];
  const log: Logger = { enabled: () => true, log: (c, m) => logs.push(`${c}: ${m}`) };
  const outs: [number, boolean][] = [];
  const gpio = new Pl061('gpio', { irq, luminary, log, onOutput: (p, l) => outs.push([p, l]), ...extra });
  return { gpio, irq, logs, outs };
}

describe('PL061 (Luminary): reset (QEMU 7.2)', () => {
  it('reads DR2R 0xFF, LOCK 1, CR 0xFF and zero elsewhere', () => {
    const { gpio, irq } = make();
    const regs: [number, number][] = [
      [0, 0], [ALL, 0], [DIR, 0], [IS, 0], [IBE, 0], [IEV, 0], [IM, 0], [RIS, 0], [MIS, 0], [AFSEL, 0],
      [DR2R, 0xff], [DR4R, 0], [DR8R, 0], [ODR, 0], [PUR, 0], [PDR, 0], [SLR, 0], [DEN, 0], [LOCK, 1], [CR, 0xff], [AMSEL, 0],
    ];
    for (const [off, v] of regs) expect(gpio.read(off, 4), `0x${off.toString(16)}`).toBe(v);
    expect(irq.level).toBe(false);
  });
  it('has the Luminary IDs at 0xFD0-0xFFC', () => {
    const { gpio } = make();
    const ids = Array.from({ length: 12 }, (_, i) => gpio.read(0xfd0 + 4 * i, 4));
    expect(ids).toEqual([0, 0, 0, 0, 0x61, 0x00, 0x18, 0x01, 0x0d, 0xf0, 0x05, 0xb1]);
  });
  it('a reset puts every register back', () => {
    const { gpio } = make();
    gpio.write(DIR, 4, 0xff);
    gpio.write(ALL, 4, 0xff);
    gpio.write(PUR, 4, 0xf);
    gpio.write(LOCK, 4, GPIO_UNLOCK_KEY);
    gpio.write(CR, 4, 0);
    gpio.reset();
    expect([gpio.read(ALL, 4), gpio.read(DIR, 4), gpio.read(PUR, 4), gpio.read(LOCK, 4), gpio.read(CR, 4)]).toEqual([0, 0, 0, 1, 0xff]);
  });
});

describe('PL061 (plain): IDs and the Luminary registers', () => {
  it('has the ARM IDs, and 0x500-0x528 are bad offsets', () => {
    const { gpio, logs } = make(false);
    expect(Array.from({ length: 12 }, (_, i) => gpio.read(0xfd0 + 4 * i, 4))).toEqual([0, 0, 0, 0, 0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
    for (const off of LUMINARY_REGS) {
      gpio.write(off, 4, 0xff);
      expect(gpio.read(off, 4)).toBe(0);
    }
    expect(logs).toContain('guest_errors: pl061_write: Bad offset 0x500');
    expect(logs).toContain('guest_errors: pl061_read: Bad offset 0x528');
  });
  it('drives pulled-up inputs high on its outputs (QEMU’s pullups property, default 0xFF)', () => {
    const { gpio, outs } = make(false, { pullups: 0x0f, pulldowns: 0xf0 });
    expect(gpio.outputs).toBe(0x0f);
    expect(outs).toHaveLength(8);
    expect(() => make(false, { pullups: 1, pulldowns: 1 })).toThrow();
  });
});

describe('PL061: registers', () => {
  it('stores DIR, IS, IBE, IEV, IM and the Luminary registers to 8 bits', () => {
    const { gpio } = make();
    for (const off of [DIR, IS, IBE, IEV, IM, DR2R, DR4R, DR8R, ODR, PUR, PDR, SLR, DEN, AMSEL]) {
      gpio.write(off, 4, 0xffffff5a);
      expect(gpio.read(off, 4), `0x${off.toString(16)}`).toBe(0x5a);
      gpio.write(off, 4, 0);
    }
  });
  it('RIS, MIS and the IDs are read-only (bad offsets)', () => {
    const { gpio, logs } = make();
    gpio.write(RIS, 4, 0xff);
    gpio.write(MIS, 4, 0xff);
    gpio.write(0xfe0, 4, 0);
    expect(logs).toEqual(['guest_errors: pl061_write: Bad offset 0x414', 'guest_errors: pl061_write: Bad offset 0x418', 'guest_errors: pl061_write: Bad offset 0xfe0']);
    expect(gpio.read(0x42c, 4)).toBe(0);
    expect(logs.at(-1)).toBe('guest_errors: pl061_read: Bad offset 0x42c');
  });
  it('LOCK: the key unlocks, anything else locks; CR writes only while unlocked; AFSEL only where CR is set', () => {
    const { gpio } = make();
    gpio.write(AFSEL, 4, 0x1ff);
    expect(gpio.read(AFSEL, 4)).toBe(0xff);
    gpio.write(CR, 4, 0x0f); // locked: ignored
    expect(gpio.read(CR, 4)).toBe(0xff);
    gpio.write(LOCK, 4, GPIO_UNLOCK_KEY);
    expect(gpio.read(LOCK, 4)).toBe(0);
    gpio.write(CR, 4, 0x10f);
    expect(gpio.read(CR, 4)).toBe(0x0f);
    gpio.write(AFSEL, 4, 0);
    expect(gpio.read(AFSEL, 4)).toBe(0xf0); // the committed-off bits keep their value
    gpio.write(LOCK, 4, 1);
    expect(gpio.read(LOCK, 4)).toBe(1);
    gpio.write(CR, 4, 0xff);
    expect(gpio.read(CR, 4)).toBe(0x0f);
  });
});

describe('PL061: address-masked DATA', () => {
  it('writes only the masked output pins; reads return DATA & mask', () => {
    const { gpio } = make();
    gpio.write(DIR, 4, 0x0f); // pins 0-3 outputs
    gpio.write(ALL, 4, 0xff);
    expect(gpio.read(ALL, 4)).toBe(0x0f); // inputs are not written
    gpio.write(0x04 << 2, 4, 0); // mask 0x04: clear pin 2 only
    expect(gpio.read(ALL, 4)).toBe(0x0b);
    expect(gpio.read(0x03 << 2, 4)).toBe(0x03);
    expect(gpio.read(0x0c << 2, 4)).toBe(0x08);
    expect(gpio.read(0, 4)).toBe(0); // mask 0 reads nothing
    gpio.write(0, 4, 0); // and writes nothing
    expect(gpio.read(ALL, 4)).toBe(0x0b);
    expect(gpio.read(ALL, 1)).toBe(0x0b);
  });
  it('reports output levels: DATA on outputs, PUR pulls inputs high', () => {
    const { gpio, outs } = make();
    outs.length = 0;
    gpio.write(DIR, 4, 0x01);
    gpio.write(ALL, 4, 0x01);
    gpio.write(PUR, 4, 0x80);
    expect(gpio.outputs).toBe(0x81);
    expect(outs).toEqual([[0, true], [7, true]]);
  });
  it('undriven inputs read 0; setInput drives only pins that are inputs', () => {
    const { gpio } = make();
    gpio.write(PUR, 4, 0xff);
    expect(gpio.read(ALL, 4)).toBe(0);
    gpio.setInput(3, true);
    expect(gpio.read(ALL, 4)).toBe(0x08);
    gpio.write(DIR, 4, 0x10);
    gpio.setInput(4, true);
    expect(gpio.read(ALL, 4)).toBe(0x08);
  });
});

describe('PL061: interrupts', () => {
  it('edge on the IEV-selected edge (rising), latched until ICR; the line is RIS & IM', () => {
    const { gpio, irq } = make();
    gpio.write(IEV, 4, 0x01);
    gpio.write(IM, 4, 0x01);
    gpio.setInput(0, true);
    expect([gpio.read(RIS, 4), gpio.read(MIS, 4), irq.level]).toEqual([1, 1, true]);
    gpio.setInput(0, false); // falling: no new event, still latched
    expect(gpio.read(RIS, 4)).toBe(1);
    gpio.write(ICR, 4, 1);
    expect([gpio.read(RIS, 4), irq.level]).toEqual([0, false]);
    gpio.setInput(0, false);
    expect(gpio.read(RIS, 4)).toBe(0);
  });
  it('falling edge with IEV = 0; both edges with IBE; IM masks the line, not RIS', () => {
    const { gpio, irq } = make();
    gpio.setInput(1, true);
    expect(gpio.read(RIS, 4)).toBe(0);
    gpio.setInput(1, false);
    expect(gpio.read(RIS, 4)).toBe(0x02);
    expect([gpio.read(MIS, 4), irq.level]).toEqual([0, false]);
    gpio.write(ICR, 4, 0xff);
    gpio.write(IBE, 4, 0x04);
    gpio.setInput(2, true);
    expect(gpio.read(RIS, 4)).toBe(0x04);
    gpio.write(ICR, 4, 0x04);
    gpio.setInput(2, false);
    expect(gpio.read(RIS, 4)).toBe(0x04);
    gpio.write(IM, 4, 0x04);
    expect(irq.level).toBe(true);
  });
  it('level-sensitive pins latch whenever DATA matches IEV at an update, and again after ICR', () => {
    const { gpio, irq } = make();
    gpio.write(IM, 4, 0x20);
    gpio.write(IS, 4, 0x20); // low level: DATA bit 5 is 0, so it latches at once
    expect([gpio.read(RIS, 4), irq.level]).toEqual([0x20, true]);
    gpio.write(ICR, 4, 0x20); // ICR itself updates: still low, latched again
    expect(gpio.read(RIS, 4)).toBe(0x20);
    gpio.write(IEV, 4, 0x20); // high level now; RIS stays latched until cleared
    gpio.write(ICR, 4, 0x20);
    gpio.write(ICR, 4, 0x20);
    expect([gpio.read(RIS, 4), irq.level]).toEqual([0, false]);
    gpio.setInput(5, true);
    expect([gpio.read(RIS, 4), irq.level]).toEqual([0x20, true]);
  });
  it('output pins do not raise edge interrupts', () => {
    const { gpio } = make();
    gpio.write(DIR, 4, 0xff);
    gpio.write(IBE, 4, 0xff);
    gpio.write(ALL, 4, 0xff);
    gpio.write(ALL, 4, 0);
    expect(gpio.read(RIS, 4)).toBe(0);
  });
});
