// Host memory mappings (aliases, read-only, foreign ArrayBuffers, code in RAM) and MMIO.
import { afterEach, describe, expect, it } from 'vitest';
import { Reg, Stop } from '../../src/native/cpu.js';
import { addon, closeAll, FLASH_CODE as C, RAM, rig } from './helpers.js';

afterEach(closeAll);

describe('host memory', () => {
  it('aliases of one buffer are coherent, for the guest and the host', () => {
    const code = [
      0x6008, // 0: str r0, [r1, #0]
      0x681a, // 2: ldr r2, [r3, #0]
      0xdf00, // 4: svc 0
    ];
    const { cpu, reg, set, ram } = rig(code);
    cpu.mapHostMemory(0x2010_0000, ram, 0, 0x1_0000, true); // whole-RAM alias
    cpu.mapHostMemory(0x3000_0000, ram, 0x4000, 0x400, true); // a 1 KiB window into it
    set({ R0: 0xcafef00d, R1: RAM + 0x4010, R3: 0x3000_0010 });
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(reg(Reg.R2)).toBe(0xcafef00d);
    expect(new Uint32Array(ram)[0x4010 / 4]).toBe(0xcafef00d);
    expect(Array.from(cpu.memRead(0x2010_4010, 4))).toEqual([0x0d, 0xf0, 0xfe, 0xca]);
    // Host writes are seen by the guest at once.
    new Uint32Array(ram)[0x4010 / 4] = 0x11223344;
    set({ PC: C + 2 });
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(reg(Reg.R2)).toBe(0x11223344);
  });

  it('accepts ordinary (non-external) ArrayBuffers', () => {
    const code = [0x6008 /* str r0, [r1] */, 0x681a /* ldr r2, [r3] */, 0xdf00 /* svc 0 */];
    const { cpu, reg, set } = rig(code);
    const plain = new ArrayBuffer(0x2000);
    cpu.mapHostMemory(0x3000_0000, plain, 0, 0x2000, true);
    set({ R0: 0x5a5a1234, R1: 0x3000_1000, R3: 0x3000_1000 });
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(reg(Reg.R2)).toBe(0x5a5a1234);
    expect(new Uint32Array(plain)[0x400]).toBe(0x5a5a1234);
  });

  it('rejects misaligned or out-of-range mappings', () => {
    const { cpu } = rig([0xe7fe]);
    const b = addon.allocHostMemory(0x2000);
    expect(() => cpu.mapHostMemory(0x3000_0100, b, 0, 0x400, true)).toThrow();
    expect(() => cpu.mapHostMemory(0x3000_0000, b, 0, 0x300, true)).toThrow();
    expect(() => cpu.mapHostMemory(0x3000_0000, b, 0x1000, 0x2000, true)).toThrow();
  });

  it('memRead/memWrite copy guest memory', () => {
    const { cpu, ram } = rig([0xe7fe]);
    cpu.memWrite(RAM + 0x10, new Uint8Array([1, 2, 3, 4, 5]));
    expect(Array.from(new Uint8Array(ram, 0x10, 5))).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(cpu.memRead(RAM + 0x11, 3))).toEqual([2, 3, 4]);
    expect(() => cpu.memRead(0x3000_0000, 4)).toThrow();
  });

  it('unmap removes a mapping (later accesses fault)', () => {
    const code = [0x681a /* ldr r2, [r3] */, 0xdf00 /* svc 0 */];
    const { cpu, set } = rig(code);
    const b = addon.allocHostMemory(0x1000);
    cpu.mapHostMemory(0x3000_0000, b, 0, 0x1000, true);
    set({ R3: 0x3000_0800 });
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    cpu.unmap(0x3000_0000, 0x1000);
    set({ PC: C });
    expect(cpu.run(100, 0)).toBe(Stop.MemFault);
    expect(cpu.stopInfo().address).toBe(0x3000_0800);
  });

  it('runs code from RAM, grants EXEC per page once (no TLB thrashing), and invalidateCode picks up new code', () => {
    // Code in RAM at 0x20000400; a store loop writes the RAM page at 0x20004000 meanwhile.
    const code = [
      0x2000, //  0: movs r0, #0
      0x3001, //  2: loop: adds r0, #1
      0x6008, //  4: str r0, [r1]
      0x6808, //  6: ldr r0, [r1]
      0x4290, //  8: cmp r0, r2
      0xd1fa, //  a: bne.n loop
      0xdf00, //  c: svc 0
    ];
    const at = RAM + 0x400;
    const { cpu, reg, set, stats } = rig(code, at);
    set({ R1: RAM + 0x4000, R2: 200_000 });
    expect(cpu.run(1e9, 0)).toBe(Stop.Interrupt);
    expect(reg(Reg.R0)).toBe(200_000);
    expect(cpu.icount()).toBe(1 + 5 * 200_000 + 1);
    expect(stats().tlbFills).toBeLessThan(10);
    // Rewrite the first instruction behind Unicorn's back: movs r0, #0 -> movs r0, #7 ...
    cpu.memWrite(at, new Uint8Array([0x07, 0x20, 0x00, 0xdf])); // movs r0, #7 ; svc 0
    cpu.invalidateCode(at, 4);
    set({ PC: at });
    expect(cpu.run(1e9, 0)).toBe(Stop.Interrupt);
    expect(reg(Reg.R0)).toBe(7);
  });
});

describe('MMIO', () => {
  const SIZES = [
    0x784a, //  0: ldrb r2, [r1, #1]
    0x884b, //  2: ldrh r3, [r1, #2]
    0x684c, //  4: ldr  r4, [r1, #4]
    0x720d, //  6: strb r5, [r1, #8]
    0x814e, //  8: strh r6, [r1, #10]
    0x60cf, //  a: str  r7, [r1, #12]
    0xdf00, //  c: svc 0
  ];

  it('calls the JS handlers with region, offset, size and value', () => {
    const { cpu, reg, set } = rig(SIZES);
    cpu.mapMmio(0x4000_0000, 0x1000, 5);
    cpu.mapMmio(0x4000_1000, 0x1000, 6);
    const calls: unknown[] = [];
    cpu.setMmioHandlers(
      (region, offset, size) => {
        calls.push(['r', region, offset, size]);
        return [0, 0xab, 0xbeef, 0, 0xdeadbeef][offset] ?? 0;
      },
      (region, offset, size, value) => {
        calls.push(['w', region, offset, size, value]);
      },
    );
    set({ R1: 0x4000_1000, R5: 0x1ff, R6: 0x12345, R7: 0xfedcba98 });
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(calls).toEqual([
      ['r', 6, 1, 1],
      ['r', 6, 2, 2],
      ['r', 6, 4, 4],
      ['w', 6, 8, 1, 0xff],
      ['w', 6, 10, 2, 0x2345],
      ['w', 6, 12, 4, 0xfedcba98],
    ]);
    expect([reg(Reg.R2), reg(Reg.R3), reg(Reg.R4)]).toEqual([0xab, 0xbeef, 0xdeadbeef]);
    expect(cpu.icount()).toBe(7);
  });

  it('negative and non-number read results are coerced to uint32', () => {
    const { cpu, reg, set } = rig([0x684c /* ldr r4, [r1, #4] */, 0x680d /* ldr r5, [r1] */, 0xdf00]);
    cpu.mapMmio(0x4000_0000, 0x1000, 0);
    cpu.setMmioHandlers((_r, off) => (off === 4 ? -1 : ('17' as unknown as number)), () => {});
    set({ R1: 0x4000_0000 });
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(reg(Reg.R4)).toBe(0xffffffff);
    expect(reg(Reg.R5)).toBe(17);
  });

  it('rethrows an exception thrown by a handler from run(), and stays usable', () => {
    const code = [
      0x2001, // 0: movs r0, #1
      0x680a, // 2: ldr r2, [r1]
      0x3001, // 4: adds r0, #1
      0xdf00, // 6: svc 0
    ];
    const { cpu, reg, set } = rig(code);
    cpu.mapMmio(0x4000_0000, 0x1000, 0);
    const boom = new Error('device exploded');
    cpu.setMmioHandlers(() => {
      throw boom;
    }, () => {});
    set({ R1: 0x4000_0000 });
    let caught: unknown;
    try {
      cpu.run(100, 0);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(boom);
    expect(cpu.stopInfo().reason).toBe(Stop.HandlerError);
    expect(reg(Reg.PC)).toBe(C + 2); // at the access
    expect(cpu.icount()).toBe(1);
    // Also from the write handler, with a non-Error value.
    cpu.setMmioHandlers(() => 0x77, () => {
      throw 'nope';
    });
    expect(cpu.run(100, 0)).toBe(Stop.Interrupt);
    expect(reg(Reg.R2)).toBe(0x77);
    expect(reg(Reg.R0)).toBe(2);
    const store = rig([0x600a /* str r2, [r1] */, 0xdf00]);
    store.cpu.mapMmio(0x4000_0000, 0x1000, 0);
    store.cpu.setMmioHandlers(() => 0, () => {
      throw 'nope';
    });
    store.set({ R1: 0x4000_0000 });
    expect(() => store.cpu.run(100, 0)).toThrow('nope');
  });

  it('requestStop() inside a handler stops at the next block boundary', () => {
    const code = [
      0x6808, // 0: ldr r0, [r1, #0]     (MMIO: requests a stop)
      0x3201, // 2: adds r2, #1
      0xe7ff, // 4: b.n block2
      0x3301, // 6: block2: adds r3, #1
      0xe7fd, // 8: b.n block2
    ];
    const { cpu, reg, set } = rig(code);
    cpu.mapMmio(0x4000_0000, 0x1000, 0);
    cpu.setMmioHandlers(() => {
      cpu.requestStop();
      return 42;
    }, () => {});
    set({ R1: 0x4000_0000 });
    expect(cpu.run(1e9, 0)).toBe(Stop.Requested);
    expect(reg(Reg.R0)).toBe(42);
    expect(reg(Reg.R2)).toBe(1); // the rest of the block ran
    expect(reg(Reg.R3)).toBe(0); // the next block did not
    expect(reg(Reg.PC)).toBe(C + 6);
    expect(cpu.icount()).toBe(3);
    // Not sticky: the next run goes on.
    expect(cpu.run(11, 0)).toBe(Stop.Limit);
    expect(cpu.icount()).toBe(11);
    expect(reg(Reg.R3)).toBe(4);
  });

  it('a stop requested while idle makes the next run return at once', () => {
    const { cpu, reg } = rig([0x3001, 0xe7fd]);
    cpu.requestStop();
    expect(cpu.run(1e9, 0)).toBe(Stop.Requested);
    expect(cpu.icount()).toBe(0);
    expect(reg(Reg.R0)).toBe(0);
  });
});
