/**
 * ARM CMSDK APB watchdog (DDI0479, an SP805 relative), as QEMU 7.2's
 * hw/watchdog/cmsdk-apb-watchdog.c models it. On mps2-an385: 0x40008000, WDOGINT wired to the NMI,
 * WDOGRES to a system reset (QEMU's watchdog_perform_action, whose default action is a guest reset;
 * with -no-reboot the machine exits instead), clocked from the 25 MHz WDOGCLK.
 *
 *   0x000 LOAD     a write sets the limit and the count, and makes sure the counter runs
 *   0x004 VALUE    current count (read-only)
 *   0x008 CONTROL  bit 0 INTEN, bit 1 RESEN
 *   0x00C INTCLR   write: clear the interrupt and reload the count from LOAD
 *   0x010 RIS, 0x014 MIS   raw and masked (by INTEN) interrupt status
 *   0xC00 LOCK     reads 1 while locked; writing 0x1ACCE551 unlocks, anything else locks. While locked
 *                  every other write is ignored (and logged)
 *   0xF00 ITCR (bit 0), 0xF04 ITOP (write-only: bit 0 drives WDOGRES, bit 1 WDOGINT while ITCR is set)
 *   0xFD0-0xFFC PID/CID
 *
 * As in QEMU 7.2 (checked against qemu-system-arm 7.2): the counter runs from reset, LOAD = 0xFFFFFFFF,
 * whatever INTEN says; the first expiry sets RIS; the next expiry with RIS still set latches the reset
 * status and stops the counter. A reset is requested whenever the latched status and RESEN are both set
 * (so setting RESEN later also resets at once); only a device reset clears the latch. Every update with
 * the interrupt asserted drives the line high again (QEMU's NMI input pends on each such edge-less
 * "set"). Any access size is accepted at the exact register offset (zero-padded).
 *
 * `luminary: true` gives the Stellaris variant of the same QEMU file (TI lm3s6965): other IDs, no
 * ITCR/ITOP, CONTROL ignores writes once INTEN is set, WDOGTEST (0x418) accepted and not modelled.
 */
import { type AccessSize, type IrqLine, type Logger, type MmioDevice, NO_IRQ, SILENT } from './device.js';
import { Peripheral, cmsdkIdRegs, primeCellIds, truncate } from './peripheral.js';
import type { Clock } from '../time/clock.js';
import { Ptimer } from './ptimer.js';

const LOAD = 0x000;
const VALUE = 0x004;
const CONTROL = 0x008;
const INTCLR = 0x00c;
const RIS = 0x010;
const MIS = 0x014;
const TEST = 0x418;
const LOCK = 0xc00;
const ITCR = 0xf00;
const ITOP = 0xf04;
const PID4 = 0xfd0;
const CID3 = 0xffc;

export const WDOG_UNLOCK_KEY = 0x1acce551;
const CONTROL_INTEN = 1 << 0;
const CONTROL_RESEN = 1 << 1;
const ITOP_WDOGRES = 1 << 0;
const ITOP_WDOGINT = 1 << 1;

const CMSDK_IDS = cmsdkIdRegs(0x24);
const LUMINARY_IDS = primeCellIds(0x00, 0x00, 0x00, 0x00, 0x05, 0x18, 0x18, 0x01);

export interface CmsdkWatchdogOptions {
  clock: Clock;
  /** WDOGCLK in Hz (25 MHz on mps2-an385). */
  wdogclkHz: number;
  /** WDOGINT (mps2-an385: the NMI). */
  irq?: IrqLine;
  /** WDOGRES asserted: the board's system reset. */
  systemReset?: () => void;
  luminary?: boolean;
  log?: Logger;
}

export class CmsdkWatchdog extends Peripheral implements MmioDevice {
  readonly size = 0x1000;
  private control = 0;
  private intstatus = 0;
  private lock = 0;
  private itcr = 0;
  private itop = 0;
  private resetstatus = 0;
  private readonly timer: Ptimer;
  private readonly irq: IrqLine;
  private readonly systemReset: () => void;
  private readonly luminary: boolean;
  private readonly ids: readonly number[];

  constructor(
    readonly name: string,
    opts: CmsdkWatchdogOptions,
  ) {
    super(opts.log ?? SILENT, 'CMSDK APB watchdog ');
    this.irq = opts.irq ?? NO_IRQ;
    this.systemReset = opts.systemReset ?? (() => {});
    this.luminary = opts.luminary ?? false;
    this.ids = this.luminary ? LUMINARY_IDS : CMSDK_IDS;
    this.timer = new Ptimer(opts.clock, name, () => this.expired());
    this.timer.begin();
    this.timer.setPeriodFromHz(opts.wdogclkHz);
    this.timer.commit();
    this.reset();
  }

  /** WDOGCLK changed (lm3s6965evb: the system clock follows RCC), given as its period in whole ns. */
  setClockPeriodNs(ns: number): void {
    this.timer.begin();
    this.timer.setPeriodFromNs(ns);
    this.timer.commit();
  }

  reset(): void {
    this.control = 0;
    this.intstatus = 0;
    this.lock = 0;
    this.itcr = 0;
    this.itop = 0;
    this.resetstatus = 0;
    const t = this.timer;
    t.begin();
    t.stop();
    t.setLimit(0xffffffff, true);
    t.run(false);
    t.commit();
    this.irq.set(false);
  }

  /** Whether the reset output has been latched by a second expiry (tests, diagnostics). */
  get resetLatched(): boolean {
    return this.resetstatus !== 0;
  }

  private get maskedInt(): boolean {
    return this.intstatus !== 0 && (this.control & CONTROL_INTEN) !== 0;
  }

  private update(): void {
    let wdogint: boolean, wdogres: boolean;
    if (this.itcr) {
      wdogint = (this.itop & ITOP_WDOGINT) !== 0;
      wdogres = (this.itop & ITOP_WDOGRES) !== 0;
    } else {
      wdogint = this.maskedInt;
      wdogres = this.resetstatus !== 0 && (this.control & CONTROL_RESEN) !== 0;
    }
    this.irq.set(wdogint);
    if (wdogres) this.systemReset();
  }

  private expired(): void {
    if (!this.intstatus) {
      this.intstatus = 1; // first expiry: interrupt
    } else {
      this.resetstatus = 1; // second: reset, and the counter stops
      this.timer.stop();
    }
    this.update();
  }

  read(offset: number, size: AccessSize): number {
    let r: number;
    switch (offset) {
      case LOAD:
        r = this.timer.getLimit();
        break;
      case VALUE:
        r = this.timer.count();
        break;
      case CONTROL:
        r = this.control;
        break;
      case RIS:
        r = this.intstatus;
        break;
      case MIS:
        r = this.maskedInt ? 1 : 0;
        break;
      case LOCK:
        r = this.lock;
        break;
      case ITCR:
        if (this.luminary) return this.badOffset('read', offset);
        r = this.itcr;
        break;
      case INTCLR:
      case ITOP:
        if (this.luminary) return this.badOffset('read', offset);
        this.guestError(`read: read of WO offset ${offset.toString(16)}`);
        r = 0;
        break;
      case TEST:
        if (!this.luminary) return this.badOffset('read', offset);
        this.unimp('Luminary watchdog read: stall not implemented');
        r = 0;
        break;
      default:
        if (offset >= PID4 && offset <= CID3) {
          r = this.ids[(offset - PID4) >> 2]!;
          break;
        }
        return this.badOffset('read', offset);
    }
    return truncate(r, size);
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    if (this.lock && offset !== LOCK) {
      this.guestError('write: write to locked watchdog');
      return;
    }
    const t = this.timer;
    switch (offset) {
      case LOAD:
        t.begin();
        t.setLimit(value, true);
        t.run(false);
        t.commit();
        break;
      case CONTROL:
        // The Stellaris variant ignores CONTROL writes once interrupts are enabled (until reset).
        if (this.luminary && this.control & CONTROL_INTEN) break;
        this.control = value & (CONTROL_INTEN | CONTROL_RESEN);
        this.update();
        break;
      case INTCLR:
        this.intstatus = 0;
        t.begin();
        t.setCount(t.getLimit());
        t.commit();
        this.update();
        break;
      case LOCK:
        this.lock = value !== WDOG_UNLOCK_KEY ? 1 : 0;
        break;
      case ITCR:
        if (this.luminary) return void this.badOffset('write', offset);
        this.itcr = value & 1;
        this.update();
        break;
      case ITOP:
        if (this.luminary) return void this.badOffset('write', offset);
        this.itop = value & (ITOP_WDOGRES | ITOP_WDOGINT);
        this.update();
        break;
      case VALUE:
      case RIS:
      case MIS:
        this.guestError(`write: write to RO offset 0x${offset.toString(16)}`);
        break;
      case TEST:
        if (!this.luminary) return void this.badOffset('write', offset);
        this.unimp('Luminary watchdog write: stall not implemented');
        break;
      default:
        if (offset >= PID4 && offset <= CID3) this.guestError(`write: write to RO offset 0x${offset.toString(16)}`);
        else this.badOffset('write', offset);
    }
  }
}
