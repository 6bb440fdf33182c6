/**
 * cmemu's command line. Three forms:
 *   cmemu [qemu-system-arm options]            the drop-in form (-M, -kernel, -serial, -icount, ...)
 *   cmemu run [options] FIRMWARE.elf           the friendly form for scripts and CI
 *   cmemu boards [BOARD]                       list boards / print a board's memory map
 */
import { parseQemuArgs, infoText, UsageError } from './qemu-args.js';
import { InputError, launch } from './launch.js';
import { BOARDS, findBoard } from '../machine/boards/index.js';
import { describeBoard } from './boards.js';
import { parseDuration } from '../system/units.js';

function fail(msg: string, code = 2): number {
  process.stderr.write(`cmemu: ${msg}\n`);
  return code;
}

async function runQemuForm(argv: string[]): Promise<number> {
  const config = parseQemuArgs(argv);
  if (config.info) {
    if (config.info.kind === 'machine-help') {
      process.stdout.write('Supported machines are:\n' + BOARDS.map((b) => `${b.name.padEnd(20)} ${b.description}\n`).join(''));
      return 0;
    }
    if (config.info.kind === 'machine-props') {
      const b = findBoard(config.info.machine);
      if (!b) return fail(`unsupported machine type '${config.info.machine}' (use -M help)`);
      process.stdout.write(describeBoard(b));
      return 0;
    }
    process.stdout.write(infoText(config.info));
    return 0;
  }
  return launch(config);
}

/** --snapshot-at: a whole number of instructions, or a virtual time with its unit ('5 ms', '200us'). */
function parseSnapshotAt(v: string): { instructions: number } | { time: number } {
  if (/^\d+$/.test(v.trim())) return { instructions: Number(v.trim()) };
  try {
    return { time: parseDuration(v, '--snapshot-at') };
  } catch {
    throw new UsageError(`--snapshot-at: give an instruction count (e.g. 1000000) or a virtual time (e.g. '5 ms'), not '${v}'`);
  }
}

// yargs costs ~100 ms to load: only the forms that parse with it import it.
async function loadYargs() {
  return (await import('yargs')).default;
}

async function runFriendly(argv: string[]): Promise<number> {
  let code = 0;
  const yargs = await loadYargs();
  await yargs(argv)
    .scriptName('cmemu run')
    .command(
      '$0 [firmware]',
      'Run a firmware ELF on an emulated board, with UART0 on stdout (or several boards: --world FILE)',
      (y) =>
        y
          .positional('firmware', { type: 'string', describe: 'ELF file to load' })
          .option('world', { type: 'string', describe: 'a JSON file of boards on one virtual timeline, linked by ivshmem-flat (docs/api.md, "Worlds")' })
          .option('machine', { alias: 'M', type: 'string', default: 'mps2-an385', describe: 'board (see `cmemu boards`)' })
          .option('timeout', { type: 'number', describe: 'give up after this many seconds (exit code 3)' })
          .option('until', { type: 'string', describe: 'exit 0 as soon as this text appears on UART0' })
          .option('icount', { type: 'number', describe: "deterministic virtual time, ns per instruction = 2^N (as -icount shift=N,align=off,sleep=off); default: the board's (7 on mps2-an385, as Zephyr's board files)" })
          .option('realtime', { type: 'boolean', default: false, describe: 'follow the host clock instead (as qemu-system-arm without -icount): timing-sensitive tests may then be flaky' })
          .option('semihosting', { type: 'boolean', default: true, describe: 'enable ARM semihosting (the guest can exit with a code)' })
          .option('serial', { type: 'array', string: true, describe: 'extra -serial backends for UART1.. (e.g. null, file:out.txt)' })
          .option('d', { type: 'string', describe: 'log items, as qemu -d (unimp,guest_errors,int,...)' })
          .option('ivshmem', { type: 'string', describe: 'ivshmem server socket (ivshmem-flat at the board defaults)' })
          .option('gdb', { type: 'string', describe: 'serve GDB on this TCP port (127.0.0.1), HOST:PORT, or unix:PATH' })
          .option('web', { type: 'string', describe: 'serve the live view (consoles, shared memory, doorbells, rates, pause/step) on HOST:PORT or PORT (127.0.0.1; 0: any free port)' })
          .option('wait', { type: 'boolean', default: false, describe: 'with --gdb: hold the CPU until the debugger continues (as -S)' })
          .option('loadvm', { type: 'string', describe: 'start from this snapshot file (as -loadvm; same board and firmware)' })
          .option('snapshot-at', { type: 'string', describe: "save a snapshot to --snapshot-file once the run reaches this many instructions (N) or this virtual time ('5 ms')" })
          .option('snapshot-file', { type: 'string', describe: 'where --snapshot-at and SIGUSR1 save a snapshot (SIGUSR1 saves, prints one line and carries on)' })
          .strict(),
      async (a) => {
        if (a.world) {
          if (a.firmware) throw new UsageError('--world FILE names its firmware itself: give no FIRMWARE');
          code = await (await import('./world.js')).runWorldFile(a.world, undefined, a.web !== undefined ? parseWebAddress(a.web) : undefined);
          return;
        }
        if (!a.firmware) throw new UsageError('give FIRMWARE.elf (or --world FILE); see cmemu run --help');
        const board = findBoard(a.machine);
        if (!board) throw new UsageError(`unknown board '${a.machine}' (known: ${BOARDS.map((x) => x.name).join(', ')})`);
        if (a.realtime && a.icount !== undefined) throw new UsageError('--realtime and --icount exclude each other');
        const qargs = ['-M', a.machine, '-nographic', '-kernel', a.firmware as string];
        // Deterministic by default: scripts and CI want the same verdict on every run.
        if (!a.realtime) qargs.push('-icount', `shift=${a.icount ?? board.icountShift},align=off,sleep=off`);
        if (a.semihosting) qargs.push('-semihosting-config', 'enable=on,target=native');
        for (const s of a.serial ?? []) qargs.push('-serial', String(s));
        if (a.d) qargs.push('-d', a.d);
        if (a.ivshmem) qargs.push('-chardev', `socket,path=${a.ivshmem},id=ivshmem0`, '-device', 'ivshmem-flat,chardev=ivshmem0');
        if (a.wait && a.gdb === undefined) throw new UsageError('--wait needs --gdb PORT');
        if (a.gdb !== undefined) {
          const g = String(a.gdb);
          qargs.push('-gdb', g.startsWith('unix:') || g.startsWith('tcp:') ? g : /^\d+$/.test(g) ? `tcp::${g}` : `tcp:${g}`);
          if (a.wait) qargs.push('-S');
        }
        if (a.loadvm !== undefined) qargs.push('-loadvm', String(a.loadvm));
        const snapshotAt = a.snapshotAt !== undefined ? parseSnapshotAt(String(a.snapshotAt)) : undefined;
        if (snapshotAt && !a.snapshotFile) throw new UsageError('--snapshot-at needs --snapshot-file FILE');
        if (a.snapshotFile === '') throw new UsageError('--snapshot-file: give a file name');
        const config = parseQemuArgs(qargs);
        code = await launch(config, {
          until: a.until,
          timeoutSec: a.timeout,
          web: a.web !== undefined ? parseWebAddress(a.web) : undefined,
          snapshotAt,
          snapshotFile: a.snapshotFile,
        });
      },
    )
    .help()
    .version(false)
    .fail((msg, e) => {
      throw e ?? new UsageError(msg);
    })
    .parseAsync();
  return code;
}

/** --web PORT | HOST:PORT | [IPv6]:PORT (default host 127.0.0.1). */
export function parseWebAddress(v: string): { host: string; port: number } {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--web: give PORT or HOST:PORT (e.g. 127.0.0.1:8080), not '${v}'`);
  return { host: m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1', port };
}

async function runBoards(argv: string[]): Promise<number> {
  let code = 0;
  const yargs = await loadYargs();
  await yargs(argv)
    .scriptName('cmemu boards')
    .command('$0 [board]', 'List the boards, or print one board’s memory map and devices', (y) => y.positional('board', { type: 'string' }), (a) => {
      if (!a.board) {
        for (const b of BOARDS) process.stdout.write(`${b.name.padEnd(20)} ${b.description}\n`);
        return;
      }
      const b = findBoard(a.board);
      if (!b) {
        code = fail(`unknown board '${a.board}' (known: ${BOARDS.map((x) => x.name).join(', ')})`);
        return;
      }
      process.stdout.write(describeBoard(b));
    })
    .help()
    .version(false)
    .strict()
    .parseAsync();
  return code;
}

const TOP_HELP = `usage: cmemu [qemu-system-arm options]      (e.g. -M mps2-an385 -nographic -kernel fw.elf; see -help)
       cmemu run [options] FIRMWARE.elf    (friendly form; see cmemu run --help)
       cmemu boards [BOARD]                (list boards, or print a board's memory map)
       cmemu ivshmem-server [OPTION]...    (an ivshmem server as QEMU's contrib/ivshmem-server; see -h)
       cmemu peer-linux --socket PATH ...  (a Linux VM as an ivshmem ping-pong peer; see --help)
`;

export async function main(argv: string[]): Promise<void> {
  let code: number;
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === 'help') {
      process.stdout.write(TOP_HELP);
      code = argv.length === 0 ? 2 : 0;
    } else if (argv[0] === 'run') code = await runFriendly(argv.slice(1));
    else if (argv[0] === 'boards') code = await runBoards(argv.slice(1));
    else if (argv[0] === 'ivshmem-server') code = await (await import('./ivshmem-server.js')).runIvshmemServer(argv.slice(1));
    else if (argv[0] === 'peer-linux') code = await (await import('./peer-linux.js')).runPeerLinux(argv.slice(1));
    else code = await runQemuForm(argv);
  } catch (e) {
    if (e instanceof UsageError || e instanceof InputError) code = fail(e.message);
    else {
      process.stderr.write(`cmemu: internal error: ${(e as Error).stack ?? e}\n`);
      code = 1;
    }
  }
  // Let stdout drain before exiting.
  await new Promise<void>((r) => (process.stdout.writableLength ? process.stdout.once('drain', () => r()) : r()));
  process.exit(code);
}
