/**
 * The test kit's Renode habit: a failing test made with cmemu/test's fixtures leaves a snapshot
 * and its consoles' tails in CMEMU_FAILURE_DIR. Runs a failing test file in a child vitest.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createSystem, Snapshot } from '../../src/index.js';
import { firmwarePath, ROOT } from '../support/run-cmemu.js';

describe('cmemu/test on failure', () => {
  it('saves a snapshot and the console tail of each system of a failing test, and the snapshot restores', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmemu-kit-'));
    const work = mkdtempSync(join(ROOT, 'test', 'snapshot', '.kit-'));
    try {
      const fw = firmwarePath('mps2-an385', 'context_switch');
      writeFileSync(
        join(work, 'failing.test.ts'),
        `import { test, expectUart } from '../../../src/test/index.js';
test('waits for a line that never comes', async ({ createSystem }) => {
  const sys = await createSystem({ board: 'mps2-an385', firmware: ${JSON.stringify(fw)}, time: { icount: 7 }, semihosting: true });
  await expectUart(sys.uart(0)).toPrintLine(/never printed/, { timeout: '20 ms' });
});
test('passes', async ({ createSystem }) => {
  await createSystem({ board: 'mps2-an385', firmware: ${JSON.stringify(fw)}, time: { icount: 7 } });
});
`,
      );
      const r = await promisify(execFile)('npx', ['vitest', 'run', '--root', ROOT, join(work, 'failing.test.ts')], {
        cwd: ROOT,
        env: { ...process.env, CMEMU_FAILURE_DIR: dir },
      }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string; stdout: string }) => ({ code: e.code, stderr: e.stderr + e.stdout }),
      );
      expect(r.code, r.stderr).toBe(1);
      const files = readdirSync(dir).sort();
      expect(files).toEqual(['waits_for_a_line_that_never_comes-mps2-an385.snap', 'waits_for_a_line_that_never_comes-mps2-an385.txt']);
      expect(r.stderr).toMatch(/cmemu: the failed test 'waits for a line that never comes' left .*\.txt and .*\.snap/);
      const txt = readFileSync(join(dir, files[1]!), 'utf8');
      expect(txt).toMatch(/^== mps2-an385 uart0 at \d+ ns, \d+ instructions:\n[\s\S]*== mps2-an385 semihosting at /);
      // The snapshot is of the failed moment: it restores into a system built the same way.
      const snap = Snapshot.load(join(dir, files[0]!));
      const sys = await createSystem({ board: 'mps2-an385', firmware: fw, time: { icount: 7 }, semihosting: true });
      sys.restore(snap);
      expect(sys.instructions()).toBe(snap.boards[0]!.instructions);
      expect(snap.boards[0]!.timeNs).toBeGreaterThanOrEqual(20_000_000);
      await sys.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      if (existsSync(work)) rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);
});
