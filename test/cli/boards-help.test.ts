/** `-M help`, `-M BOARD,help` and `cmemu boards`: every board in src/machine/boards is listed and described. */
import { describe, expect, it } from 'vitest';
import { runCmemu } from '../support/run-cmemu.js';
import { infoText, MACHINES, parseQemuArgs } from '../../src/cli/qemu-args.js';
import { BOARDS } from '../../src/machine/boards/index.js';
import { describeBoard } from '../../src/cli/boards.js';
import { lm3s6965evb } from '../../src/machine/boards/lm3s6965evb.js';

describe('the machine list comes from the boards', () => {
  it('MACHINES is BOARDS (names and descriptions, sorted by name)', () => {
    expect(MACHINES).toEqual(BOARDS.map((b) => ({ name: b.name, description: b.description })));
    expect(MACHINES.map((m) => m.name)).toEqual(['lm3s6965evb', 'mps2-an385']);
    expect(infoText({ kind: 'machine-help' })).toContain('lm3s6965evb          Stellaris LM3S6965EVB (Cortex-M3)\n');
    expect(parseQemuArgs(['-M', 'lm3s6965evb,help']).info).toEqual({ kind: 'machine-props', machine: 'lm3s6965evb' });
  });
  it('describes lm3s6965evb: ROM flash, SRAM, devices and QEMU’s unimplemented regions in address order', () => {
    const text = describeBoard(lm3s6965evb);
    expect(text).toContain('lm3s6965evb: Stellaris LM3S6965EVB (Cortex-M3)\n  cpu cortex-m3, 12.5 MHz system clock, 64 external IRQs, 3 priority bits\n');
    expect(text).toMatch(/0x00000000-0x0003ffff\s+rom\s+stellaris\.flash/);
    expect(text).toMatch(/0x20000000-0x2000ffff\s+ram\s+stellaris\.sram/);
    expect(text).toContain('0x4000c000  uart0  irq 5\n  0x4000d000  uart1  irq 6\n  0x4000e000  uart2  irq 33\n');
    expect(text).toContain('0x40030000  gptm0  irq 19\n');
    expect(text).toContain('0x400fe000  ssys  irq 28\n');
    expect(text).toMatch(/0x400fd000-0x400fdfff\s+flash-control/);
    const unimp = text.split('unimplemented')[1]!.match(/0x[0-9a-f]{8}(?=-)/g)!.map((h) => parseInt(h, 16));
    expect(unimp).toEqual([...unimp].sort((a, b) => a - b));
  });
});

describe.concurrent('bin/cmemu', () => {
  it('-M help lists lm3s6965evb', async () => {
    const r = await runCmemu(['-M', 'help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^lm3s6965evb\s+Stellaris LM3S6965EVB \(Cortex-M3\)$/m);
    expect(r.stdout).toMatch(/^mps2-an385\s+ARM MPS2/m);
  });
  it('-M lm3s6965evb,help and cmemu boards lm3s6965evb print the same memory map', async () => {
    const map = await runCmemu(['-M', 'lm3s6965evb,help']);
    expect(map.code).toBe(0);
    expect(map.stdout).toBe(describeBoard(lm3s6965evb));
    const boards = await runCmemu(['boards', 'lm3s6965evb']);
    expect(boards.code).toBe(0);
    expect(boards.stdout).toBe(map.stdout);
    const list = await runCmemu(['boards']);
    expect(list.stdout).toMatch(/^lm3s6965evb\s+Stellaris/m);
  });
});
