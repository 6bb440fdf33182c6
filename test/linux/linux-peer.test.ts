/**
 * The Linux peer (docs/linux-peer.md) against our firmware on a cmemu board, through one ivshmem
 * server in this process: a real Debian arm64 kernel boots under TCG in qemu-system-aarch64 (about
 * 3 s to userspace), binds the PCI ivshmem-doorbell to vfio-pci and waits for MSI-X interrupts on
 * eventfds. Four boots in all:
 *   1. Linux initiates 1000 requests, the firmware answers: none lost or corrupted, every reply
 *      found after an interrupt (none by the heartbeat timer);
 *   2. the firmware initiates 1000 requests, Linux answers them all;
 *   3. the VM is killed mid-run: the firmware reports its partner as departed (disconnected);
 *   4. the board is killed mid-run: Linux sees its heartbeat stop and reports it departed.
 *
 * Prerequisites: qemu-system-aarch64 and the aarch64 cross compiler (scripts/ensure-debs.sh, run by
 * `make test`), Debian's arm64 packages (fetched once by scripts/linux-guest/build.sh). The suite
 * is skipped, with a banner, only when one of them cannot be had (no package registry reachable).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firmwareVerdict, LinuxFirmwarePair, FIRMWARE_BOARD } from '../../src/cli/demo-linux.js';
import { classifyGuestError, ensureGuestImage, GUEST_DIR, parseResult, qemuCommand } from '../../src/cli/peer-linux.js';
import { pingpongElf } from '../../src/bench/pingpong.js';

function missingPrerequisite(): string | null {
  const q = spawnSync('qemu-system-aarch64', ['--version'], { encoding: 'utf8' });
  if (q.status !== 0) return 'qemu-system-aarch64 is not installed (Debian package qemu-system-arm; scripts/ensure-debs.sh)';
  const g = spawnSync('aarch64-linux-gnu-gcc', ['--version'], { encoding: 'utf8' });
  if (g.status !== 0) return 'aarch64-linux-gnu-gcc is not installed (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross; scripts/ensure-debs.sh)';
  let log = '';
  try {
    ensureGuestImage((s) => (log += s));
  } catch (e) {
    // Only a download that could not happen is a missing prerequisite; a build error is a failure.
    if (!existsSync(join(GUEST_DIR, 'debs', '.complete'))) return `Debian's arm64 kernel/busybox packages could not be fetched: ${log.trim().split('\n').slice(-2).join(' / ')}`;
    throw e;
  }
  return null;
}

const skipReason = missingPrerequisite();
if (skipReason) {
  const bar = '!'.repeat(100);
  process.stderr.write(`\n${bar}\n!!! test/linux/linux-peer.test.ts SKIPPED: ${skipReason}\n${bar}\n\n`);
}

describe('Linux peer helpers', () => {
  it('parses the guest RESULT line, round trips included', () => {
    const r = parseResult(
      'IVPEER RESULT role=initiator id=4 peer=5 requests=2000 replies=2000 lost=0 corrupted=0 departures=0 rtt_us min=49.6 median=211.1 p99=2163.0 max=37241.9 mean=348.8 irq_wakes=2000 timer_wakes=2 after_timer=0',
      true,
    )!;
    expect(r).toMatchObject({ role: 'initiator', id: 4, peer: 5, requests: 2000, replies: 2000, lost: 0, corrupted: 0, irqWakes: 2000, timerWakes: 2, afterTimer: 0, pass: true });
    expect(r.rttUs).toEqual({ min: 49.6, median: 211.1, p99: 2163, max: 37241.9, mean: 348.8 });
    expect(parseResult('IVPEER RESULT role=responder id=2 peer=3 requests=5 replies=5 expected=5 lost=0 corrupted=0 departures=0 irq_wakes=5 timer_wakes=0 after_timer=0', false)!.rttUs).toBeUndefined();
  });

  it('blames guest errors on the right component', () => {
    expect(classifyGuestError('device not found: no PCI 1af4:1110')).toBe('device');
    expect(classifyGuestError('no interrupt: a doorbell to ourselves ...')).toBe('interrupt');
    expect(classifyGuestError('vfio: 0000:00:01.0 has no IOMMU group')).toBe('vfio');
    expect(classifyGuestError('timeout after 5 s (no partner: link never came up)')).toBe('partner');
    expect(classifyGuestError('message seq 3: payload word 0x1, expected 0x2')).toBe('protocol');
  });

  it('starts QEMU with the SMMUv3 virt machine and the doorbell device', () => {
    const a = qemuCommand({ socketPath: '/tmp/s', role: 'initiator', count: 7, vectors: 2, guestTimeoutSec: 9 }).join(' ');
    expect(a).toContain('-M virt,iommu=smmuv3,gic-version=3 -cpu cortex-a57 -m 256M -nographic');
    expect(a).toContain('-chardev socket,path=/tmp/s,id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=2');
    expect(a).toContain('-- initiator n=7 timeout=9');
  });
});

describe.skipIf(skipReason !== null)('Linux VM (vfio-pci, MSI-X) <-> firmware on cmemu through one ivshmem server', () => {
  let pair: LinuxFirmwarePair;
  beforeAll(() => {
    expect(existsSync(pingpongElf(FIRMWARE_BOARD)), `${pingpongElf(FIRMWARE_BOARD)} (make firmware)`).toBe(true);
    pair = new LinuxFirmwarePair(1);
  });
  afterAll(async () => {
    await pair?.close();
  });

  it('Linux initiates: 1000 requests and 1000 replies, none lost or corrupted, each reply by interrupt', async () => {
    const fw = pair.startFirmware('responder');
    await fw.waitFor(/ivshmem: id \d+ role responder/, 30_000);
    const vm = pair.startVm({ role: 'initiator', count: 1000, guestTimeoutSec: 90 });
    await vm.waitFor('BOOT', 120_000);
    await vm.waitFor('IRQ-SELFTEST', 30_000);
    await vm.waitFor('LINK', 30_000);
    await vm.waitFor('EXIT', 120_000);
    await vm.exited;
    expect(await firmwareVerdict(fw, 30_000)).toBe('PASS');
    expect(fw.out).toMatch(/ivshmem: answered 1000 messages, 0 errors, 0 departures/);
    const r = vm.result!;
    expect(r, vm.consoleTail()).toBeDefined();
    expect(r).toMatchObject({ role: 'initiator', requests: 1000, replies: 1000, lost: 0, corrupted: 0, departures: 0, pass: true });
    expect(r.peer).toBe(Number(fw.out.match(/ivshmem: id (\d+) role responder/)![1]));
    // Woken by interrupts: no reply had to be fetched by the heartbeat timer instead.
    expect(r.afterTimer).toBe(0);
    expect(vm.out).not.toMatch(/IVPEER ERROR/);
    expect(r.irqWakes).toBeGreaterThanOrEqual(990);
    expect(r.rttUs!.median).toBeGreaterThan(0);
    expect(vm.exitCode).toBe(0);
    process.stdout.write(`linux-peer: boot to userspace ${vm.bootSec!.toFixed(2)} s; Linux-measured round trip median ${r.rttUs!.median} us, p99 ${r.rttUs!.p99} us\n`);
  }, 240_000);

  it('the firmware initiates: Linux answers 1000 requests, none lost or corrupted', async () => {
    const vm = pair.startVm({ role: 'responder', guestTimeoutSec: 90 });
    await vm.waitFor('READY', 120_000);
    const fw = pair.startFirmware('initiator', 1000);
    await vm.waitFor('LINK', 30_000);
    expect(await firmwareVerdict(fw, 120_000)).toBe('PASS');
    expect(fw.out).toMatch(/ivshmem: completed 1000 messages, 0 errors, 0 departures/);
    await vm.waitFor('EXIT', 30_000);
    await vm.exited;
    const r = vm.result!;
    expect(r).toMatchObject({ role: 'responder', requests: 1000, replies: 1000, lost: 0, corrupted: 0, pass: true });
    expect(r.afterTimer).toBe(0);
    expect(vm.out).not.toMatch(/IVPEER ERROR/);
    expect(vm.exitCode).toBe(0);
  }, 240_000);

  it('a VM that disconnects mid-run is a departed peer for the firmware', async () => {
    const fw = pair.startFirmware('responder');
    await fw.waitFor(/ivshmem: id \d+ role responder/, 30_000);
    const vm = pair.startVm({ role: 'initiator', count: 10_000_000, guestTimeoutSec: 120 });
    await vm.waitFor('LINK', 150_000);
    await vm.waitFor('PROGRESS', 60_000); // 1000 round trips done: the exchange is running
    const id = vm.id!;
    const left = new Promise<number>((resolve) => pair.server.on('leave', (peer) => peer === id && resolve(peer)));
    vm.kill('SIGKILL'); // no LEFT state written: only the transport can tell
    await vm.exited;
    expect(await left).toBe(id);
    await fw.waitFor(new RegExp(`ivshmem: peer ${id} left \\(disconnected\\)`), 20_000);
    expect(fw.running).toBe(true); // the survivor waits for a new partner
    fw.kill('SIGKILL');
    await fw.exited;
  }, 240_000);

  it('a board that vanishes mid-run is a departed peer for Linux (its heartbeat stops)', async () => {
    const vm = pair.startVm({ role: 'responder', guestTimeoutSec: 60 });
    await vm.waitFor('READY', 120_000);
    const fw = pair.startFirmware('initiator', 10_000_000);
    await vm.waitFor('LINK', 30_000);
    await fw.waitFor(/ivshmem: 1000 round trips/, 60_000);
    const fwId = Number(fw.out.match(/ivshmem: id (\d+) role initiator/)![1]);
    const restarted = new Promise<string>((resolve) => vm.onConsoleLine((l) => /IVPEER READY/.test(l) && resolve(l)));
    fw.kill('SIGKILL'); // no LEFT state written; the PCI device tells the guest nothing
    await fw.exited;
    const t0 = performance.now();
    await vm.waitFor('PEER-LEFT', 15_000);
    const waited = performance.now() - t0;
    expect(vm.out).toMatch(new RegExp(`IVPEER PEER-LEFT peer=${fwId} why=heartbeat-stopped`));
    expect(waited).toBeLessThan(10_000); // 2 s without a heartbeat, plus console latency
    // It waits for a new partner with a fresh session (docs/ivshmem-pingpong.md §7).
    const first = vm.out.match(/IVPEER READY id=\d+ role=responder session=(0x[0-9a-f]+)/)![1]!;
    const again = (await restarted).match(/session=(0x[0-9a-f]+)/)![1]!;
    expect(again).not.toBe(first);
    await vm.stop();
  }, 240_000);
});
