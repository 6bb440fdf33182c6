/**
 * What every device model shares (rp2040js's `BasePeripheral` is the model): a base class holding
 * the device's logger, with the `-d guest_errors` and `-d unimp` lines devices write; access-size
 * truncation; and the CMSDK/PrimeCell identification registers (PID4-7, PID0-3, CID0-3 at
 * 0xFD0-0xFFC). Each device stays one file, its register map in its own switch.
 */
import type { AccessSize } from './device.js';
import type { Logger } from '../log/logger.js';
import { captureState, restoreState, type DeviceState } from './state.js';

/** A guest did something the hardware ignores or rejects (QEMU's LOG_GUEST_ERROR): logged under `-d guest_errors`. */
export function logGuestError(log: Logger, msg: string): void {
  if (log.enabled('guest_errors')) log.log('guest_errors', msg);
}

export abstract class Peripheral {
  /** `guestErrorPrefix` starts every guest-error line of this device (QEMU's own text, e.g. "CMSDK APB timer "). */
  protected constructor(
    protected readonly log: Logger,
    private readonly guestErrorPrefix = '',
  ) {}

  /** `-d guest_errors`: the guest did something the hardware does not define (a bad offset, a write to RO). */
  protected guestError(msg: string): void {
    logGuestError(this.log, this.guestErrorPrefix + msg);
  }

  /**
   * A bad offset in QEMU's CMSDK/MPS2 wording ("read: bad offset 1c", "write: bad offset 0x1c",
   * after the prefix); returns 0, what the read reads.
   */
  protected badOffset(what: 'read' | 'write', offset: number): number {
    this.guestError(`${what}: bad offset ${what === 'write' ? '0x' : ''}${offset.toString(16)}`);
    return 0;
  }

  /** Snapshot state: every data field of the device and of its parts (src/devices/state.ts). */
  saveState(): DeviceState {
    return captureState(this);
  }
  loadState(s: DeviceState): void {
    restoreState(this, s, this.constructor.name);
  }

  /** `-d unimp`: the guest used a feature the model does not implement. */
  protected unimp(msg: string): void {
    if (this.log.enabled('unimp')) this.log.log('unimp', msg);
  }
}

/** A value as an access of `size` bytes sees it (QEMU masks the result to the access size). */
export function truncate(v: number, size: AccessSize): number {
  return size === 4 ? v >>> 0 : v & (size === 1 ? 0xff : 0xffff);
}

/** CID0..CID3, the PrimeCell component ID every ARM peripheral ends its window with (0xFF0-0xFFC). */
export const PRIMECELL_CID = [0x0d, 0xf0, 0x05, 0xb1] as const;

/** A PrimeCell ID table: the peripheral ID bytes `pid` (in register order), then CID0..CID3. */
export function primeCellIds(...pid: number[]): readonly number[] {
  return [...pid, ...PRIMECELL_CID];
}

/**
 * The CMSDK ID registers (PID4..PID7, PID0..PID3, CID0..CID3) of the part whose PID0 is `part`
 * (0x21 UART, 0x22 timer, 0x23 dual timer, 0x24 watchdog).
 */
export function cmsdkIdRegs(part: number): readonly number[] {
  return primeCellIds(0x04, 0x00, 0x00, 0x00, part, 0xb8, 0x1b, 0x00);
}
