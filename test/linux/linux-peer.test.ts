/**
 * The Linux peer (docs/linux-peer.md) against our firmware on a cmemu board, through one ivshmem
 * server in this process: a real Debian arm64 kernel boots under TCG in qemu-system-aarch64 (about
 * 3 s to userspace), binds the PCI ivshmem-doorbell to vfio-pci and waits for MSI-X interrupts on
 * eventfds. Five boots in all:
 *   1. Linux initiates 1000 requests, the firmware answers: none lost or corrupted, every reply
 *      found after an interrupt (none by the heartbeat timer);
 *   2. the firmware initiates 1000 requests, Linux answers them all;
 *   3. the VM is killed (SIGKILL) after 1000 round trips: the firmware reports its partner as
 *      departed (disconnected) and keeps running; a second VM then resumes with a new session on
 *      the stale shared memory and runs 3000 requests, none lost or corrupted, fd counts steady
 *      (the short version of `make soak`'s Linux soaks, src/bench/soak-linux.ts);
 *   4. the board is killed mid-run: Linux sees its heartbeat stop and reports it departed.
 *
 * Prerequisites: qemu-system-aarch64 and the aarch64 cross compiler (scripts/ensure-debs.sh, run by
 * `make test`), Debian's arm64 packages (fetched once by scripts/linux-guest/build.sh). The suite
 * is skipped, with a banner, only when one of them cannot be had (no package registry reachable).
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firmwareVerdict, LinuxFirmwarePair, FIRMWARE_BOARD, linuxPeerPrerequisite } from '../../src/cli/demo-linux.js';
import { classifyGuestError, parseResult, qemuCommand } from '../../src/cli/peer-linux.js';
import { describeSoak, linuxKillRestart } from '../../src/bench/soak-linux.js';
import { pingpongElf } from '../../src/bench/pingpong.js';

const skipReason = linuxPeerPrerequisite();
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

  it('kill -9 of the VM mid-run: the board reports it and runs on; a new VM resumes on the stale memory (a short soak: 3000, none lost)', async () => {
    const r = await linuxKillRestart(pair, 1000, 3000);
    for (const l of describeSoak(r.second)) process.stdout.write(`linux-peer restart:${l}\n`);
    // The departure: the server saw the socket close; the board, told by PEERS_CHANGED (EVSTATUS),
    // says so within the heartbeat's 2 s and keeps running, waiting for a new partner.
    expect(r.serverSawLeave).toBe(true);
    expect(r.boardReport).toMatch(new RegExp(`^ivshmem: peer ${r.firstId} left \\(disconnected\\)`));
    expect(r.reportMs).toBeLessThan(10_000);
    expect(r.boardRunning).toBe(true);
    // The second VM links up with a fresh session on the memory the first left behind, and its
    // 3000 requests all come back: none lost, duplicated, corrupted or out of order on either side.
    expect(r.sessions[1]).not.toBe(r.sessions[0]);
    const v = r.second.vm!;
    expect(v, 'the second VM printed its RESULT').toBeDefined();
    expect(v).toMatchObject({ role: 'initiator', requests: 3000, replies: 3000, lost: 0, corrupted: 0, departures: 0, afterTimer: 0, pass: true });
    expect(r.second.verdict).toBe('PASS');
    expect(r.second.firmware).toMatchObject({ errors: 0, departures: 1 });
    expect(r.second.firmware!.answered).toBeGreaterThanOrEqual(r.killedAfter + 3000);
    // No fd leaked across the departure: the board holds as many fds with the second VM as with the first.
    expect(r.boardAfter!.fds).toBe(r.boardBefore!.fds);
    expect(r.second.end.board!.fds).toBe(r.second.start.board!.fds);
    expect(r.second.end.qemu!.fds).toBe(r.second.start.qemu!.fds);
  }, 360_000);

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
