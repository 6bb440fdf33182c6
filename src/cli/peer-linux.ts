/**
 * `cmemu peer-linux`: a Linux peer for an ivshmem server. Boots Debian's arm64 kernel with our
 * initramfs (scripts/linux-guest/build.sh → build/linux-guest/) in `qemu-system-aarch64 -M
 * virt,iommu=smmuv3,gic-version=3` with a PCI `ivshmem-doorbell` on the server's socket. In the
 * guest, guest/ivshmem-peer.c binds the device to vfio-pci, takes its MSI-X vectors as eventfds and
 * plays one role of the ping-pong of docs/ivshmem-pingpong.md (details: docs/linux-peer.md).
 *
 * Progress is read from the guest console's `IVPEER ...` lines (no fixed sleeps): BOOT, DEVICE,
 * VFIO, IRQ-SELFTEST, READY, LINK, PROGRESS, RESULT, PASS/FAIL, ERROR, EXIT. A failure names the
 * component: the VM (did not start or boot), the device (not found), vfio, the interrupt path, the
 * partner (never came), or a timeout. QEMU is always stopped (by its PID) before we return.
 *
 * `LinuxPeerVm` is the reusable part (make demo-linux, test/linux/linux-peer.test.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const GUEST_DIR = join(ROOT, 'build', 'linux-guest');
export const GUEST_KERNEL = join(GUEST_DIR, 'Image');
export const GUEST_INITRD = join(GUEST_DIR, 'initramfs.cpio.gz');
export const BUILD_SCRIPT = join(ROOT, 'scripts', 'linux-guest', 'build.sh');
export const QEMU = 'qemu-system-aarch64';

export type Role = 'initiator' | 'responder';

/** The component a failure is blamed on (first word of the error line). */
export type Component = 'qemu' | 'VM boot' | 'device' | 'vfio' | 'interrupt' | 'partner' | 'protocol' | 'timeout' | 'guest';

export class PeerFailure extends Error {
  constructor(
    readonly component: Component,
    why: string,
  ) {
    super(`${component}: ${why}`);
  }
}

export interface VmOptions {
  socketPath: string;
  role: Role;
  /** Requests (initiator); the responder answers until the initiator leaves. */
  count?: number;
  /** MSI-X vectors of the ivshmem-doorbell device: must be at least the server's -n. */
  vectors?: number;
  /** The guest gives up (and reports) after this many seconds; 0 = never. */
  guestTimeoutSec?: number;
  kernel?: string;
  initrd?: string;
  /** Extra qemu-system-aarch64 arguments. */
  qemuArgs?: string[];
  /** Extra words for the guest program (e.g. x-no-busmaster). */
  guestArgs?: string[];
}

export interface PeerResult {
  role: Role;
  id: number;
  peer: number;
  requests: number;
  replies: number;
  lost: number;
  corrupted: number;
  departures: number;
  irqWakes: number;
  timerWakes: number;
  /** Messages found after a heartbeat timeout instead of an interrupt. */
  afterTimer: number;
  rttUs?: { min: number; median: number; p99: number; max: number; mean: number };
  pass: boolean;
  raw: string;
}

/** Parse an `IVPEER RESULT ...` line (key=value words; `rtt_us` starts the round-trip group). */
export function parseResult(line: string, pass: boolean): PeerResult | null {
  const m = /IVPEER RESULT (.*)$/.exec(line);
  if (!m) return null;
  const kv = new Map<string, string>();
  let prefix = '';
  for (const w of m[1]!.trim().split(/\s+/)) {
    if (w === 'rtt_us') {
      prefix = 'rtt_';
      continue;
    }
    const eq = w.indexOf('=');
    if (eq < 0) continue;
    const k = w.slice(0, eq);
    kv.set(['min', 'median', 'p99', 'max', 'mean'].includes(k) ? prefix + k : k, w.slice(eq + 1));
  }
  const n = (k: string) => Number(kv.get(k) ?? NaN);
  return {
    role: kv.get('role') as Role,
    id: n('id'),
    peer: n('peer'),
    requests: n('requests'),
    replies: n('replies'),
    lost: n('lost'),
    corrupted: n('corrupted'),
    departures: n('departures'),
    irqWakes: n('irq_wakes'),
    timerWakes: n('timer_wakes'),
    afterTimer: n('after_timer'),
    rttUs: kv.has('rtt_median')
      ? { min: n('rtt_min'), median: n('rtt_median'), p99: n('rtt_p99'), max: n('rtt_max'), mean: n('rtt_mean') }
      : undefined,
    pass,
    raw: line,
  };
}

/** Blame a guest `IVPEER ERROR ...` line on a component. */
export function classifyGuestError(text: string): Component {
  if (/^device not found/.test(text) || /IVPOSITION/.test(text)) return 'device';
  if (/^no interrupt/.test(text)) return 'interrupt';
  if (/^vfio|^module /.test(text)) return 'vfio';
  if (/^timeout/.test(text)) return /no partner/.test(text) ? 'partner' : 'timeout';
  if (/^message seq|^ring to peer/.test(text)) return 'protocol';
  return 'guest';
}

/** The qemu-system-aarch64 command line for one Linux peer. */
export function qemuCommand(o: VmOptions): string[] {
  const words = [o.role, ...(o.role === 'initiator' ? [`n=${o.count ?? 1000}`] : []), `timeout=${o.guestTimeoutSec ?? 0}`, ...(o.guestArgs ?? [])];
  return [
    '-M', 'virt,iommu=smmuv3,gic-version=3',
    '-cpu', 'cortex-a57',
    '-m', '256M',
    '-nographic',
    '-nic', 'none', // no default virtio NIC (needs a ROM file, and the guest has no use for it)
    '-no-reboot', // a guest panic ends QEMU instead of looping
    '-kernel', o.kernel ?? GUEST_KERNEL,
    '-initrd', o.initrd ?? GUEST_INITRD,
    '-append', `console=ttyAMA0 quiet panic=-1 -- ${words.join(' ')}`,
    '-chardev', `socket,path=${o.socketPath},id=ivs`,
    '-device', `ivshmem-doorbell,chardev=ivs,vectors=${o.vectors ?? 1}`,
    ...(o.qemuArgs ?? []),
  ];
}

/** Build the guest image when missing or stale (the script caches; a no-op costs ~50 ms). */
export function ensureGuestImage(log: (s: string) => void = (s) => process.stderr.write(s)): void {
  if (!existsSync(BUILD_SCRIPT)) throw new PeerFailure('guest', `${BUILD_SCRIPT} is missing`);
  const r = spawnSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
  if (r.stderr) log(r.stderr);
  if (r.status !== 0) throw new PeerFailure('guest', `scripts/linux-guest/build.sh failed (exit ${r.status ?? r.signal})`);
}

/** One QEMU aarch64 VM running guest/ivshmem-peer.c, watched through its console. */
export class LinuxPeerVm {
  readonly child: ChildProcess;
  out = '';
  err = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  readonly startedMs = performance.now();
  /** Host ms (performance.now()) when each IVPEER marker first appeared. */
  readonly markers = new Map<string, number>();
  id: number | undefined;
  result: PeerResult | undefined;
  private partial = '';
  private readonly lineCbs: ((line: string) => void)[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly exitHook = () => this.kill('SIGKILL');

  constructor(readonly opts: VmOptions) {
    this.child = spawn(QEMU, qemuCommand(opts), { stdio: ['ignore', 'pipe', 'pipe'] });
    process.on('exit', this.exitHook);
    this.child.stdout!.setEncoding('latin1');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      this.out += d;
      this.partial += d;
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) >= 0) {
        const line = this.partial.slice(0, nl).replace(/\r$/, '');
        this.partial = this.partial.slice(nl + 1);
        this.onLine(line);
      }
      this.wake();
    });
    this.child.stderr!.on('data', (d: string) => {
      this.err += d;
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.err += `cannot start ${QEMU}: ${e.message}\n`;
        this.exitCode = 127;
        process.off('exit', this.exitHook);
        resolve();
        this.wake();
      });
      this.child.on('close', (code, signal) => {
        if (this.exitCode === null) this.exitCode = code;
        this.exitSignal = signal;
        process.off('exit', this.exitHook);
        resolve();
        this.wake();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  /** Console lines as they come (CR stripped). */
  onConsoleLine(cb: (line: string) => void): void {
    this.lineCbs.push(cb);
  }

  /** Seconds from spawning QEMU to the guest's first userspace line (`IVPEER BOOT`). */
  get bootSec(): number | undefined {
    const t = this.markers.get('BOOT');
    return t === undefined ? undefined : (t - this.startedMs) / 1000;
  }

  private onLine(line: string): void {
    const m = /IVPEER (\S+)/.exec(line);
    if (m) {
      const tag = m[1]!;
      if (!this.markers.has(tag)) this.markers.set(tag, performance.now());
      const id = /^IVPEER READY id=(\d+)/.exec(line.slice(line.indexOf('IVPEER')));
      if (id) this.id = Number(id[1]);
      if (tag === 'RESULT') this.result = parseResult(line, false) ?? undefined;
      if (tag === 'PASS' && this.result) this.result.pass = true;
    }
    for (const cb of this.lineCbs) cb(line);
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The first `IVPEER ERROR` line's text, if any. */
  guestError(): string | undefined {
    const m = /IVPEER ERROR (.*)/.exec(this.out);
    return m ? m[1]!.replace(/\r$/, '') : undefined;
  }

  /** Why the VM failed, from what it printed (for a marker that did not come). */
  diagnose(waitingFor: string): PeerFailure {
    const ge = this.guestError();
    if (ge) return new PeerFailure(classifyGuestError(ge), ge);
    if (!this.markers.has('BOOT')) {
      if (!this.running) {
        const e = this.err.trim().split('\n').slice(-3).join(' / ');
        if (/Failed to connect|connection refused|No such file/i.test(e)) return new PeerFailure('qemu', `cannot reach the ivshmem server at ${this.opts.socketPath}: ${e}`);
        if (/Too many eventfd/i.test(e)) return new PeerFailure('qemu', `${e} (give --vectors at least the server's -n)`);
        return new PeerFailure('VM boot', `${QEMU} exited (${this.exitCode ?? this.exitSignal}) before the guest's userspace started${e ? `: ${e}` : ''}`);
      }
      return new PeerFailure('VM boot', `the guest did not reach userspace (no IVPEER BOOT) while waiting for ${waitingFor}${this.consoleTail()}`);
    }
    if (!this.markers.has('DEVICE')) return new PeerFailure('device', `no ivshmem device reported${this.consoleTail()}`);
    if (!this.markers.has('IRQ-SELFTEST')) return new PeerFailure('interrupt', `the MSI-X self-test did not finish${this.consoleTail()}`);
    if (!this.markers.has('LINK')) return new PeerFailure('partner', `no partner linked up (is the other role running on the same server?)`);
    if (!this.running && !this.result) return new PeerFailure('guest', `the VM stopped (${this.exitCode ?? this.exitSignal}) without a result${this.consoleTail()}`);
    return new PeerFailure('timeout', `no ${waitingFor}`);
  }

  consoleTail(n = 1500): string {
    const t = this.out.slice(-n).trim();
    const e = this.err.trim().slice(-n);
    return (t ? `\n--- guest console (tail) ---\n${t}` : '') + (e ? `\n--- ${QEMU} stderr ---\n${e}` : '');
  }

  /**
   * Resolve when the console shows `IVPEER <tag>`; reject with a PeerFailure naming the component
   * when the guest reports an error, QEMU exits, or `timeoutMs` passes.
   */
  waitFor(tag: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.markers.has(tag)) return done(null);
        if (this.guestError() !== undefined && tag !== 'RESULT' && tag !== 'EXIT') return done(this.diagnose(`IVPEER ${tag}`));
        if (!this.running) return done(this.diagnose(`IVPEER ${tag}`));
      };
      const t = setTimeout(() => done(this.diagnose(`IVPEER ${tag} within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      const done = (e: PeerFailure | null) => {
        clearTimeout(t);
        this.waiters.delete(check);
        if (e) reject(e);
        else resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Send a signal to QEMU (by its PID) if it still runs. */
  kill(sig: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running && this.child.pid) {
      try {
        process.kill(this.child.pid, sig);
      } catch {
        /* already gone */
      }
    }
  }

  /** Stop QEMU: SIGTERM (QEMU exits cleanly), SIGKILL after `graceMs`; resolves once it is gone. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return this.exited;
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** Vectors the server hands each peer, read by connecting once (this uses up one peer id). */
export async function probeServerVectors(socketPath: string): Promise<number> {
  const { connectIvshmem } = await import('../host/ivshmem/client.js');
  const link = await connectIvshmem(socketPath);
  const n = link.ownVectorFds.length;
  link.close();
  return n;
}

export const PEER_LINUX_HELP = `usage: cmemu peer-linux --socket PATH [--role initiator|responder] [--count N] [OPTIONS]
Boot a Linux VM (qemu-system-aarch64, Debian's arm64 kernel, our initramfs) as a peer of the
ivshmem server at PATH, and play one role of the ping-pong of docs/ivshmem-pingpong.md against
another peer of that server (our firmware on a cmemu board, for instance).
  --socket PATH     the ivshmem server's UNIX socket (required)
  --role ROLE       initiator (sends --count requests, times round trips) or responder (answers
                    until the initiator leaves); default responder
  --count N         requests the initiator sends; default 1000
  --vectors N       MSI-X vectors of the VM's ivshmem-doorbell; at least the server's -n;
                    default: asked from the server (one extra connection, one peer id used up)
  --timeout S       give up after S seconds (the guest reports what it had); default 300
  --quiet           print only the IVPEER lines of the guest console
  --guest-arg WORD  an extra word for the guest program (x-no-busmaster: check the diagnostics)
The guest image is built (and cached) by scripts/linux-guest/build.sh into build/linux-guest/.
Exit: 0 pass, 1 failure (the line names the component), 2 usage, 3 timeout (no partner came, or
the exchange did not finish in time).
`;

interface CliArgs {
  socket?: string;
  role: Role;
  count: number;
  vectors?: number;
  timeout: number;
  quiet: boolean;
  help: boolean;
  guestArgs: string[];
}

function parseCli(argv: readonly string[]): CliArgs {
  const a: CliArgs = { role: 'responder', count: 1000, timeout: 300, quiet: false, help: false, guestArgs: [] };
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new Error(`${name} needs an integer >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i]!.startsWith('--') && argv[i]!.includes('=') ? [argv[i]!.slice(0, argv[i]!.indexOf('=')), argv[i]!.slice(argv[i]!.indexOf('=') + 1)] : [argv[i]!, undefined];
    const val = () => inline ?? argv[++i];
    switch (k) {
      case '--socket':
      case '-S':
        a.socket = val();
        break;
      case '--role': {
        const r = val();
        if (r !== 'initiator' && r !== 'responder') throw new Error(`--role must be initiator or responder, not '${r}'`);
        a.role = r;
        break;
      }
      case '--count':
      case '-n':
        a.count = num('--count', val(), 1);
        break;
      case '--vectors':
        a.vectors = num('--vectors', val(), 1);
        break;
      case '--timeout':
        a.timeout = num('--timeout', val(), 1);
        break;
      case '--quiet':
        a.quiet = true;
        break;
      case '--guest-arg': {
        const w = val();
        if (!w || !/^[\w=.-]+$/.test(w)) throw new Error(`--guest-arg needs a word (letters, digits, = . -)`);
        a.guestArgs.push(w);
        break;
      }
      case '--help':
      case '-h':
        a.help = true;
        break;
      default:
        throw new Error(`unknown option '${argv[i]}'`);
    }
  }
  if (!a.help && !a.socket) throw new Error('--socket PATH is required');
  return a;
}

export async function runPeerLinux(argv: readonly string[]): Promise<number> {
  let a: CliArgs;
  try {
    a = parseCli(argv);
  } catch (e) {
    process.stderr.write(`cmemu peer-linux: ${(e as Error).message}\n${PEER_LINUX_HELP}`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(PEER_LINUX_HELP);
    return 0;
  }
  const say = (s: string) => process.stdout.write(`peer-linux: ${s}\n`);
  const failWith = (f: PeerFailure, code = 1) => {
    process.stdout.write(`peer-linux: FAILED: ${f.message}\n`);
    return f.component === 'timeout' || (f.component === 'partner' && /^timeout/.test(f.message.slice(9))) ? 3 : code;
  };
  try {
    ensureGuestImage();
  } catch (e) {
    return failWith(e as PeerFailure);
  }
  let vectors = a.vectors;
  if (vectors === undefined) {
    try {
      vectors = await probeServerVectors(a.socket!);
      say(`the server gives ${vectors} vector(s) per peer`);
    } catch (e) {
      return failWith(new PeerFailure('qemu', `cannot reach the ivshmem server at ${a.socket}: ${(e as Error).message}`));
    }
  }
  const vm = new LinuxPeerVm({ socketPath: a.socket!, role: a.role, count: a.count, vectors, guestTimeoutSec: a.timeout, guestArgs: a.guestArgs });
  say(`${QEMU} pid ${vm.pid ?? '?'}: ${a.role}${a.role === 'initiator' ? `, ${a.count} requests` : ''}, ${vectors} vector(s)`);
  vm.onConsoleLine((l) => {
    if (!a.quiet || l.includes('IVPEER')) process.stdout.write(`${l}\n`);
  });
  const onSignal = (sig: NodeJS.Signals) => {
    say(`${sig}: stopping the VM`);
    void vm.stop().then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await vm.waitFor('BOOT', 120_000);
    say(`guest userspace after ${vm.bootSec!.toFixed(2)} s`);
    await vm.waitFor('READY', 60_000);
    // The guest enforces --timeout itself and then reports; this is the backstop.
    await vm.waitFor('RESULT', (a.timeout + 30) * 1000);
    await vm.waitFor('EXIT', 30_000);
    await vm.exited;
    const r = vm.result!;
    const ge = vm.guestError();
    if (!r.pass) return failWith(ge ? new PeerFailure(classifyGuestError(ge), ge) : new PeerFailure('protocol', `lost=${r.lost} corrupted=${r.corrupted}`));
    say(`PASS: ${r.requests} requests, ${r.replies} replies, lost ${r.lost}, corrupted ${r.corrupted}` + (r.rttUs ? `, round trip median ${r.rttUs.median} us, p99 ${r.rttUs.p99} us` : ''));
    return 0;
  } catch (e) {
    if (e instanceof PeerFailure) return failWith(e);
    throw e;
  } finally {
    await vm.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
