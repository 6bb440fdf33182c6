/** Text descriptions of boards for `-M board,help` and `cmemu boards BOARD`. */
import type { BoardDef } from '../machine/board.js';

const hex = (v: number) => '0x' + (v >>> 0).toString(16).padStart(8, '0');

export function describeBoard(b: BoardDef): string {
  const lines: string[] = [];
  lines.push(`${b.name}: ${b.description}`);
  lines.push(`  cpu ${b.cpu}, ${b.sysclkHz / 1e6} MHz system clock, ${b.numIrqs} external IRQs, ${b.priorityBits} priority bits`);
  lines.push('memory:');
  for (const m of b.memory) {
    lines.push(`  ${hex(m.base)}-${hex(m.base + m.size - 1)}  ${m.readOnly ? 'rom ' : 'ram '}  ${m.name}`);
    for (const a of m.aliases ?? []) lines.push(`  ${hex(a)}-${hex(a + m.size - 1)}  alias  ${m.name} (mirror)`);
  }
  lines.push('devices:');
  lines.push(`  ${hex(0xe000e000)}-${hex(0xe000efff)}  System Control Space (NVIC, SCB, SysTick, MPU)`);
  if (b.bitband) {
    lines.push(`  ${hex(0x22000000)}-${hex(0x23ffffff)}  bit-band alias of ${hex(0x20000000)}`);
    lines.push(`  ${hex(0x42000000)}-${hex(0x43ffffff)}  bit-band alias of ${hex(0x40000000)}`);
  }
  const byBase = <T extends { base: number }>(xs: readonly T[]) => [...xs].sort((x, y) => x.base - y.base);
  for (const d of byBase(b.devices)) lines.push(`  ${hex(d.base)}  ${d.name}${d.irqs?.length ? `  irq ${d.irqs.join(',')}` : ''}`);
  lines.push('unimplemented (read as zero, logged with -d unimp):');
  for (const u of byBase(b.unimplemented)) lines.push(`  ${hex(u.base)}-${hex(u.base + u.size - 1)}  ${u.name}`);
  return lines.join('\n') + '\n';
}
