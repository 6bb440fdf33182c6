import { describe, expect, it } from 'vitest';
import { CmsdkUart } from '../../src/devices/cmsdk-uart.js';
import type { IrqLine, Logger } from '../../src/devices/device.js';

function line() {
  const l = { level: false, edges: 0, set(v: boolean) { if (v && !l.level) l.edges++; l.level = v; }, pulse() {} };
  return l satisfies IrqLine;
}

function make() {
  const out: number[] = [];
  const irqs = { tx: line(), rx: line(), txOverrun: line(), rxOverrun: line(), combined: line() };
  const errors: string[] = [];
  const log: Logger = { enabled: () => true, log: (_c, m) => errors.push(m) };
  const uart = new CmsdkUart('uart0', { write: (b) => out.push(b) }, irqs, log);
  return { uart, out, irqs, errors };
}

describe('CMSDK APB UART', () => {
  it('resets to zero and reports the PrimeCell IDs', () => {
    const { uart } = make();
    for (const off of [0x0, 0x4, 0x8, 0xc, 0x10]) expect(uart.read(off, 4)).toBe(0);
    const ids = [0xfd0, 0xfd4, 0xfd8, 0xfdc, 0xfe0, 0xfe4, 0xfe8, 0xfec, 0xff0, 0xff4, 0xff8, 0xffc].map((o) => uart.read(o, 4));
    expect(ids).toEqual([0x04, 0, 0, 0, 0x21, 0xb8, 0x1b, 0, 0x0d, 0xf0, 0x05, 0xb1]);
  });

  it('transmits when TX is enabled and raises the TX interrupt if enabled', () => {
    const { uart, out, irqs } = make();
    uart.write(0x10, 4, 0xd9);
    uart.write(0x8, 4, 0x1 | 0x4); // TX enable + TX interrupt enable
    uart.write(0x0, 4, 0x41);
    expect(out).toEqual([0x41]);
    expect(uart.read(0x4, 4) & 1).toBe(0); // TXFULL clear again
    expect(uart.read(0xc, 4)).toBe(1);
    expect(irqs.tx.level).toBe(true);
    expect(irqs.combined.level).toBe(true);
    uart.write(0xc, 4, 1); // W1C
    expect(irqs.tx.level).toBe(false);
    expect(uart.read(0xc, 4)).toBe(0);
  });

  it('holds a byte written while TX is disabled (TXFULL) and flags overrun on a second write', () => {
    const { uart, out, irqs } = make();
    uart.write(0x8, 4, 0x10); // TXO interrupt enable only
    uart.write(0x0, 4, 0x31);
    expect(out).toEqual([]);
    expect(uart.read(0x4, 4) & 1).toBe(1);
    uart.write(0x0, 4, 0x32);
    expect(uart.read(0x4, 4) & 4).toBe(4); // TXOVERRUN
    expect(uart.read(0xc, 4) & 4).toBe(4); // TXO int = STATE & CTRL
    expect(irqs.txOverrun.level).toBe(true);
    uart.write(0x4, 4, 4); // W1C overrun in STATE
    expect(uart.read(0xc, 4) & 4).toBe(0);
    expect(irqs.txOverrun.level).toBe(false);
  });

  it('receives one byte at a time, queues the rest, and interrupts on RX', () => {
    const { uart, irqs } = make();
    uart.receive(Uint8Array.of(0x61, 0x62));
    expect(uart.read(0x4, 4) & 2).toBe(0); // RX disabled: nothing delivered yet
    uart.write(0x8, 4, 0x2 | 0x8);
    expect(uart.read(0x4, 4) & 2).toBe(2);
    expect(irqs.rx.level).toBe(true);
    expect(uart.read(0x0, 4)).toBe(0x61);
    expect(uart.read(0x4, 4) & 2).toBe(2); // next byte delivered
    uart.write(0xc, 4, 2);
    expect(uart.read(0x0, 4)).toBe(0x62);
    expect(uart.read(0x4, 4) & 2).toBe(0);
    expect(uart.pendingInput).toBe(0);
  });

  it('keeps CTRL to 7 bits, BAUDDIV to 20 bits, and logs bad offsets as guest errors', () => {
    const { uart, errors } = make();
    uart.write(0x8, 4, 0xff);
    expect(uart.read(0x8, 4)).toBe(0x7f);
    uart.write(0x10, 4, 0xffffffff);
    expect(uart.read(0x10, 4)).toBe(0xfffff);
    expect(uart.read(0x20, 4)).toBe(0);
    uart.write(0xfe0, 4, 1);
    expect(errors.some((e) => e.includes('bad offset 0x20'))).toBe(true);
    expect(errors.some((e) => e.includes('RO offset 0xfe0'))).toBe(true);
  });
});
