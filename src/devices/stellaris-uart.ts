/**
 * The Stellaris UART: an ARM PL011 with Luminary's ID registers, as QEMU 7.2's hw/char/pl011.c
 * ("pl011_luminary") models it. Behaviour checked against qemu-system-arm 7.2:
 *  - reset: FR = 0x90 (TXFE | RXFE), CR = 0x300 (TXE | RXE), IFLS = 0x12, everything else 0;
 *  - TX is instant and ignores CR: a DR write sends the byte to the backend at once, sets TXRIS
 *    (0x20) and never shows BUSY or TXFF in FR. Loopback (CR.LBE) is not modelled by QEMU 7.2: the
 *    byte still goes to the backend and nothing comes back on RX. (Zephyr's uart_stellaris primes
 *    TX interrupts by sending a 0 byte in loopback and waiting for BUSY to clear: under QEMU 7.2
 *    that byte reaches the console, and so it does here.)
 *  - RX: a 16-entry FIFO when LCRH.FEN, else one entry; input is taken whether or not the receiver
 *    is enabled. RXRIS (0x10) rises when the first byte arrives (QEMU's RX trigger level is always
 *    1, whatever IFLS says) and falls when a DR read empties the FIFO. Toggling LCRH.FEN empties
 *    the RX FIFO (its flags are left as they were, as QEMU 7.2). RSR reads 0 (no errors modelled).
 *  - IMSC, ICR, IFLS, LCRH, CR, IBRD, FBRD, ILPR, DMACR store the written value unmasked, as QEMU;
 *    the one interrupt output (what Stellaris wires to the NVIC) is RIS & IMSC != 0.
 *  - Registers are found by offset >> 2, like QEMU (a byte access reads the whole register).
 * Not modelled (nor in QEMU 7.2): baud-rate timing, the receive timeout interrupt, break and error
 * conditions, modem status, DMA (a DMACR write with TX/RX DMA enable logs unimplemented).
 */
import { type AccessSize, type IrqLine, type Logger, type MmioDevice, NO_IRQ, SILENT } from './device.js';
import { Peripheral } from './peripheral.js';
import type { SerialPort } from './cmsdk-uart.js';

export const FR_BUSY = 1 << 3;
export const FR_RXFE = 1 << 4;
export const FR_TXFF = 1 << 5;
export const FR_RXFF = 1 << 6;
export const FR_TXFE = 1 << 7;
export const INT_RX = 1 << 4;
export const INT_TX = 1 << 5;
const LCRH_FEN = 1 << 4;
const FIFO_DEPTH = 16;

/** PrimeCell peripheral and cell IDs at 0xFE0-0xFFC: Luminary's values. */
const LUMINARY_ID = [0x11, 0x00, 0x18, 0x01, 0x0d, 0xf0, 0x05, 0xb1];

export class StellarisUart extends Peripheral implements MmioDevice {
  readonly size = 0x1000;
  private readonly irq: IrqLine;

  private flags = 0;
  private lcr = 0;
  private rsr = 0;
  private cr = 0;
  private dmacr = 0;
  private intEnabled = 0;
  private intLevel = 0;
  private ilpr = 0;
  private ibrd = 0;
  private fbrd = 0;
  private ifl = 0;
  private readonly fifo = new Uint8Array(FIFO_DEPTH);
  private readPos = 0;
  private readCount = 0;
  /** Bytes from the backend that the RX FIFO could not take yet (QEMU's chardev holds them back). */
  private pending: number[] = [];

  constructor(
    readonly name: string,
    private port: SerialPort | null,
    irq: IrqLine = NO_IRQ,
    logger: Logger = SILENT,
  ) {
    super(logger);
    this.irq = irq;
    this.reset();
  }

  attach(port: SerialPort | null): void {
    this.port = port;
  }

  reset(): void {
    this.flags = FR_TXFE | FR_RXFE;
    this.lcr = 0;
    this.rsr = 0;
    this.cr = 0x300;
    this.dmacr = 0;
    this.intEnabled = 0;
    this.intLevel = 0;
    this.ilpr = 0;
    this.ibrd = 0;
    this.fbrd = 0;
    this.ifl = 0x12;
    this.readPos = 0;
    this.readCount = 0;
    this.update();
    this.feed();
  }

  /** Bytes from the backend (chardev or test). Fed into the RX FIFO as it has room. */
  receive(data: Uint8Array | readonly number[]): void {
    for (const b of data) this.pending.push(b & 0xff);
    this.feed();
  }

  /** Received bytes the guest has not read yet (FIFO plus held back). */
  get pendingInput(): number {
    return this.readCount + this.pending.length;
  }

  private canReceive(): boolean {
    return this.readCount < (this.lcr & LCRH_FEN ? FIFO_DEPTH : 1);
  }

  private feed(): void {
    while (this.pending.length && this.canReceive()) this.putFifo(this.pending.shift()!);
  }

  private putFifo(byte: number): void {
    this.fifo[(this.readPos + this.readCount) % FIFO_DEPTH] = byte;
    this.readCount++;
    this.flags &= ~FR_RXFE;
    if (!(this.lcr & LCRH_FEN) || this.readCount === FIFO_DEPTH) this.flags |= FR_RXFF;
    if (this.readCount === 1) {
      this.intLevel |= INT_RX;
      this.update();
    }
  }

  private update(): void {
    this.irq.set((this.intLevel & this.intEnabled) !== 0);
  }

  read(offset: number, _size: AccessSize): number {
    const idx = offset >> 2;
    switch (idx) {
      case 0: {
        // DR
        this.flags &= ~FR_RXFF;
        const c = this.fifo[this.readPos]!;
        if (this.readCount > 0) {
          this.readCount--;
          this.readPos = (this.readPos + 1) % FIFO_DEPTH;
        }
        if (this.readCount === 0) {
          this.flags |= FR_RXFE;
          this.intLevel &= ~INT_RX;
        }
        this.rsr = c >> 8;
        this.update();
        this.feed();
        return c;
      }
      case 1:
        return this.rsr;
      case 6:
        return this.flags;
      case 8:
        return this.ilpr;
      case 9:
        return this.ibrd;
      case 10:
        return this.fbrd;
      case 11:
        return this.lcr;
      case 12:
        return this.cr;
      case 13:
        return this.ifl;
      case 14:
        return this.intEnabled;
      case 15:
        return this.intLevel;
      case 16:
        return this.intLevel & this.intEnabled;
      case 18:
        return this.dmacr;
      default:
        if (idx >= 0x3f8 && idx < 0x400) return LUMINARY_ID[idx - 0x3f8]!;
        this.guestError(`pl011_read: Bad offset 0x${offset.toString(16)}`);
        return 0;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    switch (offset >> 2) {
      case 0:
        this.port?.write(value & 0xff);
        this.intLevel |= INT_TX;
        this.update();
        break;
      case 1:
        this.rsr = 0;
        break;
      case 6:
        break; // FR: writes ignored
      case 8:
        this.ilpr = value;
        break;
      case 9:
        this.ibrd = value;
        break;
      case 10:
        this.fbrd = value;
        break;
      case 11:
        if ((this.lcr ^ value) & LCRH_FEN) {
          this.readCount = 0;
          this.readPos = 0;
        }
        this.lcr = value;
        this.feed();
        break;
      case 12:
        this.cr = value;
        break;
      case 13:
        this.ifl = value;
        break;
      case 14:
        this.intEnabled = value;
        this.update();
        break;
      case 17:
        this.intLevel &= ~value;
        this.update();
        break;
      case 18:
        this.dmacr = value;
        if (value & 3) this.unimp('pl011: DMA not implemented');
        break;
      default:
        this.guestError(`pl011_write: Bad offset 0x${offset.toString(16)}`);
    }
  }
}
