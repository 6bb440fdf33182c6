import type { BoardDef } from '../board.js';
import { lm3s6965evb } from './lm3s6965evb.js';
import { mps2an385 } from './mps2-an385.js';

/**
 * Every board, by name (the order `-M help` and `cmemu boards` list them in). A plain code-unit
 * comparison: localeCompare would load ICU's collator at start-up (~13 ms).
 */
export const BOARDS: BoardDef[] = [lm3s6965evb, mps2an385].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

export function findBoard(name: string): BoardDef | undefined {
  return BOARDS.find((b) => b.name === name);
}
