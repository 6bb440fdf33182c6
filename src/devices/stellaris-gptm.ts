/**
 * Stellaris general-purpose timer module, as QEMU 7.2's hw/timer/stellaris-gptm.c models it:
 *  - CFG = 0, 32-bit timer A (TAILR = TBILR:TAILR[15:0]): on enable (CTL.TAEN 0 → 1) it times out
 *    TAILR system-clock ticks later (the clock period read at that moment), sets TATORIS (RIS
 *    bit 0) and, in periodic mode, runs again from that deadline (no drift); in one-shot mode
 *    (TAMR bit 0 set) it clears TAEN. The current count is not modelled: TAR reads 0 and logs
 *    "timer read not supported" under -d unimp. CTL.TAOTE pulses the ADC trigger output.
 *  - CFG = 1, RTC: a 1 Hz counter (virtual seconds, not the system clock) read through TAR; when it
 *    passes TAMATCHR it wraps to 0 and sets RTCRIS (RIS bit 3).
 *  - CFG = 4, the 16-bit modes: not modelled by QEMU 7.2 ("16-bit timer mode unimplemented",
 *    logged under -d unimp when a timer is enabled); PWM mode (TnMR = 0xA) is accepted silently.
 *  - IMR keeps bits 0x77 (so RTCIM, bit 3, cannot be set: QEMU's RTC never interrupts); ICR (0x24) clears RIS bits; MIS = RIS & IMR; one interrupt output, level
 *    RIS & IMR != 0 (QEMU wires only that one per module, to the timer's "A" line).
 *  - Register quirks kept as QEMU 7.2: a TBMATCHR write stores value >> 16; a TBPMR write lands in
 *    TAPMR; CFG/TAMR/TBMR/CTL/prescalers store the whole written value.
 * Timing uses the machine's clock (virtual ns) and scheduler: no polling, the same in icount and
 * real-time modes. A TAILR of 0 in periodic mode would make QEMU spin; here it logs a guest error
 * and does not arm.
 */
import { type AccessSize, type IrqLine, type Logger, type MmioDevice, NO_IRQ, SILENT } from './device.js';
import { Peripheral } from './peripheral.js';
import type { Clock, ClockTimer } from '../time/clock.js';

const NS_PER_SECOND = 1_000_000_000;
export const RIS_TATO = 1 << 0;
export const RIS_RTC = 1 << 3;
const CTL_TAEN = 1 << 0;
const CTL_TAOTE = 1 << 5;
const CTL_TBEN = 1 << 8;

export interface StellarisGptmOptions {
  clock: Clock;
  /** The system clock period in ns now (read at every (re)load, as QEMU's clock_ticks_to_ns). */
  sysclkPeriodNs: () => number;
  irq?: IrqLine;
  /** ADC trigger output (pulsed at a timeout with CTL.TAOTE). */
  trigger?: IrqLine;
  logger?: Logger;
}

export class StellarisGptm extends Peripheral implements MmioDevice {
  readonly size = 0x1000;
  private readonly clock: Clock;
  private readonly sysclk: () => number;
  private readonly irq: IrqLine;
  private readonly trigger: IrqLine;
  private readonly timers: [ClockTimer, ClockTimer];

  private config = 0;
  private readonly mode = [0, 0];
  private control = 0;
  private state = 0;
  private mask = 0;
  private readonly load = [0, 0];
  private readonly match = [0, 0];
  private readonly prescale = [0, 0];
  private readonly matchPrescale = [0, 0];
  private rtc = 0;
  /** The deadline each timer was last armed for (periodic reloads count from it). */
  private readonly tick = [0, 0];

  constructor(
    readonly name: string,
    opts: StellarisGptmOptions,
  ) {
    super(opts.logger ?? SILENT);
    this.clock = opts.clock;
    this.sysclk = opts.sysclkPeriodNs;
    this.irq = opts.irq ?? NO_IRQ;
    this.trigger = opts.trigger ?? NO_IRQ;
    this.timers = [this.clock.timer(`${name} A`, () => this.onTick(0)), this.clock.timer(`${name} B`, () => this.onTick(1))];
    this.reset();
  }

  reset(): void {
    for (const t of this.timers) t.cancel();
    this.config = 0;
    this.mode.fill(0);
    this.control = 0;
    this.state = 0;
    this.mask = 0;
    this.load.fill(0);
    this.match.fill(0);
    this.prescale.fill(0);
    this.matchPrescale.fill(0);
    this.rtc = 0;
    this.tick.fill(0);
    this.update();
  }

  /** Whether timer n (0 = A, 1 = B) has a timeout armed (tests and diagnostics). */
  armed(n: 0 | 1): boolean {
    return this.timers[n].armed;
  }

  private update(): void {
    this.irq.set((this.state & this.mask) !== 0);
  }

  private reload(n: number, fromNow: boolean): void {
    let t = fromNow ? this.clock.now() : this.tick[n]!;
    if (this.config === 0) {
      const count = (this.load[0]! | (this.load[1]! << 16)) >>> 0;
      if (count === 0) {
        this.guestError(`GPTM: ${this.name} timer A started with a load value of 0`);
        return;
      }
      t += count * this.sysclk();
    } else if (this.config === 1) {
      t += NS_PER_SECOND;
    } else if (this.mode[n] === 0xa) {
      // PWM mode: not modelled (QEMU leaves the timer as it was).
      return;
    } else {
      this.unimp(`GPTM: 16-bit timer mode unimplemented: 0x${this.mode[n]!.toString(16)}`);
      return;
    }
    this.tick[n] = t;
    this.timers[n as 0 | 1].setAt(t);
  }

  private onTick(n: number): void {
    if (this.config === 0) {
      this.state |= RIS_TATO;
      if (this.control & CTL_TAOTE) this.trigger.pulse();
      if (this.mode[0]! & 1) this.control &= ~CTL_TAEN; // one-shot
      else this.reload(0, false); // periodic
    } else if (this.config === 1) {
      this.rtc = (this.rtc + 1) >>> 0;
      const match = (this.match[0]! | (this.match[1]! << 16)) >>> 0;
      if (this.rtc > match) this.rtc = 0;
      if (this.rtc === 0) this.state |= RIS_RTC;
      this.reload(0, false);
    } else if (this.mode[n] !== 0xa) {
      this.unimp(`GPTM: 16-bit timer mode unimplemented: 0x${this.mode[n]!.toString(16)}`);
    }
    this.update();
  }

  read(offset: number, _size: AccessSize): number {
    switch (offset) {
      case 0x00:
        return this.config;
      case 0x04:
        return this.mode[0]!;
      case 0x08:
        return this.mode[1]!;
      case 0x0c:
        return this.control;
      case 0x18:
        return this.mask;
      case 0x1c:
        return this.state;
      case 0x20:
        return this.state & this.mask;
      case 0x24:
        return 0;
      case 0x28:
        return (this.load[0]! | (this.config < 4 ? this.load[1]! << 16 : 0)) >>> 0;
      case 0x2c:
        return this.load[1]!;
      case 0x30:
        return (this.match[0]! | (this.config < 4 ? this.match[1]! << 16 : 0)) >>> 0;
      case 0x34:
        return this.match[1]!;
      case 0x38:
        return this.prescale[0]!;
      case 0x3c:
        return this.prescale[1]!;
      case 0x40:
        return this.matchPrescale[0]!;
      case 0x44:
        return this.matchPrescale[1]!;
      case 0x48:
        if (this.config === 1) return this.rtc;
        this.unimp('GPTM: read of TAR but timer read not supported');
        return 0;
      case 0x4c:
        this.unimp('GPTM: read of TBR but timer read not supported');
        return 0;
      default:
        this.guestError(`GPTM: read at bad offset 0x${offset.toString(16)}`);
        return 0;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    // The timers should be disabled while being configured: as QEMU, everything is taken into
    // account when a timer is enabled.
    switch (offset) {
      case 0x00:
        this.config = value;
        break;
      case 0x04:
        this.mode[0] = value;
        break;
      case 0x08:
        this.mode[1] = value;
        break;
      case 0x0c: {
        const old = this.control;
        this.control = value;
        if ((old ^ value) & CTL_TAEN) {
          if (value & CTL_TAEN) this.reload(0, true);
          else this.timers[0].cancel();
        }
        if ((old ^ value) & CTL_TBEN && this.config >= 4) {
          if (value & CTL_TBEN) this.reload(1, true);
          else this.timers[1].cancel();
        }
        break;
      }
      case 0x18:
        this.mask = value & 0x77;
        break;
      case 0x24:
        this.state &= ~value;
        break;
      case 0x28:
        this.load[0] = value & 0xffff;
        if (this.config < 4) this.load[1] = value >>> 16;
        break;
      case 0x2c:
        this.load[1] = value & 0xffff;
        break;
      case 0x30:
        this.match[0] = value & 0xffff;
        if (this.config < 4) this.match[1] = value >>> 16;
        break;
      case 0x34:
        this.match[1] = value >>> 16;
        break;
      case 0x38:
        this.prescale[0] = value;
        break;
      case 0x3c:
        this.prescale[1] = value;
        break;
      case 0x40:
      case 0x44:
        this.matchPrescale[0] = value;
        break;
      default:
        this.guestError(`GPTM: write at bad offset 0x${offset.toString(16)}`);
    }
    this.update();
  }
}
