/**
 * The Linux-VM soaks of `make soak` (issue 11) and their short versions in test/linux/: the
 * firmware (firmware/tests/ivshmem_pingpong.c) on a bin/cmemu board answers a Linux VM
 * (qemu-system-aarch64, guest/ivshmem-peer.c: vfio-pci, MSI-X) through LinuxFirmwarePair's server.
 * Both sides check every message's sequence number, session and payload: a lost, duplicated,
 * corrupted or out-of-order message is an error on the side that receives it.
 *  - linuxSoak: the VM initiates `n` requests; the figures (the guest's round trip, RSS and fd
 *    counts of the board, QEMU and this process, which runs the server) at the start (just after
 *    the link) and the end (the last sample before the VM's PROGRESS line for n - 1000).
 *  - linuxKillRestart: the VM is killed (SIGKILL) in the middle of an exchange; the board reports
 *    the departure and keeps running; a second VM then starts a new session on the stale shared
 *    memory and runs `n` requests to the end.
 */
import { type Board } from './pingpong.js';
import { procFigures, type ProcFigures } from './soak.js';
import { firmwareVerdict, type LinuxFirmwarePair } from '../cli/demo-linux.js';
import { type LinuxPeerVm, type PeerResult } from '../cli/peer-linux.js';

export type Figures = Record<'board' | 'qemu' | 'server', ProcFigures | null>;

export interface FirmwareCounts {
  answered: number;
  errors: number;
  departures: number;
}

function firmwareCounts(b: Board): FirmwareCounts | null {
  const m = b.out.match(/ivshmem: answered (\d+) messages, (\d+) errors, (\d+) departures/);
  const extra = (b.out.match(/ivshmem: error/g) ?? []).length;
  return m ? { answered: Number(m[1]), errors: Number(m[2]) + extra, departures: Number(m[3]) } : null;
}

function sampler(board: Board, vm: () => LinuxPeerVm | undefined): () => Figures {
  return () => ({ board: procFigures(board.child.pid), qemu: procFigures(vm()?.pid), server: procFigures(process.pid) });
}

const complete = (f: Figures) => Object.values(f).every((x) => x !== null && x.fds > 0 && x.rssKiB > 0);

/**
 * The last PROGRESS count the VM printed, so that sampling can end before the end of the run: the
 * board's responder exits as soon as it sees the initiator's LEFT, before the VM's RESULT line
 * arrives, and an exiting process's figures mean nothing.
 */
function progressOf(vm: LinuxPeerVm): () => number {
  let n = 0;
  vm.onConsoleLine((l) => {
    const m = /IVPEER PROGRESS round_trips=(\d+)/.exec(l);
    if (m) n = Number(m[1]);
  });
  return () => n;
}

/** Sample every 200 ms until `over()`; the last complete sample before it is the end. */
function sampleUntil(sample: () => Figures, over: () => boolean, first: Figures): { stop: () => Figures } {
  let end = first;
  const t = setInterval(() => {
    if (over()) return;
    const s = sample();
    if (complete(s)) end = s;
  }, 200);
  return {
    stop: () => {
      clearInterval(t);
      return end;
    },
  };
}

export interface LinuxSoakResult {
  n: number;
  vm: PeerResult | undefined;
  firmware: FirmwareCounts | null;
  verdict: 'PASS' | 'FAIL';
  bootSec: number | undefined;
  seconds: number;
  start: Figures;
  end: Figures;
}

/**
 * A VM initiates `n` requests to the firmware board `fw` (one boot), measured from its link up
 * (`linked` runs first, e.g. to read the board's link line) to its end.
 */
async function measuredRun(pair: LinuxFirmwarePair, fw: Board, n: number, linked: (vm: LinuxPeerVm) => Promise<void> = async () => {}): Promise<LinuxSoakResult> {
  const vm = pair.startVm({ role: 'initiator', count: n, guestTimeoutSec: Math.ceil(120 + n / 200) });
  const progress = progressOf(vm);
  await vm.waitFor('LINK', 180_000);
  await linked(vm);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 300));
  const sample = sampler(fw, () => vm);
  const start = sample();
  const s = sampleUntil(sample, () => progress() >= n - 1000 || vm.result !== undefined || !vm.running || !fw.running, start);
  await vm.waitFor('EXIT', Math.ceil(60_000 + n * 20));
  const seconds = (performance.now() - t0) / 1000;
  const end = s.stop();
  await vm.exited;
  const verdict = await firmwareVerdict(fw, 30_000);
  return { n, vm: vm.result, firmware: firmwareCounts(fw), verdict, bootSec: vm.bootSec, seconds, start, end };
}

/** The firmware answers `n` requests from a Linux VM (one boot). */
export async function linuxSoak(pair: LinuxFirmwarePair, n: number): Promise<LinuxSoakResult> {
  const fw = pair.startFirmware('responder', undefined, 'soak board');
  try {
    await fw.waitFor(/ivshmem: id \d+ role responder/, 60_000);
    return await measuredRun(pair, fw, n);
  } finally {
    fw.kill('SIGKILL');
    await fw.exited;
  }
}

export const linuxSoakOk = (r: LinuxSoakResult) =>
  r.verdict === 'PASS' &&
  r.vm !== undefined &&
  r.vm.pass &&
  r.vm.replies === r.n &&
  r.vm.lost === 0 &&
  r.vm.corrupted === 0 &&
  r.firmware !== null &&
  r.firmware.answered === r.n &&
  r.firmware.errors === 0;

export interface KillRestartResult {
  /** Round trips the first VM had completed (its last PROGRESS line) when it was killed. */
  killedAfter: number;
  firstId: number;
  /** The server's leave event for the first VM, and the board's report of it. */
  serverSawLeave: boolean;
  boardReport: string;
  /** ms from the kill to the board's report. */
  reportMs: number;
  boardRunning: boolean;
  sessions: [string, string];
  second: LinuxSoakResult;
  /** The board's figures while linked to the first VM and just after the second linked. */
  boardBefore: ProcFigures | null;
  boardAfter: ProcFigures | null;
}

/**
 * The firmware answers a VM that is killed after about `killAfter` round trips, then a second VM
 * that runs `n` requests on the same board and the same (stale) shared memory: two boots.
 */
export async function linuxKillRestart(pair: LinuxFirmwarePair, killAfter: number, n: number): Promise<KillRestartResult> {
  const fw = pair.startFirmware('responder', undefined, 'restart board');
  try {
    await fw.waitFor(/ivshmem: id \d+ role responder/, 60_000);
    const vm1 = pair.startVm({ role: 'initiator', count: 10_000_000, guestTimeoutSec: 600 });
    await vm1.waitFor('LINK', 180_000);
    const firstId = vm1.id!;
    const s1 = (await fw.waitFor(new RegExp(`ivshmem: link up with peer ${firstId} session (0x[0-9a-f]+)`), 30_000))[1]!;
    let killedAfter = 0;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the first VM did not reach ${killAfter} round trips${vm1.consoleTail()}`)), 120_000 + killAfter * 20);
      vm1.onConsoleLine((l) => {
        const m = /IVPEER PROGRESS round_trips=(\d+)/.exec(l);
        if (m && Number(m[1]) >= killAfter && killedAfter === 0) {
          killedAfter = Number(m[1]);
          clearTimeout(t);
          resolve();
        }
      });
    });
    const boardBefore = procFigures(fw.child.pid);
    let serverSawLeave = false;
    pair.server.on('leave', (peer: number) => {
      if (peer === firstId) serverSawLeave = true;
    });
    const tKill = performance.now();
    vm1.kill('SIGKILL'); // no LEFT state written: only the transport can tell the board
    await vm1.exited;
    const rep = await fw.waitFor(new RegExp(`ivshmem: peer ${firstId} left \\([a-z -]+\\)[^\\n]*`), 20_000);
    const reportMs = performance.now() - tKill;
    // Still running a while later (waiting for a new partner), not ended by the departure.
    await new Promise((r) => setTimeout(r, 500));
    const boardRunning = fw.running;
    // The second VM: a new peer id, a new session, the same shared memory with the first's slot in it.
    let s2 = '';
    const second = await measuredRun(pair, fw, n, async (vm2) => {
      s2 = (await fw.waitFor(new RegExp(`ivshmem: link up with peer ${vm2.id!} session (0x[0-9a-f]+)`), 30_000))[1]!;
    });
    return {
      killedAfter,
      firstId,
      serverSawLeave,
      boardReport: rep[0],
      reportMs,
      boardRunning,
      sessions: [s1, s2],
      second,
      boardBefore,
      boardAfter: second.start.board,
    };
  } finally {
    fw.kill('SIGKILL');
    await fw.exited;
  }
}

const fmt = (f: ProcFigures | null) => (f ? `RSS ${(f.rssKiB / 1024).toFixed(1)} MiB, ${f.fds} fds` : 'gone');

/** Lines for the soak's output. */
export function describeSoak(r: LinuxSoakResult): string[] {
  const v = r.vm;
  const rtt = v?.rttUs;
  return [
    `  Linux: requests ${v?.requests}, replies ${v?.replies}, lost ${v?.lost}, corrupted/duplicated/out of order ${v?.corrupted}, departures ${v?.departures}, ` +
      `after the heartbeat timer ${v?.afterTimer}; board: answered ${r.firmware?.answered}, errors ${r.firmware?.errors}, departures ${r.firmware?.departures}; ${r.verdict}`,
    `  ${r.seconds.toFixed(1)} s after the link (boot to userspace ${r.bootSec?.toFixed(2)} s); round trip (Linux clock) ` +
      (rtt ? `min ${rtt.min} median ${rtt.median} p99 ${rtt.p99} max ${rtt.max} mean ${rtt.mean} us` : '?') +
      `, host wall mean ${((r.seconds * 1e6) / r.n).toFixed(1)} us`,
    ...(['board', 'qemu', 'server'] as const).map((k) => `  ${(k === 'server' ? 'server (this process)' : k).padEnd(21)} start: ${fmt(r.start[k])}; end: ${fmt(r.end[k])}`),
  ];
}
