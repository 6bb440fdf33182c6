/**
 * `make bench` (third part) / `node dist/bench/gdb.js`: what debugging costs the guest. bench_short
 * (short blocks, CoreMark's shape) on mps2-an385 in icount mode, with no debug points, then with
 * 1 and 4 breakpoints and 1 and 4 write watchpoints armed but never hit (on code and data the
 * benchmark does not touch), as the GDB stub arms them. Guest MIPS, median of BENCH_RUNS (3) runs,
 * alternating, and the ratio to no points.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSystem } from '../system/system.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const elf = join(root, 'firmware', 'build', 'mps2-an385', 'bench_short.elf');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

type Setup = { name: string; bps: string[]; watches: number };
const SETUPS: Setup[] = [
  { name: 'no points', bps: [], watches: 0 },
  { name: '1 breakpoint', bps: ['default_handler_report'], watches: 0 },
  { name: '4 breakpoints', bps: ['default_handler_report', 'Default_Handler', 'test_fail', 'test_exit'], watches: 0 },
  { name: '1 watchpoint', bps: [], watches: 1 },
  { name: '4 watchpoints', bps: [], watches: 4 },
];

async function once(s: Setup): Promise<number> {
  const sys = await createSystem({ board: 'mps2-an385', firmware: elf, time: { icount: 7 }, semihosting: true });
  try {
    sys.boot();
    sys.setDebugBreakpoints(s.bps.filter((b) => sys.symbols.has(b)).map((b) => sys.symbols.address(b)));
    // Words at the top of the 4 MiB SSRAM the program never uses.
    sys.machine.setWatchpoints(Array.from({ length: s.watches }, (_, i) => ({ address: 0x203f0000 + 0x100 * i, length: 4, kind: 'write' as const })));
    const t0 = process.hrtime.bigint();
    const o = await sys.run();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (o.kind !== 'exit' || o.code !== 0 || !sys.uart(0).seen('PASS: bench_short')) throw new Error(`bench_short failed (${s.name}):\n${sys.uart(0).tail()}`);
    return sys.instructions() / secs / 1e6;
  } finally {
    await sys.close();
  }
}

const mips = new Map<string, number[]>(SETUPS.map((s) => [s.name, []]));
for (let r = 0; r < RUNS; r++) for (const s of SETUPS) mips.get(s.name)!.push(await once(s));
const base = median(mips.get('no points')!);
console.log(`\nDebug points armed but not hit: bench_short on mps2-an385, icount, guest MIPS (median of ${RUNS})`);
console.log('| setup | MIPS | vs no points |');
console.log('|---|---|---|');
for (const s of SETUPS) {
  const m = median(mips.get(s.name)!);
  console.log(`| ${s.name} | ${m.toFixed(1)} | ${(m / base).toFixed(2)}x |`);
}
