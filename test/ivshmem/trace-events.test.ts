/**
 * -d trace:ivshmem* (QEMU-style trace events) on the ivshmem-flat device: doorbells out and in
 * with peer and vector, INTRSTATUS changes, peers joining and leaving, each with virtual and host
 * time; and the command-line forms (-d trace:PATTERN, -trace, -d trace:help).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorld } from '../../src/index.js';
import { infoText, parseQemuArgs } from '../../src/cli/qemu-args.js';
import { firmwarePath } from '../support/run-cmemu.js';

describe('ivshmem-flat trace events', () => {
  it('show every doorbell out and in, INTRSTATUS changes and peer joins, timestamped, in order on the shared timeline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmemu-tev-'));
    const fa = join(dir, 'a.log');
    const fb = join(dir, 'b.log');
    const world = await createWorld({ quantum: '10 us' });
    try {
      const a = await world.add({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'ivshmem_pingpong'), append: 'initiator n=5', semihosting: true, log: { file: fa, events: ['ivshmem*'] } });
      const b = await world.add({ board: 'lm3s6965evb', firmware: firmwarePath('lm3s6965evb', 'ivshmem_pingpong'), append: 'responder', semihosting: true, log: { file: fb, events: ['ivshmem_flat_*', '-ivshmem_flat_intrstatus'] } });
      world.ivshmem({ peers: [a, b], size: '64K', vectors: 2 });
      await world.runUntil(() => a.finished !== null && b.uart(0).seen(/PASS|FAIL/), { timeout: '5 s' });
      expect(a.uart(0).text()).toMatch(/completed 5 messages, 0 errors/);
    } finally {
      await world.close();
    }
    const la = readFileSync(fa, 'utf8').trim().split('\n');
    const lb = readFileSync(fb, 'utf8').trim().split('\n');
    rmSync(dir, { recursive: true, force: true });
    const line = /^(ivshmem_flat_\w+) vt=(\d+\.\d{9}) host=(\d+\.\d{6}) (.*)$/;
    for (const l of [...la, ...lb]) expect(l).toMatch(line);
    const ev = (ls: string[], name: string) => ls.filter((l) => l.startsWith(`${name} `)).map((l) => ({ vt: Number(line.exec(l)![2]), rest: line.exec(l)![4]! }));
    // The initiator (peer 0) rings the responder (peer 1) at least once per message; the responder rings back.
    const outA = ev(la, 'ivshmem_flat_interrupt_peer');
    const inB = ev(lb, 'ivshmem_flat_irq_handler');
    expect(outA.length).toBeGreaterThanOrEqual(5);
    expect(outA[0]!.rest).toBe('peer=1 vector=0');
    expect(inB.length).toBeGreaterThanOrEqual(5);
    // One timeline: the first doorbell reaches the responder no earlier than it was rung.
    expect(inB[0]!.vt).toBeGreaterThanOrEqual(outA[0]!.vt);
    // INTRSTATUS: set by a doorbell, cleared by the guest's handler (on the initiator's log only: b turned it off).
    expect(ev(la, 'ivshmem_flat_intrstatus').map((e) => e.rest)).toContain('INTRSTATUS 0x0 -> 0x1 (doorbell)');
    expect(ev(la, 'ivshmem_flat_intrstatus').map((e) => e.rest)).toContain('INTRSTATUS 0x1 -> 0x0 (guest cleared)');
    expect(ev(lb, 'ivshmem_flat_intrstatus')).toEqual([]);
    // Virtual time never goes back within a board's log.
    const vts = la.map((l) => Number(line.exec(l)![2]));
    expect([...vts].sort((x, y) => x - y)).toEqual(vts);
  });

  it('command line: -d trace:PATTERN, -trace [enable=]PATTERN[,file=F], -d trace:help', () => {
    const c = parseQemuArgs(['-M', 'mps2-an385', '-kernel', 'x.elf', '-d', 'guest_errors,trace:ivshmem_flat_irq*', '-trace', 'enable=ivshmem_flat_peer*,file=/tmp/t.log', '-trace', 'nothing_like_this']);
    expect(c.log.items).toEqual(['guest_errors']);
    expect(c.log.events).toEqual(['ivshmem_flat_irq*', 'ivshmem_flat_peer*', 'nothing_like_this']);
    expect(c.log.file).toBe('/tmp/t.log');
    expect(c.notes).toContain("-trace nothing_like_this: no trace event matches 'nothing_like_this' (see -d trace:help)");
    const h = parseQemuArgs(['-d', 'trace:help']);
    expect(infoText(h.info!)).toMatch(/^ivshmem_flat_interrupt_peer +a doorbell out/m);
  });
});
