/**
 * What every device model shares: `-d guest_errors` logging, access-size truncation, and the
 * CMSDK/PrimeCell identification registers (PID4-7, PID0-3, CID0-3 at 0xFD0-0xFFC).
 */
import type { AccessSize } from './device.js';
import type { Logger } from '../log/logger.js';

/** A guest did something the hardware ignores or rejects (QEMU's LOG_GUEST_ERROR): logged under `-d guest_errors`. */
export function logGuestError(log: Logger, msg: string): void {
  if (log.enabled('guest_errors')) log.log('guest_errors', msg);
}

/** A value as an access of `size` bytes sees it. */
export function truncate(v: number, size: AccessSize): number {
  return size === 4 ? v >>> 0 : v & (size === 1 ? 0xff : 0xffff);
}

/** The CMSDK ID registers (PID4..PID7, PID0..PID3, CID0..CID3) of the part whose PID0 is `part`. */
export function cmsdkIdRegs(part: number): readonly number[] {
  return [0x04, 0x00, 0x00, 0x00, part, 0xb8, 0x1b, 0x00, 0x0d, 0xf0, 0x05, 0xb1];
}
