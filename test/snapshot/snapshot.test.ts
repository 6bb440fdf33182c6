/**
 * Snapshots (issue 13 part 2): in icount mode, run → snapshot → run N gives the same consoles,
 * registers and instruction count as restore (into a fresh system) → run N, byte for byte, on
 * both boards and on the two-board ping-pong world; snapshots taken mid-activity (a handler
 * active, timers armed, interrupts pending); bad files refused with one line; shared memory of an
 * external ivshmem server restored into an in-process link.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSystem, createWorld, InputError, InProcessIvshmem, IvshmemServer, Snapshot, UsageError, type System } from '../../src/index.js';
import { loadNative } from '../../src/native/cpu.js';
import { firmwarePath } from '../support/run-cmemu.js';

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-snap-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BOARDS = ['mps2-an385', 'lm3s6965evb'] as const;

function make(board: string, prog: string, extra: Record<string, unknown> = {}): Promise<System> {
  return createSystem({ board, firmware: firmwarePath(board, prog), time: { icount: 7 }, semihosting: true, ...extra });
}

/** Everything a run leaves that the guest can tell apart: consoles (from `marks`), registers, time, instructions. */
function observe(s: System, marks: number[] = []) {
  return {
    uart0: s.uart(0).text().slice(marks[0] ?? 0),
    semihosting: s.semihosting.text().slice(marks[1] ?? 0),
    regs: s.cpu.registers(),
    now: s.now(),
    instructions: s.instructions(),
    finished: s.finished,
  };
}

const marksOf = (s: System) => [s.uart(0).text().length, s.semihosting.text().length];

describe('snapshot → restore is deterministic in icount mode', () => {
  const PROGS: Record<string, string[]> = {
    'mps2-an385': ['context_switch', 'irq_nesting', 'cmsdk_timer', 'watchdog'],
    lm3s6965evb: ['context_switch', 'irq_nesting', 'gptm', 'stellaris_uart'],
  };
  for (const board of BOARDS) {
    for (const prog of PROGS[board]!) {
      it(`${prog} on ${board}: at several points mid-activity, restore → run N equals run N`, async () => {
        const probe = await make(board, prog);
        await probe.runFor({ instructions: 1_500_000 }).catch(() => {});
        const total = Math.min(probe.instructions(), 1_500_000);
        await probe.close();
        const a = await make(board, prog);
        let handlerActive = 0;
        let timersArmed = 0;
        let pending = 0;
        const N = Math.floor(total / 8);
        for (let k = 1; k <= 6; k++) {
          await a.runFor({ instructions: Math.floor((total * k) / 8) - a.instructions() });
          // Every other point is moved into a handler (what catches exception state left out).
          for (let i = 0; k % 2 === 0 && i < 2000 && !a.finished && (a.cpu.get('xpsr') & 0x1ff) === 0; i++) await a.runFor({ instructions: 7 });
          if (a.finished) break;
          const snap = Snapshot.fromBuffer((await a.snapshot()).toBuffer());
          const st = snap.state as { machine: { cpu: { xpsr: number }; timers: { due: number | null }[] } };
          if ((st.machine.cpu.xpsr & 0x1ff) !== 0) handlerActive++;
          if (st.machine.timers.some((t) => t.due !== null)) timersArmed++;
          if (a.machine.scs.nvic.bestPending() !== 0 || a.machine.scs.nvic.activeCount() > 0) pending++;
          const marks = marksOf(a);
          const b = await make(board, prog);
          b.restore(snap);
          expect(b.instructions()).toBe(a.instructions());
          expect(b.cpu.registers()).toEqual(a.cpu.registers());
          // The restored board's own snapshot is the original's: nothing was left out or changed on the way.
          const again = b.snapshotNow();
          expect((again.state as { machine: unknown }).machine).toEqual((snap.state as { machine: unknown }).machine);
          expect(again.blobs.length).toBe(snap.blobs.length);
          again.blobs.forEach((x, i) => expect(Buffer.from(x).equals(Buffer.from(snap.blobs[i]!)), `memory blob ${i}`).toBe(true));
          await a.runFor({ instructions: N }).catch(() => {});
          await b.runFor({ instructions: N }).catch(() => {});
          expect(observe(b)).toEqual(observe(a, marks));
          // And back: a snapshot of the restored board equals the original's at the same point.
          await b.close();
        }
        expect(timersArmed, 'a snapshot point with a scheduled event').toBeGreaterThan(0);
        if (/context_switch|irq_nesting/.test(prog)) expect(handlerActive + pending, 'a snapshot point inside a handler or with an exception pending').toBeGreaterThan(0);
        expect(a.uart(0).text() + a.semihosting.text()).toMatch(/ok/);
        await a.close();
      }, 120_000);
    }
  }

  it('a snapshot while running pauses at a clean stop and the run carries on', async () => {
    const board = 'mps2-an385';
    const ref = await make(board, 'context_switch');
    await ref.runUntil({ exit: true });
    const a = await make(board, 'context_switch');
    const run = a.runUntil({ exit: true });
    await new Promise((r) => setImmediate(r));
    const snap = await a.snapshot();
    await run;
    expect(observe(a)).toEqual(observe(ref));
    const b = await make(board, 'context_switch');
    b.restore(snap);
    const n0 = b.instructions();
    await b.runUntil({ exit: true });
    expect(b.instructions()).toBe(ref.instructions());
    expect(ref.uart(0).text().endsWith(b.uart(0).text())).toBe(true);
    expect(n0).toBeLessThanOrEqual(ref.instructions());
    for (const s of [ref, a, b]) await s.close();
  }, 60_000);
});

describe('world snapshots', () => {
  async function pingpongWorld() {
    const world = await createWorld({ quantum: '10 us' });
    const a = await world.add({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'ivshmem_pingpong'), append: 'initiator n=200', semihosting: true });
    const b = await world.add({ board: 'lm3s6965evb', firmware: firmwarePath('lm3s6965evb', 'ivshmem_pingpong'), append: 'responder', semihosting: true });
    world.ivshmem({ peers: [a, b], size: '64K', vectors: 2 });
    return { world, a, b };
  }

  it('the ping-pong world: restore → run equals run, both boards and the shared memory', async () => {
    const w1 = await pingpongWorld();
    await w1.world.runUntil(() => w1.a.uart(0).seen(/link up/), { timeout: '1 s' });
    await w1.world.runFor('200 us');
    expect(w1.a.finished).toBeNull();
    const snap = Snapshot.fromBuffer((await w1.world.snapshot()).toBuffer());
    expect(snap.kind).toBe('world');
    expect(snap.boards.map((b) => b.board)).toEqual(['mps2-an385', 'lm3s6965evb']);
    const marks = [marksOf(w1.a), marksOf(w1.b)];
    const t = w1.world.now();
    await w1.world.runUntil(() => w1.a.finished !== null && w1.b.uart(0).seen(/PASS|FAIL/), { timeout: '5 s' });

    const w2 = await pingpongWorld();
    w2.world.restore(snap);
    expect(w2.world.now()).toBe(t);
    await w2.world.runUntil(() => w2.a.finished !== null && w2.b.uart(0).seen(/PASS|FAIL/), { timeout: '5 s' });
    expect(observe(w2.a)).toEqual(observe(w1.a, marks[0]));
    expect(observe(w2.b)).toEqual(observe(w1.b, marks[1]));
    expect(w1.a.uart(0).text()).toMatch(/completed 200 messages, 0 errors/);
    expect(w2.world.now()).toBe(w1.world.now());
    const shm = (s: System) => Buffer.from(s.ivshmem[0]!.sharedMemory).toString('hex');
    expect(shm(w2.a)).toBe(shm(w1.a));
    // A snapshot asked for while the world runs is taken at a quantum boundary.
    const w3 = await pingpongWorld();
    const run = w3.world.runFor('3 ms');
    const mid = await w3.world.snapshot();
    await run;
    // Every board at (or one block past) the quantum boundary the world stood at.
    const wt = (mid.state as { t: number }).t;
    expect(wt).toBeGreaterThan(0);
    for (const b of mid.boards) expect(b.timeNs - wt).toBeGreaterThanOrEqual(0);
    for (const b of mid.boards) expect(b.timeNs - wt).toBeLessThan(10_000);
    for (const w of [w1, w2, w3]) await w.world.close();
  }, 120_000);
});

describe('bad snapshots and mismatches', () => {
  it('refuses another board, other firmware, a world snapshot, a truncated or corrupt file, with one line', async () => {
    const a = await make('mps2-an385', 'systick');
    await a.runFor({ instructions: 50_000 });
    const snap = await a.snapshot();
    const file = join(tmp, 'a.snap');
    const size = snap.save(file);
    expect(Snapshot.load(file).boards[0]!.instructions).toBe(a.instructions());
    const bytes = snap.toBuffer();
    expect(bytes.length).toBe(size);
    expect(bytes.toString('latin1', 0, 8)).toBe('CMEMUSNP');
    const one = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        const m = (e as Error).message;
        expect(m).not.toMatch(/\n/);
        return m;
      }
      throw new Error('not refused');
    };
    expect(one(() => Snapshot.fromBuffer(bytes.subarray(0, bytes.length - 100)))).toMatch(/truncated snapshot/);
    expect(one(() => Snapshot.fromBuffer(bytes.subarray(0, 10)))).toMatch(/not a cmemu snapshot/);
    const bad = Buffer.from(bytes);
    bad[bad.length - 50] ^= 0xff;
    expect(one(() => Snapshot.fromBuffer(bad))).toMatch(/corrupt snapshot/);
    const v2 = Buffer.from(bytes);
    v2.writeUInt32LE(2, 8);
    expect(one(() => Snapshot.fromBuffer(v2))).toMatch(/format version 2/);
    expect(one(() => Snapshot.fromBuffer(Buffer.from('hello world, not a snapshot')))).toMatch(/not a cmemu snapshot/);
    writeFileSync(join(tmp, 'empty.snap'), '');
    expect(one(() => Snapshot.load(join(tmp, 'empty.snap')))).toMatch(/not a cmemu snapshot/);
    expect(one(() => Snapshot.load(join(tmp, 'missing.snap')))).toMatch(/no such file/);
    const other = await make('lm3s6965evb', 'systick');
    expect(one(() => other.restore(snap))).toMatch(/^the snapshot is of board mps2-an385, this system is lm3s6965evb$/);
    const otherFw = await make('mps2-an385', 'hello');
    expect(one(() => otherFw.restore(snap))).toMatch(/^the snapshot was taken running .*systick\.elf \(sha256 [0-9a-f]{12}\); this system runs .*hello\.elf/);
    const rt = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'systick'), semihosting: true });
    expect(one(() => rt.restore(snap))).toMatch(/icount mode, this machine runs in real-time mode/);
    // A refused restore leaves the system as it was: it still runs its own firmware.
    await otherFw.runUntil({ exit: true });
    expect(otherFw.uart(0).text() + otherFw.semihosting.text()).toMatch(/ello/);
    for (const s of [a, other, otherFw, rt]) await s.close();
  }, 60_000);

  it('a world snapshot is not a board snapshot, and the other way round', async () => {
    const world = await createWorld();
    const a = await world.add({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'systick'), semihosting: true });
    const ws = await world.snapshot();
    const s = await make('mps2-an385', 'systick');
    expect(() => s.restore(ws)).toThrow(/snapshot of a world of 1 boards: restore it with world.restore\(\)/);
    expect(() => world.restore(a.snapshotNow())).toThrow(/snapshot of one board: restore it with sys.restore\(\)/);
    await s.close();
    await world.close();
  });

  it('a real-time board restores its virtual time and carries on', async () => {
    const rt = () => createSystem({ board: 'lm3s6965evb', firmware: firmwarePath('lm3s6965evb', 'context_switch'), semihosting: true });
    const a = await rt();
    await a.runFor('2 ms');
    const snap = await a.snapshot();
    const b = await rt();
    b.restore(snap);
    expect(b.now()).toBe(snap.boards[0]!.timeNs);
    expect(b.cpu.registers()).toEqual(a.cpu.registers());
    await b.runUntil({ exit: true }, { timeout: '5 s' });
    expect(b.finished).toMatchObject({ kind: 'exit', code: 0 });
    expect(b.now()).toBeGreaterThan(snap.boards[0]!.timeNs);
    await a.close();
    await b.close();
  });

  it('restore is refused while running', async () => {
    const a = await make('mps2-an385', 'systick');
    const snap = await a.snapshot();
    const run = a.runUntil({ exit: true });
    expect(() => a.restore(snap)).toThrow(UsageError);
    await run;
    await a.close();
  });
});

describe('external ivshmem server', () => {
  it('records the shared memory and restores it into an in-process link without the server', async () => {
    const sock = join(tmp, 'iv.sock');
    const server = new IvshmemServer().start({ socketPath: sock, size: 1 << 16, vectors: 2 });
    try {
      const a = await make('mps2-an385', 'systick', { ivshmem: { socket: sock } });
      await a.runFor({ instructions: 20_000 });
      const view = new Uint8Array(a.ivshmem[0]!.sharedMemory);
      view.set([1, 2, 3, 4, 5], 100);
      view[65535] = 0x5a;
      expect(a.ivshmem[0]!.external).toBe(true);
      const snap = Snapshot.fromBuffer((await a.snapshot()).toBuffer());
      expect((snap.state as { ivshmem: { external: boolean }[] }).ivshmem).toEqual([{ external: true, blob: expect.any(Number) }]);
      await a.close();
      server.stop();
      // No server now: an in-process group of one takes the recorded memory.
      const group = new InProcessIvshmem(loadNative().allocHostMemory(1 << 16), 2);
      const b = await make('mps2-an385', 'systick', { ivshmem: { link: group.join() } });
      expect(() => b.restore(snap)).not.toThrow();
      const got = new Uint8Array(group.shm);
      expect([...got.subarray(100, 105)]).toEqual([1, 2, 3, 4, 5]);
      expect(got[65535]).toBe(0x5a);
      // Without any ivshmem-flat, the restore says what to do.
      const c = await make('mps2-an385', 'systick');
      expect(() => c.restore(snap)).toThrow(/the snapshot has 1 ivshmem-flat device\(s\), this system 0 \(give it ivshmem-flat on any link/);
      await b.runFor({ instructions: 10_000 });
      await b.close();
      await c.close();
    } finally {
      server.stop();
    }
  }, 30_000);
});
