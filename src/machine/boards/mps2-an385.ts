/**
 * ARM MPS2 with the AN385 FPGA image (Cortex-M3), as QEMU's hw/arm/mps2.c wires it.
 */
import type { BoardContext, BoardDef } from '../board.js';
import { CmsdkUart } from '../../devices/cmsdk-uart.js';
import { OrGate } from '../../devices/irq.js';

const SYSCLK = 25_000_000;

/** The five CMSDK UARTs: base, RX IRQ (TX is RX + 1); UARTs 0-2 also drive the ORed overflow IRQ 12. */
const UARTS: { base: number; rx: number }[] = [
  { base: 0x40004000, rx: 0 },
  { base: 0x40005000, rx: 2 },
  { base: 0x40006000, rx: 4 },
  { base: 0x40007000, rx: 18 },
  { base: 0x40009000, rx: 20 },
];

const overflowGates = new WeakMap<BoardContext, OrGate>();
function overflowGate(ctx: BoardContext): OrGate {
  let g = overflowGates.get(ctx);
  if (!g) {
    g = new OrGate(6, ctx.irq(12));
    overflowGates.set(ctx, g);
  }
  return g;
}

export const mps2an385: BoardDef = {
  name: 'mps2-an385',
  description: 'ARM MPS2 with AN385 FPGA image for Cortex-M3',
  cpu: 'cortex-m3',
  sysclkHz: SYSCLK,
  refclkHz: 1_000_000,
  numIrqs: 32,
  priorityBits: 3,
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
    // Not modelled yet (the boards issue adds them): timers, dual timer, watchdog, SCC, FPGA IO,
    // SPI/I2C, LAN9118. Until then they read as zero like QEMU's unimplemented devices.
    { name: 'lan9118 (not modelled)', base: 0x40200000, size: 0x100 },
  ],
  devices: UARTS.map((u, i) => ({
    name: `uart${i}`,
    base: u.base,
    irqs: i < 3 ? [u.rx, u.rx + 1, 12] : [u.rx, u.rx + 1],
    create: (ctx: BoardContext) => {
      const gate = i < 3 ? overflowGate(ctx) : null;
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
  ivshmemDefaults: { iomem: 0x400ff000, shmem: 0x40100000, irq: 0, qompath: '/machine/armv7m/nvic/unnamed-gpio-in[0]' },
};
