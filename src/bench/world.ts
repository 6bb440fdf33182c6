/**
 * `make bench` (second part) / `node dist/bench/world.js`: what one virtual timeline costs. The
 * same two boards (mps2-an385 and lm3s6965evb, each running bench_loop in icount mode) run
 *  - in one process as a world, with a quantum of 10 us, 100 us and 1 ms, and
 *  - as two separate `bin/cmemu` processes side by side (the two cores),
 * and each board's guest MIPS is printed for each, with the world's ratio to separate processes.
 * Medians over BENCH_RUNS runs (default 3), alternating.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWorld } from '../system/world.js';
import type { System } from '../system/system.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cmemu = join(root, 'bin', 'cmemu');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BOARDS = ['mps2-an385', 'lm3s6965evb'] as const;
const SHIFT: Record<string, number> = { 'mps2-an385': 7, lm3s6965evb: 6 };
const elf = (b: string) => join(root, 'firmware', 'build', b, 'bench_loop.elf');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Both boards in one world; wall seconds until both finished, and instructions per board. */
async function inWorld(quantum: string): Promise<{ s: number; insns: number[] }> {
  const world = await createWorld({ quantum });
  try {
    const sys: System[] = [];
    for (const b of BOARDS) sys.push(await world.add({ board: b, firmware: elf(b), semihosting: true }));
    const t0 = process.hrtime.bigint();
    await world.runUntil(() => sys.every((s) => s.finished !== null), { timeout: '600 s' });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    for (const x of sys) if (!x.uart(0).seen('PASS: bench_loop')) throw new Error(`${x.board.name}: bench_loop failed:\n${x.uart(0).tail()}`);
    return { s, insns: sys.map((x) => x.instructions()) };
  } finally {
    await world.close();
  }
}

/** Each board in its own process, both at once; wall seconds of each. */
async function separate(): Promise<number[]> {
  return Promise.all(
    BOARDS.map(
      (b) =>
        new Promise<number>((resolve, reject) => {
          const t0 = process.hrtime.bigint();
          const c = spawn(process.execPath, [cmemu, '-M', b, '-nographic', '-semihosting-config', 'enable=on,target=native', '-icount', `shift=${SHIFT[b]},align=off,sleep=off`, '-kernel', elf(b)], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          c.stdout.on('data', (d) => (out += d));
          c.on('close', (code) => {
            if (code !== 0 || !out.includes('PASS: bench_loop')) reject(new Error(`${b}: exit ${code}`));
            else resolve(Number(process.hrtime.bigint() - t0) / 1e9);
          });
        }),
    ),
  );
}

async function main(): Promise<void> {
  const quanta = ['10 us', '100 us', '1 ms'];
  const world: Record<string, number[]> = {};
  const sep: number[][] = [];
  let insns: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    sep.push(await separate());
    for (const q of quanta) {
      const w = await inWorld(q);
      (world[q] ??= []).push(w.s);
      insns = w.insns;
    }
  }
  const sepS = BOARDS.map((_, i) => median(sep.map((x) => x[i]!)));
  process.stdout.write(`\nOne timeline: mps2-an385 + lm3s6965evb running bench_loop in icount mode (${insns.map((n) => `${(n / 1e6).toFixed(0)} M`).join(' / ')} instructions), median of ${RUNS}\n\n`);
  process.stdout.write(`| how | wall | guest MIPS mps2-an385 | guest MIPS lm3s6965evb | vs separate processes |\n|---|---|---|---|---|\n`);
  process.stdout.write(`| two processes (2 cores) | ${Math.max(...sepS).toFixed(2)} s | ${(insns[0]! / sepS[0]! / 1e6).toFixed(0)} | ${(insns[1]! / sepS[1]! / 1e6).toFixed(0)} | 1.00 |\n`);
  for (const q of quanta) {
    const s = median(world[q]!);
    process.stdout.write(`| world, quantum ${q} (1 thread) | ${s.toFixed(2)} s | ${(insns[0]! / s / 1e6).toFixed(0)} | ${(insns[1]! / s / 1e6).toFixed(0)} | ${(Math.max(...sepS) / s).toFixed(2)} |\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`bench world: ${(e as Error).message}\n`);
  process.exit(1);
});
