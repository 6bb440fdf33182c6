/**
 * Stellaris LM3S6965 evaluation board (Zephyr's qemu_cortex_m3), as QEMU 7.2's hw/arm/stellaris.c
 * builds it: 256 KiB flash at 0 (ROM: the loader writes it, a guest store is a BusFault), 64 KiB
 * SRAM at 0x20000000, bit-band, an NVIC with 64 lines and 3 priority bits, no SysTick reference
 * clock (CSR.CLKSOURCE reads 1, CALIB = NOREF), and SysTick on the system clock that the system
 * control block derives from RCC/RCC2 (80 ns, 12.5 MHz, at reset).
 *
 * Modelled: system control (ssys), UART0-2, the four general-purpose timers, the watchdog (Luminary
 * variant of the CMSDK APB watchdog: IRQ 18, reset output to a system reset), GPIO A-G (PL061,
 * Luminary variant) and SSI0 (PL022). QEMU also models I2C0 (with nothing on it), the ADC and the
 * Ethernet controller: those regions read as zero here and are logged under -d unimp. QEMU's own
 * unimplemented regions are the same (i2c-0, i2c-2, PWM, QEI-0/1, analogue comparator,
 * hibernation, flash control).
 *
 * SSI0's bus: QEMU hangs an SSD0323 OLED and an SPI SD card on it, chip-selected by GPIO D0 (raised at
 * start: the OLED is selected), with the OLED's data/command line on GPIO C7. The OLED never answers
 * (a transfer returns 0), so here no device answers and every transfer returns 0; nothing is drawn,
 * and an SD card driver (selected with D0 low, where QEMU's ssi-sd would answer 0xFF while idle) sees
 * 0 instead. The gamepad on GPIO E0-E3 and F1 is not connected (QEMU's starts undriven, reading 0).
 */
import type { BoardContext, BoardDef } from '../board.js';
import { StellarisSysctl } from '../../devices/stellaris-sysctl.js';
import { StellarisUart } from '../../devices/stellaris-uart.js';
import { StellarisGptm } from '../../devices/stellaris-gptm.js';
import { CmsdkWatchdog } from '../../devices/cmsdk-watchdog.js';
import { Pl022 } from '../../devices/pl022.js';
import { Pl061 } from '../../devices/pl061.js';

/** System clock at reset: QEMU divides 200 MHz by RCC.SYSDIV + 1 = 16. */
const SYSCLK_RESET = 12_500_000;

const UARTS = [
  { base: 0x4000c000, irq: 5 },
  { base: 0x4000d000, irq: 6 },
  { base: 0x4000e000, irq: 33 },
];

/** QEMU wires one interrupt per timer module, to the timer's "A" line. */
const TIMERS = [
  { base: 0x40030000, irq: 19 },
  { base: 0x40031000, irq: 21 },
  { base: 0x40032000, irq: 23 },
  { base: 0x40033000, irq: 35 },
];

const SYSCTL_IRQ = 28;
const WATCHDOG_IRQ = 18;
const SSI0_IRQ = 7;

/** GPIO ports A-G (QEMU's gpio_addr / gpio_irq). */
const GPIOS = [
  { port: 'A', base: 0x40004000, irq: 0 },
  { port: 'B', base: 0x40005000, irq: 1 },
  { port: 'C', base: 0x40006000, irq: 2 },
  { port: 'D', base: 0x40007000, irq: 3 },
  { port: 'E', base: 0x40024000, irq: 4 },
  { port: 'F', base: 0x40025000, irq: 30 },
  { port: 'G', base: 0x40026000, irq: 31 },
];

/** What several lm3s6965evb devices share, made once per machine (BoardDef.setup): the system control block, whose clock the timers and SysTick follow. */
interface LmParts {
  sysctl: StellarisSysctl;
}

function setup(ctx: BoardContext): LmParts {
  const sysctl = new StellarisSysctl({ irq: ctx.irq(SYSCTL_IRQ), logger: ctx.log });
  const setCpu = ctx.setCpuClockPeriodNs;
  if (setCpu) sysctl.onClockChange((ns) => setCpu(ns));
  return { sysctl };
}

/** A QEMU device this board does not model: its window reads as zero. */
const notModelled = (name: string, base: number) => ({ name: `${name} (not modelled)`, base, size: 0x1000 });

export const lm3s6965evb: BoardDef<LmParts> = {
  name: 'lm3s6965evb',
  description: 'Stellaris LM3S6965EVB (Cortex-M3)',
  cpu: 'cortex-m3',
  sysclkHz: SYSCLK_RESET,
  refclkHz: 0,
  numIrqs: 64,
  priorityBits: 3,
  icountShift: 6,
  memory: [
    { name: 'stellaris.flash', base: 0x00000000, size: 0x40000, readOnly: true },
    { name: 'stellaris.sram', base: 0x20000000, size: 0x10000 },
  ],
  bitband: true,
  unimplemented: [
    // QEMU's create_unimplemented_device() regions.
    { name: 'i2c-0', base: 0x40002000, size: 0x1000 },
    { name: 'i2c-2', base: 0x40021000, size: 0x1000 },
    { name: 'PWM', base: 0x40028000, size: 0x1000 },
    { name: 'QEI-0', base: 0x4002c000, size: 0x1000 },
    { name: 'QEI-1', base: 0x4002d000, size: 0x1000 },
    { name: 'analogue-comparator', base: 0x4003c000, size: 0x1000 },
    { name: 'hibernation', base: 0x400fc000, size: 0x1000 },
    { name: 'flash-control', base: 0x400fd000, size: 0x1000 },
    // Devices QEMU models and cmemu does not (yet).
    notModelled('i2c', 0x40020000),
    notModelled('adc', 0x40038000),
    notModelled('stellaris_enet', 0x40048000),
  ],
  setup,
  devices: [
    { name: 'ssys', base: 0x400fe000, irqs: [SYSCTL_IRQ], create: (_ctx, parts) => parts.sysctl },
    ...UARTS.map((u, i) => ({
      name: `uart${i}`,
      base: u.base,
      irqs: [u.irq],
      create: (ctx: BoardContext) => {
        const uart = new StellarisUart(`uart${i}`, ctx.serial(i), ctx.irq(u.irq), ctx.log);
        ctx.onSerialInput(i, (data) => uart.receive(data));
        return uart;
      },
    })),
    {
      // QEMU's luminary-watchdog, WDOGCLK = SYSCLK, following RCC/RCC2 changes. Its reset output
      // is QEMU's watchdog action (a system reset; -no-reboot exits).
      name: 'watchdog',
      base: 0x40000000,
      irqs: [WATCHDOG_IRQ],
      create: (ctx: BoardContext, { sysctl: s }: LmParts) => {
        const wd = new CmsdkWatchdog('watchdog', {
          clock: ctx.clock,
          wdogclkHz: Math.round(1e9 / s.clockPeriodNs),
          irq: ctx.irq(WATCHDOG_IRQ),
          systemReset: () => ctx.systemReset?.(),
          luminary: true,
          log: ctx.log,
        });
        s.onClockChange((ns) => wd.setClockPeriodNs(ns));
        return wd;
      },
    },
    ...GPIOS.map((g) => ({
      name: `gpio${g.port}`,
      base: g.base,
      irqs: [g.irq],
      create: (ctx: BoardContext) => new Pl061(`gpio${g.port}`, { irq: ctx.irq(g.irq), luminary: true, log: ctx.log }),
    })),
    {
      name: 'ssi0',
      base: 0x40008000,
      irqs: [SSI0_IRQ],
      create: (ctx: BoardContext) => new Pl022('ssi0', { irq: ctx.irq(SSI0_IRQ), log: ctx.log }),
    },
    ...TIMERS.map((t, i) => ({
      name: `gptm${i}`,
      base: t.base,
      irqs: [t.irq],
      create: (ctx: BoardContext, { sysctl: s }: LmParts) => {
        return new StellarisGptm(`gptm${i}`, { clock: ctx.clock, sysclkPeriodNs: () => s.clockPeriodNs, irq: ctx.irq(t.irq), logger: ctx.log });
      },
    })),
  ],
  // The ivshmem-flat series' examples put the device at 0x400FF000 (free on this part: system
  // control ends at 0x400FEFFF) with its shared memory at 0x40100000 (reserved space up to the
  // bit-band alias at 0x42000000).
  ivshmemDefaults: { iomem: 0x400ff000, shmem: 0x40100000, irq: 0, qompath: '/machine/soc/v7m/nvic/unnamed-gpio-in[0]' },
};
