/**
 * Two boards ping-ponging through an ivshmem server (firmware/tests/ivshmem_pingpong.c, protocol in
 * docs/ivshmem-pingpong.md): start the server (in this process, or `bin/cmemu ivshmem-server` as a
 * child when it must be killable), a responder and an initiator as `bin/cmemu` child processes, and
 * watch their consoles. Shared by `make demo` (src/cli/demo.ts), `make bench` (src/bench/run.ts) and
 * test/ivshmem/pingpong.test.ts.
 *
 * Everything lives in one mkdtemp folder (the socket, nothing else: the shared memory is a memfd);
 * close() kills the children this object started (by PID), stops the server and removes the folder.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IvshmemServer } from '../host/ivshmem/server.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CMEMU = join(ROOT, 'bin', 'cmemu');
export const PINGPONG = 'ivshmem_pingpong';

export function pingpongElf(board: string): string {
  return join(ROOT, 'firmware', 'build', board, `${PINGPONG}.elf`);
}

/**
 * The two boards: mps2-an385 and lm3s6965evb when cmemu knows the second board and its firmware is
 * built, else mps2-an385 twice.
 */
export function pickBoards(): [string, string] {
  const second = 'lm3s6965evb';
  if (existsSync(pingpongElf(second))) {
    const r = spawnSync(process.execPath, [CMEMU, '-M', 'help'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0 && new RegExp(`^${second}\\b`, 'm').test(r.stdout)) return ['mps2-an385', second];
  }
  return ['mps2-an385', 'mps2-an385'];
}

export class Board {
  out = '';
  err = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  private readonly waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  private readonly lineListeners: ((line: string) => void)[] = [];
  private partial = '';
  /** Host time (ms, performance.now()) at which each `ivshmem:` console line arrived. */
  readonly lineTimes: { line: string; ms: number }[] = [];

  constructor(
    readonly name: string,
    readonly board: string,
    readonly child: ChildProcess,
  ) {
    child.stdout!.setEncoding('latin1');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      this.out += d;
      this.partial += d;
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) >= 0) {
        const line = this.partial.slice(0, nl).replace(/\r$/, '');
        this.partial = this.partial.slice(nl + 1);
        if (line.startsWith('ivshmem: ')) this.lineTimes.push({ line, ms: performance.now() });
        for (const l of this.lineListeners) l(line);
      }
      this.check();
    });
    child.stderr!.on('data', (d: string) => {
      this.err += d;
      this.check();
    });
    this.exited = new Promise((resolve) =>
      child.on('close', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      }),
    );
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  onLine(cb: (line: string) => void): void {
    this.lineListeners.push(cb);
  }

  /** Resolve when the console (stdout) or stderr matches `re`; reject on timeout or exit without it. */
  waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const m = this.out.match(re) ?? this.err.match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const w = { re, resolve: (mm: RegExpMatchArray) => (clearTimeout(t), resolve(mm)) };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.name}: no ${re} within ${timeoutMs} ms; console:\n${this.tail()}`));
      }, timeoutMs);
      this.waiters.push(w);
      void this.exited.then(() => {
        setTimeout(() => {
          if (!this.waiters.includes(w)) return;
          this.waiters.splice(this.waiters.indexOf(w), 1);
          clearTimeout(t);
          reject(new Error(`${this.name}: exited (${this.exitCode ?? this.exitSignal}) without ${re}; console:\n${this.tail()}`));
        }, 50);
      });
    });
  }

  tail(n = 2000): string {
    return `${this.out.slice(-n)}${this.err ? `\n[stderr] ${this.err.slice(-n)}` : ''}`;
  }

  kill(sig: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running && this.child.pid) {
      try {
        process.kill(this.child.pid, sig);
      } catch {
        /* already gone */
      }
    }
  }

  private check(): void {
    for (const w of [...this.waiters]) {
      const m = this.out.match(w.re) ?? this.err.match(w.re);
      if (m) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }
}

export interface PairOptions {
  /** Requests the initiator sends. */
  n: number;
  /** 'inproc' (default): IvshmemServer in this process; 'process': `bin/cmemu ivshmem-server -F` (killable). */
  server?: 'inproc' | 'process';
  boards?: [string, string];
  /** Extra words on the firmware command line, per role. */
  initiatorArgs?: string[];
  responderArgs?: string[];
  /** Use this running server's socket instead of starting one (several pairs on one server; give each its own `region`). */
  socketPath?: string;
  /** The pair's protocol at region * 0x2000 in the shared memory (firmware `region=K`). */
  region?: number;
  /** The server's shared memory: a POSIX shm object of this name (as -M NAME; unlinked at close) instead of a memfd. */
  shmName?: string;
  /** Extra cmemu options for both boards (e.g. ['-d', 'guest_errors']). */
  cmemuArgs?: string[];
}

/** A server + responder + initiator. Call start(), then watch the boards; always close(). */
export class PingPongPair {
  readonly dir: string;
  readonly socketPath: string;
  responder!: Board;
  initiator!: Board;
  server: IvshmemServer | null = null;
  serverProc: Board | null = null;
  readonly boards: [string, string];
  private closed = false;
  private readonly started: Board[] = [];
  private readonly exitHook = () => this.killAll();

  constructor(readonly opts: PairOptions) {
    this.boards = opts.boards ?? pickBoards();
    this.dir = mkdtempSync(join(tmpdir(), 'cmemu-pingpong-'));
    this.socketPath = opts.socketPath ?? join(this.dir, 'ivshmem.sock');
    process.on('exit', this.exitHook);
  }

  async start(): Promise<void> {
    for (const b of this.boards) {
      if (!existsSync(pingpongElf(b))) throw new Error(`firmware: ${pingpongElf(b)} is missing (make firmware)`);
    }
    if (this.opts.socketPath) {
      // somebody else's server
    } else if ((this.opts.server ?? 'inproc') === 'inproc') {
      this.server = new IvshmemServer().start({ socketPath: this.socketPath, size: 4 << 20, vectors: 1, shmName: this.opts.shmName });
    } else {
      const child = spawn(process.execPath, [CMEMU, 'ivshmem-server', '-S', this.socketPath, '-l', '4M', '-n', '1', '-F', '-v', ...(this.opts.shmName ? ['-M', this.opts.shmName] : [])], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.serverProc = new Board('server', '-', child);
      await this.serverProc.waitFor(/listening on/, 20_000);
    }
    // Responder first, so the initiator finds it READY; the protocol copes with either order.
    this.responder = this.spawnBoard('responder', this.boards[1], ['responder', ...(this.opts.responderArgs ?? [])]);
    await this.responder.waitFor(/ivshmem: id \d+ role responder/, 30_000);
    this.initiator = this.spawnBoard('initiator', this.boards[0], ['initiator', `n=${this.opts.n}`, ...(this.opts.initiatorArgs ?? [])]);
  }

  /** Start another responder (after the first one died): it meets stale shared memory. */
  respawnResponder(name = 'responder2'): Board {
    this.responder = this.spawnBoard(name, this.boards[1], ['responder', ...(this.opts.responderArgs ?? [])]);
    return this.responder;
  }

  private spawnBoard(name: string, board: string, words: string[]): Board {
    const args = [
      CMEMU,
      '-M', board,
      '-nographic',
      '-semihosting-config', 'enable=on,target=native',
      '-chardev', `socket,path=${this.socketPath},id=ivs`,
      '-device', 'ivshmem-flat,chardev=ivs',
      ...(this.opts.cmemuArgs ?? []),
      '-kernel', pingpongElf(board),
      '-append', [...words, ...(this.opts.region ? [`region=${this.opts.region}`] : [])].join(' '),
    ];
    const b = new Board(name, board, spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    this.started.push(b);
    return b;
  }

  /** Stop the server now (in-process: stop(); child: SIGKILL), as a crash would. */
  killServer(): void {
    if (this.server) {
      this.server.stop();
      this.server = null;
    }
    this.serverProc?.kill('SIGKILL');
  }

  private killAll(): void {
    for (const b of [...this.started, this.serverProc]) b?.kill('SIGKILL');
  }

  /** Kill what is still running (by PID), stop the server, remove the folder. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.killAll();
    await Promise.all([...this.started.map((b) => b.exited), this.serverProc?.exited]);
    this.server?.stop();
    this.server = null;
    // A killed server process cannot unlink its shm object: do it for it.
    if (this.opts.shmName && this.serverProc) rmSync(`/dev/shm/${this.opts.shmName.replace(/^\//, '')}`, { force: true });
    rmSync(this.dir, { recursive: true, force: true });
    process.off('exit', this.exitHook);
  }
}

export interface RttFigures {
  n: number;
  hz: number;
  minCycles: number;
  medianCycles: number;
  p99Cycles: number;
  maxCycles: number;
  meanCycles: number;
  medianUs: number;
  p99Us: number;
}

/**
 * Mean round trip by the host's clock: from the initiator's `link up` line to its `completed`
 * line, divided by the messages (console latency cancels out; the firmware's own figures use the
 * board's SysTick, whose real-time resolution is the emulator's).
 */
export function wallMeanUs(initiator: Board, n: number): number | null {
  const up = initiator.lineTimes.find((l) => l.line.startsWith('ivshmem: link up'));
  const done = initiator.lineTimes.find((l) => l.line.startsWith('ivshmem: completed'));
  return up && done && n > 0 ? ((done.ms - up.ms) * 1000) / n : null;
}

/** The initiator's `rtt:` line (SysTick cycles measured by the firmware itself). */
export function parseRtt(console: string): RttFigures | null {
  const m = console.match(/rtt: n=(\d+) min=(\d+) median=(\d+) p99=(\d+) max=(\d+) mean=(\d+) \(cycles at (\d+) Hz\)/);
  if (!m) return null;
  const [n, min, med, p99, max, mean, hz] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
  return { n, hz, minCycles: min, medianCycles: med, p99Cycles: p99, maxCycles: max, meanCycles: mean, medianUs: (med * 1e6) / hz, p99Us: (p99 * 1e6) / hz };
}
