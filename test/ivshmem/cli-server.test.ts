// `cmemu ivshmem-server` as a user meets it: QEMU's options, foreground and daemon modes, pid
// file, verbose log, clean exit on signals, and bad options (exit 2, one clear line).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseServerArgs, parseSize } from '../../src/cli/ivshmem-server.js';
import { connectIvshmem } from '../../src/host/ivshmem/client.js';
import { CMEMU, runCmemu } from '../support/run-cmemu.js';

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-ivsrv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const started: number[] = [];
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

async function until(cond: () => boolean, ms = 10000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function foreground(args: string[]): { ch: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const ch = spawn(process.execPath, [CMEMU, 'ivshmem-server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(ch.pid!);
  let out = '';
  ch.stdout!.on('data', (d) => (out += d));
  ch.stderr!.on('data', (d) => (out += d));
  return { ch, out: () => out, exit: new Promise((r) => ch.on('exit', (code) => r(code))) };
}

describe('option parsing', () => {
  it('sizes as QEMU: K/M/G suffixes, any case', () => {
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('1K')).toBe(1024);
    expect(parseSize('3m')).toBe(3 << 20);
    expect(parseSize('1G')).toBe(1 << 30);
    expect(parseSize('1.5M')).toBe(1.5 * (1 << 20));
    expect(() => parseSize('abc')).toThrow(/invalid size/);
    expect(() => parseSize('0')).toThrow(/at least 1 byte/);
  });
  it('getopt style: grouped flags, attached values, last of -M/-m wins', () => {
    expect(parseServerArgs(['-Fv', '-S/tmp/x', '-l', '1M', '-n2', '-M', 'a', '-m', '/d'])).toMatchObject({
      foreground: true,
      verbose: true,
      socketPath: '/tmp/x',
      size: 1 << 20,
      vectors: 2,
      shmDir: '/d',
      shmName: undefined,
    });
    expect(parseServerArgs([])).toMatchObject({ socketPath: '/tmp/ivshmem_socket', size: 4 << 20, vectors: 1, foreground: false });
  });
});

describe('cmemu ivshmem-server', () => {
  it('-h prints the usage (memfd default said) and exits 0', async () => {
    const r = await runCmemu(['ivshmem-server', '-h']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/-S PATH/);
    expect(r.stdout).toMatch(/memfd/);
    expect(r.stdout).toMatch(/power of two/);
  });

  const bad: [string[], RegExp][] = [
    [['-x'], /unknown option '-x'/],
    [['-n', '0'], /invalid number of vectors '0' \(1\.\.64\)/],
    [['-n', '65'], /invalid number of vectors '65'/],
    [['-l', 'lots'], /invalid size 'lots'/],
    [['-S'], /option -S needs a value/],
    [['-v'], /cannot use verbose \(-v\) in daemon mode/],
    [['-F', 'extra'], /unexpected argument 'extra'/],
    [['--socket', 'x'], /unknown option '--socket'/],
  ];
  for (const [args, msg] of bad) {
    it(`bad options exit 2 with a message: ${args.join(' ')}`, async () => {
      const r = await runCmemu(['ivshmem-server', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(msg);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    });
  }

  it('-F -v -p -l -n: serves, logs, writes the pid file; SIGTERM removes socket and pid file', async () => {
    const sock = join(tmp, 'fg.sock');
    const pidFile = join(tmp, 'fg.pid');
    const s = foreground(['-F', '-v', '-S', sock, '-p', pidFile, '-l', '3M', '-n', '2']);
    // Two writes: the listening line, then (after the pid file) the rounding note.
    await until(() => /listening on/.test(s.out()) && /rounded up/.test(s.out()));
    expect(s.out()).toMatch(/memfd, 4194304 bytes, 2 vector\(s\)/);
    expect(s.out()).toMatch(/rounded up to 4194304/);
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(s.ch.pid));
    const l = await connectIvshmem(sock);
    expect(l.shmSize).toBe(4 << 20);
    expect(l.ownVectorFds.length).toBe(2);
    await until(() => /new peer id 0 \(2 vector\(s\)\)/.test(s.out()));
    l.close();
    await until(() => /peer 0: disconnected; freed/.test(s.out()));
    s.ch.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('-M: a POSIX shm object, removed on SIGINT', async () => {
    const sock = join(tmp, 'shm.sock');
    const name = `cmemu-cli-${process.pid}`;
    const s = foreground(['-F', '-S', sock, '-M', name, '-l', '64K']);
    await until(() => existsSync(sock));
    expect(existsSync(`/dev/shm/${name}`)).toBe(true);
    expect(statSync(`/dev/shm/${name}`).size).toBe(65536);
    const l = await connectIvshmem(sock);
    expect(l.shmSize).toBe(65536);
    l.close();
    expect(s.out()).toBe(''); // quiet without -v
    s.ch.kill('SIGINT');
    expect(await s.exit).toBe(0);
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(`/dev/shm/${name}`)).toBe(false);
  });

  it('without -F: detaches, prints nothing, exits 0; the daemon serves until SIGTERM', async () => {
    const sock = join(tmp, 'd.sock');
    const pidFile = join(tmp, 'd.pid');
    const r = await runCmemu(['ivshmem-server', '-S', sock, '-p', pidFile, '-n', '3']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
    await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    started.push(pid);
    expect(existsSync(sock)).toBe(true);
    const l = await connectIvshmem(sock);
    expect(l.ownVectorFds.length).toBe(3);
    l.close();
    process.kill(pid, 'SIGTERM');
    await until(() => !existsSync(sock));
    await until(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });

  it('a socket in use: the error is reported before detaching, exit 1', async () => {
    const sock = join(tmp, 'busy.sock');
    const s = foreground(['-F', '-S', sock]);
    await until(() => existsSync(sock));
    const r = await runCmemu(['ivshmem-server', '-S', sock]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/in use by a running server/);
    const r2 = await runCmemu(['ivshmem-server', '-F', '-S', sock]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/in use by a running server/);
    s.ch.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });
});
