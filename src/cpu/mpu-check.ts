/**
 * PMSAv7 permission check (ARMv7-M B3.5, as QEMU 7.2's get_phys_addr_pmsav7): which access the
 * MPU allows at an address. Used for the accesses the exception model makes itself (stacking and
 * unstacking); guest loads, stores and fetches get the same rules natively (NativeCpu.setMpu,
 * `mpuProt` in native/src/cpu.cc). The PPB is exempt there; stacking never targets it.
 */
export interface MpuView {
  /** MPU_CTRL: ENABLE bit 0, HFNMIENA bit 1, PRIVDEFENA bit 2. */
  readonly ctrl: number;
  regions(): { base: number; rasr: number }[];
}

export type MpuAccess = 'read' | 'write' | 'exec';

const CTRL_ENABLE = 1;
const CTRL_HFNMIENA = 2;
const CTRL_PRIVDEFENA = 4;

/** Read and write permission by AP (RASR bits 26:24), for privileged / unprivileged code. */
const AP_READ = { priv: [false, true, true, true, false, true, true, true], user: [false, false, true, true, false, false, true, true] };
const AP_WRITE = { priv: [false, true, true, true, false, false, false, false], user: [false, false, false, true, false, false, false, false] };

/**
 * Whether `access` at `addr` is allowed. `negativePriority`: the access is made at an execution
 * priority below 0 (HardFault, NMI, FAULTMASK), where the MPU applies only if HFNMIENA is set.
 * With the MPU off the default memory map applies (its execute-never regions are checked elsewhere).
 */
export function mpuAllows(mpu: MpuView, addr: number, access: MpuAccess, privileged: boolean, negativePriority = false): boolean {
  const ctrl = mpu.ctrl;
  if (!(ctrl & CTRL_ENABLE)) return true;
  if (negativePriority && !(ctrl & CTRL_HFNMIENA)) return true;
  const a = addr >>> 0;
  const regions = mpu.regions();
  for (let i = regions.length - 1; i >= 0; i--) {
    const { base, rasr } = regions[i]!;
    if (!(rasr & 1)) continue;
    const sizeField = (rasr >>> 1) & 0x1f;
    if (sizeField === 0) continue; // SIZE 0 is reserved: QEMU 7.2 ignores the region
    const size = 2 ** (sizeField + 1);
    const start = (base & 0xffffffe0) >>> 0;
    if (start % size !== 0) continue; // base not aligned to the size: ignored, as QEMU 7.2 does
    if (a < start || a - start >= size) continue;
    if (size >= 256) {
      const sub = Math.floor((a - start) / (size / 8));
      if ((rasr >>> 8) & (1 << sub)) continue; // subregion disabled: look at lower regions
    }
    const ap = (rasr >>> 24) & 7;
    // XN, and the system region (0xE0000000 up) is never executable.
    if (access === 'exec' && ((rasr >>> 28) & 1 || a >= 0xe0000000)) return false;
    const table = access === 'write' ? AP_WRITE : AP_READ;
    return (privileged ? table.priv : table.user)[ap]!;
  }
  // No region: the default map for privileged code with PRIVDEFENA, else a fault.
  return privileged && (ctrl & CTRL_PRIVDEFENA) !== 0;
}
