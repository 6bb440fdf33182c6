/**
 * Stellaris system control block (0x400FE000 on the LM3S6965), as QEMU 7.2's "stellaris-sys" in
 * hw/arm/stellaris.c models it (values checked by reading the registers of qemu-system-arm 7.2):
 *  - DID0/DID1/DC0-DC4 and USER0/USER1 are fixed (the part's identity; USER0/1 hold the MAC QEMU
 *    gives its default NIC, 52:54:00:12:34:56);
 *  - PBORCTL (16 bits, reset 0x7FFD), LDOPCTL (5 bits), RESC (6 bits), IMC (7 bits); RIS holds only
 *    PLLLRIS (bit 6), set when a write to RCC or RCC2 clears PWRDN (bit 13): the PLL "locks" at once;
 *    MISC reads RIS & IMC and clears RIS bits written 1; the interrupt line is RIS & IMC != 0;
 *  - RCC (reset 0x078E3AC0), RCC2 (reset 0x07802810), RCGC/SCGC/DCGC 0-2 (reset 1, 0, 0),
 *    CLKVCLR and LDOARST store whatever is written; PLLCFG reads the Fury-class table entry for
 *    RCC.XTAL; SRCR0-2 read 0 and writes are logged as unimplemented;
 *  - the system clock: QEMU takes the PLL output as 200 MHz and divides it by SYSDIV + 1 (RCC2's
 *    6-bit SYSDIV2 when RCC2.USERCC2 is set, else RCC's 4-bit SYSDIV), ignoring BYPASS, USESYSDIV,
 *    OSCSRC and PWRDN: a period of 5 * (SYSDIV + 1) ns, 80 ns (12.5 MHz) at reset. It drives
 *    SysTick and the general-purpose timers, and changes whenever RCC or RCC2 is written.
 * Registers QEMU 7.2 does not implement (DSLPCLKCFG at 0x144, among others) read 0 and log a guest
 * error, as in QEMU.
 */
import { type AccessSize, type IrqLine, type Logger, type MmioDevice, NO_IRQ, SILENT } from './device.js';
import { Peripheral } from './peripheral.js';

/** Identity of the part, as QEMU's stellaris_board_info for the LM3S6965EVB. */
export const LM3S6965_ID = {
  did0: 0x10010002,
  did1: 0x1073402e,
  dc0: 0x00ff007f,
  dc1: 0x001133ff,
  dc2: 0x030f5317,
  dc3: 0x0f0f87ff,
  dc4: 0x5000007f,
} as const;

/** PLLCFG for each RCC.XTAL value on a Fury-class part (QEMU's table). */
const PLLCFG_FURY = [
  0x3200, 0x1b20, 0x1900, 0xf42b, 0x37e3, 0x1b21, 0x0c80, 0x98ee, 0xd5b4, 0x0a00, 0x4e27, 0x1902, 0xec1c, 0x1b23, 0x0640, 0xb11c,
];

export const RCC_RESET = 0x078e3ac0;
export const RCC2_RESET = 0x07802810;
const RCC_PWRDN = 1 << 13;
const RCC2_USERCC2 = 1 << 31;
export const INT_PLLL = 1 << 6;

export interface StellarisSysctlOptions {
  irq?: IrqLine;
  logger?: Logger;
  /** USER0/USER1 (QEMU: the default NIC's MAC address, three bytes each). */
  user0?: number;
  user1?: number;
}

/** The system clock period (in ns) as QEMU derives it from RCC and RCC2. */
export function sysclkPeriodNs(rcc: number, rcc2: number): number {
  const sysdiv = rcc2 & RCC2_USERCC2 ? (rcc2 >>> 23) & 0x3f : (rcc >>> 23) & 0xf;
  return 5 * (sysdiv + 1);
}

export class StellarisSysctl extends Peripheral implements MmioDevice {
  readonly name = 'ssys';
  readonly size = 0x1000;
  private readonly irq: IrqLine;
  private readonly user0: number;
  private readonly user1: number;
  private readonly clockListeners: ((periodNs: number) => void)[] = [];

  private pborctl = 0;
  private ldopctl = 0;
  private ris = 0;
  private imc = 0;
  private resc = 0;
  private rcc = 0;
  private rcc2 = 0;
  private readonly rcgc = [0, 0, 0];
  private readonly scgc = [0, 0, 0];
  private readonly dcgc = [0, 0, 0];
  private clkvclr = 0;
  private ldoarst = 0;
  private period = 0;

  constructor(opts: StellarisSysctlOptions = {}) {
    super(opts.logger ?? SILENT);
    this.irq = opts.irq ?? NO_IRQ;
    this.user0 = opts.user0 ?? 0x00005452;
    this.user1 = opts.user1 ?? 0x00563412;
    this.reset();
  }

  /** The system clock period in ns (80 at reset: 12.5 MHz). */
  get clockPeriodNs(): number {
    return this.period;
  }

  /** Be told of every system clock change (and of the value at each reset). */
  onClockChange(listener: (periodNs: number) => void): void {
    this.clockListeners.push(listener);
    listener(this.period);
  }

  reset(): void {
    this.pborctl = 0x7ffd;
    this.ldopctl = 0;
    this.ris = 0;
    this.imc = 0;
    this.resc = 0;
    this.rcc = RCC_RESET;
    this.rcc2 = RCC2_RESET;
    this.rcgc.splice(0, 3, 1, 0, 0);
    this.scgc.splice(0, 3, 1, 0, 0);
    this.dcgc.splice(0, 3, 1, 0, 0);
    this.clkvclr = 0;
    this.ldoarst = 0;
    this.recalcClock();
    this.update();
  }

  private recalcClock(): void {
    this.period = sysclkPeriodNs(this.rcc, this.rcc2);
    for (const l of this.clockListeners) l(this.period);
  }

  private update(): void {
    this.irq.set((this.ris & this.imc) !== 0);
  }

  read(offset: number, _size: AccessSize): number {
    switch (offset) {
      case 0x000:
        return LM3S6965_ID.did0;
      case 0x004:
        return LM3S6965_ID.did1;
      case 0x008:
        return LM3S6965_ID.dc0;
      case 0x010:
        return LM3S6965_ID.dc1;
      case 0x014:
        return LM3S6965_ID.dc2;
      case 0x018:
        return LM3S6965_ID.dc3;
      case 0x01c:
        return LM3S6965_ID.dc4;
      case 0x030:
        return this.pborctl;
      case 0x034:
        return this.ldopctl;
      case 0x040:
      case 0x044:
      case 0x048:
        return 0; // SRCR0-2
      case 0x050:
        return this.ris;
      case 0x054:
        return this.imc;
      case 0x058:
        return this.ris & this.imc;
      case 0x05c:
        return this.resc;
      case 0x060:
        return this.rcc >>> 0;
      case 0x064:
        return PLLCFG_FURY[(this.rcc >>> 6) & 0xf]!;
      case 0x070:
        return this.rcc2 >>> 0;
      case 0x100:
      case 0x104:
      case 0x108:
        return this.rcgc[(offset - 0x100) >> 2]!;
      case 0x110:
      case 0x114:
      case 0x118:
        return this.scgc[(offset - 0x110) >> 2]!;
      case 0x120:
      case 0x124:
      case 0x128:
        return this.dcgc[(offset - 0x120) >> 2]!;
      case 0x150:
        return this.clkvclr;
      case 0x160:
        return this.ldoarst;
      case 0x1e0:
        return this.user0;
      case 0x1e4:
        return this.user1;
      default:
        this.guestError(`SSYS: read at bad offset 0x${offset.toString(16)}`);
        return 0;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    switch (offset) {
      case 0x030:
        this.pborctl = value & 0xffff;
        break;
      case 0x034:
        this.ldopctl = value & 0x1f;
        break;
      case 0x040:
      case 0x044:
      case 0x048:
        this.unimp('Peripheral reset not implemented');
        break;
      case 0x054:
        this.imc = value & 0x7f;
        break;
      case 0x058:
        this.ris &= ~value;
        break;
      case 0x05c:
        this.resc = value & 0x3f;
        break;
      case 0x060:
        if (this.rcc & RCC_PWRDN && !(value & RCC_PWRDN)) this.ris |= INT_PLLL;
        this.rcc = value;
        this.recalcClock();
        break;
      case 0x070:
        if (this.rcc2 & RCC_PWRDN && !(value & RCC_PWRDN)) this.ris |= INT_PLLL;
        this.rcc2 = value;
        this.recalcClock();
        break;
      case 0x100:
      case 0x104:
      case 0x108:
        this.rcgc[(offset - 0x100) >> 2] = value;
        break;
      case 0x110:
      case 0x114:
      case 0x118:
        this.scgc[(offset - 0x110) >> 2] = value;
        break;
      case 0x120:
      case 0x124:
      case 0x128:
        this.dcgc[(offset - 0x120) >> 2] = value;
        break;
      case 0x150:
        this.clkvclr = value;
        break;
      case 0x160:
        this.ldoarst = value;
        break;
      default:
        this.guestError(`SSYS: write at bad offset 0x${offset.toString(16)}`);
    }
    this.update();
  }
}
