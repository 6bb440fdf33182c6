import { describe, expect, it } from 'vitest';
import { buildScs } from '../../src/devices/scs.js';
import { ManualTime, Scheduler } from '../../src/time/clock.js';
import type { Logger } from '../../src/devices/device.js';
import { EXC_BUSFAULT, EXC_MEMMANAGE, EXC_NMI, EXC_PENDSV, EXC_SVCALL, EXC_SYSTICK, EXC_USAGEFAULT } from '../../src/cpu/exception-controller.js';

interface MakeOpts {
  numIrqs?: number;
  priorityBits?: number;
  refHz?: number;
  cpuHz?: number;
}

function make(o: MakeOpts = {}) {
  const time = new ManualTime();
  const sched = new Scheduler(time);
  const errors: string[] = [];
  const unimp: string[] = [];
  const logger: Logger = {
    enabled: () => true,
    log: (c, m) => (c === 'guest_errors' ? errors : c === 'unimp' ? unimp : []).push(m),
  };
  let ipsr = 0;
  let changes = 0;
  const resets: number[] = [];
  const ccrs: number[] = [];
  const parts = buildScs({
    numIrqs: o.numIrqs ?? 32,
    priorityBits: o.priorityBits ?? 3,
    clock: sched,
    cpuHz: o.cpuHz ?? 25_000_000,
    refHz: 'refHz' in o ? o.refHz : 1_000_000,
    ipsr: () => ipsr,
    onChange: () => changes++,
    onSystemReset: () => resets.push(time.ns),
    onCcrChange: (c) => ccrs.push(c),
    logger,
  });
  const scs = parts.device;
  return {
    ...parts,
    scs,
    time,
    sched,
    errors,
    unimp,
    resets,
    ccrs,
    setIpsr: (v: number) => (ipsr = v),
    changes: () => changes,
    r: (off: number, size: 1 | 2 | 4 = 4) => scs.read(off, size),
    w: (off: number, value: number, size: 1 | 2 | 4 = 4) => scs.write(off, size, value),
  };
}

/** Every nonzero word of the SCS at reset, as qemu-system-arm 7.2 -M mps2-an385 -cpu cortex-m3 reads it. */
const QEMU_AN385_RESET: Record<number, number> = {
  0x01c: 0x0000270f,
  0xd00: 0x410fc231,
  0xd04: 0x00000800,
  0xd0c: 0xfa050000,
  0xd14: 0x00000200,
  0xd40: 0x00000030,
  0xd44: 0x00000200,
  0xd48: 0x00100000,
  0xd50: 0x00000030,
  0xd60: 0x01141110,
  0xd64: 0x02111000,
  0xd68: 0x21112231,
  0xd6c: 0x01111110,
  0xd70: 0x01310102,
  0xd90: 0x00000800,
  0xfe4: 0x000000b0,
  0xfe8: 0x0000001b,
  0xff0: 0x0000000d,
  0xff4: 0x000000e0,
  0xff8: 0x00000005,
  0xffc: 0x000000b1,
};

function scanNonzero(r: (o: number) => number): Record<number, number> {
  const out: Record<number, number> = {};
  for (let o = 0; o < 0x1000; o += 4) {
    if (o === 0xf00) continue; // STIR is write-only
    const v = r(o);
    if (v) out[o] = v;
  }
  return out;
}

describe('SCS: reset values (as qemu-system-arm 7.2)', () => {
  it('mps2-an385: every nonzero word matches QEMU', () => {
    const { r } = make();
    expect(scanNonzero(r)).toEqual(QEMU_AN385_RESET);
  });

  it('lm3s6965evb (no SysTick refclk, 64 lines in QEMU): ICTR 1, CSR.CLKSOURCE 1, CALIB NOREF', () => {
    const { r } = make({ numIrqs: 64, refHz: 0, cpuHz: 12_000_000 });
    expect(scanNonzero(r)).toEqual({ ...QEMU_AN385_RESET, 0x004: 1, 0x010: 4, 0x01c: 0x80000000 });
  });

  it('reads of unimplemented offsets log the same offsets QEMU logs', () => {
    const { r, errors, unimp } = make();
    for (let o = 0; o < 0x1000; o += 4) if (o !== 0xf00) r(o);
    const bad = errors.filter((e) => e.startsWith('NVIC: Bad read offset')).map((e) => parseInt(e.split(' ').pop()!, 16));
    const expected: number[] = [];
    const ranges: [number, number][] = [
      [0x000, 0x000], [0x008, 0x00c], [0x0f0, 0x0fc], [0x140, 0x17c], [0x1c0, 0x1fc], [0x240, 0x27c],
      [0x2c0, 0x2fc], [0x340, 0x3fc], [0x5f0, 0xcfc], [0xdbc, 0xefc], [0xf04, 0xf30], [0xf4c, 0xfdc],
    ];
    for (const [a, b] of ranges) for (let o = a; o <= b; o += 4) expected.push(o);
    expect(bad).toEqual(expected);
    const st = errors.filter((e) => e.startsWith('SysTick: Bad read offset'));
    expect(st.length).toBe((0xdc - 0x10) / 4 + 1);
    expect(st[0]).toBe('SysTick: Bad read offset 0x10');
    expect(unimp).toEqual(['Aux Fault status registers unimplemented']);
  });

  it('ICTR follows the number of lines', () => {
    expect(make({ numIrqs: 32 }).r(0x004)).toBe(0);
    expect(make({ numIrqs: 43 }).r(0x004)).toBe(1);
    expect(make({ numIrqs: 64 }).r(0x004)).toBe(1);
    expect(make({ numIrqs: 65 }).r(0x004)).toBe(2);
  });

  it('read-only registers ignore writes and log', () => {
    const { r, w, errors } = make();
    w(0x004, 0xffffffff);
    w(0xd00, 0);
    w(0xd40, 0);
    expect(r(0x004)).toBe(0);
    expect(r(0xd00)).toBe(0x410fc231);
    expect(r(0xd40)).toBe(0x30);
    expect(errors).toEqual(['NVIC: Bad write offset 0x4', 'NVIC: Bad write offset 0xd00', 'NVIC: Bad write offset 0xd40']);
  });

  it('ACTLR is RAZ/WI and logged, as QEMU 7.2 on cortex-m3', () => {
    const { r, w, errors } = make();
    w(0x008, 0xffffffff);
    expect(r(0x008)).toBe(0);
    expect(errors).toEqual(['NVIC: Bad write offset 0x8', 'NVIC: Bad read offset 0x8']);
  });

  it('component IDs: word and aligned sub-word reads, unaligned bytes read 0', () => {
    const { r } = make();
    expect([0xfe0, 0xfe4, 0xfe8, 0xfec, 0xff0, 0xff4, 0xff8, 0xffc].map((o) => r(o))).toEqual([0, 0xb0, 0x1b, 0, 0x0d, 0xe0, 0x05, 0xb1]);
    expect(r(0xfe4, 1)).toBe(0xb0);
    expect(r(0xfe5, 1)).toBe(0);
    expect(r(0xfe4, 2)).toBe(0xb0);
  });

  it('CPACR, ISAR5 .. NSACR and the FP registers read 0 silently; CPACR ignores writes', () => {
    const { r, w, errors } = make();
    w(0xd88, 0xffffffff);
    for (let o = 0xd74; o <= 0xd8c; o += 4) expect(r(o)).toBe(0);
    for (let o = 0xf34; o <= 0xf48; o += 4) expect(r(o)).toBe(0);
    expect(errors).toEqual([]);
  });
});

describe('SCS: ICSR', () => {
  it('VECTACTIVE comes from IPSR; RETTOBASE is set with at most one active exception', () => {
    const { r, nvic, setIpsr } = make();
    expect(r(0xd04)).toBe(0x800);
    nvic.activate(EXC_PENDSV);
    setIpsr(14);
    expect(r(0xd04)).toBe(0x80e);
    nvic.activate(16);
    setIpsr(16);
    expect(r(0xd04)).toBe(0x010);
    setIpsr(0x1ff | 0x1000000);
    expect(r(0xd04) & 0x1ff).toBe(0x1ff);
  });

  it('VECTPENDING names the best enabled pending exception; ISRPENDING any pending line', () => {
    const { r, w } = make();
    w(0xf00, 5); // STIR: IRQ 5 pending, not enabled
    expect(r(0xd04)).toBe(0x00400800);
    w(0x100, 1 << 5);
    expect(r(0xd04)).toBe(0x00415800);
    w(0x200, 0xffffffff);
    w(0x100, 0xffffffff);
    expect(r(0xd04)).toBe(0x00410800); // IRQ 0 wins the tie
  });

  it('PENDSVSET/CLR, PENDSTSET/CLR, NMIPENDSET', () => {
    const { r, w, nvic } = make();
    w(0xd04, 1 << 28);
    expect(r(0xd04)).toBe(0x1000e800);
    w(0xd04, 1 << 26);
    expect(r(0xd04)).toBe(0x1400e800); // PendSV (14) before SysTick (15) at equal priority
    w(0xd04, (1 << 27) | (1 << 25));
    expect(r(0xd04)).toBe(0x800);
    w(0xd04, (1 << 28) | (1 << 27)); // set wins
    expect(nvic.isPending(EXC_PENDSV)).toBe(true);
    w(0xd04, 1 << 31);
    expect(nvic.isPending(EXC_NMI)).toBe(true);
    expect(r(0xd04) >>> 0).toBe(0x90002800);
  });

  it('ignores writes to its read-only fields (Zephyr read-modify-write 0x1042F804)', () => {
    const { r, w, nvic } = make();
    w(0xd04, 0x1042f804);
    expect(r(0xd04)).toBe(0x1000e800);
    expect(nvic.isPending(EXC_PENDSV)).toBe(true);
    expect(nvic.isPending(EXC_SYSTICK)).toBe(false);
    expect(nvic.externalPending()).toBe(false);
  });

  it('sub-word access is not allowed', () => {
    const { r, w, errors, nvic } = make();
    nvic.setPending(EXC_PENDSV);
    expect(r(0xd07, 1)).toBe(0);
    expect(r(0xd04, 2)).toBe(0);
    w(0xd07, 0x08, 1); // would be PENDSVCLR
    expect(nvic.isPending(EXC_PENDSV)).toBe(true);
    expect(errors).toEqual([
      'NVIC: Bad read of size 1 at offset 0xd07',
      'NVIC: Bad read of size 2 at offset 0xd04',
      'NVIC: Bad write of size 1 at offset 0xd07',
    ]);
  });
});

describe('SCS: VTOR, AIRCR, SCR, CCR', () => {
  it('VTOR keeps bits 31:7', () => {
    const { r, w, nvic } = make();
    w(0xd08, 0xffffffff);
    expect(r(0xd08)).toBe(0xffffff80);
    w(0xd08, 0x00001234);
    expect(nvic.scb.vtor).toBe(0x1200);
    w(0xd08, 0);
    expect(r(0xd08)).toBe(0);
  });

  it('AIRCR needs VECTKEY; reads VECTKEYSTAT and PRIGROUP, ENDIANNESS 0', () => {
    const { r, w, nvic, resets } = make();
    w(0xd0c, 0x00000700);
    expect(r(0xd0c)).toBe(0xfa050000);
    w(0xd0c, 0x05fa0500);
    expect(r(0xd0c)).toBe(0xfa050500);
    expect(nvic.prigroup).toBe(5);
    expect(nvic.groupMask()).toBe(0xc0);
    w(0xd0c, 0x05fafbf8); // PRIGROUP 3, ENDIANNESS and reserved bits ignored, no reset
    expect(r(0xd0c)).toBe(0xfa050300);
    expect(resets).toEqual([]);
    w(0xd0c, 0x05fa0000);
    expect(r(0xd0c)).toBe(0xfa050000);
  });

  it('SYSRESETREQ with the key calls onSystemReset; without the key nothing happens', () => {
    const { w, resets } = make();
    w(0xd0c, 0x00000004);
    w(0xd0c, 0xfa050004); // VECTKEYSTAT is not the key
    expect(resets).toEqual([]);
    w(0xd0c, 0x05fa0004);
    expect(resets.length).toBe(1);
  });

  it('VECTCLRACTIVE and VECTRESET are UNPREDICTABLE outside Debug: logged, no effect (as QEMU)', () => {
    const { w, nvic, errors, resets } = make();
    nvic.activate(EXC_SVCALL);
    w(0xd0c, 0x05fa0003);
    expect(nvic.isActive(EXC_SVCALL)).toBe(true);
    expect(resets).toEqual([]);
    expect(errors).toEqual([
      'Setting VECTCLRACTIVE when not in DEBUG mode is UNPREDICTABLE',
      'Setting VECTRESET when not in DEBUG mode is UNPREDICTABLE',
    ]);
  });

  it('AIRCR is word-only', () => {
    const { r, w } = make();
    w(0xd0c, 0x0700, 2);
    expect(r(0xd0c)).toBe(0xfa050000);
  });

  it('SCR keeps SLEEPONEXIT, SLEEPDEEP, SEVONPEND', () => {
    const { r, w, nvic } = make();
    w(0xd10, 0x10);
    expect(nvic.scb.scr).toBe(0x10);
    w(0xd10, 0xffffffff);
    expect(r(0xd10)).toBe(0x16);
  });

  it('CCR resets to STKALIGN, keeps 0x31B, and reports changes to the CPU', () => {
    const { r, w, ccrs, scs } = make();
    expect(r(0xd14)).toBe(0x200);
    w(0xd14, 0x210); // Zephyr: DIV_0_TRP
    expect(r(0xd14)).toBe(0x210);
    w(0xd14, 0xffffffff);
    expect(r(0xd14)).toBe(0x31b);
    w(0xd14, 0);
    expect(r(0xd14)).toBe(0);
    expect(ccrs).toEqual([0x210, 0x31b, 0]);
    scs.reset();
    expect(r(0xd14)).toBe(0x200);
    expect(ccrs.at(-1)).toBe(0x200);
  });
});

describe('SCS: SHPR and SHCSR', () => {
  it('SHPR bytes exist for exceptions 4-6, 11, 12, 14, 15 only (8-bit priorities as QEMU 7.2)', () => {
    const { r, w } = make({ priorityBits: 8 });
    w(0xd18, 0xffffffff);
    w(0xd1c, 0xffffffff);
    w(0xd20, 0xffffffff);
    expect(r(0xd18)).toBe(0x00ffffff);
    expect(r(0xd1c)).toBe(0xff000000);
    expect(r(0xd20)).toBe(0xffff00ff);
  });

  it('keeps the implemented priority bits (3)', () => {
    const { r, w, nvic } = make();
    w(0xd20, 0xffffffff);
    expect(r(0xd20)).toBe(0xe0e000e0);
    expect(nvic.priority(EXC_SYSTICK)).toBe(0xe0);
  });

  it('byte and halfword access', () => {
    const { r, w, nvic } = make({ priorityBits: 8 });
    w(0xd1f, 0x41, 1);
    expect(r(0xd1c)).toBe(0x41000000);
    expect(r(0xd1e, 2)).toBe(0x4100);
    expect(r(0xd1f, 1)).toBe(0x41);
    w(0xd22, 0x1234, 2);
    expect(r(0xd20)).toBe(0x12340000);
    expect(nvic.priority(EXC_PENDSV)).toBe(0x34);
    expect(nvic.priority(EXC_SYSTICK)).toBe(0x12);
  });

  it('Zephyr boot values reach the NVIC', () => {
    const { w, nvic } = make();
    w(0xd18, 0, 1);
    w(0xd19, 0, 1);
    w(0xd1a, 0, 1);
    w(0xd1f, 0, 1);
    w(0xd22, 0xe0, 1);
    w(0xd23, 0x20, 1);
    expect(nvic.priority(EXC_SVCALL)).toBe(0);
    expect(nvic.priority(EXC_PENDSV)).toBe(0xe0);
    expect(nvic.priority(EXC_SYSTICK)).toBe(0x20);
  });

  it('SHCSR enables the configurable faults (Zephyr writes 0x70000)', () => {
    const { r, w, nvic } = make();
    w(0xd24, 0x70000);
    expect(r(0xd24)).toBe(0x70000);
    expect(nvic.isEnabled(EXC_MEMMANAGE) && nvic.isEnabled(EXC_BUSFAULT) && nvic.isEnabled(EXC_USAGEFAULT)).toBe(true);
    w(0xd24, 0x20000);
    expect(nvic.isEnabled(EXC_MEMMANAGE)).toBe(false);
    expect(nvic.isEnabled(EXC_BUSFAULT)).toBe(true);
  });

  it('SHCSR shows and sets active and pending bits (all writable: 0x7FD8B)', () => {
    const { r, w, nvic } = make();
    nvic.activate(EXC_PENDSV);
    nvic.setPending(EXC_SVCALL);
    nvic.setPending(EXC_SYSTICK); // no SHCSR bit for SysTick pending
    expect(r(0xd24)).toBe((1 << 10) | (1 << 15));
    w(0xd24, 0xffffffff);
    expect(r(0xd24)).toBe(0x7fd8b);
    expect(nvic.isActive(EXC_USAGEFAULT)).toBe(true);
    expect(nvic.isPending(EXC_MEMMANAGE)).toBe(true);
    expect(nvic.activeCount()).toBe(7);
    w(0xd24, 0);
    expect(r(0xd24)).toBe(0);
    expect(nvic.activeCount()).toBe(0);
    expect(nvic.isPending(EXC_SYSTICK)).toBe(true);
  });

  it('SHCSR is word-only', () => {
    const { r, w, errors } = make();
    w(0xd24, 0x70000);
    expect(r(0xd26, 1)).toBe(0);
    w(0xd26, 0, 1);
    expect(r(0xd24)).toBe(0x70000);
    expect(errors.length).toBe(2);
  });
});

describe('SCS: fault status', () => {
  it('CFSR is write-one-to-clear, also through MMFSR/BFSR/UFSR', () => {
    const { r, w, nvic } = make();
    nvic.scb.cfsr = 0x0201_8282;
    expect(r(0xd28)).toBe(0x02018282);
    expect(r(0xd28, 1)).toBe(0x82);
    expect(r(0xd29, 1)).toBe(0x82);
    expect(r(0xd2a, 2)).toBe(0x0201);
    expect(r(0xd2b, 1)).toBe(0x02);
    w(0xd29, 0x80, 1); // clear BFARVALID
    expect(r(0xd28)).toBe(0x02010282);
    w(0xd2a, 0x0001, 2); // clear UNDEFINSTR
    expect(r(0xd28)).toBe(0x02000282);
    w(0xd28, 0x00000002);
    expect(r(0xd28)).toBe(0x02000280);
    w(0xd28, 0xffffffff); // Zephyr at boot
    expect(r(0xd28)).toBe(0);
  });

  it('HFSR and DFSR are write-one-to-clear; writes cannot set bits', () => {
    const { r, w, nvic } = make();
    w(0xd2c, 0xffffffff);
    expect(r(0xd2c)).toBe(0);
    nvic.scb.hfsr = 0x40000002;
    w(0xd2c, 0x2);
    expect(r(0xd2c)).toBe(0x40000000);
    w(0xd2c, 0xffffffff);
    expect(r(0xd2c)).toBe(0);
    w(0xd30, 0xffffffff);
    expect(r(0xd30)).toBe(0);
  });

  it('HFSR is word-only', () => {
    const { r, nvic } = make();
    nvic.scb.hfsr = 0x40000000;
    expect(r(0xd2f, 1)).toBe(0);
  });

  it('MMFAR and BFAR are read/write', () => {
    const { r, w, nvic } = make();
    w(0xd34, 0xffffffff);
    w(0xd38, 0xe000ed94);
    expect(r(0xd34)).toBe(0xffffffff);
    expect(nvic.scb.bfar).toBe(0xe000ed94);
    nvic.scb.mmfar = 0x1234;
    expect(r(0xd34)).toBe(0x1234);
  });

  it('AFSR is RAZ/WI and logged as unimplemented', () => {
    const { r, w, unimp } = make();
    w(0xd3c, 0xffffffff);
    expect(r(0xd3c)).toBe(0);
    expect(unimp).toEqual(['NVIC: Aux fault status registers unimplemented', 'Aux Fault status registers unimplemented']);
  });
});

describe('SCS: NVIC registers', () => {
  it('ISER/ICER set and clear enables; both read the enables; lines past numIrqs are RAZ/WI', () => {
    const { r, w, nvic } = make();
    w(0x100, 0xffffffff);
    w(0x104, 0xffffffff);
    expect(r(0x100)).toBe(0xffffffff);
    expect(r(0x180)).toBe(0xffffffff);
    expect(r(0x104)).toBe(0);
    expect(r(0x184)).toBe(0);
    w(0x180, 0x0000ffff);
    expect(r(0x100)).toBe(0xffff0000);
    expect(nvic.isEnabled(16 + 15)).toBe(false);
    expect(nvic.isEnabled(16 + 16)).toBe(true);
  });

  it('ISER byte/halfword access', () => {
    const { r, w } = make();
    w(0x102, 0x8001, 2);
    expect(r(0x100)).toBe(0x80010000);
    expect(r(0x103, 1)).toBe(0x80);
    expect(r(0x102, 2)).toBe(0x8001);
    w(0x183, 0x80, 1);
    expect(r(0x100)).toBe(0x00010000);
  });

  it('ISPR pends line 31 by software (Zephyr on mps2-an385), ICPR clears it', () => {
    const { r, w, nvic, changes } = make();
    const before = changes();
    w(0x200, 1 << 31);
    expect(nvic.isPending(16 + 31)).toBe(true);
    expect(r(0x200)).toBe(0x80000000);
    expect(r(0x280)).toBe(0x80000000);
    expect(changes()).toBe(before + 1);
    w(0x280, 1 << 31);
    expect(r(0x200)).toBe(0);
  });

  it('ISPR1/ICER1 reach line 42 on a 43-line NVIC (lm3s6965evb)', () => {
    const { r, w, nvic } = make({ numIrqs: 43 });
    w(0x104, 0xffffffff);
    expect(r(0x104)).toBe(0x7ff);
    w(0x204, 1 << 10);
    expect(nvic.isPending(16 + 42)).toBe(true);
    expect(nvic.bestPending()).toBe(16 + 42);
    w(0x184, 1 << 10);
    expect(nvic.bestPending()).toBe(0);
    w(0x284, 0xffffffff);
    expect(r(0x204)).toBe(0);
  });

  it('ISPR byte write', () => {
    const { r, w } = make();
    w(0x200, 0x01, 1);
    expect(r(0x200)).toBe(1);
  });

  it('IABR shows active lines and ignores writes', () => {
    const { r, w, nvic, errors } = make();
    nvic.activate(16 + 3);
    expect(r(0x300)).toBe(8);
    w(0x300, 0xffffffff);
    expect(r(0x300)).toBe(8);
    expect(errors).toEqual([]);
  });

  it('IPR: implemented bits only, byte access, lines past numIrqs RAZ/WI', () => {
    const { r, w, nvic } = make();
    w(0x400, 0xffffffff);
    expect(r(0x400)).toBe(0xe0e0e0e0);
    w(0x401, 0x7f, 1);
    expect(r(0x400)).toBe(0xe0e060e0);
    expect(r(0x402, 2)).toBe(0xe0e0);
    expect(nvic.priority(16 + 1)).toBe(0x60);
    w(0x41c, 0xffffffff);
    expect(r(0x41c)).toBe(0xe0e0e0e0);
    w(0x420, 0xffffffff);
    expect(r(0x420)).toBe(0);
    w(0x423, 0x20, 1);
    expect(r(0x423, 1)).toBe(0);
  });

  it('IPR with 8 bits (QEMU 7.2) keeps every bit', () => {
    const { r, w } = make({ priorityBits: 8 });
    w(0x400, 0xffffffff);
    w(0x401, 0x7f, 1);
    expect(r(0x400)).toBe(0xffff7fff);
  });

  it('STIR pends an external interrupt; out-of-range numbers are ignored; reads log', () => {
    const { r, w, nvic, errors } = make();
    w(0xf00, 5);
    expect(r(0x200)).toBe(0x20);
    w(0xf00, 0x1ff);
    w(0xf00, 32);
    expect(nvic.isPending(16 + 31)).toBe(false);
    w(0xf00, 0xfffffe00 | 31); // only bits 8:0 count
    expect(nvic.isPending(16 + 31)).toBe(true);
    expect(r(0xf00)).toBe(0);
    expect(errors).toEqual(['NVIC: Bad read offset 0xf00']);
  });

  it('enabling a pending line tells the machine', () => {
    const { w, changes } = make();
    w(0x200, 1);
    const c = changes();
    w(0x100, 1);
    expect(changes()).toBe(c + 1);
    w(0x100, 1); // already enabled
    expect(changes()).toBe(c + 1);
  });

  it('unused words of the NVIC block log', () => {
    const { r, w, errors } = make();
    expect(r(0x140)).toBe(0);
    w(0x1c0, 1);
    expect(errors).toEqual(['NVIC: Bad read offset 0x140', 'NVIC: Bad write offset 0x1c0']);
  });
});

describe('SCS: SysTick and MPU windows', () => {
  it('SysTick registers at 0x010-0x01C', () => {
    const { r, w, time, sched, nvic } = make();
    w(0x014, 999);
    w(0x018, 0);
    w(0x010, 7);
    expect(r(0x010)).toBe(7);
    time.ns = 40_000;
    sched.runDue();
    expect(nvic.isPending(EXC_SYSTICK)).toBe(true);
    expect(r(0xd04) & (1 << 26)).toBe(1 << 26);
    expect(r(0x010)).toBe(0x10007);
    expect(r(0x010)).toBe(0x7); // COUNTFLAG cleared on read
    time.ns = 40_040;
    expect(r(0x018)).toBe(999);
    expect(r(0x01c)).toBe(0x270f);
  });

  it('MPU registers at 0xD90-0xDB8', () => {
    const { r, w, mpu } = make();
    expect(r(0xd90)).toBe(0x800);
    w(0xd94, 5);
    w(0xd9c, 0x20000000 | 0x10 | 3);
    w(0xda0, 0x1306002d);
    expect(r(0xd98)).toBe(3);
    expect(r(0xd9c)).toBe(0x20000003);
    expect(r(0xdb4)).toBe(0x20000003);
    expect(r(0xdb8)).toBe(0x1306002d);
    expect(mpu.ctrl).toBe(5);
    expect(mpu.regions()[3]).toEqual({ base: 0x20000000, rasr: 0x1306002d });
  });

  it('MPU registers are word-only', () => {
    const { r, w, errors } = make();
    expect(r(0xd91, 1)).toBe(0);
    expect(r(0xd9c, 2)).toBe(0);
    w(0xd94, 5, 1);
    expect(r(0xd94)).toBe(0);
    expect(errors.length).toBe(3);
  });
});

describe('SCS: reset', () => {
  it('puts NVIC, SCB, SysTick and MPU back to their power-on state', () => {
    const { r, w, scs, nvic, sched } = make();
    w(0x100, 0xffffffff);
    w(0x200, 0x1);
    w(0x400, 0x20202020);
    w(0xd04, 1 << 28);
    w(0xd08, 0x1000);
    w(0xd0c, 0x05fa0300);
    w(0xd10, 0x10);
    w(0xd24, 0x70000);
    w(0xd34, 0x55);
    w(0x014, 999);
    w(0x010, 7);
    w(0xd94, 5);
    nvic.activate(EXC_SVCALL);
    scs.reset();
    expect(scanNonzero((o) => r(o))).toEqual(QEMU_AN385_RESET);
    expect(sched.nextDeadline()).toBe(Infinity);
    expect(nvic.activeCount()).toBe(0);
  });
});
