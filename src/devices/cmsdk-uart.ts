/**
 * ARM CMSDK APB UART (mps2 boards). Register semantics follow QEMU's hw/char/cmsdk-apb-uart.c:
 * TX is "instant" (the byte goes to the backend on the DATA write, TXFULL clears at once and the
 * TX interrupt fires if enabled); RX holds one byte; overrun interrupt bits are STATE & CTRL.
 */
import { type AccessSize, type IrqLine, type Logger, type MmioDevice, NO_IRQ, SILENT } from './device.js';
import { Peripheral, cmsdkIdRegs } from './peripheral.js';

const DATA = 0x00;
const STATE = 0x04;
const CTRL = 0x08;
const INTSTATUS = 0x0c;
const BAUDDIV = 0x10;
const PID4 = 0xfd0;
const CID3 = 0xffc;

const STATE_TXFULL = 1 << 0;
const STATE_RXFULL = 1 << 1;
const STATE_TXOVERRUN = 1 << 2;
const STATE_RXOVERRUN = 1 << 3;
const CTRL_TX_EN = 1 << 0;
const CTRL_RX_EN = 1 << 1;
const CTRL_TX_INTEN = 1 << 2;
const CTRL_RX_INTEN = 1 << 3;
const INT_TX = 1 << 0;
const INT_RX = 1 << 1;
const INT_TXO = 1 << 2;
const INT_RXO = 1 << 3;

const ID_REGS = cmsdkIdRegs(0x21);

/** Where a UART's bytes go and come from (a chardev, a test buffer, or nothing). */
export interface SerialPort {
  write(byte: number): void;
}

export interface CmsdkUartIrqs {
  tx?: IrqLine;
  rx?: IrqLine;
  txOverrun?: IrqLine;
  rxOverrun?: IrqLine;
  combined?: IrqLine;
}

export class CmsdkUart extends Peripheral implements MmioDevice {
  readonly size = 0x1000;
  private state = 0;
  private ctrl = 0;
  private intstatus = 0;
  private bauddiv = 0;
  private txbuf = 0;
  private rxbuf = 0;
  /** Bytes received from the backend that the one-byte RX register could not take yet. */
  private rxQueue: number[] = [];
  private readonly irq: Required<CmsdkUartIrqs>;

  constructor(
    readonly name: string,
    private port: SerialPort | null,
    irqs: CmsdkUartIrqs = {},
    log: Logger = SILENT,
  ) {
    super(log, `CMSDK APB UART (${name}) `);
    this.irq = {
      tx: irqs.tx ?? NO_IRQ,
      rx: irqs.rx ?? NO_IRQ,
      txOverrun: irqs.txOverrun ?? NO_IRQ,
      rxOverrun: irqs.rxOverrun ?? NO_IRQ,
      combined: irqs.combined ?? NO_IRQ,
    };
  }

  attach(port: SerialPort | null): void {
    this.port = port;
  }

  reset(): void {
    this.state = 0;
    this.ctrl = 0;
    this.intstatus = 0;
    this.bauddiv = 0;
    this.txbuf = 0;
    this.rxbuf = 0;
    this.update();
  }

  /** Bytes from the backend. Held in a queue and fed one at a time, as the RX register frees. */
  receive(data: Uint8Array | readonly number[]): void {
    for (const b of data) this.rxQueue.push(b & 0xff);
    this.feedRx();
  }

  /** How many received bytes are still waiting for the guest to read. */
  get pendingInput(): number {
    return this.rxQueue.length + (this.state & STATE_RXFULL ? 1 : 0);
  }

  private feedRx(): void {
    // As QEMU's can_receive: only when RX is enabled and the holding register is empty.
    while (this.rxQueue.length && this.ctrl & CTRL_RX_EN && !(this.state & STATE_RXFULL)) {
      this.rxbuf = this.rxQueue.shift()!;
      this.state |= STATE_RXFULL;
      if (this.ctrl & CTRL_RX_INTEN) this.intstatus |= INT_RX;
      this.update();
    }
  }

  private update(): void {
    const omask = INT_RXO | INT_TXO;
    this.intstatus = (this.intstatus & ~omask) | (this.state & (this.ctrl >> 2) & omask);
    this.irq.tx.set((this.intstatus & INT_TX) !== 0);
    this.irq.rx.set((this.intstatus & INT_RX) !== 0);
    this.irq.txOverrun.set((this.intstatus & INT_TXO) !== 0);
    this.irq.rxOverrun.set((this.intstatus & INT_RXO) !== 0);
    this.irq.combined.set(this.intstatus !== 0);
  }

  private transmit(): void {
    if (!(this.ctrl & CTRL_TX_EN) || !(this.state & STATE_TXFULL)) return;
    this.port?.write(this.txbuf);
    this.state &= ~STATE_TXFULL;
    if (this.ctrl & CTRL_TX_INTEN) this.intstatus |= INT_TX;
    this.update();
  }

  read(offset: number, _size: AccessSize): number {
    switch (offset) {
      case DATA: {
        const r = this.rxbuf;
        this.state &= ~STATE_RXFULL;
        this.update();
        this.feedRx();
        return r;
      }
      case STATE:
        return this.state;
      case CTRL:
        return this.ctrl;
      case INTSTATUS:
        return this.intstatus;
      case BAUDDIV:
        return this.bauddiv;
      default:
        if (offset >= PID4 && offset <= CID3 && (offset & 3) === 0) return ID_REGS[(offset - PID4) >> 2]!;
        this.guestError(`read: bad offset 0x${offset.toString(16)}`);
        return 0;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    switch (offset) {
      case DATA:
        this.txbuf = value & 0xff;
        if (this.state & STATE_TXFULL) {
          this.state |= STATE_TXOVERRUN;
          this.update();
        } else {
          this.state |= STATE_TXFULL;
          this.transmit();
        }
        break;
      case STATE:
        this.state &= ~(value & (STATE_TXOVERRUN | STATE_RXOVERRUN));
        this.update();
        break;
      case CTRL:
        this.ctrl = value & 0x7f;
        if (this.ctrl & CTRL_TX_EN && this.bauddiv < 16) this.guestError('Tx enabled with invalid baudrate');
        this.update();
        this.feedRx();
        break;
      case INTSTATUS:
        this.state &= ~(value & (INT_TXO | INT_RXO));
        this.intstatus &= ~value;
        this.update();
        break;
      case BAUDDIV:
        this.bauddiv = value & 0xfffff;
        break;
      default:
        if (offset >= PID4 && offset <= CID3) this.guestError(`write to RO offset 0x${offset.toString(16)}`);
        else this.guestError(`write: bad offset 0x${offset.toString(16)}`);
    }
  }
}
