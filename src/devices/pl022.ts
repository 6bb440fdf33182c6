/**
 * ARM PrimeCell PL022 synchronous serial port (SSP/SPI), as QEMU 7.2's hw/ssi/pl022.c models it.
 * Used for lm3s6965evb's SSI0 (0x40008000, IRQ 7) and mps2-an385's five SPI controllers.
 *
 *   0x00 CR0    stored whole; DSS (bits 3:0) sets the data width, DSS+1 bits (clock rate and frame
 *               format are ignored)
 *   0x04 CR1    stored whole; bit 0 LBM (loopback), bit 1 SSE (enable), bit 2 MS (peripheral mode,
 *               unmodelled: QEMU prints an error and carries on as a controller)
 *   0x08 DR     write: push onto the 8-entry TX FIFO (dropped when full), masked to the data width;
 *               read: pop the 8-entry RX FIFO (0 when empty)
 *   0x0C SR     TFE, TNF, RNE, RFF, BSY (BSY while the TX FIFO holds anything)
 *   0x10 CPSR   low 8 bits stored (prescaler, ignored)
 *   0x14 IMSC   stored whole
 *   0x18 RIS    RX (bit 2: RX FIFO at least half full, >= 4) and TX (bit 3: TX FIFO at most half full);
 *               ROR and RT are never raised
 *   0x1C MIS    RIS & IMSC; the interrupt line is (RIS & IMSC) != 0
 *   0x20        QEMU 7.2 decodes this as "DMACR" (the TRM's ICR): reads 0, a non-zero write is logged
 *               under -d unimp. ICR's clearable sources (ROR, RT) never occur, so nothing is lost
 *   0x24        the TRM's DMACR: a bad offset in QEMU 7.2 (reads 0, logged under -d guest_errors)
 *   0xFE0-0xFFC PrimeCell IDs 0x22 0x10 0x04 0x00 / 0x0D 0xF0 0x05 0xB1
 *
 * Transfers complete at once while SSE is set: each TX word goes out and the answer (the TX word itself
 * in loopback mode, else what the bus returns) lands in the RX FIFO. The engine stalls rather than
 * overflow the RX FIFO (so TX drains only as the guest reads RX), as QEMU's does. The bus is `transfer`:
 * by default nothing answers and a transfer returns 0 (QEMU's ssi_transfer with no selected device).
 *
 * Reset clears the FIFOs and IMSC and sets RIS = TX, SR = TFE | TNF; CR0, CR1, CPSR and the data width
 * keep their values, as in QEMU (whose data width is 0 bits until the first CR0 write: a DR write
 * before then queues 0).
 */
import { type AccessSize, type IrqLine, type Logger, type MmioDevice, NO_IRQ, SILENT } from './device.js';
import { Peripheral, primeCellIds, truncate } from './peripheral.js';

export const CR1_LBM = 1 << 0;
export const CR1_SSE = 1 << 1;
export const CR1_MS = 1 << 2;

export const SR_TFE = 1 << 0;
export const SR_TNF = 1 << 1;
export const SR_RNE = 1 << 2;
export const SR_RFF = 1 << 3;
export const SR_BSY = 1 << 4;

export const INT_ROR = 1 << 0;
export const INT_RT = 1 << 1;
export const INT_RX = 1 << 2;
export const INT_TX = 1 << 3;

const CR0 = 0x00;
const CR1 = 0x04;
const DR = 0x08;
const SR = 0x0c;
const CPSR = 0x10;
const IMSC = 0x14;
const RIS = 0x18;
const MIS = 0x1c;
const DMACR_QEMU = 0x20;

const IDS = primeCellIds(0x22, 0x10, 0x04, 0x00);
const FIFO_DEPTH = 8;

export interface Pl022Options {
  irq?: IrqLine;
  /** The SSI bus: one frame out, one frame back. Default: no device, returns 0. */
  transfer?: (value: number) => number;
  log?: Logger;
}

export class Pl022 extends Peripheral implements MmioDevice {
  readonly size = 0x1000;
  private cr0 = 0;
  private cr1 = 0;
  private bitmask = 0;
  private sr = 0;
  private cpsr = 0;
  private is = 0;
  private im = 0;
  private readonly txFifo = new Uint16Array(FIFO_DEPTH);
  private readonly rxFifo = new Uint16Array(FIFO_DEPTH);
  private txHead = 0;
  private txLen = 0;
  private rxHead = 0;
  private rxLen = 0;
  private readonly irq: IrqLine;
  private readonly transfer: (value: number) => number;

  constructor(
    readonly name: string,
    opts: Pl022Options = {},
  ) {
    super(opts.log ?? SILENT);
    this.irq = opts.irq ?? NO_IRQ;
    this.transfer = opts.transfer ?? (() => 0);
    this.reset();
  }

  reset(): void {
    this.rxLen = 0;
    this.txLen = 0;
    this.im = 0;
    this.is = INT_TX;
    this.sr = SR_TFE | SR_TNF;
    this.irq.set(false);
  }

  private update(): void {
    let sr = 0;
    if (this.txLen === 0) sr |= SR_TFE;
    if (this.txLen !== FIFO_DEPTH) sr |= SR_TNF;
    if (this.rxLen !== 0) sr |= SR_RNE;
    if (this.rxLen === FIFO_DEPTH) sr |= SR_RFF;
    if (this.txLen) sr |= SR_BSY;
    this.sr = sr;
    let is = 0;
    if (this.rxLen >= 4) is |= INT_RX;
    if (this.txLen <= 4) is |= INT_TX;
    this.is = is;
    this.irq.set((this.is & this.im) !== 0);
  }

  private xfer(): void {
    if (!(this.cr1 & CR1_SSE)) {
      this.update();
      return;
    }
    let i = (this.txHead - this.txLen) & 7;
    let o = this.rxHead;
    while (this.txLen && this.rxLen < FIFO_DEPTH) {
      let val = this.txFifo[i]!;
      if (!(this.cr1 & CR1_LBM)) val = this.transfer(val);
      this.rxFifo[o] = val & this.bitmask;
      i = (i + 1) & 7;
      o = (o + 1) & 7;
      this.txLen--;
      this.rxLen++;
    }
    this.rxHead = o;
    this.update();
  }

  read(offset: number, size: AccessSize): number {
    if (offset >= 0xfe0 && offset < 0x1000) return truncate(IDS[(offset - 0xfe0) >> 2]!, size);
    let r: number;
    switch (offset) {
      case CR0:
        r = this.cr0;
        break;
      case CR1:
        r = this.cr1;
        break;
      case DR:
        if (this.rxLen) {
          r = this.rxFifo[(this.rxHead - this.rxLen) & 7]!;
          this.rxLen--;
          this.xfer();
        } else {
          r = 0;
        }
        break;
      case SR:
        r = this.sr;
        break;
      case CPSR:
        r = this.cpsr;
        break;
      case IMSC:
        r = this.im;
        break;
      case RIS:
        r = this.is;
        break;
      case MIS:
        r = this.im & this.is;
        break;
      case DMACR_QEMU:
        r = 0; // not implemented
        break;
      default:
        this.guestError(`pl022_read: Bad offset 0x${offset.toString(16)}`);
        return 0;
    }
    return truncate(r, size);
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    switch (offset) {
      case CR0:
        this.cr0 = value;
        this.bitmask = (1 << ((value & 15) + 1)) - 1; // clock rate and format ignored
        break;
      case CR1:
        this.cr1 = value;
        if ((value & (CR1_MS | CR1_SSE)) === (CR1_MS | CR1_SSE)) {
          this.guestError('pl022: error: SPI peripheral mode not implemented');
        }
        this.xfer();
        break;
      case DR:
        if (this.txLen < FIFO_DEPTH) {
          this.txFifo[this.txHead] = value & this.bitmask;
          this.txHead = (this.txHead + 1) & 7;
          this.txLen++;
          this.xfer();
        }
        break;
      case CPSR:
        this.cpsr = value & 0xff;
        break;
      case IMSC:
        this.im = value;
        this.update();
        break;
      case DMACR_QEMU:
        if (value) this.unimp('pl022: DMA not implemented');
        break;
      default:
        this.guestError(`pl022_write: Bad offset 0x${offset.toString(16)}`);
    }
  }
}
