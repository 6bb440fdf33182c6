/**
 * `cmemu run --world world.json`: several boards on one virtual timeline, from a file.
 *
 *   {
 *     "quantum": "10 us",
 *     "boards": [
 *       { "name": "a", "board": "mps2-an385", "firmware": "initiator.elf", "append": "initiator n=1000", "semihosting": true },
 *       { "name": "b", "board": "lm3s6965evb", "firmware": "responder.elf", "append": "responder", "semihosting": true }
 *     ],
 *     "ivshmem": [ { "peers": ["a", "b"], "size": "4M", "vectors": 2 } ],
 *     "until": { "board": "a", "text": "PASS" },
 *     "timeout": "5 s"
 *   }
 *
 * Paths are relative to the file. Each board's UART0 lines are printed as `name | line` as they
 * come. The run ends when `until` holds (exit 0), or when every board has finished (the first
 * non-zero guest exit code, else 0; a lockup: 1), or at `timeout` of virtual time (exit 3).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createWorld, type World } from '../system/world.js';
import type { System } from '../system/system.js';
import { InputError, TimeoutError, UsageError } from '../system/errors.js';

interface WorldFileBoard {
  name?: string;
  board: string;
  firmware: string;
  append?: string;
  semihosting?: boolean;
  icount?: number;
  log?: string[];
}
interface WorldFile {
  quantum?: string | number;
  boards: WorldFileBoard[];
  ivshmem?: { peers: string[]; size?: string | number; vectors?: number; irq?: number; iomem?: number; shmem?: number }[];
  until?: { board: string; text: string; uart?: number };
  timeout?: string | number;
}

function fail(file: string, m: string): never {
  throw new UsageError(`${file}: ${m}`);
}

export function readWorldFile(file: string): WorldFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`could not read world file '${file}': ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
  let w: unknown;
  try {
    w = JSON.parse(text);
  } catch (e) {
    throw new InputError(`world file '${file}' is not JSON: ${(e as Error).message}`);
  }
  if (typeof w !== 'object' || w === null || !Array.isArray((w as WorldFile).boards) || (w as WorldFile).boards.length === 0) fail(file, 'needs "boards": [ { "board": ..., "firmware": ... }, ... ]');
  const wf = w as WorldFile;
  const names = new Set<string>();
  wf.boards.forEach((b, i) => {
    if (typeof b !== 'object' || b === null || typeof b.board !== 'string' || typeof b.firmware !== 'string') fail(file, `boards[${i}] needs "board" and "firmware" strings`);
    b.name ??= `b${i}`;
    if (names.has(b.name)) fail(file, `two boards are named '${b.name}'`);
    names.add(b.name);
  });
  for (const [i, l] of (wf.ivshmem ?? []).entries()) {
    if (!Array.isArray(l.peers) || l.peers.length < 1) fail(file, `ivshmem[${i}] needs "peers": [board names]`);
    for (const p of l.peers) if (!names.has(p)) fail(file, `ivshmem[${i}]: no board named '${p}'`);
  }
  if (wf.until && (!names.has(wf.until.board) || typeof wf.until.text !== 'string')) fail(file, `"until" needs { "board": one of ${[...names].join(', ')}, "text": "..." }`);
  return wf;
}

export async function runWorldFile(file: string, out: (s: string) => void = (s) => process.stdout.write(s), web?: { host: string; port: number }): Promise<number> {
  const wf = readWorldFile(file);
  const base = dirname(resolve(file));
  const world: World = await createWorld({ quantum: wf.quantum });
  const byName = new Map<string, System>();
  try {
    for (const b of wf.boards) {
      const sys = await world.add({
        board: b.board,
        firmware: isAbsolute(b.firmware) ? b.firmware : resolve(base, b.firmware),
        append: b.append,
        semihosting: b.semihosting ?? true,
        time: b.icount !== undefined ? { icount: b.icount } : undefined,
        log: b.log ? { items: b.log } : undefined,
      });
      byName.set(b.name!, sys);
      sys.uart(0).onLine((line) => out(`${b.name} | ${line}\n`));
    }
    for (const l of wf.ivshmem ?? []) world.ivshmem({ peers: l.peers.map((p) => byName.get(p)!), size: l.size, vectors: l.vectors, irq: l.irq, iomem: l.iomem, shmem: l.shmem });
    if (web) {
      const v = await world.serve({ ...web, names: wf.boards.map((b) => b.name!) });
      process.stderr.write(`cmemu: live view at ${v.url}\n`);
    }
    const until = wf.until;
    const watched = until ? byName.get(until.board)!.uart(until.uart ?? 0) : null;
    const all = [...byName.values()];
    try {
      await world.runUntil(() => (watched ? watched.seen(until!.text) : false) || all.every((s) => s.finished !== null), { timeout: wf.timeout ?? '60 s' });
    } catch (e) {
      if (e instanceof TimeoutError) {
        process.stderr.write(`cmemu: ${until ? `"${until.text}" did not appear on ${until.board}'s uart${until.uart ?? 0}` : 'the boards did not finish'} within ${wf.timeout ?? '60 s'} of virtual time\n`);
        return 3;
      }
      throw e;
    }
    if (watched?.seen(until!.text)) return 0;
    let code = 0;
    for (const [name, s] of byName) {
      const o = s.finished!;
      if (o.kind === 'lockup' || o.kind === 'error') {
        process.stderr.write(`cmemu: ${name}: ${o.message}\n`);
        code ||= 1;
      } else if (o.kind === 'exit' && o.code !== 0) code ||= o.code;
    }
    return code;
  } finally {
    // Lines cut short by the end of the run (an "until" text mid-line) are shown too.
    for (const [name, s] of byName) if (s.uart(0).partialLine()) out(`${name} | ${s.uart(0).partialLine()}\n`);
    await world.close();
  }
}
