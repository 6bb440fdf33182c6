/**
 * -d in_asm / exec / cpu / nochain: QEMU's trace formats, to -D FILE or stderr, with Capstone's
 * disassembly; compared with qemu-system-arm's own trace of the same ELF where both engines cut the
 * same blocks (up to the first device access: QEMU's icount mode re-translates I/O blocks).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CMEMU, firmwarePath, haveQemu, runProcess } from '../support/run-cmemu.js';
import { runArgs } from '../support/run-system.js';

const ELF = firmwarePath('mps2-an385', 'hello');
const ARGS = ['-M', 'mps2-an385', '-nographic', '-kernel', ELF, '-semihosting-config', 'enable=on,target=native', '-icount', 'shift=7,align=off,sleep=off'];

/** The blocks of a trace: each "IN:" block with its lines, up to `n`. */
function blocks(log: string, n: number): string[] {
  return log.split('----------------\n').slice(1, n + 1).map((b) => b.split('\nTrace ')[0]!.split('\nR00=')[0]!.trimEnd());
}

describe('-d in_asm,exec,cpu', () => {
  it('writes QEMU\'s formats to the -D file: IN blocks with Capstone disassembly, Trace lines, register dumps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmemu-trace-'));
    try {
      const file = join(dir, 'log.txt');
      const r = await runArgs([...ARGS, '-d', 'in_asm,exec,cpu,nochain,guest_errors', '-D', file]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('PASS: hello');
      const log = readFileSync(file, 'utf8');
      const lines = log.split('\n').filter((l) => l !== '');
      const formats = [
        /^-{16}$/,
        /^IN: \S*$/,
        /^0x[0-9a-f]{8}: {2}[0-9a-f]{4}( [0-9a-f]{4}| {5}) {2}\S+ *( .*)?$/,
        /^Trace 0: 0x[0-9a-f]{16} \[00000000\/[0-9a-f]{8}\/00000000\/00000000\] \S*$/,
        /^R\d\d=[0-9a-f]{8} R\d\d=[0-9a-f]{8} R\d\d=[0-9a-f]{8} R\d\d=[0-9a-f]{8}$/,
        /^XPSR=[0-9a-f]{8} [N-][Z-][C-][V-] [TA] (priv-thread|unpriv-thread|handler)$/,
      ];
      const odd = lines.filter((l) => !formats.some((f) => f.test(l)));
      expect(odd.slice(0, 5)).toEqual([]);
      expect(log.startsWith('----------------\nIN: Reset_Handler\n0x')).toBe(true);
      const traces = lines.filter((l) => l.startsWith('Trace 0:')).length;
      expect(traces).toBeGreaterThan(1000);
      expect(lines.filter((l) => l.startsWith('XPSR=')).length).toBe(traces);
      // in_asm shows each translation once (hello translates nothing twice).
      const ins = log.split('----------------\n').slice(1).map((b) => b.split('\n').slice(2).join('\n').split('\n\n')[0]);
      expect(new Set(ins).size).toBe(ins.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('goes to stderr without -D; off, there is no trace at all', async () => {
    const on = await runProcess(CMEMU, [...ARGS, '-d', 'exec']);
    expect(on.code).toBe(0);
    expect(on.stderr).toMatch(/^Trace 0: 0x0{16} \[00000000\/0000063c\/00000000\/00000000\] Reset_Handler$/m);
    const off = await runProcess(CMEMU, ARGS);
    expect(off.stderr).toBe('');
  });

  it('loses nothing when stderr is a non-blocking pipe that its reader drains late', async () => {
    // Node makes its stdio pipes non-blocking once process.stderr is used (here: by a --require
    // before anything runs); the trace writes to the same pipe. With the reader asleep the pipe
    // fills, write() says EAGAIN, and a plain stdio stream dropped what it held: the start of the
    // trace, or all of it, went missing (a flaky CI failure of the test above).
    const dir = mkdtempSync(join(tmpdir(), 'cmemu-trace-'));
    try {
      const touch = join(dir, 'touch.cjs');
      writeFileSync(touch, 'process.stderr.write("");\n');
      const full = (await runProcess(CMEMU, [...ARGS, '-d', 'exec'])).stderr.split('\n').filter((l) => l.startsWith('Trace ')).length;
      expect(full).toBeGreaterThan(1000);
      const c = spawn(process.execPath, [CMEMU, ...ARGS, '-d', 'exec'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_OPTIONS: `--require ${touch}` },
      });
      c.stderr.pause();
      c.stdout.resume();
      let err = '';
      const code = await new Promise<number | null>((resolve) => {
        setTimeout(() => {
          c.stderr.on('data', (d: Buffer) => (err += d.toString('latin1')));
          c.stderr.resume();
        }, 1500);
        c.on('close', resolve);
      });
      expect(code).toBe(0);
      const lines = err.split('\n').filter((l) => l.startsWith('Trace '));
      expect(lines.length).toBe(full);
      expect(lines[0]).toMatch(/\/0000063c\/00000000\/00000000\] Reset_Handler$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  (haveQemu() ? it : it.skip)('the blocks before the first device access are QEMU\'s, byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmemu-trace-'));
    try {
      const q = join(dir, 'q.txt');
      const c = join(dir, 'c.txt');
      const qr = await runProcess('qemu-system-arm', [...ARGS, '-d', 'in_asm', '-D', q]);
      expect(qr.code).toBe(0);
      await runArgs([...ARGS, '-d', 'in_asm', '-D', c]);
      // Reset_Handler, memcpy's first blocks... up to the SCB write (VTOR) where QEMU's icount re-translates.
      expect(blocks(readFileSync(c, 'utf8'), 6)).toEqual(blocks(readFileSync(q, 'utf8'), 6));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
