/**
 * MPS2 Serial Communication Controller (the FPGA's system control registers; MPS2 TRM 100112 and the
 * application notes), as QEMU 7.2's hw/misc/mps2-scc.c models it for the MPS2 images (AN385 and its
 * siblings; the MPS2+/MPS3 registers CFG2, CFG5-CFG7 are absent there and read as bad offsets).
 * mps2-an385: 0x4002F000, ID 0x41043850, AID 0x00200008, CFG4 = 2.
 *
 *   0x000 CFG0  RW (bit 0: the remap output, not wired on mps2-an385)
 *   0x004 CFG1  RW (LEDs)
 *   0x00C CFG3  RO 0 (DIP switches)
 *   0x010 CFG4  RO, board revision (scc-cfg4)
 *   0x0A0 CFGDATA_RTN  data from the last config read
 *   0x0A4 CFGDATA_OUT  data for the next config write
 *   0x0A8 CFGCTRL  write: bits 11:0 device, 25:20 function, 30 write, 31 start (reads without the
 *                  start bit and the reserved fields); reset 0x00100000. Starting a transfer completes
 *                  at once: function 1 (oscillator) device n < number of clocks reads or sets OSCCLK[n];
 *                  anything else sets CFGSTAT.ERROR
 *   0x0AC CFGSTAT  bit 0 DONE, bit 1 ERROR; cleared by a CFGCTRL write
 *   0x100 DLL   0xFFFF0001 at reset (all DLLs locked); only bits 31:24 (the lock mask) are writable
 *   0xFF8 AID, 0xFFC ID  RO
 */
import { type AccessSize, type Logger, type MmioDevice, SILENT } from './device.js';
import { Peripheral, truncate } from './peripheral.js';

const CFG0 = 0x00;
const CFG1 = 0x04;
const CFG3 = 0x0c;
const CFG4 = 0x10;
const CFGDATA_RTN = 0xa0;
const CFGDATA_OUT = 0xa4;
const CFGCTRL = 0xa8;
const CFGSTAT = 0xac;
const DLL = 0x100;
const AID = 0xff8;
const ID = 0xffc;

const CFGCTRL_RES1 = 0xff << 12;
const CFGCTRL_RES2 = 0xf << 26;
const CFGCTRL_WRITE = 1 << 30;
const CFGCTRL_START = 1 << 31;
const CFGSTAT_DONE = 1 << 0;
const CFGSTAT_ERROR = 1 << 1;

export interface Mps2SccOptions {
  id: number;
  aid: number;
  cfg4: number;
  /** CFG0 at reset (scc-cfg0). */
  cfg0?: number;
  /** OSCCLK values at reset, in Hz. */
  oscclk: number[];
  log?: Logger;
}

export class Mps2Scc extends Peripheral implements MmioDevice {
  readonly size = 0x1000;
  private cfg0 = 0;
  private cfg1 = 0;
  private cfgdataRtn = 0;
  private cfgdataOut = 0;
  private cfgctrl = 0;
  private cfgstat = 0;
  private dll = 0;
  private readonly oscclk: number[];

  constructor(
    readonly name: string,
    private readonly opts: Mps2SccOptions,
  ) {
    super(opts.log ?? SILENT, 'MPS2 SCC ');
    this.oscclk = [...opts.oscclk];
    this.reset();
  }

  reset(): void {
    this.cfg0 = this.opts.cfg0 ?? 0;
    this.cfg1 = 0;
    this.cfgdataRtn = 0;
    this.cfgdataOut = 0;
    this.cfgctrl = 0x100000;
    this.cfgstat = 0;
    this.dll = 0xffff0001;
    this.opts.oscclk.forEach((v, i) => (this.oscclk[i] = v));
  }

  /** The LEDs driven by CFG1 (bits 7:0). */
  get leds(): number {
    return this.cfg1 & 0xff;
  }

  read(offset: number, size: AccessSize): number {
    let r: number;
    switch (offset) {
      case CFG0: r = this.cfg0; break;
      case CFG1: r = this.cfg1; break;
      case CFG3: r = 0; break;
      case CFG4: r = this.opts.cfg4; break;
      case CFGDATA_RTN: r = this.cfgdataRtn; break;
      case CFGDATA_OUT: r = this.cfgdataOut; break;
      case CFGCTRL: r = this.cfgctrl; break;
      case CFGSTAT: r = this.cfgstat; break;
      case DLL: r = this.dll; break;
      case AID: r = this.opts.aid; break;
      case ID: r = this.opts.id; break;
      default:
        return this.badOffset('read', offset);
    }
    return truncate(r, size);
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    switch (offset) {
      case CFG0:
        this.cfg0 = value;
        break;
      case CFG1:
        this.cfg1 = value;
        break;
      case CFGDATA_OUT:
        this.cfgdataOut = value;
        break;
      case CFGCTRL:
        this.cfgstat = 0;
        this.cfgctrl = (value & ~(CFGCTRL_RES1 | CFGCTRL_RES2 | CFGCTRL_START)) >>> 0;
        if (value & CFGCTRL_START) this.transfer();
        break;
      case DLL:
        this.dll = ((this.dll & 0x00ffffff) | (value & 0xff000000)) >>> 0;
        break;
      default:
        this.badOffset('write', offset);
    }
  }

  /** A SYS_CFG transfer, done at once. */
  private transfer(): void {
    const device = this.cfgctrl & 0xfff;
    const fn = (this.cfgctrl >>> 20) & 0x3f;
    const write = (this.cfgctrl & CFGCTRL_WRITE) !== 0;
    this.cfgstat = CFGSTAT_DONE;
    if (fn !== 1 || device >= this.oscclk.length) {
      this.guestError(`config ${write ? 'write' : 'read'}: bad function ${fn} device ${device}`);
      this.cfgstat |= CFGSTAT_ERROR;
      return;
    }
    if (write) this.oscclk[device] = this.cfgdataOut;
    else this.cfgdataRtn = this.oscclk[device]!;
  }
}
