import { describe, expect, it } from 'vitest';
import { CR1_LBM, CR1_MS, CR1_SSE, INT_RX, INT_TX, Pl022, SR_BSY, SR_RFF, SR_RNE, SR_TFE, SR_TNF } from '../../src/devices/pl022.js';
import type { IrqLine, Logger } from '../../src/devices/device.js';

const CR0 = 0x00, CR1 = 0x04, DR = 0x08, SR = 0x0c, CPSR = 0x10, IMSC = 0x14, RIS = 0x18, MIS = 0x1c, ICR = 0x20, DMACR = 0x24;

function make(transfer?: (v: number) => number) {
  const irq = { level: false, set(v: boolean) { irq.level = v; }, pulse() {} } satisfies IrqLine & { level: boolean };
  const logs: string[] = [];
  const log: Logger = { enabled: () => true, log: (c, m) => logs.push(`${c}: ${m}`) };
  const sent: number[] = [];
  const ssp = new Pl022('ssi0', { irq, log, transfer: transfer ? (v) => (sent.push(v), transfer(v)) : undefined });
  return { ssp, irq, logs, sent };
}

describe('PL022: reset (QEMU 7.2)', () => {
  it('reads SR = TFE|TNF, RIS = TX and zero elsewhere; the line is low', () => {
    const { ssp, irq } = make();
    const regs: [number, number][] = [[CR0, 0], [CR1, 0], [DR, 0], [SR, SR_TFE | SR_TNF], [CPSR, 0], [IMSC, 0], [RIS, INT_TX], [MIS, 0], [ICR, 0]];
    for (const [off, v] of regs) expect(ssp.read(off, 4), `0x${off.toString(16)}`).toBe(v);
    expect(irq.level).toBe(false);
  });
  it('has the PrimeCell IDs 0x22 0x10 0x04 0x00 / 0x0D 0xF0 0x05 0xB1, byte reads too', () => {
    const { ssp } = make();
    expect([0xfe0, 0xfe4, 0xfe8, 0xfec, 0xff0, 0xff4, 0xff8, 0xffc].map((o) => ssp.read(o, 4))).toEqual([0x22, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
    expect(ssp.read(0xfe0, 1)).toBe(0x22);
  });
  it('keeps CR0, CR1 and CPSR over a device reset and empties the FIFOs', () => {
    const { ssp } = make();
    ssp.write(CR0, 4, 7);
    ssp.write(CR1, 4, CR1_SSE | CR1_LBM);
    ssp.write(CPSR, 4, 2);
    ssp.write(IMSC, 4, 0xf);
    ssp.write(DR, 4, 0x55);
    ssp.reset();
    expect([ssp.read(CR0, 4), ssp.read(CR1, 4), ssp.read(CPSR, 4), ssp.read(IMSC, 4), ssp.read(SR, 4), ssp.read(RIS, 4)]).toEqual([7, 3, 2, 0, 3, INT_TX]);
    expect(ssp.read(DR, 4)).toBe(0);
  });
});

describe('PL022: registers', () => {
  it('stores CR0, CR1 and IMSC whole, CPSR to 8 bits; SR/RIS/MIS writes are bad offsets', () => {
    const { ssp, logs } = make();
    ssp.write(CR0, 4, 0xffff0000);
    ssp.write(CR1, 4, 0xfffffff0);
    ssp.write(IMSC, 4, 0xfffffff0);
    ssp.write(CPSR, 4, 0x1234);
    expect([ssp.read(CR0, 4), ssp.read(CR1, 4), ssp.read(IMSC, 4), ssp.read(CPSR, 4)]).toEqual([0xffff0000, 0xfffffff0, 0xfffffff0, 0x34]);
    for (const off of [SR, RIS, MIS]) ssp.write(off, 4, 0xff);
    expect(logs).toEqual(['guest_errors: pl022_write: Bad offset 0xc', 'guest_errors: pl022_write: Bad offset 0x18', 'guest_errors: pl022_write: Bad offset 0x1c']);
    expect(ssp.read(SR, 4)).toBe(SR_TFE | SR_TNF);
  });
  it('decodes 0x20 as QEMU 7.2’s "DMACR" (reads 0, non-zero writes logged unimp); 0x24 is a bad offset', () => {
    const { ssp, logs } = make();
    ssp.write(ICR, 4, 0);
    ssp.write(ICR, 4, 3);
    expect(ssp.read(ICR, 4)).toBe(0);
    expect(ssp.read(DMACR, 4)).toBe(0);
    ssp.write(DMACR, 4, 1);
    expect(logs).toEqual(['unimp: pl022: DMA not implemented', 'guest_errors: pl022_read: Bad offset 0x24', 'guest_errors: pl022_write: Bad offset 0x24']);
    expect(ssp.read(RIS, 4)).toBe(INT_TX);
  });
  it('logs (and otherwise ignores) peripheral mode', () => {
    const { ssp, logs } = make();
    ssp.write(CR1, 4, CR1_SSE | CR1_MS);
    expect(logs).toEqual(['guest_errors: pl022: error: SPI peripheral mode not implemented']);
  });
});

describe('PL022: transfers and FIFOs', () => {
  it('with nothing on the bus a transfer returns 0 and completes at once', () => {
    const { ssp } = make();
    ssp.write(CR0, 4, 7);
    ssp.write(CR1, 4, CR1_SSE);
    ssp.write(DR, 4, 0xa5);
    expect(ssp.read(SR, 4)).toBe(SR_TFE | SR_TNF | SR_RNE);
    expect(ssp.read(DR, 4)).toBe(0);
    expect(ssp.read(SR, 4)).toBe(SR_TFE | SR_TNF);
  });
  it('loopback returns the TX word masked to the data width (DSS + 1 bits)', () => {
    const { ssp, sent } = make(() => 0x1234);
    ssp.write(CR0, 4, 7);
    ssp.write(CR1, 4, CR1_SSE | CR1_LBM);
    ssp.write(DR, 4, 0x1a5);
    expect(ssp.read(DR, 4)).toBe(0xa5);
    ssp.write(CR0, 4, 0xf);
    ssp.write(DR, 4, 0x1ffff);
    expect(ssp.read(DR, 4)).toBe(0xffff);
    ssp.write(CR0, 4, 3);
    ssp.write(DR, 4, 0xff);
    expect(ssp.read(DR, 4)).toBe(0xf);
    expect(sent).toEqual([]);
    ssp.write(CR1, 4, CR1_SSE);
    ssp.write(DR, 4, 0x9);
    expect(sent).toEqual([0x9]);
    expect(ssp.read(DR, 4)).toBe(0x4); // bus answer masked to 4 bits
  });
  it('queues 0 before the first CR0 write (QEMU’s data width starts at 0 bits)', () => {
    const { ssp } = make();
    ssp.write(CR1, 4, CR1_SSE | CR1_LBM);
    ssp.write(DR, 4, 0xff);
    expect(ssp.read(SR, 4) & SR_RNE).toBe(SR_RNE);
    expect(ssp.read(DR, 4)).toBe(0);
  });
  it('holds TX while disabled: 8 entries, then full (TNF clear) and writes dropped; enabling sends them', () => {
    const { ssp } = make();
    ssp.write(CR0, 4, 7);
    ssp.write(CR1, 4, CR1_LBM);
    for (let i = 0; i < 9; i++) ssp.write(DR, 4, i + 1);
    expect(ssp.read(SR, 4)).toBe(SR_BSY);
    expect(ssp.read(RIS, 4)).toBe(0);
    ssp.write(CR1, 4, CR1_SSE | CR1_LBM);
    expect(ssp.read(SR, 4)).toBe(SR_TFE | SR_TNF | SR_RNE | SR_RFF);
    expect(ssp.read(RIS, 4)).toBe(INT_TX | INT_RX);
    const got: number[] = [];
    for (let i = 0; i < 9; i++) got.push(ssp.read(DR, 4));
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 0]);
  });
  it('stalls TX instead of overflowing RX: a full RX FIFO leaves TX queued until the guest reads', () => {
    const { ssp } = make();
    ssp.write(CR0, 4, 7);
    ssp.write(CR1, 4, CR1_SSE | CR1_LBM);
    for (let i = 0; i < 12; i++) ssp.write(DR, 4, 0x10 + i);
    expect(ssp.read(SR, 4)).toBe(SR_TNF | SR_RNE | SR_RFF | SR_BSY); // 8 in RX, 4 waiting in TX
    expect(ssp.read(RIS, 4)).toBe(INT_TX | INT_RX);
    const got: number[] = [];
    while (ssp.read(SR, 4) & SR_RNE) got.push(ssp.read(DR, 4));
    expect(got).toEqual(Array.from({ length: 12 }, (_, i) => 0x10 + i));
    expect(ssp.read(SR, 4)).toBe(SR_TFE | SR_TNF);
  });
  it('RX raises at 4 entries, TX clears above 4 queued; the line follows RIS & IMSC', () => {
    const { ssp, irq } = make();
    ssp.write(CR0, 4, 7);
    ssp.write(CR1, 4, CR1_LBM);
    ssp.write(IMSC, 4, INT_TX);
    expect(irq.level).toBe(true);
    expect(ssp.read(MIS, 4)).toBe(INT_TX);
    for (let i = 0; i < 5; i++) ssp.write(DR, 4, i);
    expect(ssp.read(RIS, 4)).toBe(0);
    expect(irq.level).toBe(false);
    ssp.write(IMSC, 4, INT_RX);
    ssp.write(CR1, 4, CR1_SSE | CR1_LBM);
    expect(ssp.read(RIS, 4)).toBe(INT_TX | INT_RX);
    expect(ssp.read(MIS, 4)).toBe(INT_RX);
    expect(irq.level).toBe(true);
    ssp.read(DR, 4);
    ssp.read(DR, 4);
    expect(ssp.read(RIS, 4)).toBe(INT_TX);
    expect(irq.level).toBe(false);
  });
  it('reads of an empty RX FIFO return 0', () => {
    const { ssp } = make();
    expect(ssp.read(DR, 4)).toBe(0);
    expect(ssp.read(SR, 4)).toBe(SR_TFE | SR_TNF);
  });
});
