// The live view's cost: bench_loop guest MIPS on one board (icount) without a server, with a
// server and no page, and with a page open in headless Chromium (a separate process, as a user's
// browser); and a ping-pong world's wall time without/with a server. Alternating, median of N.
//   node scripts/bench-web.mjs [N]      (after the TS build and make -C firmware)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSystem, createWorld } from '../dist/index.js';

const N = Number(process.argv[2] ?? 5);
const fw = (b, n) => new URL(`../firmware/build/${b}/${n}.elf`, import.meta.url).pathname;
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function loop(mode) {
  const sys = await createSystem({ board: 'mps2-an385', firmware: fw('mps2-an385', 'bench_loop'), time: { icount: 7 }, semihosting: true });
  let browser = null;
  let dir = null;
  if (mode !== 'none') {
    const v = await sys.serve();
    if (mode === 'ws') {
      // A plain WebSocket client in another process: the server's sampling without a browser's rendering.
      browser = spawn(process.execPath, ['-e', "const W = require('ws'); new W(process.argv[1]).on('message', () => {});", v.url.replace('http', 'ws') + 'ws'], { stdio: 'ignore', detached: true, cwd: new URL('..', import.meta.url).pathname });
      while (v.connections === 0) await new Promise((r) => setTimeout(r, 50));
    }
    if (mode === 'page') {
      dir = mkdtempSync(join(tmpdir(), 'cmemu-bench-chromium-'));
      browser = spawn('/usr/bin/chromium', ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${dir}`, '--remote-debugging-port=0', v.url], { stdio: 'ignore', detached: true });
      while (v.connections === 0) await new Promise((r) => setTimeout(r, 50));
    }
  }
  const t0 = process.hrtime.bigint();
  await sys.run();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const mips = sys.instructions() / s / 1e6;
  if (browser) {
    const gone = new Promise((r) => browser.once('exit', r));
    process.kill(-browser.pid, 'SIGKILL'); // the whole process group (renderers, zygote)
    await gone;
  }
  await sys.close();
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  return mips;
}

async function world(serve) {
  const w = await createWorld({ quantum: '10 us' });
  const a = await w.add({ board: 'mps2-an385', firmware: fw('mps2-an385', 'ivshmem_pingpong'), append: 'initiator n=2000', semihosting: true });
  const b = await w.add({ board: 'lm3s6965evb', firmware: fw('lm3s6965evb', 'ivshmem_pingpong'), append: 'responder', semihosting: true });
  w.ivshmem({ peers: [a, b], size: '64K', vectors: 2 });
  if (serve) await w.serve();
  const t0 = process.hrtime.bigint();
  await w.runUntil(() => a.finished !== null, { timeout: '100 s' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await w.close();
  return ms;
}

const r = { none: [], server: [], ws: [], page: [], worldNone: [], worldServer: [] };
for (let i = 0; i < N; i++) {
  for (const m of ['none', 'server', 'ws', 'page']) r[m].push(await loop(m));
  r.worldNone.push(await world(false));
  r.worldServer.push(await world(true));
}
const f = (a) => a.map((x) => x.toFixed(1)).join(' ');
// Each iteration's ratio to the reference measured next to it (the machine is shared: absolute figures drift).
const ratio = (a, ref) => median(a.map((x, i) => x / ref[i])).toFixed(3);
console.log(`paired ratios (median): server/none ${ratio(r.server, r.none)}, ws client/none ${ratio(r.ws, r.none)}, page/none ${ratio(r.page, r.none)}, world server/none (wall) ${ratio(r.worldServer, r.worldNone)}`);
console.log(`bench_loop MIPS (icount 7), median of ${N}: no server ${median(r.none).toFixed(1)} | server, no page ${median(r.server).toFixed(1)} (${(median(r.server) / median(r.none)).toFixed(3)}x) | page open ${median(r.page).toFixed(1)} (${(median(r.page) / median(r.none)).toFixed(3)}x)`);
console.log(`  runs: none [${f(r.none)}] server [${f(r.server)}] page [${f(r.page)}]`);
console.log(`ping-pong world n=2000, 10 us quantum, wall ms: no server ${median(r.worldNone).toFixed(0)} | server ${median(r.worldServer).toFixed(0)} (${(median(r.worldServer) / median(r.worldNone)).toFixed(3)}x)`);
console.log(`  runs: none [${f(r.worldNone)}] server [${f(r.worldServer)}]`);
