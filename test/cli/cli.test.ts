/** The command line as a user meets it: bad input gives one clear line and exit code 2, never a stack trace. */
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { firmwarePath, runCmemu } from '../support/run-cmemu.js';

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const hello = firmwarePath('mps2-an385', 'hello');

function oneLineError(r: { code: number | null; stderr: string; stdout: string }, pattern: RegExp) {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.includes('note:'));
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
}

describe.concurrent('bad input', () => {
  it('a file that is not ELF', async () => {
    const f = join(tmp, 'notelf.bin');
    writeFileSync(f, 'hello world, not an ELF');
    oneLineError(await runCmemu(['-M', 'mps2-an385', '-nographic', '-kernel', f]), /not an ELF file/);
  });
  it('a truncated ELF', async () => {
    const f = join(tmp, 'trunc.elf');
    writeFileSync(f, readFileSync(hello).subarray(0, 60));
    oneLineError(await runCmemu(['-M', 'mps2-an385', '-nographic', '-kernel', f]), /trunc/i);
  });
  it('a 64-bit ELF', async () => {
    const f = join(tmp, 'e64.elf');
    const b = Buffer.from(readFileSync(hello));
    b[4] = 2; // ELFCLASS64
    writeFileSync(f, b);
    oneLineError(await runCmemu(['-M', 'mps2-an385', '-nographic', '-kernel', f]), /64-bit/);
  });
  it('a segment outside any memory of the board', async () => {
    const f = join(tmp, 'far.elf');
    const b = Buffer.from(readFileSync(hello));
    // Move every PT_LOAD's physical address to 0x30000000 (nothing there on mps2-an385).
    const phoff = b.readUInt32LE(28);
    const phnum = b.readUInt16LE(44);
    for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * 32) === 1) b.writeUInt32LE(0x30000000, phoff + i * 32 + 12);
    writeFileSync(f, b);
    oneLineError(await runCmemu(['-M', 'mps2-an385', '-nographic', '-kernel', f]), /outside any memory/);
  });
  it('a missing file', async () => {
    oneLineError(await runCmemu(['-M', 'mps2-an385', '-nographic', '-kernel', join(tmp, 'nope.elf')]), /could not load kernel .*no such file/);
  });
  it('an unknown machine, an unknown option, a missing argument', async () => {
    oneLineError(await runCmemu(['-M', 'nosuchboard', '-kernel', hello]), /nosuchboard/);
    oneLineError(await runCmemu(['-M', 'mps2-an385', '-frobnicate', '-kernel', hello]), /unknown option -frobnicate/);
    oneLineError(await runCmemu(['-M', 'mps2-an385', '-kernel']), /-kernel/);
    oneLineError(await runCmemu(['-M', 'mps2-an385', '-cpu', 'cortex-m4', '-kernel', hello]), /cortex-m4/);
  });
  it('cmemu run with a bad option', async () => {
    const r = await runCmemu(['run', hello, '--frob']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/frob/);
  });
});

describe.concurrent('information and the friendly form', () => {
  it('-M help lists the boards; -M board,help and cmemu boards print the memory map', async () => {
    const list = await runCmemu(['-M', 'help']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/mps2-an385\s+ARM MPS2 with AN385/);
    const map = await runCmemu(['-M', 'mps2-an385,help']);
    expect(map.code).toBe(0);
    expect(map.stdout).toMatch(/0x20000000-0x203fffff\s+ram\s+mps.ssram23/);
    const boards = await runCmemu(['boards', 'mps2-an385']);
    expect(boards.stdout).toBe(map.stdout);
  });
  it('--help works on every command', async () => {
    for (const args of [['--help'], ['run', '--help'], ['boards', '--help'], ['-help']]) {
      const r = await runCmemu(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(50);
    }
  });
  it('cmemu run --until exits 0 when the text appears, --timeout exits 3 when it does not', async () => {
    const ok = await runCmemu(['run', '--machine', 'mps2-an385', '--timeout', '10', '--until', 'PASS: hello', hello]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('PASS: hello');
    const spin = firmwarePath('mps2-an385', 'uart_echo'); // waits for input forever
    const to = await runCmemu(['run', '--machine', 'mps2-an385', '--timeout', '1', '--until', 'NEVER PRINTED', spin]);
    expect(to.code).toBe(3);
    expect(to.stderr).toMatch(/"NEVER PRINTED" did not appear on serial port 0 within 1 s/);
  });
  it("accepts Zephyr's exact board run line", async () => {
    const r = await runCmemu(
      ['-cpu', 'cortex-m3', '-machine', 'mps2-an385', '-nographic', '-vga', 'none', '-net', 'none', '-pidfile', join(tmp, 'qemu.pid'),
        '-chardev', 'stdio,id=con,mux=on', '-serial', 'chardev:con', '-mon', 'chardev=con,mode=readline',
        '-icount', 'shift=7,align=off,sleep=off', '-rtc', 'clock=vm', '-semihosting-config', 'enable=on,target=native', '-kernel', hello],
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('PASS: hello');
  });
});
