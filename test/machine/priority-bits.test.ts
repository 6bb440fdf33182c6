/**
 * NVIC priority bits per board, as firmware probes them (FreeRTOS's port.c writes 0xFF to the first
 * IRQ's priority byte and counts the bits that stick): mps2-an385 keeps all 8, as QEMU's machine
 * (FreeRTOS's QEMU demo needs them), lm3s6965evb 3, as the silicon; a board definition overrides it.
 */
import { describe, expect, it } from 'vitest';
import { type BoardDef, createSystem, findBoard } from '../../src/index.js';
import { firmwarePath } from '../support/run-cmemu.js';

const NVIC_IPR0 = 0xe000e400;

async function probe(board: string | BoardDef, fw: string): Promise<number[]> {
  const sys = await createSystem({ board, firmware: fw, time: { icount: 7 } });
  try {
    const seen: number[] = [];
    for (const v of [0xff, 0xa5, 0x04]) {
      sys.memory.write(NVIC_IPR0, Uint8Array.of(v));
      seen.push(sys.memory.read(NVIC_IPR0, 1)[0]!);
    }
    return seen;
  } finally {
    await sys.close();
  }
}

describe('NVIC priority bits', () => {
  it('mps2-an385 implements 8, as QEMU', async () => {
    expect(await probe('mps2-an385', firmwarePath('mps2-an385', 'hello'))).toEqual([0xff, 0xa5, 0x04]);
  });
  it('lm3s6965evb implements 3, as the silicon', async () => {
    expect(await probe('lm3s6965evb', firmwarePath('lm3s6965evb', 'hello'))).toEqual([0xe0, 0xa0, 0x00]);
  });
  it("a board definition sets them: { ...findBoard('mps2-an385'), priorityBits: 3 }", async () => {
    const board = { ...findBoard('mps2-an385')!, priorityBits: 3 };
    expect(await probe(board, firmwarePath('mps2-an385', 'hello'))).toEqual([0xe0, 0xa0, 0x00]);
  });
});
