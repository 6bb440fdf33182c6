// Compatibility proof: QEMU's own PCI ivshmem-doorbell (qemu-system-aarch64, Debian's
// qemu-system-arm package) connects to our server, completes its greeting and realizes; a peer of
// ours sees it join with its vectors and leave when QEMU quits.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connectIvshmem } from '../../src/host/ivshmem/client.js';
import type { IvshmemLink } from '../../src/devices/ivshmem-link.js';
import { IvshmemServer } from '../../src/host/ivshmem/server.js';

const QEMU = 'qemu-system-aarch64';
const haveQemu = spawnSync(QEMU, ['--version']).status === 0;
if (!haveQemu) {
  console.warn(`\n*** SKIPPING the QEMU ivshmem-doorbell test: ${QEMU} is not installed (Debian package qemu-system-arm) ***\n`);
}

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-qemu-ivshmem-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let server: IvshmemServer | undefined;
let link: IvshmemLink | undefined;
afterEach(() => {
  link?.close();
  server?.stop();
});

/** Run QEMU paused with a QMP monitor on stdio; send `commands` once it greets, collect every reply. */
function qemuQmp(args: string[], commands: object[]): Promise<{ code: number | null; replies: Record<string, unknown>[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const ch = spawn(QEMU, [...args, '-qmp', 'stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => ch.kill('SIGKILL'), 30_000);
    let buf = '';
    let stderr = '';
    const replies: Record<string, unknown>[] = [];
    let sent = false;
    ch.stderr.on('data', (d) => (stderr += d));
    ch.stdout.on('data', (d) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const obj = JSON.parse(line) as Record<string, unknown>;
        replies.push(obj);
        if ('QMP' in obj && !sent) {
          sent = true;
          ch.stdin.write([{ execute: 'qmp_capabilities' }, ...commands].map((c) => JSON.stringify(c) + '\n').join(''));
        }
      }
    });
    ch.on('error', reject);
    ch.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, replies, stderr });
    });
  });
}

describe.skipIf(!haveQemu)('QEMU ivshmem-doorbell against our server', () => {
  it('connects, realizes as PCI 1af4:1110 with 2 vectors, and quits cleanly', async () => {
    const sock = join(tmp, 'ivshmem.sock');
    server = new IvshmemServer().start({ socketPath: sock, size: 1 << 20, vectors: 2 });
    const joins: [number, number][] = [];
    const leaves: number[] = [];
    server.on('join', (p, v) => joins.push([p, v]));
    server.on('leave', (p) => leaves.push(p));
    // A peer of ours, connected first: it must see QEMU come and go.
    link = await connectIvshmem(sock);
    const seen: [number, boolean, number][] = [];
    link.onPeerChange((p, j) => seen.push([p, j, link!.peerVectors(p)]));

    const r = await qemuQmp(
      [
        '-M', 'virt', '-cpu', 'cortex-a57', '-m', '128M', '-nodefaults', '-display', 'none', '-S',
        '-chardev', `socket,path=${sock},id=ivs`,
        '-device', 'ivshmem-doorbell,chardev=ivs,vectors=2,id=ivdb',
      ],
      [
        { execute: 'human-monitor-command', arguments: { 'command-line': 'info pci' } },
        { execute: 'qom-get', arguments: { path: '/machine/peripheral/ivdb', property: 'realized' } },
        { execute: 'quit' },
      ],
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const returns = r.replies.filter((x) => 'return' in x).map((x) => x.return);
    const infoPci = returns.find((x) => typeof x === 'string') as string;
    expect(infoPci).toMatch(/PCI device 1af4:1110/);
    // BAR2 is the shared memory: 1 MiB (size mask 0xffffe... + 1 in QEMU's notation).
    expect(infoPci).toMatch(/BAR2: 64 bit prefetchable memory at [0-9a-fx]+ \[0x000ffffe\]/);
    expect(returns).toContain(true); // realized
    const qemuId = link.id + 1;
    expect(joins).toEqual([[link.id, 2], [qemuId, 2]]);
    // QEMU's exit closes its socket: the server announces the departure.
    await new Promise<void>((res) => {
      const check = () => (leaves.includes(qemuId) ? res() : setTimeout(check, 5));
      check();
    });
    await new Promise<void>((res) => {
      const check = () => (seen.length >= 2 ? res() : setTimeout(check, 5));
      check();
    });
    expect(seen).toEqual([[qemuId, true, 2], [qemuId, false, 0]]);
  });
});
