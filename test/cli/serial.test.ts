/**
 * -serial options map to the board's UARTs in command-line order, as in qemu-system-arm: the first to
 * UART0, the second to UART1, ... (`-serial null -serial stdio` puts UART1 on stdout). Firmware
 * uart1 writes its test lines on UART0 and one line on UART1. Where qemu-system-arm is installed,
 * its stdout with the same arguments is the reference.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firmwarePath, haveQemu, runCmemu, runProcess } from '../support/run-cmemu.js';

const elf = firmwarePath('mps2-an385', 'uart1');
const tmp = mkdtempSync(join(tmpdir(), 'cmemu-serial-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const BASE = ['-M', 'mps2-an385', '-nographic', '-semihosting-config', 'enable=on,target=native', '-icount', 'shift=7,align=off,sleep=off'];
const UART1_LINE = 'uart1: hello from UART1\n';

async function both(serialArgs: string[]) {
  const args = [...BASE, '-monitor', 'none', ...serialArgs, '-kernel', elf];
  const cm = await runCmemu(args);
  const qemu = haveQemu() ? await runProcess('qemu-system-arm', args) : null;
  return { cm, qemu };
}

describe.concurrent('-serial maps to UART0, UART1, ... in order', () => {
  it('the firmware is built', () => {
    expect(existsSync(elf), `${elf} is built by make firmware`).toBe(true);
  });

  it('-serial null -serial stdio: only UART1 reaches stdout', async () => {
    const { cm, qemu } = await both(['-serial', 'null', '-serial', 'stdio']);
    expect(cm.code, cm.stderr).toBe(0);
    expect(cm.stdout).toBe(UART1_LINE);
    if (qemu) expect(cm.stdout).toBe(qemu.stdout);
  });

  it('-serial stdio: UART0 only, UART1 is not connected', async () => {
    const { cm, qemu } = await both(['-serial', 'stdio']);
    expect(cm.code, cm.stderr).toBe(0);
    expect(cm.stdout).toContain('PASS: uart1');
    expect(cm.stdout).not.toContain('hello from UART1');
    if (qemu) expect(cm.stdout).toBe(qemu.stdout);
  });

  it('-serial stdio -serial file:F: UART0 on stdout, UART1 in the file', async () => {
    const f = join(tmp, 'uart1.txt');
    const cm = await runCmemu([...BASE, '-monitor', 'none', '-serial', 'stdio', '-serial', `file:${f}`, '-kernel', elf]);
    expect(cm.code, cm.stderr).toBe(0);
    expect(cm.stdout).toContain('PASS: uart1');
    expect(cm.stdout).not.toContain('hello from UART1');
    expect(readFileSync(f, 'latin1')).toBe(UART1_LINE);
  });
});
