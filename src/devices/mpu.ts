/**
 * PMSAv7 MPU register file (MPU_TYPE..MPU_RASR_A3 at 0xE000ED90). Enforcement is the CPU's:
 * `onChange` (every CTRL/RBAR/RASR write and reset) hands regions()/ctrl to the native TLB-fill
 * check (NativeCpu.setMpu, wired in src/machine/machine.ts) and the exception model reads them for
 * stacking and unstacking (src/cpu/mpu-check.ts).
 *
 * Semantics as QEMU 7.2 (hw/intc/armv7m_nvic.c, v7-M path), checked against qemu-system-arm 7.2:
 *  - TYPE = DREGION << 8 (0x800 for 8 regions), writes ignored;
 *  - CTRL keeps ENABLE|HFNMIENA|PRIVDEFENA; HFNMIENA without ENABLE is logged (UNPREDICTABLE) and kept;
 *  - RNR >= DREGION is logged and ignored;
 *  - RBAR with VALID (bit 4) selects REGION (bits 3:0) into RNR first (a region >= DREGION logs and
 *    ignores the whole write); bits 31:5 are stored as written, whatever the region size;
 *    RBAR reads ADDR | RNR (VALID reads 0);
 *  - RASR keeps XN, AP, TEX, S, C, B, SRD, SIZE, ENABLE (mask 0x173FFF3F);
 *  - the aliases RBAR_A1..A3 / RASR_A1..A3 access the same registers as RBAR / RASR;
 *  - word access only: other sizes read 0 and log, as the rest of the SCS.
 * Offsets here are relative to 0xE000ED90 (TYPE = 0).
 */
import type { AccessSize, Logger } from './device.js';
import { Peripheral } from './peripheral.js';
import { SILENT } from './device.js';

export const MPU_CTRL_ENABLE = 1 << 0;
export const MPU_CTRL_HFNMIENA = 1 << 1;
export const MPU_CTRL_PRIVDEFENA = 1 << 2;
export const MPU_RBAR_VALID = 1 << 4;
export const MPU_RASR_MASK = 0x173fff3f;

/** One region as programmed: the RBAR address (bits 31:5) and the RASR value. */
export interface MpuRegion {
  base: number;
  rasr: number;
}

export interface MpuOptions {
  /** Number of regions (DREGION); 8 on Cortex-M3. */
  regions?: number;
  /** CTRL, RBAR or RASR changed (enforcement must re-read the view). */
  onChange?: () => void;
  logger?: Logger;
}

const TYPE = 0x00;
const CTRL = 0x04;
const RNR = 0x08;
/** Size of the register window: TYPE 0x00 .. RASR_A3 0x28. */
export const MPU_WINDOW = 0x2c;

function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16);
}

export class Mpu extends Peripheral {
  readonly dregion: number;
  onChange: () => void;
  private _ctrl = 0;
  private _rnr = 0;
  private readonly rbar: Uint32Array;
  private readonly rasr: Uint32Array;

  constructor(opts: MpuOptions = {}) {
    super(opts.logger ?? SILENT);
    this.dregion = opts.regions ?? 8;
    if (!Number.isInteger(this.dregion) || this.dregion < 0 || this.dregion > 16) throw new Error(`mpu: regions must be 0..16`);
    this.onChange = opts.onChange ?? (() => {});
    this.rbar = new Uint32Array(this.dregion);
    this.rasr = new Uint32Array(this.dregion);
  }

  reset(): void {
    this._ctrl = 0;
    this._rnr = 0;
    this.rbar.fill(0);
    this.rasr.fill(0);
    this.onChange();
  }

  get ctrl(): number {
    return this._ctrl;
  }

  get rnr(): number {
    return this._rnr;
  }

  /** The programmed regions, index = region number. A fresh copy. */
  regions(): MpuRegion[] {
    const out: MpuRegion[] = [];
    for (let i = 0; i < this.dregion; i++) out.push({ base: this.rbar[i]!, rasr: this.rasr[i]! });
    return out;
  }

  /** The RBAR and RASR registers themselves (index = region; no copy: for the native check, do not modify). */
  raw(): { rbar: Uint32Array; rasr: Uint32Array } {
    return { rbar: this.rbar, rasr: this.rasr };
  }

  /** `offset` relative to MPU_TYPE; word accesses only (the SCS filters sizes). */
  read(offset: number, _size: AccessSize = 4): number {
    switch (offset) {
      case TYPE:
        return (this.dregion << 8) >>> 0;
      case CTRL:
        return this._ctrl;
      case RNR:
        return this._rnr;
      case 0x0c:
      case 0x14:
      case 0x1c:
      case 0x24:
        if (this.dregion === 0) return 0;
        return ((this.rbar[this._rnr]! & ~0x1f) | (this._rnr & 0xf)) >>> 0;
      case 0x10:
      case 0x18:
      case 0x20:
      case 0x28:
        if (this.dregion === 0) return 0;
        return this.rasr[this._rnr]!;
      default:
        return 0;
    }
  }

  write(offset: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    switch (offset) {
      case TYPE:
        return;
      case CTRL:
        if ((value & (MPU_CTRL_HFNMIENA | MPU_CTRL_ENABLE)) === MPU_CTRL_HFNMIENA) {
          this.guestError('MPU_CTRL: HFNMIENA and !ENABLE is UNPREDICTABLE');
        }
        this._ctrl = value & (MPU_CTRL_ENABLE | MPU_CTRL_HFNMIENA | MPU_CTRL_PRIVDEFENA);
        this.onChange();
        return;
      case RNR:
        if (value >= this.dregion) {
          this.guestError(`MPU region out of range ${value}/${this.dregion}`);
          return;
        }
        this._rnr = value;
        return;
      case 0x0c:
      case 0x14:
      case 0x1c:
      case 0x24: {
        let region = this._rnr;
        if (value & MPU_RBAR_VALID) {
          region = value & 0xf;
          if (region >= this.dregion) {
            this.guestError(`MPU region out of range ${region}/${this.dregion}`);
            return;
          }
          this._rnr = region;
        }
        if (region >= this.dregion) return;
        this.rbar[region] = value & ~0x1f;
        this.onChange();
        return;
      }
      case 0x10:
      case 0x18:
      case 0x20:
      case 0x28:
        if (this._rnr >= this.dregion) return;
        this.rasr[this._rnr] = value & MPU_RASR_MASK;
        this.onChange();
        return;
      default:
        this.guestError(`NVIC: Bad write offset ${hex(0xd90 + offset)}`);
    }
  }
}
