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
 * console's tail; a failing test made with the fixtures prints each system's UART0 tail and saves a
 * snapshot and the consoles' tails (see setFailureDir).
 */
import { test as base, expect } from 'vitest';
import { createSystem as create, System, type SystemConfig, type Condition, type RunOptions, type RunResult, type FaultInfo } from '../system/system.js';
import { createWorld as createW, type World, type WorldConfig } from '../system/world.js';
import type { TextPattern, UartConsole, WaitOptions } from '../system/uart.js';
import type { Snapshot } from '../system/snapshot.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

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

/**
 * Where a failing test's evidence goes (Renode's habit): the CMEMU_FAILURE_DIR environment
 * variable, else `cmemu-failures/` in the working directory; 'off' (or setFailureDir(null)) keeps
 * nothing. Each failing test made with the fixtures leaves, per system (or world), a snapshot
 * (`.snap`, load it with Snapshot.load and restore it into a system built the same way) and its
 * consoles' tails (`.txt`), and says so in one line on stderr.
 */
let failureDir: string | null | undefined;
export function setFailureDir(dir: string | null): void {
  failureDir = dir;
}
function currentFailureDir(): string | null {
  if (failureDir !== undefined) return failureDir;
  const env = process.env.CMEMU_FAILURE_DIR;
  if (env === 'off' || env === '0') return null;
  return resolve(env || 'cmemu-failures');
}

function fileStem(test: string): string {
  return test.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 80) || 'test';
}

/** Save a snapshot and the console tails of `sys` (or of a world's boards) for a failed test; returns the files written. */
export async function saveFailureEvidence(what: System | World, test: string, dir = currentFailureDir()): Promise<string[]> {
  if (dir === null) return [];
  mkdirSync(dir, { recursive: true });
  const systems = what instanceof System ? [what] : what.systems;
  const stem = join(dir, `${fileStem(test)}-${systems.map((s) => s.board.name).join('+')}`);
  const files: string[] = [];
  const text = systems
    .map((s, i) => {
      const cons = [s.uart(0), s.semihosting];
      return cons.map((c) => `== ${systems.length > 1 ? `board ${i} ` : ''}${s.board.name} ${c.name} at ${s.now()} ns, ${s.instructions()} instructions:\n${c.tail(50)}\n`).join('');
    })
    .join('');
  writeFileSync(`${stem}.txt`, text);
  files.push(`${stem}.txt`);
  try {
    const snap = await Promise.race([
      what.snapshot() as Promise<Snapshot>,
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error('the run did not pause within 5 s')), 5000).unref()),
    ]);
    snap.save(`${stem}.snap`);
    files.push(`${stem}.snap`);
  } catch (e) {
    process.stderr.write(`cmemu: no snapshot for the failed test '${test}': ${(e as Error).message}\n`);
  }
  process.stderr.write(`cmemu: the failed test '${test}' left ${files.join(' and ')}\n`);
  return files;
}

function failed(task: { result?: { state?: string; errors?: unknown[] } }): boolean {
  return task.result?.state === 'fail' || (task.result?.errors?.length ?? 0) > 0;
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
  createSystem: async ({ onTestFailed, task }, use) => {
    const made: System[] = [];
    onTestFailed(async () => {
      for (const s of made) process.stderr.write(`cmemu: ${s.board.name} ${s.uart(0).name} at ${s.now()} ns:\n${describeTail(s.uart(0))}\n`);
    });
    await use(async (config) => {
      const s = await create(config);
      made.push(s);
      return s;
    });
    // The test has ended (its fixtures are torn down before onTestFailed runs): a failed one leaves its evidence first.
    if (failed(task)) for (const [i, s] of made.entries()) await saveFailureEvidence(s, made.length > 1 ? `${task.name} ${i}` : task.name);
    for (const s of made) await s.close();
  },
  createWorld: async ({ onTestFailed, task }, use) => {
    const made: World[] = [];
    onTestFailed(async () => {
      for (const w of made) for (const s of w.systems) process.stderr.write(`cmemu: ${s.board.name} ${s.uart(0).name} at ${w.now()} ns:\n${describeTail(s.uart(0))}\n`);
    });
    await use(async (config) => {
      const w = await createW(config);
      made.push(w);
      return w;
    });
    if (failed(task)) for (const [i, w] of made.entries()) if (w.systems.length > 0) await saveFailureEvidence(w, made.length > 1 ? `${task.name} ${i}` : task.name);
    for (const w of made) await w.close();
  },
});

export type { System, SystemConfig, Condition, RunOptions, RunResult, FaultInfo, UartConsole, TextPattern, WaitOptions, World, WorldConfig };
