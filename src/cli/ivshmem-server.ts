/**
 * `cmemu ivshmem-server`: a drop-in for QEMU's contrib/ivshmem-server (which Debian does not ship),
 * with its options: -S socket, -M shm-name | -m dir, -l size (K/M/G, rounded up to a power of two),
 * -n vectors, -F foreground, -p pidfile, -v verbose, -h. The server itself is
 * src/devices/ivshmem/server.ts.
 *
 * Differences from QEMU's, on purpose: with neither -M nor -m the memory is a memfd (nothing left
 * in /dev/shm, nothing to clean up) instead of the shm object "ivshmem"; -n accepts 1..64 (QEMU
 * also takes 0, which leaves peers without doorbells); -p writes the pid file in foreground mode
 * too, and there is no default pid file (QEMU's /var/run one needs root); bad options exit 2 (QEMU
 * 1). As QEMU's, without -F it detaches and prints nothing (errors found before detaching, such as
 * a socket in use, are still reported, exit 1), and -v needs -F.
 */
import { spawn } from 'node:child_process';
import { unlinkSync, writeFileSync } from 'node:fs';
import { IvshmemServer, pow2ceil } from '../host/ivshmem/server.js';
import { MAX_VECTORS } from '../host/ivshmem/protocol.js';

export const DEFAULT_SOCKET = '/tmp/ivshmem_socket';
export const DEFAULT_SIZE = 4 * 1024 * 1024;
/** Set in the detached child of a daemonizing server. */
const DAEMON_ENV = 'CMEMU_IVSHMEM_DAEMON_CHILD';

export const IVSHMEM_SERVER_HELP = `usage: cmemu ivshmem-server [OPTION]...
An ivshmem server compatible with QEMU's contrib/ivshmem-server (for QEMU's ivshmem-doorbell and
ivshmem-plain devices and cmemu's ivshmem-flat).
  -h              show this help
  -v              verbose: log connections and departures on stdout (needs -F)
  -F              foreground mode (default: detach into the background and print nothing)
  -p PIDFILE      write the server's pid to PIDFILE (removed on exit)
  -S PATH         UNIX socket to listen on, created with mode 0600
                  default ${DEFAULT_SOCKET}
  -M NAME         use the POSIX shared-memory object NAME (shm_open; removed on exit if this
                  server created it)
  -m DIR          create the shared memory as a file in DIR (unlinked at once)
                  default (neither -M nor -m): an anonymous memfd (QEMU's default is -M ivshmem)
  -l SIZE         shared memory size in bytes; suffixes K, M, G (1K = 1024); rounded up to a
                  power of two, as QEMU's server does; default 4M
  -n VECTORS      eventfds (interrupt vectors) per peer, 1..${MAX_VECTORS}; default 1
Stop it with SIGTERM or SIGINT: it removes its socket (and the shm object it created).
`;

export class ServerUsageError extends Error {}

export interface ServerArgs {
  help: boolean;
  verbose: boolean;
  foreground: boolean;
  pidFile?: string;
  socketPath: string;
  shmName?: string;
  shmDir?: string;
  size: number;
  vectors: number;
}

/** Parse a size as QEMU does for -l: a number with an optional fraction and a K/M/G/T suffix (any case). */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)[bB]?$/.exec(s.trim());
  if (!m) throw new ServerUsageError(`invalid size '${s}' (a number with an optional K, M or G suffix)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.ceil(Number(m[1]) * mult);
  if (!(n >= 1)) throw new ServerUsageError(`invalid size '${s}': must be at least 1 byte`);
  if (n > 2 ** 40) throw new ServerUsageError(`invalid size '${s}': at most 1T`);
  return n;
}

/** getopt("hvFp:S:m:M:l:n:") as QEMU's server, including grouped flags (-Fv) and attached values (-S/path). */
export function parseServerArgs(argv: readonly string[]): ServerArgs {
  const a: ServerArgs = { help: false, verbose: false, foreground: false, socketPath: DEFAULT_SOCKET, size: DEFAULT_SIZE, vectors: 1 };
  const withValue = new Set(['p', 'S', 'm', 'M', 'l', 'n']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (i + 1 < argv.length) throw new ServerUsageError(`unexpected argument '${argv[i + 1]}'`);
      break;
    }
    if (arg === '--help') {
      a.help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-' || arg.startsWith('--')) throw new ServerUsageError(arg.startsWith('--') ? `unknown option '${arg}'` : `unexpected argument '${arg}'`);
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j]!;
      if (withValue.has(c)) {
        let v = arg.slice(j + 1);
        if (v === '') {
          if (i + 1 >= argv.length) throw new ServerUsageError(`option -${c} needs a value`);
          v = argv[++i]!;
        }
        setOpt(a, c, v);
        break;
      }
      if (c === 'h') a.help = true;
      else if (c === 'v') a.verbose = true;
      else if (c === 'F') a.foreground = true;
      else throw new ServerUsageError(`unknown option '-${c}'`);
    }
  }
  if (a.verbose && !a.foreground && !a.help) throw new ServerUsageError('cannot use verbose (-v) in daemon mode: add -F');
  return a;
}

function setOpt(a: ServerArgs, c: string, v: string): void {
  switch (c) {
    case 'p':
      a.pidFile = v;
      return;
    case 'S':
      if (v === '') throw new ServerUsageError('-S needs a socket path');
      a.socketPath = v;
      return;
    case 'M':
      if (v === '') throw new ServerUsageError('-M needs a shared-memory object name');
      a.shmName = v;
      a.shmDir = undefined; // the last of -M/-m wins, as in QEMU
      return;
    case 'm':
      if (v === '') throw new ServerUsageError('-m needs a directory');
      a.shmDir = v;
      a.shmName = undefined;
      return;
    case 'l':
      a.size = parseSize(v);
      return;
    case 'n': {
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > MAX_VECTORS) {
        throw new ServerUsageError(`invalid number of vectors '${v}' (1..${MAX_VECTORS})`);
      }
      a.vectors = Number(v);
      return;
    }
  }
}

function usageFail(msg: string): number {
  process.stderr.write(`cmemu ivshmem-server: ${msg}\nTry 'cmemu ivshmem-server -h' for more information.\n`);
  return 2;
}

/** Run the subcommand; resolves with the exit code (when stopped by a signal, 0). */
export async function runIvshmemServer(argv: readonly string[]): Promise<number> {
  let args: ServerArgs;
  try {
    args = parseServerArgs(argv);
  } catch (e) {
    if (e instanceof ServerUsageError) return usageFail(e.message);
    throw e;
  }
  if (args.help) {
    process.stdout.write(IVSHMEM_SERVER_HELP);
    return 0;
  }
  if (!args.foreground && process.env[DAEMON_ENV] !== '1') return daemonize(argv);
  return serve(args, process.env[DAEMON_ENV] === '1');
}

/**
 * Detach: re-run ourselves with -F in a new session, stdio closed, and wait for its word that the
 * server is listening (or why it is not) over an IPC channel, then leave it running.
 */
function daemonize(argv: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'ivshmem-server', ...argv, '-F'], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: { ...process.env, [DAEMON_ENV]: '1' },
    });
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    child.on('message', (m: { ok?: boolean; error?: string }) => {
      if (m.ok) finish(0);
      else {
        process.stderr.write(`cmemu ivshmem-server: ${m.error ?? 'failed to start'}\n`);
        finish(1);
      }
    });
    child.on('exit', (code) => {
      if (!done) {
        process.stderr.write(`cmemu ivshmem-server: the background server exited at start (code ${code})\n`);
        finish(1);
      }
    });
    child.on('error', (e) => {
      process.stderr.write(`cmemu ivshmem-server: cannot start the background server: ${e.message}\n`);
      finish(1);
    });
  });
}

function serve(args: ServerArgs, daemonChild: boolean): Promise<number> {
  const verbose = args.verbose && !daemonChild;
  const server = new IvshmemServer();
  const say = (m: { ok?: boolean; error?: string }) => {
    if (daemonChild && process.send) {
      process.send(m);
      process.disconnect();
    }
  };
  try {
    server.start({
      socketPath: args.socketPath,
      shmName: args.shmName,
      shmDir: args.shmDir,
      size: args.size,
      vectors: args.vectors,
      log: verbose ? (line) => process.stdout.write(`ivshmem-server: ${line}\n`) : undefined,
    });
    if (args.pidFile) writeFileSync(args.pidFile, `${process.pid}\n`);
  } catch (e) {
    server.stop();
    const msg = (e as Error).message.replace(/^ivshmem server: /, '');
    if (daemonChild) say({ error: msg });
    else process.stderr.write(`cmemu ivshmem-server: ${msg}\n`);
    return Promise.resolve(1);
  }
  if (verbose && args.size !== pow2ceil(args.size)) process.stdout.write(`ivshmem-server: size ${args.size} rounded up to ${server.shmSize}\n`);
  say({ ok: true });
  return new Promise((resolve) => {
    const quit = (sig: string) => {
      if (verbose) process.stdout.write(`ivshmem-server: ${sig}: exiting\n`);
      server.stop();
      if (args.pidFile) {
        try {
          unlinkSync(args.pidFile);
        } catch {
          /* gone */
        }
      }
      resolve(0);
    };
    process.once('SIGINT', () => quit('SIGINT'));
    process.once('SIGTERM', () => quit('SIGTERM'));
    if (daemonChild) process.on('SIGHUP', () => {});
  });
}
