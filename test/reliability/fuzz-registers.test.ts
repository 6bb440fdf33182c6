/**
 * Register abuse (issue 11): every register window of every device on both boards (the SCS with
 * the NVIC, SysTick, MPU and SCB, the UARTs, timers, watchdog, GPIO, SSP, FPGAIO, SCC, sysctl, the
 * ivshmem-flat on a live server) read, and written with 0, ~0 and seeded random values at 8, 16
 * and 32 bits at every offset, through the bus entry points the guest's MMIO accesses use; then
 * the machine runs on. Nothing escapes: no exception out of a device, no emulator error; what the
 * guest did wrong is only logged (under -d guest_errors / unimp).
 */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/system/system.js';
import { MachineFinishedError } from '../../src/system/errors.js';
import { IvshmemServer } from '../../src/host/ivshmem/server.js';
import type { Logger } from '../../src/log/logger.js';
import { firmwarePath } from '../support/run-cmemu.js';
import { Rng } from '../support/fuzz.js';

describe('guest-side register abuse', () => {
  for (const board of ['mps2-an385', 'lm3s6965evb']) {
    it(`${board}: every device register at every width with 0, ~0 and random values`, async () => {
      const sock = `/tmp/cmemu-regs-${process.pid}-${board}.sock`;
      const server = new IvshmemServer().start({ socketPath: sock, size: 64 * 1024, vectors: 2 });
      const counts = new Map<string, number>();
      const log: Logger = { enabled: () => true, log: (cat) => counts.set(cat, (counts.get(cat) ?? 0) + 1) };
      const sys = await createSystem({ board, firmware: firmwarePath(board, 'hello'), time: { icount: 3 }, ivshmem: { socket: sock }, log });
      const rng = new Rng(41);
      let accesses = 0;
      const devices: string[] = [];
      try {
        await sys.runFor({ instructions: 1000 });
        const map = sys.machine.map;
        for (const r of map.layout().filter((x) => x.kind === 'device')) {
          devices.push(r.name);
          const end = Math.min(r.end, r.start + 0x1000);
          for (const size of [1, 2, 4] as const) {
            for (let a = r.start; a + size <= end; a += size) {
              for (const v of [0, 0xffffffff, rng.u32()]) {
                const value = size === 4 ? v : v & ((1 << (8 * size)) - 1);
                map.busWrite(a, size, value);
                map.busRead(a, size);
                accesses += 2;
              }
            }
          }
        }
        // The machine runs on after it (a reset requested, interrupts pending, clocks changed...).
        try {
          const r = await sys.runFor({ instructions: 200_000 });
          expect(r.outcome?.kind).not.toBe('error');
        } catch (e) {
          if (!(e instanceof MachineFinishedError)) throw e;
          expect(e.outcome.kind, JSON.stringify(e.outcome)).not.toBe('error');
        }
      } finally {
        await sys.close();
        server.stop();
        rmSync(sock, { force: true });
      }
      console.log(`fuzz-registers ${board}: ${accesses} accesses over ${devices.length} device windows; log lines ${JSON.stringify(Object.fromEntries(counts))}`);
      expect(devices.length).toBeGreaterThan(5);
      expect(devices.some((d) => /ivshmem/.test(d))).toBe(true);
      expect(counts.get('guest_errors') ?? 0).toBeGreaterThan(0);
    }, 120_000);
  }
});
