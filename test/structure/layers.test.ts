/**
 * Modules import downward only: cli → system → host → machine → devices → cpu → time/log/native
 * (src/index.ts and src/test/ are the package's entry points, beside cli). A layer may import
 * anything below it, never above.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/run-cmemu.js';

const SRC = join(ROOT, 'src');
const RANK: Record<string, number> = { cli: 0, bench: 0, 'index.ts': 1, test: 1, system: 2, host: 3, machine: 4, devices: 5, cpu: 6, time: 7, log: 7, native: 7 };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('layering', () => {
  it('every src/ folder has a layer', () => {
    for (const f of readdirSync(SRC)) expect(RANK[f], `src/${f} needs a place in RANK`).toBeDefined();
  });
  it('no module imports from a layer above its own', () => {
    const bad: string[] = [];
    for (const f of files(SRC)) {
      const from = relative(SRC, f).split('/')[0]!;
      for (const m of readFileSync(f, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const to = relative(SRC, normalize(join(dirname(f), m[1]!))).split('/')[0]!;
        if (to !== from && RANK[to]! < RANK[from]!) bad.push(`${relative(SRC, f)} imports ${m[1]}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
