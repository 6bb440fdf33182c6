/**
 * `make demo`: boot our own firmware on emulated mps2-an385 boards and show what they print.
 * (The ivshmem-flat two-board demo arrives with the ivshmem issue.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cmemu = join(root, 'bin', 'cmemu');
const fw = (p: string) => join(root, 'firmware', 'build', 'mps2-an385', `${p}.elf`);

const runs: { title: string; args: string[]; expect: number }[] = [
  { title: 'hello (real time)', args: ['-M', 'mps2-an385', '-nographic', '-semihosting-config', 'enable=on,target=native', '-kernel', fw('hello')], expect: 0 },
  {
    title: 'context_switch: threads on PSP switched by PendSV (icount, deterministic)',
    args: ['-M', 'mps2-an385', '-nographic', '-icount', 'shift=7,align=off,sleep=off', '-semihosting-config', 'enable=on,target=native', '-kernel', fw('context_switch')],
    expect: 0,
  },
  { title: 'cmemu run --until (friendly form)', args: ['run', '--machine', 'mps2-an385', '--timeout', '10', '--until', 'PASS: irq_nesting', fw('irq_nesting')], expect: 0 },
];

let failed = 0;
for (const r of runs) {
  if (!existsSync(r.args[r.args.length - 1]!)) {
    process.stderr.write(`demo: ${r.args[r.args.length - 1]} is missing (make firmware)\n`);
    process.exit(1);
  }
  process.stdout.write(`\n### ${r.title}\n$ bin/cmemu ${r.args.map((a) => a.replace(root + '/', '')).join(' ')}\n`);
  const t0 = process.hrtime.bigint();
  const res = spawnSync(process.execPath, [cmemu, ...r.args], { stdio: ['ignore', 'inherit', 'inherit'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const ok = res.status === r.expect;
  if (!ok) failed++;
  process.stdout.write(`\n--> exit ${res.status} (${ok ? 'as expected' : `expected ${r.expect}`}), ${ms.toFixed(0)} ms\n`);
}
process.exit(failed ? 1 : 0);
