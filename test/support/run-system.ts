/**
 * Run firmware with qemu-system-arm's arguments through the System API, in this process: the
 * same translation from argv that `bin/cmemu` makes (parseQemuArgs, systemConfigFromArgs), with
 * the host side captured instead of the terminal. For tests where the process itself (argv
 * errors, signals, stdio plumbing) is not what is under test.
 *
 * stdout = what the terminal would show on `-serial stdio` / `-nographic` (UART0, and semihosting
 * writes to `:tt`, as QEMU routes them); stderr = the semihosting console and notes.
 */
import { parseQemuArgs } from '../../src/cli/qemu-args.js';
import { systemConfigFromArgs } from '../../src/cli/launch.js';
import { createSystem, type System } from '../../src/system/system.js';
import type { RunResult } from './run-cmemu.js';

export interface RunArgsOptions {
  input?: string;
  timeoutMs?: number;
  /** Called with the system before the run. */
  before?: (sys: System) => void;
  /** Called with the system after the run, before it is closed. */
  after?: (sys: System) => void;
}

export async function runArgs(args: string[], opts: RunArgsOptions = {}): Promise<RunResult> {
  const t0 = Date.now();
  let stdout = '';
  let stderr = '';
  const latin1 = (d: Uint8Array) => String.fromCharCode(...d);
  const q = parseQemuArgs(args);
  const cfg = systemConfigFromArgs(q, (s) => (stderr += s));
  const shown = q.serials[0]?.backend === 'stdio';
  // Every host side captured: the consoles record the UARTs.
  cfg.serial = q.serials.map(() => null);
  if (cfg.semihosting && typeof cfg.semihosting === 'object') {
    cfg.semihosting.stdout = (d) => (stdout += latin1(d));
    cfg.semihosting.stderr = (d) => (stderr += latin1(d));
    cfg.semihosting.console = (d) => (stderr += latin1(d));
  }
  const sys = await createSystem(cfg);
  if (shown) sys.uart(0).onData((d) => (stdout += latin1(d)));
  if (opts.input !== undefined) sys.uart(0).write(opts.input);
  opts.before?.(sys);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    sys.stop('timeout', 124);
  }, opts.timeoutMs ?? 30_000);
  try {
    const o = await sys.run();
    const code = o.kind === 'exit' ? o.code : o.kind === 'stopped' ? 0 : 1;
    if (o.kind === 'lockup' || o.kind === 'error') stderr += `cmemu: ${o.message}\n`;
    opts.after?.(sys);
    return { code: timedOut ? null : code, signal: timedOut ? 'SIGKILL' : null, stdout, stderr, ms: Date.now() - t0 };
  } finally {
    clearTimeout(timer);
    await sys.close();
  }
}

/** The end state of a firmware run to its exit in icount mode (`shift`, default 7), through runArgs. */
export interface FinalState {
  stdout: string;
  code: number | null;
  instructions: number;
  now: number;
}

/** Run `elf` on `board` with semihosting and `-icount shift=N,align=off,sleep=off` to its exit. */
export async function runToExit(board: string, elf: string, opts: { shift?: number; before?: (sys: System) => void; after?: (sys: System) => void } = {}): Promise<FinalState> {
  let instructions = 0;
  let now = 0;
  const r = await runArgs(
    ['-M', board, '-nographic', '-semihosting-config', 'enable=on,target=native', '-icount', `shift=${opts.shift ?? 7},align=off,sleep=off`, '-kernel', elf],
    {
      before: opts.before,
      after: (sys) => {
        instructions = sys.instructions();
        now = sys.now();
        opts.after?.(sys);
      },
    },
  );
  return { stdout: r.stdout, code: r.code, instructions, now };
}
