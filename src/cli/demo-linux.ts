/**
 * `make demo-linux`: a Linux VM and a Cortex-M board talk through one ivshmem server.
 *
 *   ivshmem server (in this process, memfd, 1 vector per peer)
 *     ├── qemu-system-aarch64 -M virt,iommu=smmuv3,gic-version=3, PCI ivshmem-doorbell; in the
 *     │   guest guest/ivshmem-peer.c: vfio-pci, BAR2 mmapped, MSI-X → eventfd (LinuxPeerVm)
 *     └── bin/cmemu -M mps2-an385, ivshmem-flat, firmware/tests/ivshmem_pingpong.c (realtime)
 *
 * Two rounds of the ping-pong of docs/ivshmem-pingpong.md, N requests and N replies each: the
 * Linux program initiates (and times round trips with the guest's clock), then the firmware does
 * (and times them with its SysTick). Each side sleeps until its doorbell interrupt (the VM in
 * poll() on its MSI-X eventfd, the board in WFI). Both consoles are printed with a prefix, then the
 * figures. Exit 0 on success; otherwise a line `demo-linux: FAILED: <component>: <why>`.
 *
 *   DEMO_N=<messages per round> (default 2000)
 *
 * `LinuxFirmwarePair` is shared with test/linux/linux-peer.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Board, CMEMU, parseRtt, pingpongElf } from '../bench/pingpong.js';
import { IvshmemServer } from '../host/ivshmem/server.js';
import { GUEST_DIR, LinuxPeerVm, PeerFailure, ensureGuestImage, type Role, type VmOptions } from './peer-linux.js';

export const FIRMWARE_BOARD = 'mps2-an385';

/** A server in this process, plus at most one Linux VM and one firmware board at a time. */
export class LinuxFirmwarePair {
  readonly dir = mkdtempSync(join(tmpdir(), 'cmemu-linux-peer-'));
  readonly socketPath = join(this.dir, 'ivshmem.sock');
  readonly server: IvshmemServer;
  readonly vms: LinuxPeerVm[] = [];
  readonly boards: Board[] = [];
  private closed = false;
  private readonly exitHook = () => {
    for (const b of this.boards) b.kill('SIGKILL');
  };

  constructor(readonly vectors = 1) {
    this.server = new IvshmemServer().start({ socketPath: this.socketPath, size: 4 << 20, vectors });
    process.on('exit', this.exitHook);
  }

  /** The firmware on a cmemu board, real-time mode, in `role` (words: the semihosting command line). */
  startFirmware(role: Role, count?: number, name = `firmware ${role}`): Board {
    const elf = pingpongElf(FIRMWARE_BOARD);
    if (!existsSync(elf)) throw new PeerFailure('guest', `${elf} is missing (make firmware)`);
    const words = [role, ...(role === 'initiator' ? [`n=${count ?? 1000}`] : [])];
    const args = [
      CMEMU, '-M', FIRMWARE_BOARD, '-nographic',
      '-semihosting-config', 'enable=on,target=native',
      '-chardev', `socket,path=${this.socketPath},id=ivs`,
      '-device', 'ivshmem-flat,chardev=ivs',
      '-kernel', elf,
      '-append', words.join(' '),
    ];
    const b = new Board(name, FIRMWARE_BOARD, spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    this.boards.push(b);
    return b;
  }

  startVm(opts: Omit<VmOptions, 'socketPath' | 'vectors'>): LinuxPeerVm {
    const vm = new LinuxPeerVm({ ...opts, socketPath: this.socketPath, vectors: this.vectors });
    this.vms.push(vm);
    return vm;
  }

  /** Stop every VM and board this object started (by PID), the server; remove the folder. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.vms.map((v) => v.stop()));
    for (const b of this.boards) b.kill('SIGKILL');
    await Promise.all(this.boards.map((b) => b.exited));
    this.server.stop();
    rmSync(this.dir, { recursive: true, force: true });
    process.off('exit', this.exitHook);
  }
}

/**
 * Why the Linux peer cannot run here, or null: qemu-system-aarch64 and the aarch64 cross compiler
 * (scripts/ensure-debs.sh, run by `make test` and `make soak`), Debian's arm64 packages (fetched
 * once by scripts/linux-guest/build.sh). Only a download that could not happen counts as missing;
 * a failing build throws.
 */
export function linuxPeerPrerequisite(): string | null {
  const q = spawnSync('qemu-system-aarch64', ['--version'], { encoding: 'utf8' });
  if (q.status !== 0) return 'qemu-system-aarch64 is not installed (Debian package qemu-system-arm; scripts/ensure-debs.sh)';
  const g = spawnSync('aarch64-linux-gnu-gcc', ['--version'], { encoding: 'utf8' });
  if (g.status !== 0) return 'aarch64-linux-gnu-gcc is not installed (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross; scripts/ensure-debs.sh)';
  let log = '';
  try {
    ensureGuestImage((s) => (log += s));
  } catch (e) {
    if (!existsSync(join(GUEST_DIR, 'debs', '.complete'))) return `Debian's arm64 kernel/busybox packages could not be fetched: ${log.trim().split('\n').slice(-2).join(' / ')}`;
    throw e;
  }
  return null;
}

/** The firmware's final verdict: resolves with its console once PASS/FAIL is printed or it exits. */
export async function firmwareVerdict(b: Board, timeoutMs: number): Promise<'PASS' | 'FAIL'> {
  try {
    const m = await b.waitFor(/^(PASS|FAIL): ivshmem_pingpong|^FAIL: .*/m, timeoutMs);
    return m[0]!.startsWith('PASS') ? 'PASS' : 'FAIL';
  } catch (e) {
    throw new PeerFailure('protocol', `firmware board (${b.name}): ${(e as Error).message.split('\n')[0]}`);
  }
}

// ---------------------------------------------------------------------------------------------
// make demo-linux

class DemoFailure extends Error {}

function fail(component: string, why: string): never {
  process.stdout.write(`\ndemo-linux: FAILED: ${component}: ${why}\n`);
  process.exitCode = 1;
  throw new DemoFailure();
}

const VM_LABEL = 'linux  ';
const FW_LABEL = 'mps2   ';

interface Round {
  title: string;
  vmRole: Role;
  bootSec?: number;
  vmRtt?: { median: number; p99: number; min: number; max: number };
  fwRtt?: { median: number; p99: number };
  wallMeanUs?: number;
}

async function round(pair: LinuxFirmwarePair, vmRole: Role, n: number): Promise<Round> {
  const fwRole: Role = vmRole === 'initiator' ? 'responder' : 'initiator';
  const r: Round = { title: vmRole === 'initiator' ? 'Linux initiates, firmware answers' : 'firmware initiates, Linux answers', vmRole };
  process.stdout.write(`\n=== ${r.title}: ${n} requests, ${n} replies ===\n`);
  const startFw = () => {
    let fw: Board;
    try {
      fw = pair.startFirmware(fwRole, n);
    } catch (e) {
      fail('firmware', (e as Error).message);
    }
    fw.onLine((l) => process.stdout.write(`${FW_LABEL}| ${l}\n`));
    return fw;
  };
  const vm = pair.startVm({ role: vmRole, count: n, guestTimeoutSec: 60 + Math.ceil(n / 100) });
  vm.onConsoleLine((l) => process.stdout.write(`${VM_LABEL}| ${l}\n`));
  let fw: Board | undefined;
  const blameVm = (e: unknown): never => {
    if (e instanceof PeerFailure) fail(`Linux VM (${e.component})`, e.message.slice(e.component.length + 2));
    throw e;
  };
  if (vmRole === 'responder') {
    await vm.waitFor('BOOT', 120_000).catch(blameVm);
    await vm.waitFor('READY', 60_000).catch(blameVm);
    fw = startFw();
  } else {
    fw = startFw();
    await fw.waitFor(/ivshmem: id \d+ role responder/, 30_000).catch((e: Error) => fail('firmware board (cmemu)', e.message));
    await vm.waitFor('BOOT', 120_000).catch(blameVm);
    await vm.waitFor('READY', 60_000).catch(blameVm);
  }
  r.bootSec = vm.bootSec;
  await vm.waitFor('LINK', 30_000).catch(blameVm);
  const tLink = performance.now();
  await vm.waitFor('RESULT', (90 + n / 50) * 1000).catch(blameVm);
  const tDone = performance.now();
  const verdict = await firmwareVerdict(fw, 30_000).catch((e: PeerFailure) => fail('firmware board (cmemu)', e.message));
  await vm.waitFor('EXIT', 30_000).catch(blameVm);
  await Promise.all([vm.exited, fw.exited]);
  const res = vm.result!;
  if (!res.pass) fail(`Linux VM (${res.lost ? 'lost messages' : 'corrupted messages'})`, res.raw);
  if (verdict !== 'PASS') fail('firmware board (cmemu)', fw.out.match(/FAIL: .*/)?.[0] ?? 'FAIL');
  if (res.requests !== n || res.replies !== n) fail('Linux VM (protocol)', `expected ${n} requests and replies: ${res.raw}`);
  if (res.afterTimer > 0) fail('Linux VM (interrupt)', `${res.afterTimer} message(s) waited 1 s without an interrupt and were fetched by the heartbeat timer`);
  if (res.rttUs) r.vmRtt = res.rttUs;
  const fr = parseRtt(fw.out);
  if (fr) r.fwRtt = { median: fr.medianUs, p99: fr.p99Us };
  r.wallMeanUs = ((tDone - tLink) * 1000) / n;
  return r;
}

async function main(): Promise<void> {
  const n = Number(process.env.DEMO_N ?? 2000);
  if (!Number.isInteger(n) || n < 1) fail('demo', `DEMO_N must be a positive integer, not '${process.env.DEMO_N}'`);
  process.stdout.write(
    `cmemu demo-linux: a Linux VM (qemu-system-aarch64, Debian arm64 kernel, vfio-pci + MSI-X) and an ${FIRMWARE_BOARD}\n` +
      `board (bin/cmemu, ivshmem-flat) ping-pong through one ivshmem server in this process.\n`,
  );
  try {
    ensureGuestImage();
  } catch (e) {
    fail('Linux guest image', (e as Error).message);
  }
  if (!existsSync(pingpongElf(FIRMWARE_BOARD))) fail('firmware', `${pingpongElf(FIRMWARE_BOARD)} is missing (make firmware)`);
  let pair: LinuxFirmwarePair;
  try {
    pair = new LinuxFirmwarePair(1);
  } catch (e) {
    fail('ivshmem server', (e as Error).message);
  }
  const onSignal = (sig: NodeJS.Signals) => void pair.close().then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const t0 = performance.now();
  const rounds: Round[] = [];
  try {
    rounds.push(await round(pair, 'initiator', n));
    rounds.push(await round(pair, 'responder', n));
  } finally {
    await pair.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (existsSync(pair.dir)) fail('clean-up', `${pair.dir} was left behind`);
  const f = (x: number | undefined) => (x === undefined ? '?' : x.toFixed(1));
  process.stdout.write(`\n=== figures (${n} requests + ${n} replies per round, every payload checked, none lost) ===\n`);
  for (const r of rounds) {
    process.stdout.write(`${r.title}: VM boot to userspace ${f(r.bootSec)} s; `);
    if (r.vmRtt) process.stdout.write(`round trip by the Linux clock median ${f(r.vmRtt.median)} us, p99 ${f(r.vmRtt.p99)} us (min ${f(r.vmRtt.min)}, max ${f(r.vmRtt.max)})`);
    if (r.fwRtt) process.stdout.write(`round trip by the board's SysTick median ${f(r.fwRtt.median)} us, p99 ${f(r.fwRtt.p99)} us`);
    process.stdout.write(`; host-clock mean ${f(r.wallMeanUs)} us\n`);
  }
  process.stdout.write(`whole demo: ${((performance.now() - t0) / 1000).toFixed(1)} s\ndemo-linux: OK\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    if (!(e instanceof DemoFailure)) {
      process.stdout.write(`\ndemo-linux: FAILED: demo driver: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    }
  });
}
