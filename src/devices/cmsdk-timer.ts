/**
 * ARM CMSDK APB timer (Cortex-M System Design Kit, DDI0479C), as QEMU 7.2's
 * hw/timer/cmsdk-apb-timer.c models it; mps2-an385 has two, at 0x40000000 (IRQ 8) and 0x40001000
 * (IRQ 9), clocked from the 25 MHz PCLK.
 *
 *   0x000 CTRL       bit 0 EN, bit 3 IRQEN (bits 1-2, the EXTIN enable/clock, are kept but not modelled)
 *   0x004 VALUE      current count; a write sets it (and restarts counting from it)
 *   0x008 RELOAD     a write sets both RELOAD and VALUE; 0 stops the counter
 *   0x00C INTSTATUS  bit 0, write 1 to clear (also the INTCLEAR of the TRM)
 *   0xFD0-0xFFC      PID4..PID7, PID0..PID3, CID0..CID3
 *
 * The counter (see ptimer.ts) raises INTSTATUS when it goes from 1 to 0 with IRQEN set, holds 0 for one
 * clock and reloads from RELOAD. With RELOAD = 0 the timer runs one-shot from a written VALUE. Like
 * QEMU, the interrupt line follows INTSTATUS (level), and any access size is accepted at the exact
 * register offset (reads are truncated to the access size).
 */
import { type AccessSize, type IrqLine, type Logger, type MmioDevice, NO_IRQ, SILENT } from './device.js';
import { Peripheral, cmsdkIdRegs, truncate } from './peripheral.js';
import type { Clock } from '../time/clock.js';
import { Ptimer } from './ptimer.js';

const CTRL = 0x00;
const VALUE = 0x04;
const RELOAD = 0x08;
const INTSTATUS = 0x0c;
const PID4 = 0xfd0;
const CID3 = 0xffc;

const CTRL_EN = 1 << 0;
const CTRL_EXTIN = (1 << 1) | (1 << 2);
const CTRL_IRQEN = 1 << 3;

const ID_REGS = cmsdkIdRegs(0x22);

export interface CmsdkTimerOptions {
  clock: Clock;
  /** PCLK in Hz (25 MHz on mps2-an385). */
  pclkHz: number;
  irq?: IrqLine;
  log?: Logger;
}

export class CmsdkTimer extends Peripheral implements MmioDevice {
  readonly size = 0x1000;
  private ctrl = 0;
  private intstatus = 0;
  private readonly timer: Ptimer;
  private readonly irq: IrqLine;

  constructor(
    readonly name: string,
    opts: CmsdkTimerOptions,
  ) {
    super(opts.log ?? SILENT, 'CMSDK APB timer ');
    this.irq = opts.irq ?? NO_IRQ;
    this.timer = new Ptimer(opts.clock, name, () => this.expired());
    this.timer.begin();
    this.timer.setPeriodFromHz(opts.pclkHz);
    this.timer.commit();
    this.reset();
  }

  reset(): void {
    this.ctrl = 0;
    this.intstatus = 0;
    this.timer.begin();
    this.timer.stop();
    this.timer.setLimit(0, true);
    this.timer.commit();
    this.update();
  }

  private update(): void {
    this.irq.set((this.intstatus & 1) !== 0);
  }

  private expired(): void {
    if (this.ctrl & CTRL_IRQEN) {
      this.intstatus |= 1;
      this.update();
    }
  }

  read(offset: number, size: AccessSize): number {
    let r: number;
    switch (offset) {
      case CTRL:
        r = this.ctrl;
        break;
      case VALUE:
        r = this.timer.count();
        break;
      case RELOAD:
        r = this.timer.getLimit();
        break;
      case INTSTATUS:
        r = this.intstatus;
        break;
      default:
        if (offset >= PID4 && offset <= CID3) {
          r = ID_REGS[(offset - PID4) >> 2]!;
          break;
        }
        r = this.badOffset('read', offset);
    }
    return truncate(r, size);
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    const t = this.timer;
    switch (offset) {
      case CTRL:
        if (value & CTRL_EXTIN) this.unimp('CMSDK APB timer: EXTIN input not supported');
        this.ctrl = value & 0xf;
        t.begin();
        if (this.ctrl & CTRL_EN) t.run(t.getLimit() === 0);
        else t.stop();
        t.commit();
        break;
      case RELOAD:
        // Writing RELOAD also sets the current value.
        t.begin();
        if (!value) t.stop();
        t.setLimit(value, true);
        // Make sure it runs (an expired one-shot count has stopped).
        if (value && this.ctrl & CTRL_EN) t.run(false);
        t.commit();
        break;
      case VALUE:
        t.begin();
        if (!value && !t.getLimit()) t.stop();
        t.setCount(value);
        if (value && this.ctrl & CTRL_EN) t.run(t.getLimit() === 0);
        t.commit();
        break;
      case INTSTATUS:
        this.intstatus &= ~(value & 1);
        this.update();
        break;
      default:
        if (offset >= PID4 && offset <= CID3) this.guestError(`write: write to RO offset 0x${offset.toString(16)}`);
        else this.badOffset('write', offset);
    }
  }
}

