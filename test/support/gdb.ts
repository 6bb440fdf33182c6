/**
 * Drive the real GDB client (Debian's gdb-multiarch) in batch mode against a stub, and
 * qemu-system-arm under -gdb for the same script (the parity reference).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export function haveGdb(): boolean {
  return existsSync('/usr/bin/gdb-multiarch');
}

export interface GdbRun {
  out: string;
  code: number | null;
}

/** Run `gdb-multiarch --batch ELF -ex 'target remote TARGET' -ex cmd...`. */
export function runGdb(
  elf: string,
  target: string,
  cmds: string[],
  opts: { timeoutMs?: number; onSpawn?: (p: ChildProcess) => void; interruptAfter?: { marker: string; delayMs: number } } = {},
): Promise<GdbRun> {
  const args = ['--batch', '-nx', '-q', elf, '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', `target remote ${target}`];
  for (const c of cmds) args.push('-ex', c);
  return new Promise((resolve) => {
    const p = spawn('gdb-multiarch', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let interrupted = false;
    p.stdout.on('data', (d) => {
      out += d;
      // Ctrl-C as a user types it: SIGINT to GDB, which sends the interrupt byte to the stub.
      const ia = opts.interruptAfter;
      if (ia && !interrupted && out.includes(ia.marker)) {
        interrupted = true;
        setTimeout(() => p.kill('SIGINT'), ia.delayMs);
      }
    });
    p.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    opts.onSpawn?.(p);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ out, code });
    });
  });
}

/** The lines GDB prints when the target stops and when it prints values: what parity compares. */
export function stops(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => /^(Breakpoint \d+, |Hardware (read |access \(read\/write\) )?watchpoint \d+: |Old value|New value|Value = |\$\d+ = |#\d+ |Program received signal|\[Inferior)/.test(l) || /^\S+ \(.*\) at \S+:\d+$/.test(l));
}

export function haveQemu(): boolean {
  return existsSync('/usr/bin/qemu-system-arm') && spawnSync('qemu-system-arm', ['--version']).status === 0;
}

/** qemu-system-arm waiting for GDB on a TCP port; returns the process (kill it when done). */
export function startQemuGdb(board: string, elf: string, port: number): ChildProcess {
  return spawn(
    'qemu-system-arm',
    ['-M', board, '-nographic', '-kernel', elf, '-semihosting-config', 'enable=on,target=native', '-icount', 'shift=7,align=off,sleep=off', '-gdb', `tcp:127.0.0.1:${port}`, '-S', '-monitor', 'none', '-serial', 'null'],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
}
