/**
 * Every device of every board can be snapshotted: it implements saveState/loadState, its state is
 * JSON, save → load → save round-trips (in the same device and in a fresh one of another machine),
 * and whatever captureState leaves out is wiring (callbacks, IRQ lines, the clock, timers, links),
 * never a class of state without saveState: a device or part that keeps state in such a field is
 * caught here.
 */
import { describe, expect, it } from 'vitest';
import { BOARDS, createSystem, InProcessIvshmem, type System } from '../../src/index.js';
import { loadNative } from '../../src/native/cpu.js';
import { skippedFields, type Stateful } from '../../src/devices/state.js';
import { firmwarePath } from '../support/run-cmemu.js';

/** Classes a device may hold without capturing them: what the machine gives every device again. */
const WIRING_CLASSES = new Set(['Scheduler', 'SchedTimer', 'InProcessLink', 'ClientLink', 'CategoryLogger']);

async function board(name: string): Promise<System> {
  const g = new InProcessIvshmem(loadNative().allocHostMemory(1 << 16), 2);
  const s = await createSystem({ board: name, firmware: firmwarePath(name, 'context_switch'), time: { icount: 7 }, ivshmem: { link: g.join() } });
  await s.runFor({ instructions: 30_000 });
  return s;
}

function parts(o: object, seen = new Set<object>()): object[] {
  seen.add(o);
  const out = [o];
  for (const v of Object.values(o)) {
    const list = Array.isArray(v) ? v : [v];
    for (const x of list) {
      if (x && typeof x === 'object' && typeof (x as Stateful).saveState === 'function' && !seen.has(x)) out.push(...parts(x, seen));
    }
  }
  return out;
}

describe('device state', () => {
  for (const b of BOARDS) {
    it(`every device of ${b.name} saves, loads and saves the same state, and skips only wiring`, async () => {
      const a = await board(b.name);
      const fresh = await board(b.name);
      expect(a.machine.devices.size).toBeGreaterThan(3);
      for (const [name, dev] of a.machine.devices) {
        expect(typeof dev.saveState, `${name}.saveState`).toBe('function');
        expect(typeof dev.loadState, `${name}.loadState`).toBe('function');
        const s1 = JSON.parse(JSON.stringify(dev.saveState()));
        dev.loadState(s1);
        expect(JSON.parse(JSON.stringify(dev.saveState())), name).toEqual(s1);
        const other = fresh.machine.devices.get(name)!;
        other.loadState(s1);
        expect(JSON.parse(JSON.stringify(other.saveState())), `${name} in another machine`).toEqual(s1);
        for (const p of parts(dev)) {
          for (const f of skippedFields(p)) {
            if (f.kind.startsWith('instance of ')) expect(WIRING_CLASSES.has(f.kind.slice(12)), `${name}: ${p.constructor.name}.${f.field} (${f.kind}) is neither captured nor wiring: give it saveState/loadState`).toBe(true);
          }
        }
      }
      // The board's memories, timers and core travel in the machine's state.
      const { state, memory } = a.machine.saveState();
      expect(memory.map((m) => m.name).sort()).toEqual(b.memory.map((m) => m.name).sort());
      expect(state.timers.length).toBeGreaterThan(0);
      await a.close();
      await fresh.close();
    });
  }

  it('a device with state in a class the capture cannot see is caught', () => {
    class Hidden {
      n = 1;
    }
    const dev = { fifo: new Hidden(), level: 3 };
    expect(skippedFields(dev)).toEqual([{ field: 'fifo', kind: 'instance of Hidden' }]);
  });
});
