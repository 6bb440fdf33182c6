/** A chardev that cannot be opened is one line on stderr and exit 2, never a stack trace (issue 11). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { firmwarePath, runCmemu } from '../support/run-cmemu.js';

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-chardev-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('chardev open failures', () => {
  const elf = firmwarePath('mps2-an385', 'hello');
  const cases: [string, string[], RegExp][] = [
    ['a missing FIFO (twister\'s -chardev pipe)', ['-chardev', `pipe,id=c,path=${join(tmp, 'qemu-fifo')}`, '-serial', 'chardev:c'], /^cmemu: chardev 'c': could not open '.*qemu-fifo': No such file or directory\n$/],
    ['a file in a missing folder', ['-serial', `file:${join(tmp, 'no', 'out.txt')}`], /^cmemu: chardev 'serial0': could not open '.*out.txt': No such file or directory\n$/],
    ['a directory', ['-chardev', `file,id=c,path=${tmp}`, '-serial', 'chardev:c'], /^cmemu: chardev 'c': could not open '.*': Is a directory\n$/],
  ];
  for (const [name, args, re] of cases) {
    it(name, async () => {
      const r = await runCmemu(['-M', 'mps2-an385', '-nographic', '-monitor', 'none', ...args, '-kernel', elf]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    });
  }
});
