/**
 * What GDB is told about the target: the registers (target description XML, M-profile) and the
 * memory map (from the board's address map: flash where the guest cannot write, so GDB uses
 * hardware breakpoints there and `load` programs it with vFlash packets).
 */
import type { AddressMap } from '../../machine/address-map.js';
import type { RegisterName } from '../system.js';

/** Remote register numbers, in the order of the 'g' packet. */
export const GDB_REGISTERS: readonly RegisterName[] = [
  'r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9', 'r10', 'r11', 'r12', 'sp', 'lr', 'pc',
  'xpsr', 'msp', 'psp', 'primask', 'basepri', 'faultmask', 'control',
];

export function targetXml(): string {
  const reg = (name: string, n: number, type = 'int', group = '') =>
    `    <reg name="${name}" bitsize="32" regnum="${n}" type="${type}"${group ? ` group="${group}"` : ''}/>`;
  const core = GDB_REGISTERS.slice(0, 17).map((r, i) => reg(r, i, r === 'sp' ? 'data_ptr' : r === 'lr' || r === 'pc' ? 'code_ptr' : 'int'));
  const sys = GDB_REGISTERS.slice(17).map((r, i) => reg(r, 17 + i, r === 'msp' || r === 'psp' ? 'data_ptr' : 'int', 'system'));
  return [
    '<?xml version="1.0"?>',
    '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
    '<target version="1.0">',
    '  <architecture>arm</architecture>',
    '  <feature name="org.gnu.gdb.arm.m-profile">',
    ...core,
    '  </feature>',
    '  <feature name="org.gnu.gdb.arm.m-system">',
    ...sys,
    '  </feature>',
    '</target>',
    '',
  ].join('\n');
}

/** Stellaris flash is erased and programmed in 1 KiB pages. */
const FLASH_BLOCK = 0x400;

export function memoryMapXml(map: AddressMap): string {
  type Entry = { type: 'ram' | 'flash'; start: number; end: number };
  const entries: Entry[] = [];
  for (const r of map.layout()) {
    const region = map.regionAt(r.start);
    const type: Entry['type'] = region?.kind === 'ram' && !region.writable ? 'flash' : 'ram';
    const last = entries[entries.length - 1];
    // Adjacent regions of one type merge (GDB only needs to know what is accessible and how).
    if (last && last.type === type && type === 'ram' && last.end === r.start) last.end = r.end;
    else entries.push({ type, start: r.start, end: r.end });
  }
  const hex = (n: number) => `0x${n.toString(16)}`;
  const lines = entries.map((e) =>
    e.type === 'flash'
      ? `  <memory type="flash" start="${hex(e.start)}" length="${hex(e.end - e.start)}">\n    <property name="blocksize">${hex(FLASH_BLOCK)}</property>\n  </memory>`
      : `  <memory type="ram" start="${hex(e.start)}" length="${hex(e.end - e.start)}"/>`,
  );
  return ['<?xml version="1.0"?>', '<!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN" "http://sourceware.org/gdb/gdb-memory-map.dtd">', '<memory-map>', ...lines, '</memory-map>', ''].join('\n');
}

export { FLASH_BLOCK };
