/**
 * The live view: an HTTP server (node:http) and a WebSocket (the `ws` package) serving a page
 * (web/ in the package) that shows, as it happens, each board's consoles, the ivshmem shared
 * memory as a hexdump with the bytes that changed highlighted, the doorbells between peers (who
 * rang whom, which vector, at what virtual time), exception entries per second and guest MIPS per
 * board, with pause/resume/step buttons that go through sys.debug (the GDB stub's control).
 *
 * Costs: with no page open the server only records doorbells (a listener on each ivshmem-flat:
 * one array push per doorbell) and, for a world, gives the event loop a turn every ~10 ms of host
 * time; sampling (consoles, memory, counters) runs only while a page is connected, every
 * `intervalMs` (default 200 ms) of host time. The guest's run is never touched otherwise.
 *
 * Protocol (JSON text frames). Server → page: `hello` (the boards, UARTs, shared regions, history),
 * `tick` (counters, console text since the last tick, new doorbells, the page's memory window when
 * it changed), `stop` (a board halted: why). Page → server: `{ op: 'pause' | 'resume' }`,
 * `{ op: 'step', board? }`, `{ op: 'window', region, offset, length }`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { WebSocketServer, type WebSocket } from 'ws';
import type { IvshmemRing } from '../../devices/ivshmem-flat.js';
import type { DebugStop } from '../debug.js';
import { InputError, UsageError } from '../errors.js';
import type { System } from '../system.js';
import type { World } from '../world.js';

export interface WebViewOptions {
  /** Address to bind; default 127.0.0.1 (loopback). */
  host?: string;
  /** TCP port; default 0 (any free one: see `port`). */
  port?: number;
  /** Names for the boards, in order (default: b0, b1, ...; the CLI passes a world file's names). */
  names?: string[];
  /** How often a connected page is updated (host ms); default 200. */
  intervalMs?: number;
}

interface Region {
  name: string;
  shm: ArrayBuffer;
  /** Members: board index and peer id. */
  peers: { board: number; id: number }[];
}

interface Doorbell {
  seq: number;
  /** Virtual time (ns) of the board that rang (or received, for `in`). */
  t: number;
  region: number;
  dir: 'out' | 'in';
  /** Board index of the ringer (out) or of the receiver (in). */
  board: number;
  from: number;
  to: number;
  /** Board index of the peer rung (-1: not a board of this view, e.g. a peer behind a server). */
  toBoard: number;
  vector: number;
}

interface Client {
  ws: WebSocket;
  window: { region: number; offset: number; length: number };
  lastWindow: Uint8Array | null;
}

// web/ at the package root: three levels up from dist/system/web/, two from dist/cli/ (bin/cmemu's
// one-module bundle, scripts/bundle.mjs, runs this code from there).
const PAGE_DIR = ((here) => [join(here, '..', '..', '..', 'web'), join(here, '..', '..', 'web')].find((d) => existsSync(join(d, 'index.html'))) ?? join(here, '..', '..', '..', 'web'))(
  dirname(fileURLToPath(import.meta.url)),
);
const UPLOT_DIR = (() => {
  try {
    return dirname(createRequire(import.meta.url).resolve('uplot'));
  } catch {
    return null;
  }
})();
const FILES: Record<string, () => [string, string] | null> = {
  '/': () => [join(PAGE_DIR, 'index.html'), 'text/html; charset=utf-8'],
  '/app.js': () => [join(PAGE_DIR, 'app.js'), 'text/javascript; charset=utf-8'],
  '/app.css': () => [join(PAGE_DIR, 'app.css'), 'text/css; charset=utf-8'],
  '/lib/uPlot.iife.min.js': () => (UPLOT_DIR ? [join(UPLOT_DIR, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'] : null),
  '/lib/uPlot.min.css': () => (UPLOT_DIR ? [join(UPLOT_DIR, 'uPlot.min.css'), 'text/css; charset=utf-8'] : null),
};

const HISTORY = 5000;
const CONSOLE_TAIL = 32 * 1024;
const MAX_WINDOW = 16 * 1024;

export class WebView {
  readonly port: number;
  readonly url: string;
  private readonly clients = new Set<Client>();
  private readonly wss: WebSocketServer;
  private readonly regions: Region[] = [];
  private readonly doorbells: Doorbell[] = [];
  private seq = 0;
  private sentSeq = 0;
  private readonly unsubs: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly names: string[];
  private readonly intervalMs: number;
  /** Per board: what the last tick sent of each console (chars), and the counters then. */
  private consoleSent: Map<string, number>[] = [];
  private last: { host: number; insns: number[]; irqs: number[]; vt: number[] } | null = null;
  /** Boards this view halted (pause), and whether it wants them halted now. */
  private readonly wantHalt: boolean[];
  private readonly debugHooked: boolean[];

  private constructor(
    private readonly http: Server,
    private readonly target: { world: World | null; systems: System[] },
    opts: WebViewOptions,
    port: number,
    host: string,
  ) {
    this.port = port;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
    this.names = target.systems.map((_, i) => opts.names?.[i] ?? `b${i}`);
    this.intervalMs = opts.intervalMs ?? 200;
    this.wantHalt = target.systems.map(() => false);
    this.debugHooked = target.systems.map(() => false);
    this.findRegions();
    this.wss = new WebSocketServer({
      server: http,
      path: '/ws',
      // Only the page itself (or a non-browser client): another site open in the same browser must not drive the board.
      verifyClient: (info: { origin: string; req: IncomingMessage }) => !info.origin || info.origin === `http://${info.req.headers.host}`,
    });
    this.wss.on('connection', (ws) => this.connected(ws));
    if (target.world) target.world.hostTurns++;
  }

  /** @internal Use sys.serve() / world.serve(). */
  static async listen(target: { world: World | null; systems: System[] }, opts: WebViewOptions = {}): Promise<WebView> {
    const host = opts.host ?? '127.0.0.1';
    const port = opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`web: port ${port} is not 0..65535`);
    if (opts.intervalMs !== undefined && !(opts.intervalMs >= 10)) throw new UsageError('web: intervalMs must be at least 10');
    let view: WebView | null = null;
    const http = createServer((req, res) => void view?.serveFile(req, res));
    await new Promise<void>((resolve, reject) => {
      http.once('error', (e: NodeJS.ErrnoException) =>
        reject(new InputError(`web: cannot listen on ${host}:${port}: ${e.code === 'EADDRINUSE' ? 'address in use' : e.code === 'EADDRNOTAVAIL' ? 'no such local address' : e.message}`)),
      );
      http.listen(port, host, () => resolve());
    });
    const addr = http.address();
    view = new WebView(http, target, opts, typeof addr === 'object' && addr ? addr.port : port, host);
    return view;
  }

  /** Pages connected now. */
  get connections(): number {
    return this.clients.size;
  }

  private findRegions(): void {
    const { world, systems } = this.target;
    if (world) {
      world.ivshmemGroups.forEach(({ group, peers }, r) => {
        this.regions.push({ name: `ivshmem${r}`, shm: group.shm, peers: peers.map((p, id) => ({ board: systems.indexOf(p), id })) });
        peers.forEach((p) => {
          const b = systems.indexOf(p);
          const j = p.links.findIndex((l) => l.shm === group.shm);
          if (j >= 0 && p.ivshmem[j]) this.unsubs.push(p.ivshmem[j]!.onRing((e) => this.rang(r, b, e, peers.map((q) => systems.indexOf(q)))));
        });
      });
    } else {
      const sys = systems[0]!;
      sys.links.forEach((l, r) => {
        this.regions.push({ name: `ivshmem${r}`, shm: l.shm, peers: [{ board: 0, id: l.id }] });
        const dev = sys.ivshmem[r];
        if (dev) this.unsubs.push(dev.onRing((e) => this.rang(r, 0, e, null)));
      });
    }
  }

  private rang(region: number, board: number, e: IvshmemRing, boardOfId: number[] | null): void {
    // In a world every doorbell is seen twice (rung, then fired at the receiver): the timeline keeps the ringing.
    if (boardOfId && e.dir === 'in') return;
    const d: Doorbell = {
      seq: ++this.seq,
      t: this.target.systems[board]!.now(),
      region,
      dir: e.dir,
      board,
      from: e.dir === 'out' ? e.self : -1,
      to: e.dir === 'out' ? e.peer : e.self,
      toBoard: e.dir === 'out' ? (boardOfId ? (boardOfId[e.peer] ?? -1) : e.peer === e.self ? board : -1) : board,
      vector: e.vector,
    };
    this.doorbells.push(d);
    if (this.doorbells.length > HISTORY + 500) this.doorbells.splice(0, this.doorbells.length - HISTORY);
  }

  private async serveFile(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/state.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.hello()));
      return;
    }
    const f = FILES[path]?.();
    if (!f) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    try {
      const body = await readFile(f[0]);
      res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read ${f[0]}\n`);
    }
  }

  private connected(ws: WebSocket): void {
    const c: Client = { ws, window: { region: 0, offset: 0, length: Math.min(4096, this.regions[0]?.shm.byteLength ?? 0) }, lastWindow: null };
    this.clients.add(c);
    ws.on('message', (data) => {
      try {
        this.command(c, JSON.parse(String(data)));
      } catch (e) {
        this.send(c, { type: 'error', message: (e as Error).message });
      }
    });
    ws.on('close', () => {
      this.clients.delete(c);
      if (this.clients.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
        this.last = null;
      }
    });
    ws.on('error', () => {});
    this.send(c, this.hello());
    this.sendWindow(c, true);
    if (!this.timer) {
      this.sample(); // the reference for the first rates
      this.sentSeq = this.seq;
      this.consoleSent = this.target.systems.map((s) => new Map(this.consoleNames(s).map((n) => [n, this.consoleOf(s, n).text().length])));
      this.timer = setInterval(() => this.tick(), this.intervalMs);
    }
  }

  private consoleNames(s: System): string[] {
    const names: string[] = [];
    for (let i = 0; ; i++) {
      try {
        s.uart(i);
      } catch {
        break;
      }
      names.push(`uart${i}`);
    }
    names.push('semihosting');
    return names;
  }
  private consoleOf(s: System, name: string) {
    return name === 'semihosting' ? s.semihosting : s.uart(Number(name.slice(4)));
  }

  private hello() {
    const { world, systems } = this.target;
    return {
      type: 'hello',
      world: world !== null,
      quantumNs: world?.quantumNs ?? null,
      intervalMs: this.intervalMs,
      boards: systems.map((s, i) => ({
        name: this.names[i],
        board: s.board.name,
        consoles: Object.fromEntries(this.consoleNames(s).map((n) => [n, this.consoleOf(s, n).text().slice(-CONSOLE_TAIL)])),
      })),
      regions: this.regions.map((r) => ({ name: r.name, size: r.shm.byteLength, peers: r.peers })),
      doorbells: this.doorbells.slice(-500),
      state: this.state(),
    };
  }

  private state() {
    const { world, systems } = this.target;
    return {
      vt: world ? world.now() : systems[0]!.now(),
      current: world?.current ? systems.indexOf(world.current) : world ? -1 : 0,
      boards: systems.map((s, i) => ({
        now: s.now(),
        instructions: s.instructions(),
        irqs: s.machine.exceptions.entries,
        halted: this.debugHooked[i] ? s.debug.halted : false,
        finished: s.finished ? (s.finished.kind === 'exit' ? `exit ${s.finished.code}` : s.finished.kind) : null,
      })),
    };
  }

  private sample() {
    const host = performance.now();
    const st = this.state();
    const cur = { host, insns: st.boards.map((b) => b.instructions), irqs: st.boards.map((b) => b.irqs), vt: st.boards.map((b) => b.now) };
    const prev = this.last;
    this.last = cur;
    if (!prev) return { st, rates: null };
    const dh = (host - prev.host) / 1000;
    const rates = cur.insns.map((n, i) => {
      const dvt = (cur.vt[i]! - prev.vt[i]!) / 1e9;
      const di = cur.irqs[i]! - prev.irqs[i]!;
      return {
        mips: dh > 0 ? (n - prev.insns[i]!) / dh / 1e6 : 0,
        irqPerSec: dvt > 0 ? di / dvt : 0,
        irqPerHostSec: dh > 0 ? di / dh : 0,
        speed: dh > 0 ? dvt / dh : 0,
      };
    });
    return { st, rates };
  }

  private tick(): void {
    if (this.closed) return;
    const { st, rates } = this.sample();
    const consoles = this.target.systems.map((s, i) => {
      const out: Record<string, string> = {};
      const sent = this.consoleSent[i]!;
      for (const n of this.consoleNames(s)) {
        const text = this.consoleOf(s, n).text();
        const from = sent.get(n) ?? 0;
        if (text.length > from) {
          out[n] = text.slice(Math.max(from, text.length - CONSOLE_TAIL));
          sent.set(n, text.length);
        }
      }
      return out;
    });
    const fresh = this.doorbells.filter((d) => d.seq > this.sentSeq).slice(-HISTORY);
    this.sentSeq = this.seq;
    const msg = JSON.stringify({ type: 'tick', state: st, rates, consoles, doorbells: fresh });
    for (const c of this.clients) {
      c.ws.send(msg);
      this.sendWindow(c, false);
    }
  }

  private sendWindow(c: Client, force: boolean): void {
    const r = this.regions[c.window.region];
    if (!r) return;
    const bytes = new Uint8Array(r.shm, c.window.offset, c.window.length);
    if (!force && c.lastWindow && c.lastWindow.length === bytes.length && Buffer.from(c.lastWindow.buffer, c.lastWindow.byteOffset, c.lastWindow.length).equals(bytes)) return;
    c.lastWindow = bytes.slice();
    this.send(c, { type: 'window', region: c.window.region, offset: c.window.offset, bytes: Buffer.from(c.lastWindow).toString('base64') });
  }

  private send(c: Client, m: unknown): void {
    c.ws.send(JSON.stringify(m));
  }

  private command(c: Client, m: { op?: string; board?: number; region?: number; offset?: number; length?: number }): void {
    switch (m.op) {
      case 'pause':
        this.pause();
        return;
      case 'resume':
        this.resume();
        return;
      case 'step':
        this.step(m.board);
        return;
      case 'window': {
        const r = this.regions[m.region ?? 0];
        if (!r) throw new Error(`no shared region ${m.region}`);
        const offset = Math.max(0, Math.floor(Number(m.offset ?? 0)) & ~15);
        const length = Math.max(16, Math.min(MAX_WINDOW, Math.floor(Number(m.length ?? 4096)), r.shm.byteLength - offset));
        if (!(offset < r.shm.byteLength) || !(length > 0)) throw new Error(`window ${offset}+${length} is outside ${r.name} (${r.shm.byteLength} bytes)`);
        c.window = { region: m.region ?? 0, offset, length };
        this.sendWindow(c, true);
        return;
      }
      default:
        throw new Error(`unknown op '${m.op}'`);
    }
  }

  private hook(i: number): void {
    if (this.debugHooked[i]) return;
    this.debugHooked[i] = true;
    const s = this.target.systems[i]!;
    this.unsubs.push(
      s.debug.onStop((stop: DebugStop) => {
        // A halt this view asked for, after the page said resume meanwhile: let it go again.
        if (stop.kind === 'halt' && !this.wantHalt[i] && s.debug.halted) {
          s.debug.resume();
          return;
        }
        this.broadcast({ type: 'stop', board: i, kind: stop.kind, pc: s.cpu.pc, state: this.state() });
      }),
    );
  }

  /** Halt every board (a world's timeline stands still). */
  pause(): void {
    this.target.systems.forEach((s, i) => {
      if (s.finished) return;
      this.hook(i);
      this.wantHalt[i] = true;
      if (!s.debug.halted) s.debug.halt();
    });
  }

  /** Resume the boards this view halted. */
  resume(): void {
    this.target.systems.forEach((s, i) => {
      if (!this.wantHalt[i]) return;
      this.wantHalt[i] = false;
      if (s.debug.halted) s.debug.resume();
    });
  }

  /** Execute one instruction on a halted board: in a world, the board the world is waiting on (the only one that can move). */
  step(board?: number): void {
    const { world, systems } = this.target;
    const i = world ? (world.current ? systems.indexOf(world.current) : -1) : (board ?? 0);
    if (world && board !== undefined && board !== i) throw new Error(`in a world only the board the timeline waits on (${this.names[i] ?? 'none'}) can step`);
    const s = systems[i];
    if (!s || !this.debugHooked[i] || !s.debug.halted) throw new Error('pause first: step runs one instruction of a halted board');
    s.debug.resume({ step: true });
    if (world) this.followStep(i);
  }

  /**
   * A world's board asleep (WFI) runs no instruction in its quantum: the world then moves on to the
   * next board, which is halted. Hold the sleeper again and step that one instead, until a board
   * executes an instruction (the timeline advances by whole quanta meanwhile, as it would running).
   */
  private followStep(first: number): void {
    const { world, systems } = this.target;
    if (this.stepWatch) clearInterval(this.stepWatch);
    let cur = first;
    this.stepWatch = setInterval(() => {
      const s = systems[cur]!;
      const now = world!.current ? systems.indexOf(world!.current) : -1;
      if (this.closed || s.debug.halted || s.finished || !this.wantHalt[cur]) {
        clearInterval(this.stepWatch!);
        this.stepWatch = null;
        return;
      }
      if (now >= 0 && now !== cur && systems[now]!.debug.halted && this.debugHooked[now]) {
        s.debug.halt();
        systems[now]!.debug.resume({ step: true });
        cur = now;
      }
    }, 5);
  }
  private stepWatch: NodeJS.Timeout | null = null;

  private broadcast(m: unknown): void {
    const t = JSON.stringify(m);
    for (const c of this.clients) c.ws.send(t);
  }

  /** Stop serving: pages are disconnected, boards this view halted run on. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.stepWatch) clearInterval(this.stepWatch);
    this.resume();
    for (const u of this.unsubs) u();
    if (this.target.world) this.target.world.hostTurns--;
    for (const c of this.clients) c.ws.terminate();
    this.clients.clear();
    await new Promise<void>((r) => this.wss.close(() => r()));
    this.http.closeAllConnections?.();
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}
