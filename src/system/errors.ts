/**
 * The errors the library throws for bad input. Each carries the one-line message the command line
 * prints after `cmemu: ` (and exits 2 with); nothing here ever exits the process.
 */
export class CmemuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A bad configuration or command line: an unknown board, a bad option value, a conflict. */
export class UsageError extends CmemuError {}

/** Bad input data or an unreachable resource: a missing or malformed ELF, an image outside memory, a refused ivshmem greeting. */
export class InputError extends CmemuError {}

/** A wait (runUntil, waitForLine, ...) ran out of time. `tail` is the end of the console it watched. */
export class TimeoutError extends CmemuError {
  constructor(
    message: string,
    readonly tail = '',
  ) {
    super(message);
  }
}

/** The machine finished (guest exit, lockup, emulator error) before a wait's condition held. */
export class MachineFinishedError extends CmemuError {
  constructor(
    message: string,
    readonly outcome: { kind: string; code?: number; reason?: string; message?: string },
    readonly tail = '',
  ) {
    super(message);
  }
}
