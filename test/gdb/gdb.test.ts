/**
 * The GDB stub driven by the real client (gdb-multiarch --batch), as a user would: against a
 * System through the API (sys.gdbServer), and the same scripts against qemu-system-arm -gdb -S
 * for the stops both must agree on.
 */
import { describe, expect, it } from 'vitest';
import { createSystem, createWorld, InProcessIvshmem, type System } from '../../src/index.js';
import { firmwarePath } from '../support/run-cmemu.js';
import { haveGdb, haveQemu, runGdb, startQemuGdb, stops } from '../support/gdb.js';
import { createServer } from 'node:net';

const BOARDS = ['mps2-an385', 'lm3s6965evb'] as const;
const gdbIt = haveGdb() ? it : it.skip;
if (!haveGdb()) console.warn('\n*** test/gdb: gdb-multiarch is missing (scripts/ensure-debs.sh installs it): GDB tests SKIPPED ***\n');

async function debugSystem(board: string, extra: Record<string, unknown> = {}) {
  const sys = await createSystem({ board, firmware: firmwarePath(board, 'gdb_target'), time: { icount: 7 }, semihosting: true, ...extra });
  const gdb = await sys.gdbServer({ port: 0, wait: true });
  const run = sys.run();
  return { sys, gdb, run, target: `127.0.0.1:${gdb.port}`, elf: firmwarePath(board, 'gdb_target') };
}

async function finish(sys: System, run: Promise<unknown>) {
  const o = await run;
  await sys.close();
  return o;
}

const SCRIPT_BREAK = [
  'break bump',
  'continue',
  'print by',
  'print counter',
  'continue',
  'print by',
  'print counter',
  'backtrace',
  'delete',
  'watch counter',
  'continue',
  'continue',
  'delete',
  'break SysTick_Handler',
  'continue',
  'print ticks',
  'delete',
  'set var release = 7',
  'continue',
];

describe('GDB stub, with gdb-multiarch', () => {
  for (const board of BOARDS) {
    gdbIt(`${board}: breakpoints, arguments and globals, backtrace, a write watchpoint, a breakpoint in an exception handler, exit`, async () => {
      const { sys, run, target, elf } = await debugSystem(board);
      const g = await runGdb(elf, target, SCRIPT_BREAK);
      const o = await finish(sys, run);
      const s = stops(g.out);
      expect(s.filter((l) => l.startsWith('Breakpoint 1, ')).map((l) => l.replace(/:\d+$/, '')), g.out).toEqual([
        'Breakpoint 1, bump (by=by@entry=1) at tests/gdb_target.c',
        'Breakpoint 1, bump (by=by@entry=2) at tests/gdb_target.c',
      ]);
      expect(s.filter((l) => l.startsWith('$')), g.out).toEqual(['$1 = 1', '$2 = 0', '$3 = 2', '$4 = 1', '$5 = 0']);
      expect(g.out).toMatch(/#1 +0x[0-9a-f]+ in main \(\) at tests\/gdb_target.c:\d+/);
      expect(g.out).toMatch(/Hardware watchpoint 2: counter\s+Old value = 1\s+New value = 3/);
      expect(g.out).toMatch(/Hardware watchpoint 2: counter\s+Old value = 3\s+New value = 6/);
      expect(g.out).toMatch(/Breakpoint 3, SysTick_Handler \(\) at tests\/gdb_target.c:\d+/);
      expect(g.out).toContain('[Inferior 1 (process 1) exited normally]');
      expect(o).toMatchObject({ kind: 'exit', code: 0 });
      expect(sys.uart(0).text()).toContain('released with 0x7\nPASS: gdb_target');
    });
  }

  gdbIt('info registers shows msp/psp and the masks; writing PSP moves the process stack the guest then uses', async () => {
    const { sys, run, target, elf } = await debugSystem('mps2-an385');
    const g = await runGdb(elf, target, [
      'break checkpoint',
      'continue',
      'info registers msp psp primask basepri faultmask control',
      'set $psp = (unsigned)&psp_stack[32]',
      'print/x $psp == (unsigned)&psp_stack[32]',
      'continue',
      'print/x psp_seen == (unsigned)&psp_stack[32]',
      'set var release = 1',
      'delete',
      'continue',
    ]);
    await finish(sys, run);
    expect(g.out).toMatch(/^msp +0x2[0-9a-f]{7}/m);
    expect(g.out).toMatch(/^psp +0x2[0-9a-f]{7}/m);
    expect(g.out).toMatch(/^control +0x0/m);
    expect(g.out).toMatch(/\$1 = 0x1/);
    expect(g.out).toMatch(/\$2 = 0x1/);
    expect(sys.uart(0).text()).toContain('psp moved');
  });

  gdbIt('a write watchpoint on ivshmem-flat shared memory stops on the guest store into it', async () => {
    const group = new InProcessIvshmem(new ArrayBuffer(4096), 1);
    const link = group.join();
    const { sys, run, target, elf } = await debugSystem('lm3s6965evb', { ivshmem: { link } });
    const g = await runGdb(elf, target, ['break main', 'continue', 'set var target_word = (unsigned *)0x40100010', 'watch *(unsigned *)0x40100010', 'continue', 'print/x $pc', 'delete', 'set var release = 1', 'continue']);
    await finish(sys, run);
    expect(g.out, g.out).toMatch(/Hardware watchpoint 2: \*\(unsigned \*\)0x40100010\s+Old value = 0\s+New value = 15/);
    expect(new Uint32Array(group.shm)[4]).toBe(15);
  });

  gdbIt('Ctrl-C stops a guest idling in WFI; stepi into a pending SysTick stops at the handler\'s first instruction; monitor commands; time stands still while halted', async () => {
    const { sys, run, target, elf } = await debugSystem('mps2-an385');
    const g = await runGdb(
      elf,
      target,
      [
        'break checkpoint if n == 2',
        'continue',
        'delete',
        'echo CONTINUING\\n',
        'continue',
        'print/x $pc >= (unsigned)main && $pc < (unsigned)main + 0x200',
        'monitor icount',
        'shell sleep 0.3',
        'monitor icount',
        'set *(unsigned *)0xE000ED04 = 0x04000000',
        'stepi',
        'print/x $pc == ((unsigned)&SysTick_Handler & ~1)',
        'print/x $xpsr & 0x1ff',
        'backtrace',
        'stepi',
        'print/x $pc == ((unsigned)&SysTick_Handler & ~1) + 2',
        'monitor info registers',
        'set var release = 0x42',
        'continue',
      ],
      { interruptAfter: { marker: 'CONTINUING', delayMs: 400 } },
    );
    const o = await finish(sys, run);
    expect(g.out, g.out).toContain('Program received signal SIGINT, Interrupt.');
    expect(g.out).toMatch(/\$1 = 0x1/);
    const times = [...g.out.matchAll(/(\d+) instructions, virtual time (\d+) ns/g)].map((m) => m[0]);
    expect(times.length).toBe(2);
    expect(times[0]).toBe(times[1]);
    expect(g.out).toMatch(/\$2 = 0x1/);
    expect(g.out).toMatch(/\$3 = 0xf/);
    expect(g.out).toMatch(/<signal handler called>/);
    expect(g.out).toMatch(/\$4 = 0x1/);
    expect(g.out).toMatch(/XPSR=0100000f MSP=[0-9a-f]{8} PSP=[0-9a-f]{8}/);
    expect(o).toMatchObject({ kind: 'exit', code: 0 });
    expect(sys.uart(0).text()).toContain('released with 0x42');
  });

  gdbIt('stepi walks an IT block one instruction at a time (Unicorn ignores code-hook stops inside IT blocks); GDB moves a breakpoint inside one to its IT instruction', async () => {
    const { sys, run, target, elf } = await debugSystem('lm3s6965evb');
    const g = await runGdb(elf, target, [
      'break *it_else',
      'continue',
      'print/x $pc == (unsigned)&it_block + 2',
      'stepi',
      'print/x $pc == (unsigned)&it_then',
      'stepi',
      'print/x $pc == (unsigned)&it_else',
      'print $r0',
      'stepi',
      'print/x $pc == (unsigned)&it_else + 2',
      'print $r0',
      'stepi',
      'print $r0',
      'delete',
      'set var release = 1',
      'continue',
    ]);
    const o = await finish(sys, run);
    expect(g.out).toContain('Breakpoint address adjusted from');
    const vals = [...g.out.matchAll(/^\$\d+ = (.*)$/gm)].map((m) => m[1]);
    expect(vals, g.out).toEqual(['0x1', '0x1', '0x1', '1', '0x1', '1', '11']);
    expect(o).toMatchObject({ kind: 'exit', code: 0 });
  });

  gdbIt('in real time too, the guest clock does not move while halted', async () => {
    const sys = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'gdb_target'), semihosting: true });
    const gdb = await sys.gdbServer({ port: 0, wait: true });
    const run = sys.run();
    const g = await runGdb(firmwarePath('mps2-an385', 'gdb_target'), `127.0.0.1:${gdb.port}`, ['break checkpoint', 'continue', 'monitor icount', 'shell sleep 0.5', 'monitor icount', 'kill']);
    const o = await finish(sys, run);
    const ns = [...g.out.matchAll(/virtual time (\d+) ns/g)].map((m) => Number(m[1]));
    expect(ns.length, g.out).toBe(2);
    expect(ns[1]).toBe(ns[0]);
    expect(o).toMatchObject({ kind: 'exit' });
  });

  gdbIt('monitor system_reset goes back to the reset vector; detach leaves the guest running to its end', async () => {
    const { sys, run, target, elf } = await debugSystem('lm3s6965evb');
    const g = await runGdb(elf, target, [
      'break checkpoint',
      'continue',
      'print counter',
      'monitor system_reset',
      // GDB caches registers across monitor commands (as with QEMU): drop the cache.
      'maintenance flush register-cache',
      'print/x $pc == ((unsigned)&Reset_Handler & ~1)',
      'continue',
      'print counter',
      'delete',
      'set var release = 3',
      'detach',
    ]);
    const o = await finish(sys, run);
    expect(g.out).toMatch(/\$1 = 15/);
    expect(g.out).toMatch(/\$2 = 0x1/);
    expect(g.out).toMatch(/\$3 = 15/);
    expect(g.out).toContain('[Inferior 1 (process 1) detached]');
    expect(o).toMatchObject({ kind: 'exit', code: 0 });
    expect(sys.uart(0).text().match(/=== gdb_target ===/g)?.length).toBe(2);
    expect(sys.uart(0).text()).toContain('released with 0x3\nPASS: gdb_target');
  });

  gdbIt('lm3s6965evb: the memory map makes flash a flash region; load programs it (vFlash) and compare-sections matches', async () => {
    const { sys, run, target, elf } = await debugSystem('lm3s6965evb');
    const g = await runGdb(elf, target, [
      'info mem',
      'set *(unsigned char *)0x20000000 = 0x5a',
      'print/x *(unsigned char *)0x20000000',
      'load',
      'compare-sections',
      'break bump',
      'continue',
      'info breakpoints',
      'kill',
    ]);
    await finish(sys, run);
    expect(g.out, g.out).toMatch(/0x00000000 0x00040000 flash blocksize 0x400/);
    expect(g.out).toMatch(/\$1 = 0x5a/);
    expect(g.out).toMatch(/Loading section \.text/);
    expect(g.out).not.toMatch(/MIS-MATCHED/);
    expect(g.out).toMatch(/Section \.text, range 0x[0-9a-f]+ -- 0x[0-9a-f]+: matched/);
    // A breakpoint in flash is a hardware one (Z1): GDB cannot write flash.
    expect(g.out).toMatch(/Breakpoint 1, bump/);
    expect(g.out).toContain('Note: automatically using hardware breakpoints for read-only addresses.');
  });
});

describe('GDB on a board of a world', () => {
  async function pingpong(withGdb: boolean) {
    const world = await createWorld({ quantum: '10 us' });
    try {
      const a = await world.add({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'ivshmem_pingpong'), append: 'initiator n=40', semihosting: true });
      const b = await world.add({ board: 'lm3s6965evb', firmware: firmwarePath('lm3s6965evb', 'ivshmem_pingpong'), append: 'responder', semihosting: true });
      world.ivshmem({ peers: [a, b], size: '64K', vectors: 2 });
      let out = '';
      let gdbDone: Promise<unknown> = Promise.resolve();
      if (withGdb) {
        const gdb = await b.gdbServer({ port: 0, wait: true });
        gdbDone = runGdb(firmwarePath('lm3s6965evb', 'ivshmem_pingpong'), `127.0.0.1:${gdb.port}`, [
          'break on_doorbell',
          'continue',
          'continue',
          'backtrace 3',
          'delete',
          'watch *(unsigned *)0x40100058', // the responder's tx_head (docs/ivshmem-pingpong.md)
          'continue',
          'delete',
          'detach',
        ]).then((g) => (out = g.out));
      }
      await world.runUntil(() => a.finished !== null && b.uart(0).seen(/PASS|FAIL/), { timeout: '5 s' });
      await gdbDone;
      return { a: a.uart(0).text(), b: b.uart(0).text(), vt: world.now(), out };
    } finally {
      await world.close();
    }
  }

  gdbIt('halting one board halts the whole timeline: breakpoints in the doorbell handler and a watchpoint on shared memory leave the run byte-identical', async () => {
    const plain = await pingpong(false);
    const debugged = await pingpong(true);
    expect(debugged.out.match(/Breakpoint 1, on_doorbell/g)?.length, debugged.out).toBe(2);
    expect(debugged.out).toMatch(/<signal handler called>|ivshmem_isr/);
    expect(debugged.out).toMatch(/Hardware watchpoint 2: \*\(unsigned \*\)0x40100058\s+Old value = \d+\s+New value = \d+/);
    expect(debugged.out).toContain('[Inferior 1 (process 1) detached]');
    expect(debugged.a).toMatch(/completed 40 messages, 0 errors/);
    expect(debugged.a).toBe(plain.a);
    expect(debugged.b).toBe(plain.b);
    expect(debugged.vt).toBe(plain.vt);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe('GDB stub parity with qemu-system-arm -gdb -S', () => {
  const it2 = haveGdb() && haveQemu() ? it : it.skip;
  for (const board of BOARDS) {
    it2(`${board}: the same script gives the same stops and values`, async () => {
      const elf = firmwarePath(board, 'gdb_target');
      const port = await freePort();
      const q = startQemuGdb(board, elf, port);
      let qemuOut: string;
      try {
        await new Promise((r) => setTimeout(r, 400));
        qemuOut = (await runGdb(elf, `127.0.0.1:${port}`, SCRIPT_BREAK)).out;
      } finally {
        q.kill('SIGKILL');
      }
      const { sys, run, target } = await debugSystem(board);
      const ours = (await runGdb(elf, target, SCRIPT_BREAK)).out;
      await finish(sys, run);
      expect(stops(ours)).toEqual(stops(qemuOut));
    });
  }
});
