/**
 * docs/api.md's examples run as written: every ```js block is written to a file inside the
 * repository (so `cmemu` resolves to this package by its own name, through package.json's
 * exports, as in a user's project) and run from the repository root; a block whose first line
 * names a `.test.js` file runs under vitest. Where a block says what it prints (`// ...` after a
 * console.log, or `// line` comments at its end), the output must say it.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runProcess } from '../support/run-cmemu.js';

const DIR = join(ROOT, 'build', 'doc-examples');
rmSync(DIR, { recursive: true, force: true });
mkdirSync(DIR, { recursive: true });
// The examples' own vitest config (not the repository's, which looks in test/ for .ts files).
writeFileSync(join(DIR, 'vitest.config.mjs'), "export default { test: { include: ['*.test.js'], testTimeout: 60000 } };\n");
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

const md = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
const blocks = [...md.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** What a block says it prints: `console.log(...);  // text` and trailing `// text` lines. */
function expectedOutput(code: string): string[] {
  const out: string[] = [];
  for (const line of code.split('\n')) {
    const m = /console\.log\(.*\);?\s*\/\/ (.*)$/.exec(line);
    if (m) out.push(m[1]!.trim());
  }
  const tail = code.trimEnd().split('\n');
  const trailing: string[] = [];
  while (tail.length && /^\/\/ /.test(tail[tail.length - 1]!)) trailing.unshift(tail.pop()!.slice(3).trim());
  return [...out, ...trailing];
}

describe('docs/api.md examples', () => {
  it('has examples', () => expect(blocks.length).toBeGreaterThanOrEqual(5));
  blocks.forEach((code, i) => {
    const name = /^\/\/ (\S+\.test\.js)/.exec(code)?.[1];
    it(`example ${i + 1}${name ? ` (${name})` : ''} runs and prints what it says`, async () => {
      const file = join(DIR, name ?? `example${i + 1}.mjs`);
      writeFileSync(file, code);
      const r = name
        ? await runProcess(join(ROOT, 'node_modules', '.bin', 'vitest'), ['run', '--root', DIR, '--config', join(DIR, 'vitest.config.mjs'), name], { cwd: ROOT, timeoutMs: 120_000 })
        : await runProcess(process.execPath, [file], { cwd: ROOT, timeoutMs: 120_000 });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      if (name) expect(r.stdout).toMatch(/1 passed/);
      for (const want of expectedOutput(code)) {
        // "a b c" after a console.log of several values: each shown value, in order, on one line.
        const shown = r.stdout.split('\n').some((l) => l.includes(want) || l.replace(/Uint8Array\(\d+\) \[[^\]]*\]/g, '').includes(want));
        expect(shown, `output shows "${want}":\n${r.stdout}`).toBe(true);
      }
    });
  });
});
