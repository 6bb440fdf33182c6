/**
 * cmemu/test: helpers for firmware integration tests in vitest.
 *
 *   import { test, expectUart } from 'cmemu/test';
 *   test('boots', async ({ createSystem }) => {
 *     const sys = await createSystem({ board: 'mps2-an385', firmware: 'fw.elf', time: { icount: 7 } });
 *     await expectUart(sys.uart(0)).toPrintLine(/Booting Zephyr/, { timeout: '2 s' });
 *   });                                   // every system made through the fixture is closed after the test
 *
 * Timeouts are virtual time in icount mode, host time otherwise. A failing wait's message shows the
 * console's tail; a failing test made with the fixtures prints each system's UART0 tail.
 */
import { test as base, expect } from 'vitest';
import { createSystem as create, System, type SystemConfig, type Condition, type RunOptions, type RunResult, type FaultInfo } from '../system/system.js';
import { createWorld as createW, type World, type WorldConfig } from '../system/world.js';
import type { TextPattern, UartConsole, WaitOptions } from '../system/uart.js';

export { TimeoutError, MachineFinishedError } from '../system/errors.js';

export interface UartExpectation {
  /** Run until a complete line matches; resolves with the line. */
  toPrintLine(p: TextPattern, opts?: WaitOptions): Promise<string>;
  /** Run until the output contains `p` (not necessarily a whole line). */
  toPrint(p: TextPattern, opts?: WaitOptions): Promise<void>;
  /** Already printed (no run). */
  toHavePrinted(p: TextPattern): void;
  /** Not printed so far (no run). */
  notToHavePrinted(p: TextPattern): void;
  /** Run until each pattern has appeared in a line, in this order. */
  toPrintLines(ps: TextPattern[], opts?: WaitOptions): Promise<string[]>;
}

function describeTail(con: UartConsole): string {
  const t = con.tail();
  return t ? t.split('\n').map((l) => `  | ${l}`).join('\n') : '  (nothing printed)';
}

/** Expectations on a UART console whose failures show what it printed. */
export function expectUart(con: UartConsole): UartExpectation {
  return {
    toPrintLine: (p, opts) => con.waitForLine(p, opts),
    toPrint: (p, opts) => con.waitFor(p, opts),
    toHavePrinted(p) {
      expect(con.seen(p), `${con.name} has not printed ${String(p)}; it printed:\n${describeTail(con)}`).toBe(true);
    },
    notToHavePrinted(p) {
      expect(con.seen(p), `${con.name} printed ${String(p)}:\n${describeTail(con)}`).toBe(false);
    },
    async toPrintLines(ps, opts) {
      const out: string[] = [];
      for (const p of ps) {
        out.push(await con.waitForLine(p, opts));
        con.mark();
      }
      return out;
    },
  };
}

/** Run until a fault and return it as data (CFSR, PC, the fault's name); fails the test if none comes. */
export async function expectFault(sys: System, opts: RunOptions = {}): Promise<FaultInfo> {
  const r = await sys.runUntil({ fault: true }, opts);
  expect(r.fault, `no fault was raised; ${sys.uart(0).name} printed:\n${describeTail(sys.uart(0))}`).toBeDefined();
  return r.fault!;
}

/** Run until the guest exits through semihosting and return its exit code. */
export async function expectExit(sys: System, opts: RunOptions = {}): Promise<number> {
  const r = await sys.runUntil({ exit: true }, opts);
  const o = r.outcome;
  expect(o?.kind, `the guest did not exit (${JSON.stringify(o)}); ${sys.uart(0).name} printed:\n${describeTail(sys.uart(0))}`).toBe('exit');
  return o!.kind === 'exit' ? o!.code : -1;
}

export interface CmemuFixtures {
  /** Build a system (closed after the test). */
  createSystem: (config: SystemConfig) => Promise<System>;
  /** Build a world (closed after the test). */
  createWorld: (config?: WorldConfig) => Promise<World>;
}

/**
 * vitest's `test` with cmemu fixtures: systems and worlds made through them are closed after each
 * test, and a failing test prints each one's UART0 tail (Renode's habit of keeping the evidence).
 */
export const test = base.extend<CmemuFixtures>({
  // eslint-disable-next-line no-empty-pattern
  createSystem: async ({ onTestFailed }, use) => {
    const made: System[] = [];
    onTestFailed(() => {
      for (const s of made) process.stderr.write(`cmemu: ${s.board.name} ${s.uart(0).name} at ${s.now()} ns:\n${describeTail(s.uart(0))}\n`);
    });
    await use(async (config) => {
      const s = await create(config);
      made.push(s);
      return s;
    });
    for (const s of made) await s.close();
  },
  createWorld: async ({ onTestFailed }, use) => {
    const made: World[] = [];
    onTestFailed(() => {
      for (const w of made) for (const s of w.systems) process.stderr.write(`cmemu: ${s.board.name} ${s.uart(0).name} at ${w.now()} ns:\n${describeTail(s.uart(0))}\n`);
    });
    await use(async (config) => {
      const w = await createW(config);
      made.push(w);
      return w;
    });
    for (const w of made) await w.close();
  },
});

export type { System, SystemConfig, Condition, RunOptions, RunResult, FaultInfo, UartConsole, TextPattern, WaitOptions, World, WorldConfig };
