/**
 * The System API as a user drives it: consoles, symbols, memory, registers, interrupts, runs that
 * stop on time, instructions, addresses, text, faults and exits; typed errors for bad input.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSystem, InputError, MachineFinishedError, TimeoutError, UsageError, type System } from '../../src/index.js';
import { test, expectUart, expectFault, expectExit } from '../../src/test/index.js';
import { ROOT, firmwarePath, runProcess } from '../support/run-cmemu.js';

const BOARDS = ['mps2-an385', 'lm3s6965evb'] as const;
const tmp = mkdtempSync(join(tmpdir(), 'cmemu-sys-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

for (const board of BOARDS) {
  describe(`System API on ${board}`, () => {
    const probe = firmwarePath(board, 'api_probe');
    const icount = { icount: board === 'mps2-an385' ? 7 : 6 };

    test('waits for a line in virtual time, reads and writes variables by name', async ({ createSystem }) => {
      const sys = await createSystem({ board, firmware: probe, time: icount });
      const line = await sys.uart(0).waitForLine(/api_probe: ready/, { timeout: '100 ms' });
      expect(line).toBe('api_probe: ready (half 0x1234, byte 8)');
      expect(sys.symbols.read('g_half')).toBe(0x1234); // 2-byte symbol: u16
      expect(sys.symbols.read('g_bytes', 'bytes')).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
      const c0 = sys.symbols.read('g_counter', 'u32');
      await sys.runFor('1 ms');
      const c1 = sys.symbols.read('g_counter', 'u32');
      expect(c1).toBeGreaterThan(c0);
      sys.symbols.write('g_mode', 3);
      await expectUart(sys.uart(0)).toPrintLine(/^mode 3 at count \d+$/, { timeout: '10 ms' });
      // The wait returns as the line's last byte is sent, before the program clears g_mode.
      expect(sys.symbols.read('g_mode')).toBe(3);
      await sys.runFor('10 us');
      expect(sys.symbols.read('g_mode')).toBe(0);
    });

    test('runFor advances virtual time exactly; instruction counts are exact', async ({ createSystem }) => {
      const sys = await createSystem({ board, firmware: probe, time: icount });
      await sys.runFor('2 ms');
      const ns = 2 ** icount.icount;
      expect(Math.abs(sys.now() - 2_000_000)).toBeLessThan(ns * 2);
      const n0 = sys.instructions();
      const r = await sys.runFor({ instructions: 1000 });
      expect(r.reason).toBe('instructions');
      expect(sys.instructions()).toBe(n0 + 1000);
    });

    test('runUntil a symbol stops before its first instruction, and resumes past it', async ({ createSystem }) => {
      const sys = await createSystem({ board, firmware: probe, time: icount });
      await sys.uart(0).waitForLine(/ready/, { timeout: '100 ms' });
      sys.symbols.write('g_mode', 3);
      const r = await sys.runUntil({ symbol: 'test_done' }, { timeout: '10 ms' });
      expect(r.reason).toBe('breakpoint');
      expect(r.pc).toBe(sys.symbols.address('test_done'));
      expect(sys.cpu.registers().pc & ~1).toBe(sys.symbols.address('test_done'));
      expect(sys.uart(0).seen(/mode 3 at count/)).toBe(true);
      // Resuming from the breakpoint address executes it: the counter goes on.
      const c = sys.symbols.read('g_counter', 'u32') as number;
      await sys.runFor('100 us');
      expect(sys.symbols.read('g_counter', 'u32')).toBeGreaterThan(c);
    });

    test('IRQ injection reaches the guest handler', async ({ createSystem }) => {
      const sys = await createSystem({ board, firmware: probe, time: icount });
      await sys.uart(0).waitForLine(/ready/, { timeout: '100 ms' });
      sys.nvic.pend(7);
      await sys.uart(0).waitForLine('irq 7 taken 1', { timeout: '1 ms' });
      sys.nvic.pend(7);
      await sys.uart(0).waitForLine('irq 7 taken 2', { timeout: '1 ms' });
      expect(sys.symbols.read('g_irq_count')).toBe(2);
    });

    test('a fault comes back as data', async ({ createSystem }) => {
      const sys = await createSystem({ board, firmware: probe, time: icount });
      await sys.uart(0).waitForLine(/ready/, { timeout: '100 ms' });
      sys.symbols.write('g_mode', 5);
      const f = await expectFault(sys, { timeout: '10 ms' });
      expect(f).toMatchObject({ name: 'busfault', exception: 5, cfsr: 0x8200, bfar: 0x30000000 });
      await sys.uart(0).waitForLine('busfault CFSR=0x00008200 BFAR=0x30000000', { timeout: '1 ms' });
      await sys.uart(0).waitForLine('after the fault', { timeout: '1 ms' });
    });

    test('the guest exit ends the run with its code; later waits say so with the console tail', async ({ createSystem }) => {
      const sys = await createSystem({ board, firmware: probe, time: icount, semihosting: true });
      await sys.uart(0).waitForLine(/ready/, { timeout: '100 ms' });
      sys.symbols.write('g_mode', 6);
      expect(await expectExit(sys, { timeout: '10 ms' })).toBe(7);
      expect(sys.finished).toMatchObject({ kind: 'exit', code: 7 });
      const e = await sys.uart(0).waitForLine(/never/).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(MachineFinishedError);
      expect((e as Error).message).toContain('exiting with 7');
    });

    test('a timeout in virtual time fails with the console tail', async ({ createSystem }) => {
      const sys = await createSystem({ board, firmware: probe, time: icount });
      const t0 = Date.now();
      const e = await sys.uart(0).waitForLine(/no such line/, { timeout: '50 ms' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TimeoutError);
      expect((e as Error).message).toMatch(/did not happen within 50 ms \(virtual time\)/);
      expect((e as Error).message).toContain('| api_probe: ready');
      expect(Math.abs(sys.now() - 50_000_000)).toBeLessThan(2 ** icount.icount * 2);
      expect(Date.now() - t0).toBeLessThan(10_000);
    });

    test('memory and registers', async ({ createSystem }) => {
      const sys = await createSystem({ board, firmware: probe, time: icount });
      const vt = sys.memory.read(0, 8);
      const dv = new DataView(vt.buffer);
      // Built means reset: SP and PC come from the vector table before anything runs.
      const regs = sys.cpu.registers();
      expect(regs.msp).toBe(dv.getUint32(0, true));
      expect(regs.pc).toBe(dv.getUint32(4, true) & ~1);
      expect(sys.instructions()).toBe(0);
      expect(sys.memory.read32(sys.symbols.address('g_half'))).toBe(sys.symbols.read('g_half', 'u32'));
      await sys.uart(0).waitForLine(/ready/, { timeout: '100 ms' }); // .data copied
      sys.memory.write(sys.symbols.address('g_bytes'), Uint8Array.of(9, 9));
      expect(sys.symbols.read('g_bytes', 'bytes').subarray(0, 3)).toEqual(Uint8Array.of(9, 9, 3));
      expect(() => sys.memory.read(0x30000000, 4)).toThrow(/no memory at 0x30000000/);
      // A device register through the bus: SCB CPUID.
      expect(sys.memory.read32(0xe000ed00)).toBe(0x412fc230);
    });
  });
}

describe('System API: bad input is a typed error with the CLI line', () => {
  it('unknown board, missing and malformed images, no image', async () => {
    await expect(createSystem({ board: 'nope', firmware: 'x.elf' })).rejects.toThrow(UsageError);
    await expect(createSystem({ board: 'nope', firmware: 'x.elf' })).rejects.toThrow("unsupported machine type 'nope'");
    await expect(createSystem({ board: 'mps2-an385', firmware: join(tmp, 'missing.elf') })).rejects.toThrow(new InputError(`could not load kernel '${join(tmp, 'missing.elf')}': no such file`));
    const junk = join(tmp, 'junk.elf');
    writeFileSync(junk, Buffer.from('\x7fELF\x01\x01\x01 garbage'));
    await expect(createSystem({ board: 'mps2-an385', firmware: junk })).rejects.toThrow(InputError);
    await expect(createSystem({ board: 'mps2-an385' })).rejects.toThrow(UsageError);
    await expect(createSystem({ board: 'mps2-an385', firmware: { raw: Uint8Array.of(1, 2, 3, 4), addr: 0x30000000 } })).rejects.toThrow(/outside any memory of mps2-an385/);
  });

  it('an unreachable ivshmem server is an InputError, nothing left open', async () => {
    const e = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'hello'), ivshmem: { socket: join(tmp, 'nobody.sock') } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toMatch(/^ivshmem-flat: /);
  });
});

describe('System API: raw images, entry and real time', () => {
  it('runs a raw binary at an address from an entry point', async () => {
    // SP, reset vector, then at 0x100: movs r0, #42; b .
    const img = new Uint8Array(0x104);
    const dv = new DataView(img.buffer);
    dv.setUint32(0, 0x20010000, true);
    dv.setUint32(4, 0x101, true);
    dv.setUint16(0x100, 0x202a, true);
    dv.setUint16(0x102, 0xe7fe, true);
    const sys = await createSystem({ board: 'mps2-an385', firmware: { raw: img, addr: 0 }, time: { icount: 7 } });
    try {
      await sys.runFor({ instructions: 10 });
      expect(sys.cpu.get('r0')).toBe(42);
      expect(sys.cpu.pc).toBe(0x102);
    } finally {
      await sys.close();
    }
  });

  it('real time: waits use host time', async () => {
    const sys: System = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'hello') });
    try {
      await sys.uart(0).waitForLine(/^PASS: hello$/, { timeout: '5 s' });
    } finally {
      await sys.close();
    }
  });
});

describe('System API: close() frees everything', () => {
  // In a child with --expose-gc, so that what the JS side still holds is collected between the
  // measurements: a native leak (an engine, its threads, fds, mappings) still shows.
  it('200 systems made and closed leave the fd count at the baseline and RSS flat', async () => {
    const script = `
      import { createSystem } from ${JSON.stringify(join(ROOT, 'dist/index.js'))};
      import { readdirSync } from 'node:fs';
      const fw = (b) => ${JSON.stringify(join(ROOT, 'firmware/build'))} + '/' + b + '/hello.elf';
      const fds = () => readdirSync('/proc/self/fd').length;
      const settle = async () => { gc(); await new Promise((r) => setTimeout(r, 20)); gc(); };
      const cycle = async (i) => {
        const b = i % 2 ? 'lm3s6965evb' : 'mps2-an385';
        const s = await createSystem({ board: b, firmware: fw(b), time: { icount: 7 } });
        await s.runFor('1 ms');
        await s.close();
      };
      for (let i = 0; i < 20; i++) await cycle(i);
      await settle();
      const fd0 = fds(), rss0 = process.memoryUsage().rss;
      for (let i = 0; i < 200; i++) await cycle(i);
      await settle();
      console.log(JSON.stringify({ fds: fds() - fd0, rssMiB: (process.memoryUsage().rss - rss0) / 2 ** 20 }));
    `;
    const r = await runProcess(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const { fds, rssMiB } = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(fds).toBe(0);
    // One engine (TLB, code cache, touched RAM) is several MiB: 200 leaked would be far more.
    expect(rssMiB, `RSS grew by ${rssMiB.toFixed(1)} MiB over 200 systems`).toBeLessThan(16);
  }, 150_000);
});
