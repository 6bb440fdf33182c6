/**
 * `make bench` (fifth part) / `node dist/bench/snapshot.js`: snapshot size and save/restore times,
 * on the largest firmware of ours (ivshmem_pingpong, 73 KB ELF) mid-run: one board of each kind,
 * and the two-board ping-pong world with its 4 MiB shared memory. No Zephyr image exists on this
 * machine (PyPI and west are unreachable, and the Zephyr tree is too big to fetch), so the figure
 * is for our own firmware. Milliseconds, median of BENCH_SNAPSHOT_RUNS (default 7):
 * capture = sys.snapshot() (registers, devices, memory copied), encode = toBuffer() (deflate
 * level 1 + SHA-256), decode = Snapshot.fromBuffer(), restore = sys.restore() into a fresh system.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSystem, createWorld, InProcessIvshmem, Snapshot, type System, type World } from '../index.js';
import { loadNative } from '../native/cpu.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNS = Number(process.env.BENCH_SNAPSHOT_RUNS ?? 7);
const fw = (board: string) => join(root, 'firmware', 'build', board, 'ivshmem_pingpong.elf');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function pingpongWorld(): Promise<{ world: World; a: System; b: System }> {
  const world = await createWorld({ quantum: '10 us' });
  const a = await world.add({ board: 'mps2-an385', firmware: fw('mps2-an385'), append: 'initiator n=100000', semihosting: true });
  const b = await world.add({ board: 'lm3s6965evb', firmware: fw('lm3s6965evb'), append: 'responder', semihosting: true });
  world.ivshmem({ peers: [a, b], size: '4M', vectors: 2 });
  return { world, a, b };
}

interface Row {
  what: string;
  bytes: number;
  raw: number;
  capture: number;
  encode: number;
  decode: number;
  restore: number;
}

async function measure(what: string, make: () => Promise<{ snap: () => Promise<Snapshot>; restoreFresh: (s: Snapshot) => Promise<number>; close: () => Promise<void> }>): Promise<Row> {
  const r = { capture: [] as number[], encode: [] as number[], decode: [] as number[], restore: [] as number[] };
  let bytes = 0;
  let raw = 0;
  const h = await make();
  for (let i = 0; i < RUNS; i++) {
    let t = process.hrtime.bigint();
    const s = await h.snap();
    r.capture.push(ms(t));
    t = process.hrtime.bigint();
    const buf = s.toBuffer();
    r.encode.push(ms(t));
    bytes = buf.length;
    raw = s.blobs.reduce((n, b) => n + b.byteLength, 0);
    t = process.hrtime.bigint();
    const back = Snapshot.fromBuffer(buf);
    r.decode.push(ms(t));
    r.restore.push(await h.restoreFresh(back));
  }
  await h.close();
  return { what, bytes, raw, capture: median(r.capture), encode: median(r.encode), decode: median(r.decode), restore: median(r.restore) };
}

const rows: Row[] = [];
for (const board of ['mps2-an385', 'lm3s6965evb']) {
  rows.push(
    await measure(`${board}, one board (waiting for its peer, 4 MiB shared memory)`, async () => {
      // Alone on a 4 MiB in-process link (it waits for a peer): the same memory as in the world.
      const mk = () =>
        createSystem({ board, firmware: fw(board), time: { icount: 7 }, append: 'initiator n=10', semihosting: true, ivshmem: { link: new InProcessIvshmem(loadNative().allocHostMemory(4 << 20), 2).join() } });
      const sys = await mk();
      await sys.runFor({ instructions: 200_000 });
      return {
        snap: () => sys.snapshot(),
        restoreFresh: async (s) => {
          const f = await mk();
          const t = process.hrtime.bigint();
          f.restore(s);
          const d = ms(t);
          await f.close();
          return d;
        },
        close: () => sys.close(),
      };
    }),
  );
}
rows.push(
  await measure('the ping-pong world (both boards + 4 MiB shared memory, mid-exchange)', async () => {
    const w = await pingpongWorld();
    await w.world.runUntil(() => w.a.uart(0).seen(/round trips/), { timeout: '10 s' });
    return {
      snap: () => w.world.snapshot(),
      restoreFresh: async (s) => {
        const f = await pingpongWorld();
        const t = process.hrtime.bigint();
        f.world.restore(s);
        const d = ms(t);
        await f.world.close();
        return d;
      },
      close: () => w.world.close(),
    };
  }),
);

console.log(`\nSnapshots: size and times (ms, median of ${RUNS}); memory = RAM + flash + shared memory before compression`);
console.log('| what | file | memory | capture | encode | decode | restore |');
console.log('|---|---|---|---|---|---|---|');
const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
for (const r of rows) console.log(`| ${r.what} | ${kb(r.bytes)} | ${kb(r.raw)} | ${r.capture.toFixed(1)} | ${r.encode.toFixed(1)} | ${r.decode.toFixed(1)} | ${r.restore.toFixed(1)} |`);
