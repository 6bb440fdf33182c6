/** IRQ plumbing shared by boards: OR gates and splitters, as QEMU's TYPE_OR_IRQ. */
import type { IrqLine } from './device.js';
import { captureState, restoreState, type DeviceState } from './state.js';

/** An OR gate: `inputs(n)` lines; the output is high while any input is high. */
export class OrGate {
  private levels: boolean[];
  constructor(
    n: number,
    private readonly out: IrqLine,
  ) {
    this.levels = new Array<boolean>(n).fill(false);
  }
  /** Snapshot state (src/devices/state.ts). */
  saveState(): DeviceState {
    return captureState(this);
  }
  loadState(s: DeviceState): void {
    restoreState(this, s, 'or-gate');
  }

  input(i: number): IrqLine {
    return {
      set: (level: boolean) => {
        this.levels[i] = level;
        this.out.set(this.levels.some((l) => l));
      },
      pulse: () => {
        this.out.pulse();
      },
    };
  }
}
