/**
 * ARM CMSDK APB dual-input timer (DDI0479C, an SP804 relative), as QEMU 7.2's
 * hw/timer/cmsdk-apb-dualtimer.c models it; on mps2-an385 at 0x40002000, both timers ORed on IRQ 10
 * (QEMU wires the combined TIMINTC output), clocked from the 25 MHz TIMCLK.
 *
 * Per timer n (1 at 0x00, 2 at 0x20):
 *   +0x00 LOAD     sets the limit and the count at once (0 stops a periodic timer)
 *   +0x04 VALUE    current count (read-only)
 *   +0x08 CONTROL  bit 0 ONESHOT, 1 SIZE (32-bit), 3:2 PRESCALE (/1, /16, /256; 3 acts as /256 and is
 *                  logged), 5 INTEN, 6 MODE (periodic), 7 ENABLE; reset 0x20
 *   +0x0C INTCLR   write: clear the interrupt
 *   +0x10 RIS, +0x14 MIS   raw and masked interrupt status
 *   +0x18 BGLOAD   sets the limit only (ignored, apart from being stored, in free-running mode)
 * 0xF00 TIMERITCR (bit 0: integration test mode), 0xF04 TIMERITOP (write-only: bit 0 drives TIMINT1,
 * bit 1 TIMINT2 while ITCR is set), 0xFD0-0xFFC PID/CID.
 *
 * Free-running mode counts over the full 16 or 32 bits (the limit is 0xFFFF or 0xFFFFFFFF; LOAD only
 * sets the count); periodic mode reloads from LOAD. In 16-bit mode the upper half of VALUE reads as
 * it was when the timer was last switched to 16 bits or LOADed (QEMU keeps it apart).
 *
 * QEMU 7.2 quirks kept on purpose (checked against qemu-system-arm 7.2): a LOAD write to an enabled
 * periodic timer restarts it as a one-shot timer (it stops after the next expiry; QEMU passes
 * oneshot=1 there), and a CONTROL write with ENABLE set restarts an expired one-shot count.
 * The interrupt status is raised at every expiry whatever INTEN says; MIS and the IRQ are masked by it.
 * Any access size is accepted at the exact register offset (QEMU zero-pads sub-word accesses).
 */
import { type AccessSize, type IrqLine, type Logger, type MmioDevice, NO_IRQ, SILENT } from './device.js';
import { Peripheral, cmsdkIdRegs, truncate } from './peripheral.js';
import type { Clock } from '../time/clock.js';
import { Ptimer } from './ptimer.js';
import { captureState, restoreState, type DeviceState } from './state.js';

const LOAD = 0x00;
const VALUE = 0x04;
const CONTROL = 0x08;
const INTCLR = 0x0c;
const RIS = 0x10;
const MIS = 0x14;
const BGLOAD = 0x18;
const ITCR = 0xf00;
const ITOP = 0xf04;
const PID4 = 0xfd0;
const CID3 = 0xffc;

const C_ONESHOT = 1 << 0;
const C_SIZE = 1 << 1;
const C_PRESCALE = 3 << 2;
const C_INTEN = 1 << 5;
const C_MODE = 1 << 6;
const C_ENABLE = 1 << 7;
const C_VALID = C_ONESHOT | C_SIZE | C_PRESCALE | C_INTEN | C_MODE | C_ENABLE;

const ID_REGS = cmsdkIdRegs(0x23);

function divisorOf(control: number): number {
  const p = (control & C_PRESCALE) >> 2;
  return p === 0 ? 1 : p === 1 ? 16 : 256;
}

/** deposit32(base, 0, 16, low): base with its low half replaced. */
function depositLow16(base: number, low: number): number {
  return ((base & 0xffff0000) | (low & 0xffff)) >>> 0;
}

class DualTimerModule {
  control = 0;
  intstatus = 0;
  /** LOAD as written (the ptimer limit may hold only its low half, or the free-running wrap). */
  load = 0;
  /** The upper half of VALUE while the timer counts in 16 bits. */
  value = 0;
  readonly timer: Ptimer;

  constructor(
    clock: Clock,
    name: string,
    private readonly timclkHz: number,
    private readonly parent: { update(): void; guestError(msg: string): void },
  ) {
    this.timer = new Ptimer(clock, name, () => {
      this.intstatus = 1;
      this.parent.update();
    });
  }

  /** Snapshot state (src/devices/state.ts). */
  saveState(): DeviceState {
    return captureState(this);
  }
  loadState(s: DeviceState): void {
    restoreState(this, s, 'dualtimer module');
  }

  get masked(): boolean {
    return this.intstatus !== 0 && (this.control & C_INTEN) !== 0;
  }

  reset(): void {
    this.control = C_INTEN;
    this.intstatus = 0;
    this.load = 0;
    this.value = 0xffffffff;
    const t = this.timer;
    t.begin();
    t.stop();
    // Free-running, 16-bit, VALUE 0xFFFFFFFF: count and limit 0xFFFF.
    t.setLimit(0xffff, true);
    t.setPeriodFromHz(this.timclkHz, divisorOf(this.control));
    t.commit();
  }

  writeControl(newctrl: number): void {
    const t = this.timer;
    t.begin();
    newctrl &= C_VALID;
    const changed = this.control ^ newctrl;
    if (changed & ~newctrl & C_ENABLE) t.stop(); // disabled: stop before anything else changes
    if (changed & C_PRESCALE) {
      if ((newctrl & C_PRESCALE) === C_PRESCALE) this.parent.guestError('CONTROL.PRESCALE==0b11 is undefined behaviour');
      t.setPeriodFromHz(this.timclkHz, divisorOf(newctrl));
    }
    if (changed & C_MODE) {
      let load: number;
      if (newctrl & C_MODE) {
        load = this.load; // periodic: the limit is LOAD
      } else {
        // free-running: keep LOAD aside, wrap over the whole counter
        load = t.getLimit();
        if (!(this.control & C_SIZE)) load = depositLow16(this.load, load);
        this.load = load;
        load = 0xffffffff;
      }
      if (!(this.control & C_SIZE)) load &= 0xffff;
      t.setLimit(load, false);
    }
    if (changed & C_SIZE) {
      let value = t.count();
      let load = t.getLimit();
      if (newctrl & C_SIZE) {
        value = depositLow16(this.value, value); // 16 -> 32: the top half comes back
      } else {
        this.value = value >>> 0; // 32 -> 16: keep the top half aside
        value &= 0xffff;
      }
      if (newctrl & C_MODE) {
        if (newctrl & C_SIZE) {
          load = depositLow16(this.load, load);
        } else {
          this.load = load >>> 0;
          load &= 0xffff;
        }
      } else {
        load = newctrl & C_SIZE ? 0xffffffff : 0xffff;
      }
      t.setCount(value);
      t.setLimit(load, false);
    }
    // Start after all other changes, even if ENABLE was already set (restarts an expired one-shot).
    if (newctrl & C_ENABLE) t.run((newctrl & C_ONESHOT) !== 0);
    this.control = newctrl;
    t.commit();
  }

  read(reg: number): number | null {
    switch (reg) {
      case LOAD:
      case BGLOAD:
        if (this.control & C_MODE) {
          let r = this.timer.getLimit();
          if (!(this.control & C_SIZE)) r = depositLow16(this.load, r);
          return r;
        }
        return this.load;
      case VALUE: {
        let r = this.timer.count();
        if (!(this.control & C_SIZE)) r = depositLow16(this.value, r);
        return r;
      }
      case CONTROL:
        return this.control;
      case RIS:
        return this.intstatus;
      case MIS:
        return this.masked ? 1 : 0;
      default:
        return null;
    }
  }

  /** Returns false for a bad offset. */
  write(reg: number, value: number): boolean {
    const t = this.timer;
    switch (reg) {
      case LOAD:
        this.load = value;
        this.value = value;
        if (!(this.control & C_SIZE)) value &= 0xffff;
        t.begin();
        if (!(this.control & C_MODE)) {
          t.setCount(value); // free-running: the count changes, the wrap does not
        } else {
          if (!value) t.stop();
          t.setLimit(value, true);
          if (value && this.control & C_ENABLE) t.run(true); // QEMU 7.2: restarts as one-shot
        }
        t.commit();
        return true;
      case BGLOAD:
        this.load = value;
        if (!(this.control & C_MODE)) return true;
        if (!(this.control & C_SIZE)) value &= 0xffff;
        t.begin();
        t.setLimit(value, false);
        t.commit();
        return true;
      case CONTROL:
        this.writeControl(value);
        this.parent.update();
        return true;
      case INTCLR:
        this.intstatus = 0;
        this.parent.update();
        return true;
      default:
        return false;
    }
  }
}

export interface CmsdkDualTimerOptions {
  clock: Clock;
  /** TIMCLK in Hz (25 MHz on mps2-an385). */
  timclkHz: number;
  /** TIMINTC: timer 1 OR timer 2 (what mps2-an385 wires to IRQ 10). */
  combined?: IrqLine;
  timint1?: IrqLine;
  timint2?: IrqLine;
  log?: Logger;
}

export class CmsdkDualTimer extends Peripheral implements MmioDevice {
  readonly size = 0x1000;
  private itcr = 0;
  private itop = 0;
  private readonly mods: [DualTimerModule, DualTimerModule];
  private readonly combined: IrqLine;
  private readonly timint: [IrqLine, IrqLine];

  constructor(
    readonly name: string,
    opts: CmsdkDualTimerOptions,
  ) {
    super(opts.log ?? SILENT, 'CMSDK APB dual-timer ');
    this.combined = opts.combined ?? NO_IRQ;
    this.timint = [opts.timint1 ?? NO_IRQ, opts.timint2 ?? NO_IRQ];
    const parent = { update: () => this.update(), guestError: (m: string) => this.guestError(m) };
    this.mods = [
      new DualTimerModule(opts.clock, `${name}.timer1`, opts.timclkHz, parent),
      new DualTimerModule(opts.clock, `${name}.timer2`, opts.timclkHz, parent),
    ];
    this.reset();
  }

  reset(): void {
    for (const m of this.mods) m.reset();
    this.itcr = 0;
    this.itop = 0;
    this.update();
  }

  private update(): void {
    let i1: boolean, i2: boolean;
    if (this.itcr) {
      i1 = (this.itop & 1) !== 0;
      i2 = (this.itop & 2) !== 0;
    } else {
      i1 = this.mods[0].masked;
      i2 = this.mods[1].masked;
    }
    this.timint[0].set(i1);
    this.timint[1].set(i2);
    this.combined.set(i1 || i2);
  }

  read(offset: number, size: AccessSize): number {
    let r: number | null = null;
    if (offset >= ITCR) {
      if (offset === ITCR) r = this.itcr;
      else if (offset >= PID4 && offset <= CID3) r = ID_REGS[(offset - PID4) >> 2]!;
    } else if (offset >> 5 < 2) {
      r = this.mods[offset >> 5]!.read(offset & 0x1f);
    }
    if (r === null) {
      this.guestError(`read: bad offset ${offset.toString(16)}`);
      return 0;
    }
    return truncate(r, size);
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    let ok = false;
    if (offset >= ITCR) {
      if (offset === ITCR) {
        this.itcr = value & 1;
        this.update();
        ok = true;
      } else if (offset === ITOP) {
        this.itop = value & 3;
        this.update();
        ok = true;
      }
    } else if (offset >> 5 < 2) {
      ok = this.mods[offset >> 5]!.write(offset & 0x1f, value);
    }
    if (!ok) this.guestError(`write: bad offset ${offset.toString(16)}`);
  }
}
