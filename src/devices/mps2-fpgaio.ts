/**
 * MPS2 FPGA system control and I/O block, as QEMU 7.2's hw/misc/mps2-fpgaio.c models it.
 * mps2-an385: 0x40028000, prescale clock 25 MHz, two LEDs, no switches, no DBGCTRL.
 *
 *   0x00 LED0      RW, bits 1:0 (one per LED)
 *   0x08 BUTTON    RO 0 (buttons are not modelled)
 *   0x10 CLK1HZ    counts seconds of virtual time since reset; writable (counting goes on from the value)
 *   0x14 CLK100HZ  the same at 100 Hz
 *   0x18 COUNTER   incremented each time PSCNTR reloads; writable
 *   0x1C PRESCALE  reload value of PSCNTR
 *   0x20 PSCNTR    counts down at the prescale clock; one tick after reaching 0 it reloads from PRESCALE
 *                  and COUNTER increments (with PRESCALE = 0, every tick); writable
 *   0x4C MISC      RW, not acted on (logged under -d unimp)
 *
 * Everything is derived from the virtual clock on access (no events), with QEMU's arithmetic, so in
 * icount mode the values follow the instruction count exactly; in real-time mode they follow the host.
 */
import { type AccessSize, type Logger, type MmioDevice, SILENT } from './device.js';
import { Peripheral, truncate } from './peripheral.js';
import type { Clock } from '../time/clock.js';

const LED0 = 0x00;
const DBGCTRL = 0x04;
const BUTTON = 0x08;
const CLK1HZ = 0x10;
const CLK100HZ = 0x14;
const COUNTER = 0x18;
const PRESCALE = 0x1c;
const PSCNTR = 0x20;
const SWITCH = 0x28;
const MISC = 0x4c;

const NS = 1_000_000_000n;
const U64 = (1n << 64n) - 1n;

export interface Mps2FpgaioOptions {
  clock: Clock;
  /** Frequency of the prescale counter in Hz (QEMU's prescale-clk). */
  prescaleClkHz: number;
  numLeds?: number;
  hasSwitches?: boolean;
  hasDbgctrl?: boolean;
  log?: Logger;
}

/** QEMU's muldiv64(a, b, c) = a * b / c with a 128-bit intermediate, on uint64 a. */
function muldiv64(a: bigint, b: bigint, c: bigint): bigint {
  return ((a & U64) * b) / c;
}

export class Mps2Fpgaio extends Peripheral implements MmioDevice {
  readonly size = 0x1000;
  private led0 = 0;
  private dbgctrl = 0;
  private prescale = 0;
  private misc = 0;
  private clk1hzOffset = 0n;
  private clk100hzOffset = 0n;
  private counter = 0;
  private pscntr = 0;
  private pscntrSync = 0n;
  private readonly clock: Clock;
  private readonly prescaleClk: bigint;
  private readonly numLeds: number;

  constructor(
    readonly name: string,
    private readonly opts: Mps2FpgaioOptions,
  ) {
    super(opts.log ?? SILENT, 'MPS2 FPGAIO ');
    this.clock = opts.clock;
    this.prescaleClk = BigInt(opts.prescaleClkHz);
    this.numLeds = opts.numLeds ?? 2;
    this.reset();
  }

  reset(): void {
    const now = this.now();
    this.led0 = 0;
    this.prescale = 0;
    this.misc = 0;
    this.clk1hzOffset = now;
    this.clk100hzOffset = now;
    this.counter = 0;
    this.pscntr = 0;
    this.pscntrSync = now;
  }

  get leds(): number {
    return this.led0;
  }

  private now(): bigint {
    return BigInt(this.clock.now());
  }

  private counterFromOffset(offset: bigint, hz: bigint): number {
    return Number(muldiv64(this.now() - offset, hz, NS) & 0xffffffffn);
  }

  private offsetFromCounter(count: number, hz: bigint): bigint {
    return this.now() - muldiv64(BigInt(count), NS, hz);
  }

  /** Bring COUNTER and PSCNTR up to date with the PSCNTR ticks since the last sync. */
  private resync(): void {
    const elapsed = this.now() - this.pscntrSync;
    // Whole ticks only, so that several resyncs within one tick lose no time.
    const ticks = muldiv64(elapsed, this.prescaleClk, NS);
    if (ticks === 0n) return;
    const pscntr = BigInt(this.pscntr);
    if (ticks < pscntr) {
      this.pscntr = Number(pscntr - ticks);
    } else if (this.prescale === 0) {
      // PSCNTR sticks at 0 and COUNTER increments every tick.
      this.counter = Number((BigInt(this.counter) + ticks - pscntr) & 0xffffffffn);
      this.pscntr = 0;
    } else {
      // PSCNTR reloads one tick after reaching 0, when COUNTER increments: y ticks after the first
      // reload point, PSCNTR = PRESCALE - y mod (PRESCALE + 1).
      const ps = BigInt(this.prescale);
      const y = ticks - pscntr + ps;
      this.pscntr = Number(ps - (y % (ps + 1n)));
      this.counter = Number((BigInt(this.counter) + y / (ps + 1n)) & 0xffffffffn);
    }
    this.pscntrSync += muldiv64(ticks, NS, this.prescaleClk);
  }

  read(offset: number, size: AccessSize): number {
    let r: number;
    switch (offset) {
      case LED0: r = this.led0; break;
      case DBGCTRL:
        if (!this.opts.hasDbgctrl) return this.badOffset('read', offset);
        r = this.dbgctrl;
        break;
      case BUTTON: r = 0; break;
      case PRESCALE: r = this.prescale; break;
      case MISC: r = this.misc; break;
      case CLK1HZ: r = this.counterFromOffset(this.clk1hzOffset, 1n); break;
      case CLK100HZ: r = this.counterFromOffset(this.clk100hzOffset, 100n); break;
      case COUNTER:
        this.resync();
        r = this.counter;
        break;
      case PSCNTR:
        this.resync();
        r = this.pscntr;
        break;
      case SWITCH:
        if (!this.opts.hasSwitches) return this.badOffset('read', offset);
        r = 0;
        break;
      default:
        return this.badOffset('read', offset);
    }
    return truncate(r, size);
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    switch (offset) {
      case LED0:
        if (this.numLeds) this.led0 = value & (2 ** this.numLeds - 1);
        break;
      case DBGCTRL:
        if (!this.opts.hasDbgctrl) return void this.badOffset('write', offset);
        this.unimp('MPS2 FPGAIO: DBGCTRL unimplemented');
        this.dbgctrl = value;
        break;
      case PRESCALE:
        this.resync();
        this.prescale = value;
        break;
      case MISC:
        this.unimp('MPS2 FPGAIO: MISC control bits unimplemented');
        this.misc = value;
        break;
      case CLK1HZ:
        this.clk1hzOffset = this.offsetFromCounter(value, 1n);
        break;
      case CLK100HZ:
        this.clk100hzOffset = this.offsetFromCounter(value, 100n);
        break;
      case COUNTER:
        this.resync();
        this.counter = value;
        break;
      case PSCNTR:
        this.resync();
        this.pscntr = value;
        break;
      default:
        this.badOffset('write', offset);
    }
  }
}
