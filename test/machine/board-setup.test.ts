/** A board's setup step: run once per machine before the device factories, its parts handed to each. */
import { describe, expect, it } from 'vitest';
import type { BoardDef } from '../../src/machine/board.js';
import type { MmioDevice } from '../../src/devices/device.js';
import { lm3s6965evb } from '../../src/machine/boards/lm3s6965evb.js';
import { mps2an385 } from '../../src/machine/boards/mps2-an385.js';
import { Machine } from '../../src/machine/machine.js';

function probe(name: string, value: number): MmioDevice {
  return { name, size: 0x1000, read: () => value, write() {}, reset() {} };
}

describe('BoardDef.setup', () => {
  it('runs once per machine, before the factories, which all get its parts', () => {
    const calls: string[] = [];
    let n = 0;
    const board: BoardDef<{ id: number }> = {
      ...mps2an385,
      setup: () => {
        calls.push('setup');
        return { id: ++n };
      },
      devices: [0, 1].map((i) => ({
        name: `probe${i}`,
        base: 0x40000000 + i * 0x1000,
        create: (_ctx, parts) => {
          calls.push(`probe${i} ${parts.id}`);
          return probe(`probe${i}`, parts.id * 10 + i);
        },
      })),
    };
    const a = new Machine({ board, icount: { shift: 7, sleep: false } });
    const b = new Machine({ board, icount: { shift: 7, sleep: false } });
    try {
      expect(calls).toEqual(['setup', 'probe0 1', 'probe1 1', 'setup', 'probe0 2', 'probe1 2']);
      const read = (m: Machine, name: string) => m.devices.get(name)!.read(0, 4);
      expect([read(a, 'probe0'), read(a, 'probe1'), read(b, 'probe0'), read(b, 'probe1')]).toEqual([10, 11, 20, 21]);
    } finally {
      a.close();
      b.close();
    }
  });
  it('gives each lm3s6965evb machine its own system control block', () => {
    const a = new Machine({ board: lm3s6965evb, icount: { shift: 6, sleep: false } });
    const b = new Machine({ board: lm3s6965evb, icount: { shift: 6, sleep: false } });
    try {
      expect(a.devices.get('ssys')).toBeDefined();
      expect(a.devices.get('ssys')).not.toBe(b.devices.get('ssys'));
    } finally {
      a.close();
      b.close();
    }
  });
});
