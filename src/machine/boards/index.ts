import type { BoardDef } from '../board.js';
import { mps2an385 } from './mps2-an385.js';

export const BOARDS: BoardDef[] = [mps2an385];

export function findBoard(name: string): BoardDef | undefined {
  return BOARDS.find((b) => b.name === name);
}
