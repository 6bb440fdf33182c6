/**
 * The generated-code shortcuts of issue 10 (docs/unicorn.md, "What generated code no longer pays
 * for": the block-start gate, accesses without exit checks, literal loads in their own TLB, the
 * TLB grown by flushing) must change nothing a guest or a user can see. Each can be turned off when
 * an engine is made (CMEMU_NO_GATE, CMEMU_EXIT_CHECKS, CMEMU_NO_LITERAL_TLB, CMEMU_NO_TLB_GROW):
 * in icount mode every program gives the same console, exit code, instruction count and virtual
 * time, byte for byte, with all of them on and with all of them off; in real time the programs
 * whose output does not depend on time print the same.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { firmwarePath } from '../support/run-cmemu.js';
import { runArgs, runToExit } from '../support/run-system.js';

const OFF = ['CMEMU_NO_GATE', 'CMEMU_EXIT_CHECKS', 'CMEMU_NO_LITERAL_TLB', 'CMEMU_NO_TLB_GROW'];

function setOff(off: boolean): void {
  for (const k of OFF) {
    if (off) process.env[k] = '1';
    else delete process.env[k];
  }
}

afterEach(() => setOff(false));

const ICOUNT: { board: string; programs: string[] }[] = [
  { board: 'mps2-an385', programs: ['irq_nesting', 'context_switch', 'faults', 'cpu_faults', 'mpu_stackguard', 'mpu_userscs', 'unaligned', 'cmsdk_timer', 'bench_loop', 'bench_short'] },
  { board: 'lm3s6965evb', programs: ['systick', 'masking', 'gptm', 'faults', 'bench_loop'] },
];

describe('icount: the same with the shortcuts on and off', () => {
  for (const { board, programs } of ICOUNT) {
    for (const name of programs) {
      it(`${board} ${name}: console, exit code, instructions, virtual time`, async () => {
        setOff(false);
        const on = await runToExit(board, firmwarePath(board, name));
        setOff(true);
        const off = await runToExit(board, firmwarePath(board, name));
        setOff(false);
        expect(on.code, on.stdout).toBe(0);
        expect(on.instructions).toBeGreaterThan(0);
        expect(on).toEqual(off);
      }, 60_000);
    }
  }
});

describe('real time: the same output with the shortcuts on and off', () => {
  for (const name of ['bench_short', 'bench_loop', 'cpu_faults']) {
    it(`mps2-an385 ${name}`, async () => {
      const args = ['-M', 'mps2-an385', '-nographic', '-semihosting-config', 'enable=on,target=native', '-kernel', firmwarePath('mps2-an385', name)];
      setOff(false);
      const on = await runArgs(args, { timeoutMs: 60_000 });
      setOff(true);
      const off = await runArgs(args, { timeoutMs: 60_000 });
      setOff(false);
      expect(on.code, on.stderr).toBe(0);
      expect(on.stdout).toContain('PASS');
      expect(on.stdout).toBe(off.stdout);
    }, 120_000);
  }
});
