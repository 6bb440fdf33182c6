/**
 * The packed package works in a fresh project: `npm pack`, install the tarball (and vitest, its
 * test kit's peer) into an empty temporary project, then run a vitest file there that imports
 * `cmemu` and `cmemu/test`, boots a board and checks its console; and a plain Node script that
 * type-checks nothing but uses the API. The native addon ships in the tarball.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, firmwarePath, runProcess } from '../support/run-cmemu.js';

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-pack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('npm pack', () => {
  it('installs from the tarball into a fresh project, and its API and test kit work there', async () => {
    execFileSync('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    expect(tgz, 'npm pack made a tarball').toBeDefined();
    const proj = join(tmp, 'proj');
    execFileSync('mkdir', ['-p', proj]);
    const vitestVersion = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'vitest', 'package.json'), 'utf8')).version as string;
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'fresh', private: true, type: 'module' }));
    // From npm's cache when it has them (our own install put them there), else the registry.
    const install = await runProcess('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(tmp, tgz!), `vitest@${vitestVersion}`], { cwd: proj, timeoutMs: 240_000 });
    expect(install.code, install.stdout + install.stderr).toBe(0);

    const elf = firmwarePath('mps2-an385', 'api_probe');
    writeFileSync(
      join(proj, 'boot.test.js'),
      `import { test, expectUart } from 'cmemu/test';
import { expect } from 'vitest';
test('boots and answers', async ({ createSystem }) => {
  const sys = await createSystem({ board: 'mps2-an385', firmware: ${JSON.stringify(elf)}, time: { icount: 7 } });
  await expectUart(sys.uart(0)).toPrintLine(/api_probe: ready/, { timeout: '100 ms' });
  sys.symbols.write('g_mode', 3);
  const r = await sys.runUntil({ symbol: 'test_done' }, { timeout: '10 ms' });
  expect(r.reason).toBe('breakpoint');
});
`,
    );
    const t = await runProcess(join(proj, 'node_modules', '.bin', 'vitest'), ['run', '--root', proj], { cwd: proj, timeoutMs: 120_000 });
    expect(t.code, t.stdout + t.stderr).toBe(0);
    expect(t.stdout).toMatch(/1 passed/);

    writeFileSync(
      join(proj, 'world.mjs'),
      `import { createWorld, createSystem } from 'cmemu';
const w = await createWorld({ quantum: '10 us' });
const fw = (b) => ${JSON.stringify(join(ROOT, 'firmware', 'build'))} + '/' + b + '/ivshmem_pingpong.elf';
const a = await w.add({ board: 'mps2-an385', firmware: fw('mps2-an385'), append: 'initiator n=20', semihosting: true });
const b = await w.add({ board: 'lm3s6965evb', firmware: fw('lm3s6965evb'), append: 'responder', semihosting: true });
w.ivshmem({ peers: [a, b], size: '64K', vectors: 2 });
await w.runUntil(() => a.uart(0).seen('PASS'), { timeout: '5 s' });
console.log(a.uart(0).lines().filter((l) => l.includes('completed')).join(''));
await w.close();
`,
    );
    const n = await runProcess(process.execPath, [join(proj, 'world.mjs')], { cwd: proj, timeoutMs: 60_000 });
    expect(n.code, n.stderr).toBe(0);
    expect(n.stdout).toBe('ivshmem: completed 20 messages, 0 errors, 0 departures\n');
    // The declarations are in the tarball.
    expect(readdirSync(join(proj, 'node_modules', 'cmemu', 'dist'))).toContain('index.d.ts');
  }, 400_000);
});
