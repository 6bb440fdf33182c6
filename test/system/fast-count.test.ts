/**
 * In icount mode the block-start wrapper counts most blocks itself (exit_check.cc, fast_count);
 * CMEMU_NO_FAST_COUNT=1 (read when an engine is made) sends every block start to the C++ path
 * instead. Both must count exactly the same: the same console, exit code, instruction count and
 * virtual time, byte for byte, on programs with interrupts, faults, the MPU, WFI and exception
 * returns; instruction targets stop at the same counts; and slicing a run into many runFor calls
 * changes nothing (runs stop between translated blocks, docs/api.md "Running").
 */
import { afterEach, describe, expect, it } from 'vitest';
import { firmwarePath } from '../support/run-cmemu.js';
import { runToExit } from '../support/run-system.js';
import { createSystem } from '../../src/index.js';

const CASES: { board: string; programs: string[] }[] = [
  { board: 'mps2-an385', programs: ['irq_nesting', 'context_switch', 'faults', 'cpu_faults', 'mpu_stackguard', 'mpu_userscs', 'unaligned', 'cmsdk_timer', 'bench_loop'] },
  { board: 'lm3s6965evb', programs: ['systick', 'masking', 'gptm', 'faults'] },
];

async function run(board: string, name: string, fast: boolean) {
  if (fast) delete process.env.CMEMU_NO_FAST_COUNT;
  else process.env.CMEMU_NO_FAST_COUNT = '1';
  try {
    return await runToExit(board, firmwarePath(board, name));
  } finally {
    delete process.env.CMEMU_NO_FAST_COUNT;
  }
}

afterEach(() => {
  delete process.env.CMEMU_NO_FAST_COUNT;
});

describe('the wrapper counts as the C++ path does', () => {
  for (const { board, programs } of CASES) {
    for (const name of programs) {
      it(`${board} ${name}: the same console, exit code, instructions and virtual time`, async () => {
        const fast = await run(board, name, true);
        const slow = await run(board, name, false);
        expect(fast.code, fast.stdout).toBe(0);
        expect(fast.instructions).toBeGreaterThan(0);
        expect(fast).toEqual(slow);
      });
    }
  }

  it('instruction targets stop at the same instruction counts', async () => {
    const seen: number[][] = [];
    for (const fast of [true, false]) {
      if (!fast) process.env.CMEMU_NO_FAST_COUNT = '1';
      const sys = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'bench_loop'), time: { icount: 7 } });
      delete process.env.CMEMU_NO_FAST_COUNT;
      try {
        const at: number[] = [];
        for (const step of [1, 2, 3, 17, 1000, 12345, 1]) {
          const n = sys.instructions();
          const r = await sys.runFor({ instructions: step });
          expect(r.reason).toBe('instructions');
          expect(sys.instructions()).toBeGreaterThanOrEqual(n + step);
          at.push(sys.instructions());
        }
        seen.push(at);
      } finally {
        await sys.close();
      }
    }
    expect(seen[0]).toEqual(seen[1]);
  });

  it('slicing a run into many runFor calls changes nothing: the same console and final count as one run', async () => {
    const elf = firmwarePath('mps2-an385', 'irq_nesting');
    const one = await createSystem({ board: 'mps2-an385', firmware: elf, time: { icount: 7 }, semihosting: true });
    const sliced = await createSystem({ board: 'mps2-an385', firmware: elf, time: { icount: 7 }, semihosting: true });
    try {
      await one.run();
      let calls = 0;
      while (!sliced.finished && calls < 100_000) {
        await sliced.runFor(calls % 2 ? { instructions: 1 + (calls % 97) } : '3 us').catch(() => {});
        calls++;
      }
      expect(calls).toBeGreaterThan(100);
      expect(sliced.finished).toEqual(one.finished);
      expect(sliced.instructions()).toBe(one.instructions());
      expect(sliced.uart(0).text()).toBe(one.uart(0).text());
    } finally {
      await one.close();
      await sliced.close();
    }
  });
});
