/**
 * The server's side of docs/threat-model.md (issue 11): its socket and the shm objects it creates
 * are 0600; it does not reuse an existing shm object that others can open; a second server does
 * not steal a live socket path (the first keeps serving). Through `cmemu ivshmem-server`, whose
 * exit status and stderr are what is under test.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { connectIvshmem } from '../../src/host/ivshmem/client.js';
import { CMEMU, runCmemu } from '../support/run-cmemu.js';

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-sec-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function serve(args: string[]) {
  const child = spawn(process.execPath, [CMEMU, 'ivshmem-server', '-F', '-v', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return {
    child,
    out: () => out,
    async ready() {
      for (let i = 0; i < 400 && !/listening on/.test(out); i++) await sleep(50);
      expect(out).toMatch(/listening on/);
    },
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('close', r));
    },
  };
}

describe('ivshmem server security', () => {
  it('socket and shm object 0600; a second server refuses the live path and the first keeps serving', async () => {
    const sock = join(tmp, 'a.sock');
    const name = `cmemu-sec-${process.pid}`;
    const s = serve(['-S', sock, '-M', name, '-l', '64K']);
    try {
      await s.ready();
      expect(statSync(sock).mode & 0o777).toBe(0o600);
      expect(statSync(`/dev/shm/${name}`).mode & 0o777).toBe(0o600);
      const r = await runCmemu(['ivshmem-server', '-F', '-S', sock, '-l', '64K'], { timeoutMs: 20_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^[^\n]*a\.sock is in use by a running server\n$/);
      expect(existsSync(sock)).toBe(true);
      const l = await connectIvshmem(sock, { timeoutMs: 5000 });
      expect(l.shmSize).toBe(64 * 1024);
      l.close();
    } finally {
      await s.stop();
    }
    expect(existsSync(`/dev/shm/${name}`)).toBe(false);
  }, 60_000);

  it('an existing shm object that others can open is not reused', async () => {
    const name = `cmemu-sec-open-${process.pid}`;
    writeFileSync(`/dev/shm/${name}`, Buffer.alloc(65536));
    chmodSync(`/dev/shm/${name}`, 0o666);
    try {
      const r = await runCmemu(['ivshmem-server', '-F', '-S', join(tmp, 'b.sock'), '-M', name, '-l', '64K'], { timeoutMs: 20_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^[^\\n]*shm object ${name} exists with mode 0666: refusing to share memory others can open[^\\n]*\\n$`));
      expect(existsSync(join(tmp, 'b.sock'))).toBe(false);
      chmodSync(`/dev/shm/${name}`, 0o600); // its owner's own, closed: reused, as QEMU does
      const s = serve(['-S', join(tmp, 'b.sock'), '-M', name, '-l', '64K']);
      await s.ready();
      expect(s.out()).toMatch(/\(existing\)/);
      await s.stop();
      expect(existsSync(`/dev/shm/${name}`)).toBe(true); // not ours to unlink
    } finally {
      rmSync(`/dev/shm/${name}`, { force: true });
    }
  }, 60_000);
});
