/**
 * The shared-memory object truncated under a board (issue 11): anyone who may write it can
 * `truncate -s 0 /dev/shm/NAME`, and every access past its new end used to raise SIGBUS, which
 * killed each board (exit 135). Now the pages past the new end become private zero pages at the
 * same address (native/src/posix.cc, guardShared), the board reports it once and keeps running.
 *  - the native guard alone (a JS access past the end, a partial truncation, the eventfd);
 *  - one board through the System API, its guest touching the memory after the truncation;
 *  - two bin/cmemu boards ping-ponging through `cmemu ivshmem-server -M NAME` (the process is what is under test: exit status, stderr).
 */
import { existsSync, truncateSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { posix } from '../../src/native/posix.js';
import { createSystem } from '../../src/system/system.js';
import { IvshmemServer } from '../../src/host/ivshmem/server.js';
import { IVSHMEM_REG, EV_SHM_LOST } from '../../src/devices/ivshmem-flat.js';
import { PingPongPair, pingpongElf } from '../../src/bench/pingpong.js';

const px = posix();
const KIB = 1024;

describe('the native guard', () => {
  it('an access past a shrunk end reads zero instead of SIGBUS; the pages before it stay shared', () => {
    const fd = px.memfdCreate('trunc-test');
    px.ftruncate(fd, 64 * KIB);
    const a = px.mmapShared(fd, 64 * KIB, true);
    const b = px.mmapShared(fd, 64 * KIB, true); // a second peer's view (unguarded: never touched past the end)
    const ev = px.createEventFd(0);
    try {
      expect(px.guardShared(a, fd, ev)).toBe(true);
      expect(px.guardShared(a, fd, ev)).toBe(false);
      new Uint8Array(a).fill(0x5a);
      expect(px.sharedStatus(a)).toEqual({ objectSize: 64 * KIB, privateFrom: -1, faults: 0 });
      px.ftruncate(fd, 16 * KIB + 100);
      const va = new Uint8Array(a);
      // Without the guard this read is a SIGBUS and the test process dies.
      expect(va[40 * KIB]).toBe(0);
      expect(px.readEventFd(ev)).toBe(1);
      // The handler replaces from the object's new end (rounded up to a page), not just the faulting page.
      const pg = 4096;
      const from = Math.ceil((16 * KIB + 100) / pg) * pg;
      expect(px.sharedStatus(a)).toEqual({ objectSize: 16 * KIB + 100, privateFrom: from, faults: 1 });
      va[from + 8] = 7; // private now: allowed, seen by nobody else
      expect(va[from + 8]).toBe(7);
      // Below the new end the memory is still shared, both ways.
      va[100] = 1;
      expect(new Uint8Array(b)[100]).toBe(1);
      new Uint8Array(b)[200] = 2;
      expect(va[200]).toBe(2);
      expect(va[16 * KIB - 1]).toBe(0x5a);
      // A check (no access) finds a further shrink at once: the pages are replaced before anyone touches them.
      px.ftruncate(fd, 0);
      expect(px.sharedStatus(a)).toEqual({ objectSize: 0, privateFrom: 0, faults: 1 });
      expect(va[100]).toBe(0);
      expect(px.unguardShared(a)).toBe(true);
      expect(px.sharedStatus(a)).toBeNull();
    } finally {
      px.munmapShared(a);
      px.munmapShared(b);
      px.closeFd(ev);
      px.closeFd(fd);
    }
  });

  it('an unguarded buffer or a plain ArrayBuffer is refused', () => {
    const ev = px.createEventFd(0);
    expect(px.guardShared(new ArrayBuffer(8), 0, ev)).toBe(false);
    expect(px.sharedStatus(new ArrayBuffer(8))).toBeNull();
    px.closeFd(ev);
  });
});

const servers: IvshmemServer[] = [];
const pairs: PingPongPair[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) s.stop();
  for (const p of pairs.splice(0)) await p.close();
});

describe('a board whose shared memory is truncated under it', () => {
  it('reports it once, sets EVSTATUS.SHM_LOST and keeps running (System API)', async () => {
    const name = `/cmemu-trunc-${process.pid}`;
    const sock = `/tmp/cmemu-trunc-${process.pid}.sock`;
    servers.push(new IvshmemServer().start({ socketPath: sock, shmName: name, size: 64 * KIB, vectors: 1 }));
    const host: string[] = [];
    const sys = await createSystem({
      board: 'mps2-an385',
      firmware: pingpongElf('mps2-an385'),
      semihosting: { cmdline: 'pingpong responder' },
      ivshmem: { socket: sock },
      onHostMessage: (m) => host.push(m),
    });
    try {
      await sys.uart(0).waitFor(/ivshmem: id \d+ role responder/, { timeout: '20 s' });
      const link = sys.links[0]!;
      expect(px.sharedStatus(link.shm)).toMatchObject({ privateFrom: -1, faults: 0 });
      truncateSync(`/dev/shm${name}`, 0);
      // The responder writes its heartbeat into the shared memory at least every 100 ms of its time.
      await sys.runFor('400 ms');
      expect(sys.finished).toBeNull();
      const st = px.sharedStatus(link.shm)!;
      expect(st.faults, 'the guest touched the memory: the SIGBUS path').toBeGreaterThanOrEqual(1);
      expect(st.privateFrom).toBe(0);
      const lines = host.filter((l) => /truncated/.test(l));
      expect(lines).toEqual([
        'ivshmem-flat: the shared-memory object was truncated under the board (it is 0 bytes now, the mapping 65536): bytes 0x0-0xffff are private zero pages from now on, no longer shared with the peers; the board keeps running',
      ]);
      const ev = sys.memory.readValue(0x400ff000 + IVSHMEM_REG.EVSTATUS, 'u32') as number;
      expect(ev & EV_SHM_LOST).toBe(EV_SHM_LOST);
      await sys.runFor('200 ms');
      expect(sys.finished).toBeNull();
      expect(host.filter((l) => /truncated/.test(l))).toHaveLength(1);
    } finally {
      await sys.close();
    }
  }, 60_000);

  it('two bin/cmemu boards through `cmemu ivshmem-server -M NAME`: neither dies of SIGBUS, each prints one line', async () => {
    const name = `cmemu-trunc2-${process.pid}`;
    const p = new PingPongPair({ n: 1_000_000, server: 'process', shmName: name });
    pairs.push(p);
    await p.start();
    await p.initiator.waitFor(/ivshmem: 1000 round trips/, 30_000);
    expect(existsSync(`/dev/shm/${name}`)).toBe(true);
    truncateSync(`/dev/shm/${name}`, 0);
    await Promise.all([p.initiator.waitFor(/truncated under the board/, 10_000), p.responder.waitFor(/truncated under the board/, 10_000)]);
    await new Promise((r) => setTimeout(r, 500));
    for (const b of [p.initiator, p.responder]) {
      expect(b.running, `${b.name}: ${b.exitSignal ?? b.exitCode}\n${b.tail()}`).toBe(true);
      expect(b.err.split('\n').filter((l) => /truncated/.test(l))).toHaveLength(1);
      expect(b.err).toMatch(/^cmemu: ivshmem-flat: the shared-memory object was truncated under the board \(it is 0 bytes now, the mapping 4194304\): bytes 0x0-0x3fffff are private zero pages from now on, no longer shared with the peers; the board keeps running$/m);
    }
    await p.close();
    expect(existsSync(`/dev/shm/${name}`)).toBe(false);
  }, 90_000);
});
