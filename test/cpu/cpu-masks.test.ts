/**
 * Cpu.masks() is cached between runs (exception entry reads it several times per stop): every way
 * the registers change outside a run must drop the cache — a register write through Cpu, and a
 * snapshot's restore().
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Cpu } from '../../src/cpu/cpu.js';
import { Reg } from '../../src/native/cpu.js';
import { closeAll, rig } from '../native/helpers.js';

afterEach(closeAll);

describe('Cpu.masks() cache', () => {
  it('follows setReg and restore() of a snapshot with other masks', () => {
    const { cpu: native } = rig([0xe7fe]); // b .
    const cpu = new Cpu(native);
    expect(cpu.masks()).toMatchObject({ primask: 0, basepri: 0, faultmask: 0 });
    cpu.setReg(Reg.BASEPRI, 0x40);
    expect(cpu.masks().basepri).toBe(0x40);
    const s = cpu.snapshot();
    cpu.setReg(Reg.BASEPRI, 0);
    cpu.setReg(Reg.PRIMASK, 0);
    expect(cpu.masks()).toMatchObject({ primask: 0, basepri: 0 }); // cached now
    cpu.restore({ ...s, primask: 1, basepri: 0x80 });
    expect(cpu.masks()).toMatchObject({ primask: 1, basepri: 0x80 });
  });
});
