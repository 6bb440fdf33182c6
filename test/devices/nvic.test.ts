import { describe, expect, it } from 'vitest';
import { Nvic } from '../../src/devices/nvic.js';
import {
  EXC_BUSFAULT,
  EXC_DEBUGMON,
  EXC_HARDFAULT,
  EXC_MEMMANAGE,
  EXC_NMI,
  EXC_PENDSV,
  EXC_RESET,
  EXC_SVCALL,
  EXC_SYSTICK,
  EXC_USAGEFAULT,
  PRIO_NONE,
} from '../../src/cpu/exception-controller.js';

function make(numIrqs = 32, priorityBits = 3) {
  let changes = 0;
  const nvic = new Nvic({ numIrqs, priorityBits, onChange: () => changes++ });
  return { nvic, changes: () => changes, resetChanges: () => (changes = 0) };
}

const IRQ = (n: number) => 16 + n;

describe('Nvic: reset state', () => {
  it('has fixed negative priorities for Reset/NMI/HardFault and zero elsewhere', () => {
    const { nvic } = make();
    expect(nvic.priority(EXC_RESET)).toBe(-3);
    expect(nvic.priority(EXC_NMI)).toBe(-2);
    expect(nvic.priority(EXC_HARDFAULT)).toBe(-1);
    for (const e of [EXC_MEMMANAGE, EXC_BUSFAULT, EXC_USAGEFAULT, EXC_SVCALL, EXC_PENDSV, EXC_SYSTICK, IRQ(0), IRQ(31)]) {
      expect(nvic.priority(e)).toBe(0);
    }
    expect(nvic.bestPending()).toBe(0);
    expect(nvic.activeCount()).toBe(0);
    expect(nvic.activeGroupPriority()).toBe(PRIO_NONE);
    expect(nvic.prigroup).toBe(0);
    expect(nvic.scb).toEqual({ vtor: 0, ccr: 0x200, scr: 0, cfsr: 0, hfsr: 0, mmfar: 0, bfar: 0 });
  });

  it('enables: external lines off, configurable faults off, the rest on', () => {
    const { nvic } = make();
    expect(nvic.isEnabled(IRQ(0))).toBe(false);
    expect(nvic.isEnabled(EXC_MEMMANAGE)).toBe(false);
    expect(nvic.isEnabled(EXC_BUSFAULT)).toBe(false);
    expect(nvic.isEnabled(EXC_USAGEFAULT)).toBe(false);
    for (const e of [EXC_NMI, EXC_HARDFAULT, EXC_SVCALL, EXC_DEBUGMON, EXC_PENDSV, EXC_SYSTICK]) expect(nvic.isEnabled(e)).toBe(true);
    for (const e of [7, 8, 9, 10, 13, IRQ(32)]) expect(nvic.isEnabled(e)).toBe(false);
  });

  it('reset() clears pending, active, enables, priorities, PRIGROUP and the SCB state', () => {
    const { nvic } = make();
    nvic.setEnabled(IRQ(3), true);
    nvic.setPending(IRQ(3));
    nvic.setPriority(IRQ(3), 0x40);
    nvic.activate(EXC_SVCALL);
    nvic.setPrigroup(5);
    nvic.scb.vtor = 0x1000;
    nvic.scb.ccr = 0x210;
    nvic.scb.cfsr = 0x10000;
    nvic.reset();
    expect(nvic.isPending(IRQ(3))).toBe(false);
    expect(nvic.isEnabled(IRQ(3))).toBe(false);
    expect(nvic.priority(IRQ(3))).toBe(0);
    expect(nvic.isActive(EXC_SVCALL)).toBe(false);
    expect(nvic.activeCount()).toBe(0);
    expect(nvic.prigroup).toBe(0);
    expect(nvic.scb.vtor).toBe(0);
    expect(nvic.scb.ccr).toBe(0x200);
    expect(nvic.scb.cfsr).toBe(0);
  });

  it('rejects impossible sizes', () => {
    expect(() => new Nvic({ numIrqs: 0 })).toThrow();
    expect(() => new Nvic({ numIrqs: 497 })).toThrow();
    expect(() => new Nvic({ numIrqs: 32, priorityBits: 9 })).toThrow();
  });
});

describe('Nvic: priorities and grouping', () => {
  it('keeps only the implemented priority bits (3 bits: 0xE0)', () => {
    const { nvic } = make(32, 3);
    nvic.setPriority(IRQ(1), 0xff);
    expect(nvic.priority(IRQ(1))).toBe(0xe0);
    nvic.setPriority(EXC_PENDSV, 0x3f);
    expect(nvic.priority(EXC_PENDSV)).toBe(0x20);
    expect(nvic.priorityMask).toBe(0xe0);
  });

  it('keeps all 8 bits when configured as QEMU 7.2 does', () => {
    const { nvic } = make(32, 8);
    nvic.setPriority(IRQ(1), 0xff);
    expect(nvic.priority(IRQ(1))).toBe(0xff);
  });

  it('cannot change the fixed priorities', () => {
    const { nvic } = make();
    nvic.setPriority(EXC_HARDFAULT, 0x20);
    nvic.setPriority(EXC_NMI, 0x20);
    expect(nvic.priority(EXC_HARDFAULT)).toBe(-1);
    expect(nvic.priority(EXC_NMI)).toBe(-2);
  });

  it('group mask and group priority follow PRIGROUP', () => {
    const { nvic } = make(32, 8);
    const masks = [0xfe, 0xfc, 0xf8, 0xf0, 0xe0, 0xc0, 0x80, 0x00];
    for (let g = 0; g < 8; g++) {
      nvic.setPrigroup(g);
      expect(nvic.groupMask()).toBe(masks[g]);
      expect(nvic.groupPriority(0xff)).toBe(masks[g]);
      expect(nvic.groupPriority(-1)).toBe(-1);
      expect(nvic.groupPriority(-2)).toBe(-2);
    }
    nvic.setPrigroup(9); // only 3 bits
    expect(nvic.prigroup).toBe(1);
  });
});

describe('Nvic: pending and bestPending', () => {
  it('needs enable for external lines and SHCSR enables for configurable faults', () => {
    const { nvic } = make();
    nvic.setPending(IRQ(4));
    expect(nvic.isPending(IRQ(4))).toBe(true);
    expect(nvic.bestPending()).toBe(0);
    nvic.setEnabled(IRQ(4), true);
    expect(nvic.bestPending()).toBe(IRQ(4));
    nvic.setPending(EXC_BUSFAULT);
    expect(nvic.bestPending()).toBe(IRQ(4)); // BusFault disabled
    nvic.setEnabled(EXC_BUSFAULT, true);
    expect(nvic.bestPending()).toBe(EXC_BUSFAULT); // same priority 0: lower number wins
  });

  it('orders by priority value, then by exception number (tie-break)', () => {
    const { nvic } = make(32, 8);
    for (const n of [0, 1, 2]) nvic.setEnabled(IRQ(n), true);
    nvic.setPriority(IRQ(0), 0x00);
    nvic.setPriority(IRQ(1), 0x40);
    nvic.setPriority(IRQ(2), 0x20);
    nvic.setPending(IRQ(1));
    nvic.setPending(IRQ(2));
    expect(nvic.bestPending()).toBe(IRQ(2));
    // With every bit a subpriority (PRIGROUP 7) the subpriority still orders them (as QEMU 7.2 does).
    nvic.setPrigroup(7);
    expect(nvic.bestPending()).toBe(IRQ(2));
    nvic.setPriority(IRQ(2), 0x40);
    expect(nvic.bestPending()).toBe(IRQ(1)); // equal priority: lower number
    nvic.setPending(IRQ(0));
    expect(nvic.bestPending()).toBe(IRQ(0));
    nvic.setPriority(IRQ(0), 0x60);
    expect(nvic.bestPending()).toBe(IRQ(1));
  });

  it('puts NMI and HardFault ahead of everything', () => {
    const { nvic } = make();
    nvic.setPending(EXC_SVCALL);
    nvic.setPending(EXC_HARDFAULT);
    expect(nvic.bestPending()).toBe(EXC_HARDFAULT);
    nvic.setPending(EXC_NMI);
    expect(nvic.bestPending()).toBe(EXC_NMI);
    nvic.clearPending(EXC_NMI);
    nvic.clearPending(EXC_HARDFAULT);
    expect(nvic.bestPending()).toBe(EXC_SVCALL);
  });

  it('PendSV and SysTick at equal priority: PendSV (14) first', () => {
    const { nvic } = make();
    nvic.setPending(EXC_SYSTICK);
    nvic.setPending(EXC_PENDSV);
    expect(nvic.bestPending()).toBe(EXC_PENDSV);
    nvic.setPriority(EXC_PENDSV, 0xe0);
    nvic.setPriority(EXC_SYSTICK, 0x20);
    expect(nvic.bestPending()).toBe(EXC_SYSTICK);
  });

  it('externalPending reports a pending external line, enabled or not', () => {
    const { nvic } = make();
    nvic.setPending(EXC_PENDSV);
    expect(nvic.externalPending()).toBe(false);
    nvic.setPending(IRQ(31));
    expect(nvic.externalPending()).toBe(true);
  });

  it('ignores exceptions that do not exist', () => {
    const { nvic } = make(32);
    nvic.setPending(IRQ(32));
    nvic.setPending(7);
    nvic.setPending(13);
    expect(nvic.isPending(IRQ(32))).toBe(false);
    expect(nvic.isPending(7)).toBe(false);
    expect(nvic.bestPending()).toBe(0);
    expect(() => nvic.priority(IRQ(32))).toThrow(RangeError);
  });
});

describe('Nvic: active state', () => {
  it('activate moves pending to active; deactivate clears it; count and group priority follow', () => {
    const { nvic } = make(32, 8);
    nvic.setPrigroup(5); // group = bits 7:6
    nvic.setPriority(EXC_PENDSV, 0xe0);
    nvic.setPriority(IRQ(0), 0x60);
    nvic.setEnabled(IRQ(0), true);
    nvic.setPending(EXC_PENDSV);
    nvic.activate(EXC_PENDSV);
    expect(nvic.isPending(EXC_PENDSV)).toBe(false);
    expect(nvic.isActive(EXC_PENDSV)).toBe(true);
    expect(nvic.activeCount()).toBe(1);
    expect(nvic.activeGroupPriority()).toBe(0xc0);
    nvic.setPending(IRQ(0));
    nvic.activate(IRQ(0));
    expect(nvic.activeCount()).toBe(2);
    expect(nvic.activeGroupPriority()).toBe(0x40);
    nvic.deactivate(IRQ(0));
    expect(nvic.activeGroupPriority()).toBe(0xc0);
    nvic.deactivate(EXC_PENDSV);
    expect(nvic.activeCount()).toBe(0);
    expect(nvic.activeGroupPriority()).toBe(PRIO_NONE);
  });

  it('HardFault and NMI active give negative execution priorities', () => {
    const { nvic } = make();
    nvic.activate(EXC_HARDFAULT);
    expect(nvic.activeGroupPriority()).toBe(-1);
    nvic.activate(EXC_NMI);
    expect(nvic.activeGroupPriority()).toBe(-2);
  });

  it('setActive (SHCSR) counts like activate', () => {
    const { nvic } = make();
    nvic.setActive(EXC_SVCALL, true);
    nvic.setActive(EXC_SVCALL, true);
    expect(nvic.activeCount()).toBe(1);
    nvic.setActive(EXC_SVCALL, false);
    expect(nvic.activeCount()).toBe(0);
  });
});

describe('Nvic: level-sensitive lines', () => {
  it('a rising edge pends; holding high does not pend again until exception return', () => {
    const { nvic } = make();
    const l = nvic.line(5);
    nvic.setEnabled(IRQ(5), true);
    l.set(true);
    expect(nvic.isPending(IRQ(5))).toBe(true);
    expect(nvic.levelHigh(IRQ(5))).toBe(true);
    nvic.activate(IRQ(5));
    expect(nvic.isPending(IRQ(5))).toBe(false);
    l.set(true); // no edge
    expect(nvic.isPending(IRQ(5))).toBe(false);
    nvic.deactivate(IRQ(5)); // still high: pends again
    expect(nvic.isPending(IRQ(5))).toBe(true);
    nvic.activate(IRQ(5));
    l.set(false);
    nvic.deactivate(IRQ(5));
    expect(nvic.isPending(IRQ(5))).toBe(false);
    expect(nvic.levelHigh(IRQ(5))).toBe(false);
  });

  it('clearing pending while the line is high does not re-pend (as QEMU)', () => {
    const { nvic } = make();
    nvic.line(2).set(true);
    nvic.clearPending(IRQ(2));
    expect(nvic.isPending(IRQ(2))).toBe(false);
  });

  it('pulse pends once and leaves the line low', () => {
    const { nvic } = make();
    nvic.line(7).pulse();
    expect(nvic.isPending(IRQ(7))).toBe(true);
    expect(nvic.levelHigh(IRQ(7))).toBe(false);
    nvic.activate(IRQ(7));
    nvic.deactivate(IRQ(7));
    expect(nvic.isPending(IRQ(7))).toBe(false);
  });

  it('pulse is an edge: it pends a line that another source holds high, and leaves the level high', () => {
    const { nvic } = make();
    nvic.line(3).set(true);
    nvic.activate(IRQ(3));
    expect(nvic.isPending(IRQ(3))).toBe(false);
    nvic.line(3).pulse();
    expect(nvic.isPending(IRQ(3))).toBe(true);
    expect(nvic.levelHigh(IRQ(3))).toBe(true);
  });

  it('returns the same line object and refuses lines that do not exist', () => {
    const { nvic } = make(43);
    expect(nvic.line(42)).toBe(nvic.line(42));
    expect(() => nvic.line(43)).toThrow(RangeError);
    expect(() => nvic.line(-1)).toThrow(RangeError);
  });

  it('line levels survive reset but do not pend by themselves', () => {
    const { nvic } = make();
    nvic.line(1).set(true);
    nvic.reset();
    expect(nvic.isPending(IRQ(1))).toBe(false);
    expect(nvic.levelHigh(IRQ(1))).toBe(true);
  });
});

describe('Nvic: onChange', () => {
  it('fires when something may become takeable, not on clears', () => {
    const { nvic, changes, resetChanges } = make();
    nvic.setPending(IRQ(0));
    expect(changes()).toBe(1);
    nvic.setPending(IRQ(0)); // already pending
    expect(changes()).toBe(1);
    nvic.setEnabled(IRQ(0), true);
    expect(changes()).toBe(2);
    nvic.setPriority(IRQ(0), 0x20);
    expect(changes()).toBe(3);
    nvic.setPrigroup(3);
    expect(changes()).toBe(4);
    resetChanges();
    nvic.clearPending(IRQ(0));
    nvic.setEnabled(IRQ(0), false);
    expect(changes()).toBe(0);
    nvic.line(3).set(true);
    expect(changes()).toBe(1);
    nvic.activate(IRQ(3));
    nvic.setActive(EXC_SVCALL, true);
    expect(changes()).toBe(1);
    nvic.setPending(EXC_PENDSV);
    resetChanges();
    nvic.deactivate(IRQ(3)); // line still high → pending again; PendSV waits
    expect(changes()).toBe(1);
  });
});

describe('Nvic: bestPending() and activeGroupPriority() keep their answers only while they hold', () => {
  // The reference: a plain scan through the public state, as the two were before they cached.
  function refBest(nvic: Nvic, count: number): number {
    let best = 0;
    let bestPrio = PRIO_NONE;
    for (let exc = 1; exc < count; exc++) {
      if (!nvic.exists(exc) || !nvic.isPending(exc) || !nvic.isEnabled(exc)) continue;
      if (nvic.priority(exc) < bestPrio) {
        bestPrio = nvic.priority(exc);
        best = exc;
      }
    }
    return best;
  }
  function refActive(nvic: Nvic, count: number): number {
    let best = PRIO_NONE;
    for (let exc = 1; exc < count; exc++) {
      if (nvic.exists(exc) && nvic.isActive(exc)) best = Math.min(best, nvic.groupPriority(nvic.priority(exc)));
    }
    return best;
  }

  it('agree with a plain scan after every one of 20 000 random changes (seeded)', () => {
    const numIrqs = 24;
    const count = 16 + numIrqs;
    const { nvic } = make(numIrqs, 8);
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const existing = Array.from({ length: count - 1 }, (_, i) => i + 1).filter((e) => nvic.exists(e));
    const anyExc = () => existing[rnd(existing.length)]!;
    const saved: ReturnType<Nvic['saveState']>[] = [];
    for (let step = 0; step < 20_000; step++) {
      switch (rnd(12)) {
        case 0: nvic.setPending(anyExc()); break;
        case 1: nvic.clearPending(anyExc()); break;
        case 2: nvic.setEnabled(anyExc(), rnd(2) === 0); break;
        case 3: nvic.setPriority(anyExc(), rnd(256)); break;
        case 4: nvic.setPrigroup(rnd(8)); break;
        case 5: nvic.activate(anyExc()); break;
        case 6: nvic.deactivate(anyExc()); break;
        case 7: nvic.setActive(anyExc(), rnd(2) === 0); break;
        case 8: nvic.line(rnd(numIrqs)).set(rnd(2) === 0); break;
        case 9: nvic.line(rnd(numIrqs)).pulse(); break;
        case 10: if (rnd(50) === 0) nvic.reset(); break;
        case 11:
          if (saved.length && rnd(2)) nvic.loadState(saved[rnd(saved.length)]!);
          else saved.push(nvic.saveState());
          break;
      }
      // Ask in both orders, so a stale answer cached by one is caught by the other.
      if (step & 1) {
        expect(nvic.bestPending(), `step ${step}`).toBe(refBest(nvic, count));
        expect(nvic.activeGroupPriority(), `step ${step}`).toBe(refActive(nvic, count));
      } else {
        expect(nvic.activeGroupPriority(), `step ${step}`).toBe(refActive(nvic, count));
        expect(nvic.bestPending(), `step ${step}`).toBe(refBest(nvic, count));
      }
    }
  });
});
