/**
 * ARM PrimeCell PL061 GPIO, with the Luminary (Stellaris) variant, as QEMU 7.2's hw/gpio/pl061.c
 * models it ("pl061" / "pl061_luminary"). lm3s6965evb uses the Luminary variant for GPIO A-G.
 *
 *   0x000-0x3FC DATA   address-masked: offset bits 9:2 select the pins an access touches. A read returns
 *                      DATA & mask; a write changes only the masked pins that are outputs (DIR = 1)
 *   0x400 DIR, 0x404 IS, 0x408 IBE, 0x40C IEV, 0x410 IE(IM)   8 bits each
 *   0x414 RIS, 0x418 MIS (RIS & IM)   read-only; the interrupt line is (RIS & IM) != 0
 *   0x41C ICR          write: RIS &= ~value
 *   0x420 AFSEL        only the bits set in CR change
 *   Luminary only (a bad offset on the plain PL061):
 *   0x500 DR2R (reset 0xFF), 0x504 DR4R, 0x508 DR8R, 0x50C ODR, 0x510 PUR, 0x514 PDR, 0x518 SLR,
 *   0x51C DEN, 0x528 AMSEL   8 bits each, stored
 *   0x520 LOCK         reads 1 while locked (reset), 0 after writing 0x0ACCE551; any other value locks
 *   0x524 CR           reset 0xFF; writable (8 bits) only while unlocked
 *   0xFD0-0xFFC IDs    PL061: 0,0,0,0, 0x61,0x10,0x04,0x00, 0x0D,0xF0,0x05,0xB1;
 *                      Luminary: 0,0,0,0, 0x61,0x00,0x18,0x01, 0x0D,0xF0,0x05,0xB1
 *
 * Interrupts, as QEMU: an input pin whose DATA bit changes (DATA of an input only changes through
 * `setInput`, QEMU's GPIO input lines) latches RIS on any edge with IBE, else on the edge IEV selects,
 * for edge-sensitive pins (IS = 0); a level-sensitive pin (IS = 1) latches RIS whenever DATA == IEV at an
 * update (every register write except to bad offsets). RIS stays latched until ICR.
 *
 * Inputs nothing drives read their DATA bit: 0 from reset, since QEMU's DATA register is all that a read
 * returns (its pull-ups, PUR on the Luminary variant, only set the level the pin drives out to other
 * devices). `onOutput` receives those output levels (QEMU's outputs: DATA for outputs, 1 for pulled-up
 * inputs, floating inputs keep the last level). The lm3s6965evb's gamepad (E0-E3, F1) is not connected.
 */
import { type AccessSize, type IrqLine, type Logger, type MmioDevice, NO_IRQ, SILENT } from './device.js';
import { Peripheral, primeCellIds, truncate } from './peripheral.js';

const DIR = 0x400;
const IS = 0x404;
const IBE = 0x408;
const IEV = 0x40c;
const IM = 0x410;
const RIS = 0x414;
const MIS = 0x418;
const ICR = 0x41c;
const AFSEL = 0x420;
const DR2R = 0x500;
const DR4R = 0x504;
const DR8R = 0x508;
const ODR = 0x50c;
const PUR = 0x510;
const PDR = 0x514;
const SLR = 0x518;
const DEN = 0x51c;
const LOCK = 0x520;
const CR = 0x524;
const AMSEL = 0x528;

export const GPIO_UNLOCK_KEY = 0x0acce551;

const PL061_IDS = primeCellIds(0x00, 0x00, 0x00, 0x00, 0x61, 0x10, 0x04, 0x00);
const LUMINARY_IDS = primeCellIds(0x00, 0x00, 0x00, 0x00, 0x61, 0x00, 0x18, 0x01);

export interface Pl061Options {
  irq?: IrqLine;
  /** The Stellaris variant (extra registers, other IDs). */
  luminary?: boolean;
  /** Plain PL061 only: QEMU's "pullups" / "pulldowns" properties (defaults 0xFF and 0). */
  pullups?: number;
  pulldowns?: number;
  /** A GPIO output line changed level. */
  onOutput?: (pin: number, level: boolean) => void;
  log?: Logger;
}

export class Pl061 extends Peripheral implements MmioDevice {
  readonly size = 0x1000;
  private locked = 1;
  private data = 0;
  private oldOutData = 0;
  private oldInData = 0;
  private dir = 0;
  private isense = 0;
  private ibe = 0;
  private iev = 0;
  private im = 0;
  private istate = 0;
  private afsel = 0;
  private dr2r = 0;
  private dr4r = 0;
  private dr8r = 0;
  private odr = 0;
  private pur = 0;
  private pdr = 0;
  private slr = 0;
  private den = 0;
  private cr = 0;
  private amsel = 0;
  private readonly luminary: boolean;
  private readonly ids: readonly number[];
  private readonly pullupsProp: number;
  private readonly pulldownsProp: number;
  private readonly irq: IrqLine;
  private readonly onOutput: (pin: number, level: boolean) => void;

  constructor(
    readonly name: string,
    opts: Pl061Options = {},
  ) {
    super(opts.log ?? SILENT);
    this.luminary = opts.luminary ?? false;
    this.ids = this.luminary ? LUMINARY_IDS : PL061_IDS;
    this.pullupsProp = (opts.pullups ?? 0xff) & 0xff;
    this.pulldownsProp = (opts.pulldowns ?? 0) & 0xff;
    if (this.pullupsProp & this.pulldownsProp) throw new Error('pl061: no bit may be set both in pullups and pulldowns');
    this.irq = opts.irq ?? NO_IRQ;
    this.onOutput = opts.onOutput ?? (() => {});
    this.reset();
  }

  reset(): void {
    // Reset values from the PL061 TRM and the Stellaris data sheets, as QEMU's.
    this.data = 0;
    this.oldInData = 0;
    this.dir = 0;
    this.isense = 0;
    this.ibe = 0;
    this.iev = 0;
    this.im = 0;
    this.istate = 0;
    this.afsel = 0;
    this.dr2r = 0xff;
    this.dr4r = 0;
    this.dr8r = 0;
    this.odr = 0;
    this.pur = 0;
    this.pdr = 0;
    this.slr = 0;
    this.den = 0;
    this.locked = 1;
    this.cr = 0xff;
    this.amsel = 0;
    // Hold phase: drive every non-floating line to its pulled level.
    const floating = this.floating();
    const pullups = this.pullups();
    for (let i = 0; i < 8; i++) {
      if (floating & (1 << i)) continue;
      this.onOutput(i, (pullups & (1 << i)) !== 0);
    }
    this.oldOutData = pullups;
    this.irq.set(false);
  }

  /** Drive input pin `pin` (QEMU's GPIO input line): only pins configured as inputs take the level. */
  setInput(pin: number, level: boolean): void {
    const mask = 1 << pin;
    if ((this.dir & mask) === 0) {
      this.data &= ~mask;
      if (level) this.data |= mask;
      this.update();
    }
  }

  /** Current output levels (bit n = line n), as QEMU last drove them. */
  get outputs(): number {
    return this.oldOutData;
  }

  /** Whether the interrupt line is high. */
  get interrupt(): boolean {
    return (this.istate & this.im) !== 0;
  }

  private floating(): number {
    const f = this.luminary ? ~(this.pur | this.pdr) : ~(this.pullupsProp | this.pulldownsProp);
    return f & ~this.dir & 0xff;
  }

  private pullups(): number {
    const p = this.luminary ? this.pur : this.pullupsProp;
    return p & ~this.dir & 0xff;
  }

  private update(): void {
    const pullups = this.pullups();
    const floating = this.floating();
    // Outputs: driven from DATA; pulled-up inputs are 1; floating inputs keep their last level.
    const out = ((this.data & this.dir) | pullups | (this.oldOutData & floating)) & 0xff;
    const outChanged = this.oldOutData ^ out;
    if (outChanged) {
      this.oldOutData = out;
      for (let i = 0; i < 8; i++) if (outChanged & (1 << i)) this.onOutput(i, (out & (1 << i)) !== 0);
    }
    // Inputs: edge detection.
    const inChanged = (this.oldInData ^ this.data) & ~this.dir & 0xff;
    if (inChanged) {
      this.oldInData = this.data;
      for (let i = 0; i < 8; i++) {
        const mask = 1 << i;
        if (!(inChanged & mask) || this.isense & mask) continue;
        if (this.ibe & mask) this.istate |= mask;
        else this.istate |= ~(this.data ^ this.iev) & mask;
      }
    }
    // Level interrupts.
    this.istate = (this.istate | (~(this.data ^ this.iev) & this.isense)) >>> 0;
    this.irq.set((this.istate & this.im) !== 0);
  }

  read(offset: number, size: AccessSize): number {
    let r: number;
    if (offset < 0x400) {
      r = this.data & (offset >> 2);
      return truncate(r, size);
    }
    if (offset >= 0xfd0 && offset < 0x1000) return truncate(this.ids[(offset - 0xfd0) >> 2]!, size);
    switch (offset) {
      case DIR:
        r = this.dir;
        break;
      case IS:
        r = this.isense;
        break;
      case IBE:
        r = this.ibe;
        break;
      case IEV:
        r = this.iev;
        break;
      case IM:
        r = this.im;
        break;
      case RIS:
        r = this.istate;
        break;
      case MIS:
        r = this.istate & this.im;
        break;
      case AFSEL:
        r = this.afsel;
        break;
      default: {
        const v = this.luminary ? this.readLuminary(offset) : undefined;
        if (v === undefined) {
          this.guestError(`pl061_read: Bad offset 0x${offset.toString(16)}`);
          return 0;
        }
        r = v;
      }
    }
    return truncate(r, size);
  }

  private readLuminary(offset: number): number | undefined {
    switch (offset) {
      case DR2R:
        return this.dr2r;
      case DR4R:
        return this.dr4r;
      case DR8R:
        return this.dr8r;
      case ODR:
        return this.odr;
      case PUR:
        return this.pur;
      case PDR:
        return this.pdr;
      case SLR:
        return this.slr;
      case DEN:
        return this.den;
      case LOCK:
        return this.locked;
      case CR:
        return this.cr;
      case AMSEL:
        return this.amsel;
      default:
        return undefined;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    if (offset < 0x400) {
      const mask = (offset >> 2) & this.dir;
      this.data = (this.data & ~mask) | (value & mask);
      this.update();
      return;
    }
    switch (offset) {
      case DIR:
        this.dir = value & 0xff;
        break;
      case IS:
        this.isense = value & 0xff;
        break;
      case IBE:
        this.ibe = value & 0xff;
        break;
      case IEV:
        this.iev = value & 0xff;
        break;
      case IM:
        this.im = value & 0xff;
        break;
      case ICR:
        this.istate = (this.istate & ~value) >>> 0;
        break;
      case AFSEL:
        this.afsel = ((this.afsel & ~this.cr) | (value & this.cr)) & 0xff;
        break;
      default:
        if (!this.luminary || !this.writeLuminary(offset, value)) {
          this.guestError(`pl061_write: Bad offset 0x${offset.toString(16)}`);
          return;
        }
    }
    this.update();
  }

  private writeLuminary(offset: number, value: number): boolean {
    const v = value & 0xff;
    switch (offset) {
      case DR2R:
        this.dr2r = v;
        break;
      case DR4R:
        this.dr4r = v;
        break;
      case DR8R:
        this.dr8r = v;
        break;
      case ODR:
        this.odr = v;
        break;
      case PUR:
        this.pur = v;
        break;
      case PDR:
        this.pdr = v;
        break;
      case SLR:
        this.slr = v;
        break;
      case DEN:
        this.den = v;
        break;
      case LOCK:
        this.locked = value !== GPIO_UNLOCK_KEY ? 1 : 0;
        break;
      case CR:
        if (!this.locked) this.cr = v;
        break;
      case AMSEL:
        this.amsel = v;
        break;
      default:
        return false;
    }
    return true;
  }
}
