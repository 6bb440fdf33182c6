/**
 * Snapshots from the command line: cmemu run --snapshot-at/--snapshot-file, --loadvm and QEMU's
 * -loadvm, SIGUSR1, and bad flags (one line, exit 2).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Snapshot } from '../../src/index.js';
import { CMEMU, firmwarePath, runCmemu } from '../support/run-cmemu.js';

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-cli-snap-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cs = firmwarePath('mps2-an385', 'context_switch');

describe('snapshots on the command line', () => {
  it('--snapshot-at saves mid-run; --loadvm and -loadvm carry on from there with the same output', async () => {
    const file = join(tmp, 'cs.snap');
    const a = await runCmemu(['run', '--snapshot-at', '120000', '--snapshot-file', file, cs]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stderr).toMatch(new RegExp(`^cmemu: snapshot \\(--snapshot-at 120000 instructions\\) saved to ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: \\d+ bytes, at \\d+ ns, 12\\d{4} instructions\\n$`));
    const snap = Snapshot.load(file);
    expect(snap.boards[0]!.board).toBe('mps2-an385');
    expect(snap.boards[0]!.instructions).toBeGreaterThanOrEqual(120000);
    const b = await runCmemu(['run', '--loadvm', file, cs]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout.length).toBeGreaterThan(0);
    expect(a.stdout.endsWith(b.stdout), `${a.stdout}\n---\n${b.stdout}`).toBe(true);
    expect(b.stdout.length).toBeLessThan(a.stdout.length);
    const q = await runCmemu(['-M', 'mps2-an385', '-nographic', '-icount', 'shift=7,align=off,sleep=off', '-semihosting-config', 'enable=on,target=native', '-kernel', cs, '-loadvm', file]);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toBe(b.stdout);
    // A virtual time works too.
    const t = await runCmemu(['run', '--snapshot-at', '2 ms', '--snapshot-file', join(tmp, 't.snap'), cs]);
    expect(t.code, t.stderr).toBe(0);
    expect(Snapshot.load(join(tmp, 't.snap')).boards[0]!.timeNs).toBeGreaterThanOrEqual(2_000_000);
  }, 60_000);

  it('refuses bad flags and files with one line and exit 2', async () => {
    const file = join(tmp, 'cs.snap');
    const cases: [string[], RegExp][] = [
      [['run', '--snapshot-at', 'soon', '--snapshot-file', file, cs], /^cmemu: --snapshot-at: give an instruction count .* not 'soon'\n$/],
      [['run', '--snapshot-at', '1000', cs], /^cmemu: --snapshot-at needs --snapshot-file FILE\n$/],
      [['run', '--loadvm', join(tmp, 'missing.snap'), cs], /^cmemu: snapshot '.*missing\.snap': no such file\n$/],
      [['run', '--loadvm', cs, cs], /^cmemu: .*context_switch\.elf: not a cmemu snapshot \(no CMEMUSNP magic\)\n$/],
      [['-M', 'mps2-an385', '-kernel', cs, '-loadvm', ''], /^cmemu: -loadvm: give a snapshot file/],
    ];
    if (existsSync(file)) cases.push([['run', '--loadvm', file, firmwarePath('mps2-an385', 'hello')], /^cmemu: -loadvm .*: the snapshot was taken running .*context_switch\.elf .*; this system runs .*hello\.elf .*\n$/]);
    for (const [args, re] of cases) {
      const r = await runCmemu(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
  }, 60_000);

  it('SIGUSR1 saves to --snapshot-file, prints one line and the run carries on', async () => {
    const file = join(tmp, 'usr1.snap');
    const child = spawn(process.execPath, [CMEMU, 'run', '--snapshot-file', file, firmwarePath('mps2-an385', 'uart_echo')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    const until = async (f: () => boolean) => {
      for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 50));
    };
    await until(() => stdout.length > 0);
    child.kill('SIGUSR1');
    await until(() => /snapshot/.test(stderr));
    child.stdin.write('x');
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(stderr).toMatch(/^cmemu: snapshot \(SIGUSR1\) saved to .*usr1\.snap: \d+ bytes, at \d+ ns, \d+ instructions\n/);
    expect(code).toBe(0);
    expect(Snapshot.load(file).boards[0]!.board).toBe('mps2-an385');
  }, 30_000);
});
