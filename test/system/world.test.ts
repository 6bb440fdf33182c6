/**
 * Worlds: two boards on one virtual timeline, connected by an in-process ivshmem-flat (no server,
 * no socket), running our ping-pong firmware (docs/ivshmem-pingpong.md). Deterministic: two runs
 * give byte-identical consoles and identical round-trip figures.
 */
import { describe, expect, it } from 'vitest';
import { createWorld, UsageError, type System } from '../../src/index.js';
import { firmwarePath } from '../support/run-cmemu.js';

async function pingpong(n: number, quantum = '10 us') {
  const world = await createWorld({ quantum });
  try {
    const a = await world.add({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'ivshmem_pingpong'), append: `initiator n=${n}`, semihosting: true });
    const b = await world.add({ board: 'lm3s6965evb', firmware: firmwarePath('lm3s6965evb', 'ivshmem_pingpong'), append: 'responder', semihosting: true });
    world.ivshmem({ peers: [a, b], size: '64K', vectors: 2 });
    const t0 = process.hrtime.bigint();
    await world.runUntil(() => a.finished !== null && b.uart(0).seen(/PASS|FAIL/), { timeout: '5 s' });
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    return { a: a.uart(0).text(), b: b.uart(0).text(), aOut: a.finished, vt: world.now(), wallMs, insns: [a.instructions(), b.instructions()] };
  } finally {
    await world.close();
  }
}

describe('a world of two boards on one timeline', () => {
  it('ping-pongs over an in-process ivshmem-flat, byte-identical on every run', async () => {
    const r1 = await pingpong(300);
    expect(r1.a, r1.a).toMatch(/ivshmem: completed 300 messages, 0 errors, 0 departures\nPASS: ivshmem_pingpong/);
    expect(r1.aOut).toMatchObject({ kind: 'exit', code: 0 });
    expect(r1.b, r1.b).toMatch(/ivshmem: answered 300 messages, 0 errors/);
    expect(r1.a).toMatch(/rtt: n=300 /);
    const r2 = await pingpong(300);
    expect(r2.a).toBe(r1.a);
    expect(r2.b).toBe(r1.b);
    expect(r2.vt).toBe(r1.vt);
    expect(r2.insns).toEqual(r1.insns);
  }, 120_000);

  it('a bigger quantum changes the timing but not the protocol', async () => {
    const r = await pingpong(50, '100 us');
    expect(r.a).toMatch(/completed 50 messages, 0 errors/);
  }, 60_000);

  it('refuses real time, late additions and foreign peers', async () => {
    const world = await createWorld();
    try {
      await expect(world.add({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'hello'), time: 'realtime' as never })).rejects.toThrow(UsageError);
      const a: System = await world.add({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'hello'), semihosting: true });
      await world.runUntil(() => a.finished !== null, { timeout: '1 s' });
      expect(a.uart(0).text()).toContain('PASS: hello');
      await expect(world.add({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'hello') })).rejects.toThrow(/before the world first runs/);
    } finally {
      await world.close();
    }
  });
});
