import { describe, expect, it } from 'vitest';
import { FR_RXFE, FR_RXFF, FR_TXFE, INT_RX, INT_TX, StellarisUart } from '../../src/devices/stellaris-uart.js';
import type { IrqLine, Logger } from '../../src/devices/device.js';

const DR = 0x00, RSR = 0x04, FR = 0x18, ILPR = 0x20, IBRD = 0x24, FBRD = 0x28, LCRH = 0x2c, CR = 0x30;
const IFLS = 0x34, IMSC = 0x38, RIS = 0x3c, MIS = 0x40, ICR = 0x44, DMACR = 0x48;

function make() {
  const out: number[] = [];
  const irq = { level: false, set(v: boolean) { irq.level = v; }, pulse() {} } satisfies IrqLine & { level: boolean };
  const logs: string[] = [];
  const logger: Logger = { enabled: () => true, log: (c, m) => logs.push(`${c}: ${m}`) };
  const uart = new StellarisUart('uart0', { write: (b) => out.push(b) }, irq, logger);
  return { uart, out, irq, logs };
}

describe('Stellaris UART (PL011, Luminary): reset (as read from qemu-system-arm 7.2)', () => {
  it('reads FR 0x90, CR 0x300, IFLS 0x12 and zero elsewhere', () => {
    const { uart } = make();
    const regs: [number, number][] = [
      [DR, 0], [RSR, 0], [FR, 0x90], [ILPR, 0], [IBRD, 0], [FBRD, 0], [LCRH, 0], [CR, 0x300],
      [IFLS, 0x12], [IMSC, 0], [RIS, 0], [MIS, 0], [ICR, 0], [DMACR, 0],
    ];
    for (const [off, v] of regs) expect(uart.read(off, 4), `offset 0x${off.toString(16)}`).toBe(v);
  });
  it('has Luminary’s PrimeCell IDs at 0xFE0-0xFFC; 0xFD0 is a bad offset', () => {
    const { uart, logs } = make();
    const ids = [0xfe0, 0xfe4, 0xfe8, 0xfec, 0xff0, 0xff4, 0xff8, 0xffc].map((o) => uart.read(o, 4));
    expect(ids).toEqual([0x11, 0x00, 0x18, 0x01, 0x0d, 0xf0, 0x05, 0xb1]);
    expect(uart.read(0xfd0, 4)).toBe(0);
    expect(logs).toContain('guest_errors: pl011_read: Bad offset 0xfd0');
  });
});

describe('Stellaris UART: registers', () => {
  it('stores the configuration registers unmasked, as QEMU; FR writes are ignored', () => {
    const { uart } = make();
    for (const off of [ILPR, IBRD, FBRD, LCRH, CR, IFLS, IMSC, DMACR]) {
      uart.write(off, 4, 0xffffffff);
      expect(uart.read(off, 4), `offset 0x${off.toString(16)}`).toBe(0xffffffff);
    }
    uart.write(FR, 4, 0);
    expect(uart.read(FR, 4)).toBe(0x90);
  });
  it('Zephyr’s set-up: CTL 0x300 → 0x301, IBRD/FBRD/LCRH written', () => {
    const { uart } = make();
    uart.write(CR, 4, 0x300);
    uart.write(IBRD, 4, 6);
    uart.write(FBRD, 4, 33);
    uart.write(LCRH, 4, 0x60);
    uart.write(CR, 4, 0x301);
    expect([uart.read(CR, 4), uart.read(IBRD, 4), uart.read(FBRD, 4), uart.read(LCRH, 4)]).toEqual([0x301, 6, 33, 0x60]);
  });
  it('logs bad offsets and DMA enables', () => {
    const { uart, logs } = make();
    uart.write(0x800, 4, 1);
    uart.write(DMACR, 4, 3);
    expect(logs).toContain('guest_errors: pl011_write: Bad offset 0x800');
    expect(logs).toContain('unimp: pl011: DMA not implemented');
  });
});

describe('Stellaris UART: transmit', () => {
  it('sends at once whatever CR says, sets TXRIS, never BUSY or TXFF', () => {
    const { uart, out, irq } = make();
    uart.write(CR, 4, 0); // disabled: QEMU 7.2 sends anyway
    uart.write(DR, 4, 0x141);
    expect(out).toEqual([0x41]);
    expect(uart.read(FR, 4)).toBe(FR_TXFE | FR_RXFE);
    expect(uart.read(RIS, 4)).toBe(INT_TX);
    expect(uart.read(MIS, 4)).toBe(0);
    expect(irq.level).toBe(false);
    uart.write(IMSC, 4, INT_TX);
    expect(irq.level).toBe(true);
    expect(uart.read(MIS, 4)).toBe(INT_TX);
    uart.write(ICR, 4, INT_TX);
    expect(irq.level).toBe(false);
    expect(uart.read(RIS, 4)).toBe(0);
  });
  it('loopback (Zephyr’s TX-interrupt priming) is not modelled, as in QEMU 7.2: the byte goes out', () => {
    const { uart, out } = make();
    uart.write(FBRD, 4, 0);
    uart.write(IBRD, 4, 1);
    uart.write(LCRH, 4, 0);
    uart.write(CR, 4, 0x181); // UARTEN | TXE | LBE
    uart.write(DR, 4, 0);
    expect(uart.read(FR, 4)).toBe(0x90); // BUSY clear at once
    expect(uart.read(RIS, 4)).toBe(INT_TX);
    expect(out).toEqual([0]);
    expect(uart.read(DR, 4)).toBe(0); // nothing looped back
    expect(uart.read(FR, 4)).toBe(0x90);
  });
});

describe('Stellaris UART: receive', () => {
  it('holds one byte without the FIFO: RXFF, RXRIS on arrival, cleared by reading DR', () => {
    const { uart, irq } = make();
    uart.write(IMSC, 4, INT_RX);
    uart.receive([0x61, 0x62]);
    expect(uart.read(FR, 4)).toBe(FR_TXFE | FR_RXFF);
    expect(uart.read(RIS, 4)).toBe(INT_RX);
    expect(irq.level).toBe(true);
    expect(uart.read(DR, 4)).toBe(0x61);
    // The next byte comes in at once and raises RXRIS again.
    expect(uart.read(FR, 4)).toBe(FR_TXFE | FR_RXFF);
    expect(irq.level).toBe(true);
    expect(uart.read(DR, 4)).toBe(0x62);
    expect(uart.read(FR, 4)).toBe(FR_TXFE | FR_RXFE);
    expect(uart.read(RIS, 4)).toBe(0);
    expect(irq.level).toBe(false);
    expect(uart.pendingInput).toBe(0);
  });
  it('takes input whether or not the receiver is enabled (QEMU does not look at CR)', () => {
    const { uart } = make();
    uart.write(CR, 4, 0);
    uart.receive([0x31]);
    expect(uart.read(DR, 4)).toBe(0x31);
  });
  it('with LCRH.FEN: a 16-byte FIFO, RXFF only when full, RXRIS from the first byte (trigger level 1)', () => {
    const { uart } = make();
    uart.write(LCRH, 4, 0x10);
    uart.receive(Array.from({ length: 20 }, (_, i) => 0x40 + i));
    expect(uart.read(FR, 4)).toBe(FR_TXFE | FR_RXFF);
    expect(uart.read(RIS, 4)).toBe(INT_RX);
    expect(uart.pendingInput).toBe(20);
    const got: number[] = [];
    while (!(uart.read(FR, 4) & FR_RXFE)) got.push(uart.read(DR, 4));
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => 0x40 + i));
    expect(uart.read(RIS, 4)).toBe(0);
  });
  it('partly filled FIFO: neither RXFE nor RXFF', () => {
    const { uart } = make();
    uart.write(LCRH, 4, 0x10);
    uart.receive([1, 2, 3]);
    expect(uart.read(FR, 4)).toBe(FR_TXFE);
  });
  it('toggling FEN empties the RX FIFO', () => {
    const { uart } = make();
    uart.write(LCRH, 4, 0x10);
    uart.receive([1, 2, 3]);
    uart.write(LCRH, 4, 0x00);
    expect(uart.pendingInput).toBe(0);
  });
  it('reset empties the FIFO; bytes the FIFO had not taken yet come in after it', () => {
    const { uart } = make();
    uart.receive([1, 2]);
    uart.write(IMSC, 4, 0x7ff);
    uart.reset();
    expect(uart.read(IMSC, 4)).toBe(0);
    expect(uart.pendingInput).toBe(1);
    expect(uart.read(DR, 4)).toBe(2);
    uart.reset();
    expect(uart.read(FR, 4)).toBe(0x90);
  });
});
