/**
 * The System Control Space, 0xE000E000-0xE000EFFF: ICTR, SysTick (systick.ts), the NVIC registers
 * (nvic.ts holds the state), the System Control Block, the MPU registers (mpu.ts), STIR and the ID
 * registers.
 *
 * Reset values, masks and access sizes are those qemu-system-arm 7.2 shows for cortex-m3 (probed on
 * mps2-an385 and lm3s6965evb), e.g. CPUID 0x410FC231 (r0p1), CCR 0x200, VTOR mask 0xFFFFFF80, the
 * ID_* values and the CoreSight IDs at 0xFE0-0xFFC. Where QEMU keeps bits that silicon does not have
 * (SCR) we keep the architectural mask. Accesses:
 *  - byte/halfword: ISER..IABR, IPR, SHPR1-3, CFSR (MMFSR/BFSR/UFSR) and the ID block; any other
 *    sub-word access reads 0 / is ignored and logs "NVIC: Bad read of size N at offset 0x..";
 *  - unknown or reserved offsets read 0 and log "NVIC: Bad read offset 0x.." (guest_errors);
 *  - writes to read-only registers log "NVIC: Bad write offset 0x..".
 * QEMU raises a BusFault on mps2 for a sub-word SysTick access; the bus here cannot fault from a
 * device callback, so it reads 0 and logs (as QEMU's lm3s6965evb, which ignores bus errors).
 */
import { type AccessSize, type Logger, type MmioDevice, SILENT, extractSubword } from './device.js';
import { Peripheral } from './peripheral.js';
import { Nvic } from './nvic.js';
import { SysTick } from './systick.js';
import { MPU_WINDOW, Mpu } from './mpu.js';
import type { Clock } from '../time/clock.js';
import {
  EXC_BUSFAULT,
  EXC_DEBUGMON,
  EXC_EXTERNAL0,
  EXC_MEMMANAGE,
  EXC_NMI,
  EXC_PENDSV,
  EXC_SVCALL,
  EXC_SYSTICK,
  EXC_USAGEFAULT,
} from '../cpu/exception-controller.js';

/** Cortex-M3 CPUID as QEMU 7.2 reports it (ARM, variant 0, ARMv7-M, part C23, revision 1). */
export const CORTEX_M3_CPUID = 0x410fc231;

export const ICSR = {
  VECTACTIVE_MASK: 0x1ff,
  RETTOBASE: 1 << 11,
  VECTPENDING_SHIFT: 12,
  ISRPENDING: 1 << 22,
  PENDSTCLR: 1 << 25,
  PENDSTSET: 1 << 26,
  PENDSVCLR: 1 << 27,
  PENDSVSET: 1 << 28,
  NMIPENDSET: 1 << 31,
} as const;

export const AIRCR_VECTKEY = 0x05fa;
export const AIRCR_VECTKEYSTAT = 0xfa05;
const AIRCR_VECTRESET = 1 << 0;
const AIRCR_VECTCLRACTIVE = 1 << 1;
const AIRCR_SYSRESETREQ = 1 << 2;

/** CCR bits a v7-M core keeps: STKALIGN, BFHFNMIGN, DIV_0_TRP, UNALIGN_TRP, USERSETMPEND, NONBASETHRDENA. */
export const CCR_WRITE_MASK = 0x31b;
/** SCR: SEVONPEND, SLEEPDEEP, SLEEPONEXIT. */
export const SCR_WRITE_MASK = 0x16;
export const VTOR_WRITE_MASK = 0xffffff80;

/** SHCSR bit → (exception, what). */
const SHCSR_ACTIVE: [number, number][] = [
  [0, EXC_MEMMANAGE],
  [1, EXC_BUSFAULT],
  [3, EXC_USAGEFAULT],
  [7, EXC_SVCALL],
  [8, EXC_DEBUGMON],
  [10, EXC_PENDSV],
  [11, EXC_SYSTICK],
];
const SHCSR_PENDED: [number, number][] = [
  [12, EXC_USAGEFAULT],
  [13, EXC_MEMMANAGE],
  [14, EXC_BUSFAULT],
  [15, EXC_SVCALL],
];
const SHCSR_ENA: [number, number][] = [
  [16, EXC_MEMMANAGE],
  [17, EXC_BUSFAULT],
  [18, EXC_USAGEFAULT],
];

/** ID_PFR0 .. ID_ISAR4 (0xD40-0xD70) for cortex-m3, as QEMU 7.2 returns them. */
const ID_REGS = [
  0x00000030, // ID_PFR0
  0x00000200, // ID_PFR1
  0x00100000, // ID_DFR0
  0x00000000, // ID_AFR0
  0x00000030, // ID_MMFR0
  0x00000000, // ID_MMFR1
  0x00000000, // ID_MMFR2
  0x00000000, // ID_MMFR3
  0x01141110, // ID_ISAR0
  0x02111000, // ID_ISAR1
  0x21112231, // ID_ISAR2
  0x01111110, // ID_ISAR3
  0x01310102, // ID_ISAR4
];

/** PID4..PID7, PID0..PID3, CID0..CID3 would live at 0xFD0-0xFFC; QEMU has 0xFE0-0xFFC only. */
const COMPONENT_ID = [0x00, 0xb0, 0x1b, 0x00, 0x0d, 0xe0, 0x05, 0xb1];

const SYSTICK_BASE = 0x010;
const SYSTICK_END = 0x0f0;
const MPU_BASE = 0xd90;

export interface ScsOptions {
  nvic: Nvic;
  systick: SysTick;
  mpu: Mpu;
  /** Current IPSR of the CPU (ICSR.VECTACTIVE). */
  ipsr: () => number;
  /** AIRCR.SYSRESETREQ written with the key. */
  onSystemReset?: () => void;
  /** CCR written or reset (DIV_0_TRP and UNALIGN_TRP must reach the CPU). */
  onCcrChange?: (ccr: number) => void;
  logger?: Logger;
  /** CPUID value; default CORTEX_M3_CPUID. */
  cpuid?: number;
}

function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16);
}

export class SystemControlSpace extends Peripheral implements MmioDevice {
  readonly name = 'scs';
  readonly size = 0x1000;
  readonly nvic: Nvic;
  readonly systick: SysTick;
  readonly mpu: Mpu;
  private readonly ipsr: () => number;
  private readonly onSystemReset: () => void;
  private readonly onCcrChange: (ccr: number) => void;
  private readonly cpuid: number;
  private dfsr = 0;

  constructor(opts: ScsOptions) {
    super(opts.logger ?? SILENT);
    this.nvic = opts.nvic;
    this.systick = opts.systick;
    this.mpu = opts.mpu;
    this.ipsr = opts.ipsr;
    this.onSystemReset = opts.onSystemReset ?? (() => {});
    this.onCcrChange = opts.onCcrChange ?? (() => {});
    this.cpuid = opts.cpuid ?? CORTEX_M3_CPUID;
  }

  reset(): void {
    this.nvic.reset();
    this.systick.reset();
    this.mpu.reset();
    this.dfsr = 0;
    this.onCcrChange(this.nvic.scb.ccr);
  }

  // ---- register views used by tests and the debugger ----

  icsr(): number {
    const nvic = this.nvic;
    let v = this.ipsr() & ICSR.VECTACTIVE_MASK;
    // QEMU: set when at most one exception is active (so also in Thread mode).
    if (nvic.activeCount() <= 1) v |= ICSR.RETTOBASE;
    v |= (nvic.bestPending() & 0x1ff) << ICSR.VECTPENDING_SHIFT;
    if (nvic.externalPending()) v |= ICSR.ISRPENDING;
    if (nvic.isPending(EXC_SYSTICK)) v |= ICSR.PENDSTSET;
    if (nvic.isPending(EXC_PENDSV)) v |= ICSR.PENDSVSET;
    if (nvic.isPending(EXC_NMI)) v |= ICSR.NMIPENDSET;
    return v >>> 0;
  }

  shcsr(): number {
    const nvic = this.nvic;
    let v = 0;
    for (const [bit, exc] of SHCSR_ACTIVE) if (nvic.isActive(exc)) v |= 1 << bit;
    for (const [bit, exc] of SHCSR_PENDED) if (nvic.isPending(exc)) v |= 1 << bit;
    for (const [bit, exc] of SHCSR_ENA) if (nvic.isEnabled(exc)) v |= 1 << bit;
    return v >>> 0;
  }

  // ---- MMIO ----

  read(offset: number, size: AccessSize): number {
    if (offset >= SYSTICK_BASE && offset < SYSTICK_END) return this.systick.read(offset - SYSTICK_BASE, size);
    if (offset >= 0x100 && offset < 0x340) return this.readIrqBits(offset, size);
    if (offset >= 0x400 && offset < 0x5f0) return this.readBytes(offset, size, (i) => this.iprByte(offset - 0x400 + i));
    if (offset >= 0xd18 && offset < 0xd24) return this.readBytes(offset, size, (i) => this.shprByte(offset - 0xd18 + i));
    if (offset >= 0xd28 && offset < 0xd2c) return extractSubword(this.nvic.scb.cfsr, offset, size);
    if (offset >= 0xfe0) return offset & 3 ? 0 : COMPONENT_ID[(offset - 0xfe0) >> 2]!;
    if (size !== 4 || offset & 3) {
      this.guestError(`NVIC: Bad read of size ${size} at offset ${hex(offset)}`);
      return 0;
    }
    return this.readWord(offset) >>> 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    value >>>= 0;
    if (offset >= SYSTICK_BASE && offset < SYSTICK_END) {
      this.systick.write(offset - SYSTICK_BASE, size, value);
      return;
    }
    if (offset >= 0x100 && offset < 0x340) {
      this.writeIrqBits(offset, size, value);
      return;
    }
    if (offset >= 0x400 && offset < 0x5f0) {
      for (let i = 0; i < size; i++) {
        const irq = offset - 0x400 + i;
        if (irq < this.nvic.numIrqs) this.nvic.setPriority(EXC_EXTERNAL0 + irq, (value >>> (8 * i)) & 0xff);
      }
      return;
    }
    if (offset >= 0xd18 && offset < 0xd24) {
      for (let i = 0; i < size; i++) {
        const exc = 4 + offset - 0xd18 + i;
        if (this.nvic.exists(exc)) this.nvic.setPriority(exc, (value >>> (8 * i)) & 0xff);
      }
      return;
    }
    if (offset >= 0xd28 && offset < 0xd2c) {
      const mask = size === 4 ? 0xffffffff : ((size === 1 ? 0xff : 0xffff) << ((offset & 3) * 8)) >>> 0;
      const bits = size === 4 ? value : (value << ((offset & 3) * 8)) & mask;
      this.nvic.scb.cfsr = (this.nvic.scb.cfsr & ~bits) >>> 0;
      return;
    }
    if (size !== 4 || offset & 3) {
      this.guestError(`NVIC: Bad write of size ${size} at offset ${hex(offset)}`);
      return;
    }
    this.writeWord(offset, value);
  }

  private readBytes(offset: number, size: AccessSize, byte: (i: number) => number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= byte(i) << (8 * i);
    return v >>> 0;
  }

  private iprByte(irq: number): number {
    return irq < this.nvic.numIrqs ? this.nvic.priority(EXC_EXTERNAL0 + irq) : 0;
  }

  private shprByte(i: number): number {
    const exc = 4 + i;
    return this.nvic.exists(exc) ? this.nvic.priority(exc) : 0;
  }

  /** ISER/ICER/ISPR/ICPR/IABR: 16 words each at 0x100/0x180/0x200/0x280/0x300. */
  private irqWord(offset: number): { kind: number; first: number } | null {
    const kind = (offset - 0x100) >> 7;
    const index = (offset & 0x7f) >> 2;
    if (index >= 16) return null;
    return { kind, first: EXC_EXTERNAL0 + index * 32 };
  }

  private readIrqBits(offset: number, size: AccessSize): number {
    const w = this.irqWord(offset);
    if (!w) {
      if (size !== 4) this.guestError(`NVIC: Bad read of size ${size} at offset ${hex(offset)}`);
      else this.guestError(`NVIC: Bad read offset ${hex(offset)}`);
      return 0;
    }
    const nvic = this.nvic;
    let v = 0;
    for (let b = 0; b < 32; b++) {
      const exc = w.first + b;
      if (exc >= EXC_EXTERNAL0 + nvic.numIrqs) break;
      let on: boolean;
      switch (w.kind) {
        case 0:
        case 1:
          on = nvic.isEnabled(exc);
          break;
        case 2:
        case 3:
          on = nvic.isPending(exc);
          break;
        default:
          on = nvic.isActive(exc);
      }
      if (on) v |= 1 << b;
    }
    return extractSubword(v >>> 0, offset, size);
  }

  private writeIrqBits(offset: number, size: AccessSize, value: number): void {
    const w = this.irqWord(offset);
    if (!w) {
      if (size !== 4) this.guestError(`NVIC: Bad write of size ${size} at offset ${hex(offset)}`);
      else this.guestError(`NVIC: Bad write offset ${hex(offset)}`);
      return;
    }
    if (w.kind === 4) return; // IABR is read-only (QEMU ignores writes silently)
    const shift = size === 4 ? 0 : (offset & 3) * 8;
    const bits = size === 4 ? value : ((value & (size === 1 ? 0xff : 0xffff)) << shift) >>> 0;
    const nvic = this.nvic;
    for (let b = 0; b < 32; b++) {
      if (!((bits >>> b) & 1)) continue;
      const exc = w.first + b;
      if (exc >= EXC_EXTERNAL0 + nvic.numIrqs) break;
      switch (w.kind) {
        case 0:
          nvic.setEnabled(exc, true);
          break;
        case 1:
          nvic.setEnabled(exc, false);
          break;
        case 2:
          nvic.setPending(exc);
          break;
        case 3:
          nvic.clearPending(exc);
          break;
      }
    }
  }

  private readWord(offset: number): number {
    const scb = this.nvic.scb;
    switch (offset) {
      case 0x004: // ICTR
        return Math.ceil(this.nvic.numIrqs / 32) - 1;
      case 0xd00:
        return this.cpuid;
      case 0xd04:
        return this.icsr();
      case 0xd08:
        return scb.vtor;
      case 0xd0c:
        return ((AIRCR_VECTKEYSTAT << 16) | (this.nvic.prigroup << 8)) >>> 0;
      case 0xd10:
        return scb.scr;
      case 0xd14:
        return scb.ccr;
      case 0xd24:
        return this.shcsr();
      case 0xd28:
        return scb.cfsr;
      case 0xd2c:
        return scb.hfsr;
      case 0xd30:
        return this.dfsr;
      case 0xd34:
        return scb.mmfar;
      case 0xd38:
        return scb.bfar;
      case 0xd3c: // AFSR
        this.unimp('Aux Fault status registers unimplemented');
        return 0;
    }
    if (offset >= 0xd40 && offset <= 0xd70) return ID_REGS[(offset - 0xd40) >> 2]!;
    // ID_ISAR5, CLIDR, CTR, CCSIDR, CSSELR, CPACR (no FPU: RAZ/WI), NSACR: zero on this core.
    if (offset >= 0xd74 && offset <= 0xd8c) return 0;
    if (offset >= MPU_BASE && offset < MPU_BASE + MPU_WINDOW) return this.mpu.read(offset - MPU_BASE, 4);
    // FPCCR, FPCAR, FPDSCR, MVFR0-2: no FPU, zero.
    if (offset >= 0xf34 && offset <= 0xf48) return 0;
    this.guestError(`NVIC: Bad read offset ${hex(offset)}`);
    return 0;
  }

  private writeWord(offset: number, value: number): void {
    const nvic = this.nvic;
    const scb = nvic.scb;
    switch (offset) {
      case 0xd04:
        this.writeIcsr(value);
        return;
      case 0xd08:
        scb.vtor = (value & VTOR_WRITE_MASK) >>> 0;
        return;
      case 0xd0c:
        this.writeAircr(value);
        return;
      case 0xd10:
        scb.scr = value & SCR_WRITE_MASK;
        return;
      case 0xd14:
        scb.ccr = value & CCR_WRITE_MASK;
        this.onCcrChange(scb.ccr);
        return;
      case 0xd24:
        this.writeShcsr(value);
        return;
      case 0xd28:
        scb.cfsr = (scb.cfsr & ~value) >>> 0;
        return;
      case 0xd2c:
        scb.hfsr = (scb.hfsr & ~value) >>> 0;
        return;
      case 0xd30:
        this.dfsr = (this.dfsr & ~value) >>> 0;
        return;
      case 0xd34:
        scb.mmfar = value;
        return;
      case 0xd38:
        scb.bfar = value;
        return;
      case 0xd3c:
        this.unimp('NVIC: Aux fault status registers unimplemented');
        return;
      case 0xd84: // CSSELR
      case 0xd88: // CPACR: RAZ/WI without an FPU
      case 0xd8c: // NSACR
      case 0xf34: // FPCCR, FPCAR, FPDSCR: no FPU
      case 0xf38:
      case 0xf3c:
        return;
      case 0xf00: {
        // STIR. Unprivileged writes need CCR.USERSETMPEND: checked once the bus knows the privilege.
        const irq = value & 0x1ff;
        if (irq < nvic.numIrqs) nvic.setPending(EXC_EXTERNAL0 + irq);
        return;
      }
    }
    if (offset >= MPU_BASE && offset < MPU_BASE + MPU_WINDOW) {
      this.mpu.write(offset - MPU_BASE, 4, value);
      return;
    }
    // Cache and branch predictor maintenance (ICIALLU..BPIALL): no-ops.
    if (offset >= 0xf50 && offset <= 0xf78) return;
    this.guestError(`NVIC: Bad write offset ${hex(offset)}`);
  }

  private writeIcsr(value: number): void {
    const nvic = this.nvic;
    // Only the set/clear bits act; VECTACTIVE, RETTOBASE, VECTPENDING, ISRPENDING are read-only.
    if (value & ICSR.NMIPENDSET) nvic.setPending(EXC_NMI);
    // Set wins over clear when both are written (as QEMU).
    if (value & ICSR.PENDSVSET) nvic.setPending(EXC_PENDSV);
    else if (value & ICSR.PENDSVCLR) nvic.clearPending(EXC_PENDSV);
    if (value & ICSR.PENDSTSET) nvic.setPending(EXC_SYSTICK);
    else if (value & ICSR.PENDSTCLR) nvic.clearPending(EXC_SYSTICK);
  }

  private writeAircr(value: number): void {
    if (value >>> 16 !== AIRCR_VECTKEY) return; // writes without the key are ignored
    this.nvic.setPrigroup((value >>> 8) & 7);
    if (value & AIRCR_VECTCLRACTIVE) this.guestError('Setting VECTCLRACTIVE when not in DEBUG mode is UNPREDICTABLE');
    if (value & AIRCR_VECTRESET) this.guestError('Setting VECTRESET when not in DEBUG mode is UNPREDICTABLE');
    if (value & AIRCR_SYSRESETREQ) {
      if (this.log.enabled('cpu_reset')) this.log.log('cpu_reset', 'AIRCR.SYSRESETREQ: system reset requested');
      this.onSystemReset();
    }
  }

  private writeShcsr(value: number): void {
    const nvic = this.nvic;
    // Enables first, so that a pending bit set in the same write sees them.
    for (const [bit, exc] of SHCSR_ENA) nvic.setEnabled(exc, ((value >>> bit) & 1) === 1);
    for (const [bit, exc] of SHCSR_PENDED) {
      if ((value >>> bit) & 1) nvic.setPending(exc);
      else nvic.clearPending(exc);
    }
    for (const [bit, exc] of SHCSR_ACTIVE) nvic.setActive(exc, ((value >>> bit) & 1) === 1);
  }
}

export interface ScsBuildOptions {
  numIrqs: number;
  priorityBits?: number;
  clock: Clock;
  /** SysTick CLKSOURCE = 1. */
  cpuHz: number;
  /** SysTick reference clock; 0/absent = not connected (lm3s6965evb in QEMU 7.2). */
  refHz?: number;
  mpuRegions?: number;
  ipsr: () => number;
  onChange?: () => void;
  onSystemReset?: () => void;
  onCcrChange?: (ccr: number) => void;
  onMpuChange?: () => void;
  logger?: Logger;
  cpuid?: number;
  /** SysTick on a real-time clock: see SysTickOptions.slipLateWraps. */
  realTime?: boolean;
}

export interface ScsParts {
  nvic: Nvic;
  systick: SysTick;
  mpu: Mpu;
  /** The MMIO device for 0xE000E000. */
  device: SystemControlSpace;
}

/** Build the NVIC, SysTick (pending exception 15 on the NVIC), MPU and the SCS device around them. */
export function buildScs(o: ScsBuildOptions): ScsParts {
  const logger = o.logger ?? SILENT;
  const nvic = new Nvic({ numIrqs: o.numIrqs, priorityBits: o.priorityBits, onChange: o.onChange, logger });
  const systick = new SysTick({
    clock: o.clock,
    cpuHz: o.cpuHz,
    refHz: o.refHz,
    pend: () => nvic.setPending(EXC_SYSTICK),
    logger,
    slipLateWraps: o.realTime ?? false,
  });
  const mpu = new Mpu({ regions: o.mpuRegions ?? 8, onChange: o.onMpuChange, logger });
  const device = new SystemControlSpace({
    nvic,
    systick,
    mpu,
    ipsr: o.ipsr,
    onSystemReset: o.onSystemReset,
    onCcrChange: o.onCcrChange,
    logger,
    cpuid: o.cpuid,
  });
  return { nvic, systick, mpu, device };
}
