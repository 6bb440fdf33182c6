/**
 * bin/cmemu's fast start: it runs the one-file bundle (scripts/bundle.mjs) compiled with V8's code
 * cache next to it, and falls back safely. Each case runs a private copy of bin/ and dist/ (the
 * addon, node_modules and firmware are linked), so the cache files it writes are its own.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, firmwarePath, runProcess } from '../support/run-cmemu.js';

const haveBundle = existsSync(join(ROOT, 'dist', 'cli', 'main.bundle.cjs'));
const tmp = mkdtempSync(join(tmpdir(), 'cmemu-startup-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function copy(): { root: string; bundle: string; cache: string; run: (args: string[]) => ReturnType<typeof runProcess> } {
  const root = join(tmp, `c${n++}`);
  cpSync(join(ROOT, 'bin'), join(root, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true, preserveTimestamps: true });
  rmSync(join(root, 'dist', 'cli', 'main.bundle.cjs.cache'), { force: true });
  symlinkSync(join(ROOT, 'native'), join(root, 'native'));
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  symlinkSync(join(ROOT, 'package.json'), join(root, 'package.json'));
  const bundle = join(root, 'dist', 'cli', 'main.bundle.cjs');
  return { root, bundle, cache: `${bundle}.cache`, run: (args) => runProcess(process.execPath, [join(root, 'bin', 'cmemu'), ...args]) };
}

const hello = ['-M', 'mps2-an385', '-nographic', '-semihosting-config', 'enable=on,target=native', '-kernel', firmwarePath('mps2-an385', 'hello')];
const past = (f: string, s: number) => utimesSync(f, new Date(Date.now() - s * 1000), new Date(Date.now() - s * 1000));

// No skip: the bundle is part of `make build` (esbuild comes with the dev dependencies); without it
// bin/cmemu still runs, slower, and these tests say so by failing.
describe('bin/cmemu start-up (bundle + code cache)', () => {
  beforeAll(() => expect(haveBundle, 'make build made dist/cli/main.bundle.cjs').toBe(true));

  it('the first run writes the code cache, the next one uses it (and does not rewrite it)', async () => {
    const c = copy();
    const r1 = await c.run(hello);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toContain('PASS: hello');
    expect(existsSync(c.cache)).toBe(true);
    past(c.cache, 5); // a rewrite would move its mtime forward
    const before = statSync(c.cache).mtimeMs;
    expect(before).toBeGreaterThanOrEqual(statSync(c.bundle).mtimeMs);
    const r2 = await c.run(hello);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toBe(r1.stdout);
    expect(statSync(c.cache).mtimeMs).toBe(before);
  });

  it('a corrupt cache is rejected by V8 and replaced; a cache older than the bundle is not used', async () => {
    const c = copy();
    writeFileSync(c.cache, Buffer.alloc(4096, 0x5a));
    const r1 = await c.run(['--version']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toMatch(/cmemu/);
    expect(statSync(c.cache).size).not.toBe(4096);

    // A cache older than the bundle (a rebuilt bundle of the same length would pass V8's own check).
    past(c.cache, 100);
    writeFileSync(c.cache, Buffer.alloc(4096, 0x5a));
    past(c.cache, 100);
    const r2 = await c.run(hello);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toContain('PASS: hello');
    expect(statSync(c.cache).size).not.toBe(4096);
  });

  it('with a module newer than the bundle (tsc without make build), it runs the modules and leaves the cache alone', async () => {
    const c = copy();
    const mod = join(c.root, 'dist', 'machine', 'machine.js');
    utimesSync(mod, new Date(), new Date(Date.now() + 60_000));
    const r = await c.run(hello);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('PASS: hello');
    expect(existsSync(c.cache)).toBe(false);
  });

  it('the bundle does not load the live view (ws) or yargs on the QEMU-style path', async () => {
    const c = copy();
    // A tracer that lists every module a run requires (through the bundle's own require).
    const probe = join(c.root, 'probe.cjs');
    writeFileSync(
      probe,
      `const Module = require('node:module'); const seen = new Set(); const orig = Module._load;
Module._load = function (req, ...a) { seen.add(req); return orig.call(this, req, ...a); };
process.on('exit', () => process.stderr.write('LOADED ' + [...seen].join(',') + '\\n'));
process.argv.splice(1, 1); require(${JSON.stringify(join(c.root, 'bin', 'cmemu'))});`,
    );
    const r = await runProcess(process.execPath, [probe, 'x', ...hello]);
    expect(r.code, r.stderr).toBe(0);
    const loaded = /LOADED (.*)/.exec(r.stderr)?.[1]?.split(',') ?? [];
    // The tracer sees the bundle's own requires: the addon is one.
    expect(loaded.some((m) => m.endsWith('cmemu.node'))).toBe(true);
    expect(loaded).not.toContain('ws');
    expect(loaded).not.toContain('yargs');
    expect(loaded.some((m) => /https|tls/.test(m))).toBe(false);
  });
});
