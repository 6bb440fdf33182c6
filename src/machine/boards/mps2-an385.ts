/**
 * ARM MPS2 with the AN385 FPGA image (Cortex-M3), as QEMU's hw/arm/mps2.c wires it.
 */
import type { BoardContext, BoardDef } from '../board.js';
import { CmsdkUart } from '../../devices/cmsdk-uart.js';
import { CmsdkTimer } from '../../devices/cmsdk-timer.js';
import { CmsdkDualTimer } from '../../devices/cmsdk-dualtimer.js';
import { CmsdkWatchdog } from '../../devices/cmsdk-watchdog.js';
import { Mps2Scc } from '../../devices/mps2-scc.js';
import { Mps2Fpgaio } from '../../devices/mps2-fpgaio.js';
import { OrGate } from '../../devices/irq.js';
import { Pl022 } from '../../devices/pl022.js';

const SYSCLK = 25_000_000;

/** The five CMSDK UARTs: base, RX IRQ (TX is RX + 1); UARTs 0-2 also drive the ORed overflow IRQ 12. */
const UARTS: { base: number; rx: number }[] = [
  { base: 0x40004000, rx: 0 },
  { base: 0x40005000, rx: 2 },
  { base: 0x40006000, rx: 4 },
  { base: 0x40007000, rx: 18 },
  { base: 0x40009000, rx: 20 },
];

/**
 * The five PL022 SPI controllers, as QEMU 7.2 wires them: the external ADC's alone on IRQ 22, APB and
 * LCD ORed onto IRQ 11, shield 0 and 1 ORed onto IRQ 24. Nothing is on their buses (transfers return 0).
 */
const SPIS: { name: string; base: number; irq: number; gate?: number }[] = [
  { name: 'spi-apb', base: 0x40020000, irq: 11, gate: 0 },
  { name: 'spi-lcd', base: 0x40021000, irq: 11, gate: 1 },
  { name: 'spi-adc', base: 0x40025000, irq: 22 },
  { name: 'spi-shield0', base: 0x40026000, irq: 24, gate: 0 },
  { name: 'spi-shield1', base: 0x40027000, irq: 24, gate: 1 },
];

/** What several mps2-an385 devices share, made once per machine (BoardDef.setup). */
interface Mps2Parts {
  /** The OR gate of the SPI controllers on `irq` (11 or 24), made on first use. */
  spiGate(irq: number): OrGate;
  /** UARTs 0-2's TX/RX overrun outputs ORed onto IRQ 12. */
  overflow: OrGate;
}

function setup(ctx: BoardContext): Mps2Parts {
  const spi = new Map<number, OrGate>();
  return {
    spiGate: (irq) => {
      let g = spi.get(irq);
      if (!g) spi.set(irq, (g = new OrGate(2, ctx.irq(irq))));
      return g;
    },
    overflow: new OrGate(6, ctx.irq(12)),
  };
}

export const mps2an385: BoardDef<Mps2Parts> = {
  name: 'mps2-an385',
  description: 'ARM MPS2 with AN385 FPGA image for Cortex-M3',
  cpu: 'cortex-m3',
  sysclkHz: SYSCLK,
  refclkHz: 1_000_000,
  numIrqs: 32,
  // QEMU's mps2-an385 implements all 8 priority bits (the FPGA image's Cortex-M3 has 3), and
  // firmware written for it relies on that: FreeRTOS's CORTEX_MPS2_QEMU_IAR_GCC demo sets
  // configMAX_SYSCALL_INTERRUPT_PRIORITY to 4 and asserts at start-up with 3 bits. For the
  // silicon's behaviour pass `{ ...findBoard('mps2-an385'), priorityBits: 3 }` as the board.
  priorityBits: 8,
  icountShift: 7,
  memory: [
    { name: 'mps.ssram1', base: 0x00000000, size: 0x400000, aliases: [0x00400000] },
    { name: 'mps.blockram', base: 0x01000000, size: 0x4000, aliases: [0x01004000, 0x01008000, 0x0100c000] },
    { name: 'mps.ssram23', base: 0x20000000, size: 0x400000, aliases: [0x20400000] },
    { name: 'mps.ram (PSRAM)', base: 0x21000000, size: 0x1000000 },
  ],
  bitband: true,
  unimplemented: [
    { name: 'zbtsmram mirror', base: 0x00400000, size: 0x00400000 },
    { name: 'RESERVED 1', base: 0x00800000, size: 0x00800000 },
    { name: 'Block RAM', base: 0x01000000, size: 0x00010000 },
    { name: 'RESERVED 2', base: 0x01010000, size: 0x1eff0000 },
    { name: 'RESERVED 3', base: 0x20800000, size: 0x00800000 },
    { name: 'PSRAM', base: 0x21000000, size: 0x01000000 },
    { name: 'CMSDK APB peripheral region @0x40000000', base: 0x40000000, size: 0x00010000 },
    { name: 'CMSDK AHB peripheral region @0x40010000', base: 0x40010000, size: 0x00010000 },
    { name: 'Extra peripheral region @0x40020000', base: 0x40020000, size: 0x00010000 },
    { name: 'RESERVED 4', base: 0x40030000, size: 0x001d0000 },
    { name: 'VGA', base: 0x41000000, size: 0x00200000 },
    { name: 'cmsdk-ahb-gpio', base: 0x40010000, size: 0x1000 },
    { name: 'cmsdk-ahb-gpio', base: 0x40011000, size: 0x1000 },
    { name: 'cmsdk-ahb-gpio', base: 0x40012000, size: 0x1000 },
    { name: 'cmsdk-ahb-gpio', base: 0x40013000, size: 0x1000 },
    { name: 'i2s', base: 0x40024000, size: 0x400 },
    // Real devices in QEMU 7.2 that cmemu does not model (yet): they read as zero and log under
    // -d unimp, and never interrupt. QEMU wires the LAN9118 to IRQ 13.
    { name: 'arm_sbcon_i2c (touch, not modelled)', base: 0x40022000, size: 0x1000 },
    { name: 'arm_sbcon_i2c (audio, not modelled)', base: 0x40023000, size: 0x1000 },
    { name: 'arm_sbcon_i2c (shield 0, not modelled)', base: 0x40029000, size: 0x1000 },
    { name: 'arm_sbcon_i2c (shield 1, not modelled)', base: 0x4002a000, size: 0x1000 },
    { name: 'lan9118 ethernet (not modelled)', base: 0x40200000, size: 0x100 },
  ],
  setup,
  devices: [
    ...UARTS.map((u, i) => ({
      name: `uart${i}`,
      base: u.base,
      irqs: i < 3 ? [u.rx, u.rx + 1, 12] : [u.rx, u.rx + 1],
      create: (ctx: BoardContext, parts: Mps2Parts) => {
        const gate = i < 3 ? parts.overflow : null;
        const uart = new CmsdkUart(
          `uart${i}`,
          ctx.serial(i),
          {
            rx: ctx.irq(u.rx),
            tx: ctx.irq(u.rx + 1),
            txOverrun: gate?.input(i * 2),
            rxOverrun: gate?.input(i * 2 + 1),
          },
          ctx.log,
        );
        ctx.onSerialInput(i, (data) => uart.receive(data));
        return uart;
      },
    })),
    // CMSDK APB subsystem: timers 0 and 1 (IRQ 8, 9), the dual timer (both ORed on IRQ 10, QEMU's
    // TIMINTC), the watchdog (interrupt to the NMI, reset output to a system reset); all on SYSCLK.
    ...[0, 1].map((i) => ({
      name: `timer${i}`,
      base: 0x40000000 + i * 0x1000,
      irqs: [8 + i],
      create: (ctx: BoardContext) => new CmsdkTimer(`timer${i}`, { clock: ctx.clock, pclkHz: SYSCLK, irq: ctx.irq(8 + i), log: ctx.log }),
    })),
    {
      name: 'dualtimer',
      base: 0x40002000,
      irqs: [10],
      create: (ctx: BoardContext) => new CmsdkDualTimer('dualtimer', { clock: ctx.clock, timclkHz: SYSCLK, combined: ctx.irq(10), log: ctx.log }),
    },
    {
      name: 'watchdog',
      base: 0x40008000,
      create: (ctx: BoardContext) =>
        new CmsdkWatchdog('watchdog', { clock: ctx.clock, wdogclkHz: SYSCLK, irq: ctx.nmi, systemReset: () => ctx.systemReset?.(), log: ctx.log }),
    },
    // FPGA APB subsystem.
    {
      name: 'scc',
      base: 0x4002f000,
      create: (ctx: BoardContext) =>
        new Mps2Scc('scc', { id: 0x41043850, aid: 0x00200008, cfg4: 0x2, oscclk: [50_000_000, 24_576_000, 25_000_000], log: ctx.log }),
    },
    ...SPIS.map((s) => ({
      name: s.name,
      base: s.base,
      irqs: [s.irq],
      create: (ctx: BoardContext, parts: Mps2Parts) =>
        new Pl022(s.name, { irq: s.gate === undefined ? ctx.irq(s.irq) : parts.spiGate(s.irq).input(s.gate), log: ctx.log }),
    })),
    {
      name: 'fpgaio',
      base: 0x40028000,
      create: (ctx: BoardContext) => new Mps2Fpgaio('fpgaio', { clock: ctx.clock, prescaleClkHz: 25_000_000, numLeds: 2, log: ctx.log }),
    },
  ],
  ivshmemDefaults: { iomem: 0x400ff000, shmem: 0x40100000, irq: 0, qompath: '/machine/armv7m/nvic/unnamed-gpio-in[0]' },
};
