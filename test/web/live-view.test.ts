/**
 * The live view in Debian's headless Chromium (puppeteer-core driving /usr/bin/chromium): a
 * two-board ping-pong world served by world.serve(); the page must show doorbells on the timeline,
 * highlight shared-memory bytes that change, and pause (virtual time stands still) and resume
 * through sys.debug. Skips loudly when Chromium is missing (scripts/ensure-debs.sh installs it).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'puppeteer-core';
import { createSystem } from '../../src/index.js';
import { ROOT, firmwarePath, runProcess } from '../support/run-cmemu.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM) console.warn('\n*** test/web: Chromium is missing (scripts/ensure-debs.sh installs it): live view browser tests SKIPPED ***\n');
const browserIt = CHROMIUM ? it : it.skip;

let browser: Browser | null = null;
beforeAll(async () => {
  if (!CHROMIUM) return;
  const { launch } = await import('puppeteer-core');
  browser = await launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

/** `cmemu run --world FILE --web 127.0.0.1:0` in a child process (the emulator and the browser driver keep their own event loops). */
async function startWorldCli(dir: string): Promise<{ child: ChildProcess; url: string; stdout: () => string }> {
  const file = join(dir, 'world.json');
  writeFileSync(
    file,
    JSON.stringify({
      quantum: '10 us',
      boards: [
        { name: 'initiator', board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'ivshmem_pingpong'), append: 'initiator n=100000000' },
        { name: 'responder', board: 'lm3s6965evb', firmware: firmwarePath('lm3s6965evb', 'ivshmem_pingpong'), append: 'responder' },
      ],
      ivshmem: [{ peers: ['initiator', 'responder'], size: '64K', vectors: 2 }],
      timeout: '1000 s',
    }),
  );
  const child = spawn(join(ROOT, 'bin', 'cmemu'), ['run', '--world', file, '--web', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no URL on stderr: ${err}`)), 20_000);
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /live view at (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    child.on('exit', (c) => reject(new Error(`cmemu exited (${c}): ${err}`)));
  });
  return { child, url, stdout: () => out };
}

const vt = (page: Page) => page.$eval('#vt', (e) => Number((e as HTMLElement).dataset.ns));

describe('the live view in headless Chromium', () => {
  browserIt('shows doorbells and changed shared memory, and pauses and resumes the world', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmemu-web-'));
    const { child, url } = await startWorldCli(dir);
    const state = async () => (await (await fetch(url + 'state.json')).json()).state as { vt: number; current: number; boards: { instructions: number; halted: boolean }[] };
    const page = await browser!.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      await page.goto(url);
      // A doorbell on the timeline: the initiator (peer 0) rang the responder (peer 1), vector 0.
      await page.waitForSelector('#doorbells tbody tr.bell', { timeout: 60_000 });
      const row = await page.$eval('#doorbells tbody tr.bell', (tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
      expect(row.slice(1)).toContainEqual(expect.stringMatching(/^(initiator \(0\)|responder \(1\))$/));
      expect(row[4]).toBe('0');
      const both = await page.$$eval('#doorbells tbody tr.bell', (trs) => new Set(trs.map((tr) => tr.querySelector('.from')!.textContent)).size);
      expect(both).toBe(2);
      // A shared-memory byte that changed is highlighted (the rings and heads change every message).
      await page.waitForSelector('#hex span.chg', { timeout: 60_000 });
      const off = await page.$eval('#hex span.chg', (s) => Number((s as HTMLElement).dataset.off));
      expect(off).toBeLessThan(0x1100); // inside the protocol's slots and rings
      // The consoles stream.
      await page.waitForFunction(() => document.getElementById('console1')!.textContent!.includes('role responder'), { timeout: 60_000 });
      // MIPS are measured.
      await page.waitForFunction(() => /MIPS \d/.test(document.querySelector('#board0 .stats')!.textContent!), { timeout: 60_000 });
      // docs/web-view.png is this screenshot: CMEMU_WEB_SCREENSHOT=docs/web-view.png npx vitest run test/web
      const shot = process.env.CMEMU_WEB_SCREENSHOT ?? join(ROOT, 'build', 'web-view.png');
      mkdirSync(dirname(shot), { recursive: true });
      await page.screenshot({ path: shot as `${string}.png` });

      // Pause: every board halts, the timeline stands still.
      await page.click('#pause');
      await page.waitForFunction(() => document.getElementById('state')!.textContent === 'paused', { timeout: 60_000 });
      const s1 = await state();
      const t1 = s1.vt;
      const pageT1 = await vt(page);
      expect(s1.boards.every((b) => b.halted)).toBe(true);
      const bells1 = await page.$$eval('#doorbells tbody tr.bell', (t) => t[0]!.getAttribute('data-seq'));
      await new Promise((r) => setTimeout(r, 700));
      expect((await state()).vt).toBe(t1);
      expect(await vt(page)).toBe(pageT1);
      expect(await page.$$eval('#doorbells tbody tr.bell', (t) => t[0]!.getAttribute('data-seq'))).toBe(bells1);
      // Step: one instruction of the board the world waits on.
      // Step: one instruction of the board the world waits on (or, if it sleeps, of the next board that runs one).
      expect(s1.current).toBeGreaterThanOrEqual(0);
      await page.click('#step');
      await page.waitForFunction(() => /step at pc/.test(document.getElementById('stopinfo')!.textContent!), { timeout: 60_000 });
      const s2 = await state();
      const sum = (st: typeof s1) => st.boards.reduce((n, b) => n + b.instructions, 0);
      expect(sum(s2) - sum(s1)).toBe(1);
      expect(s2.boards.every((b) => b.halted)).toBe(true);
      // Resume: time moves on.
      await page.click('#resume');
      await page.waitForFunction((t) => Number(document.getElementById('vt')!.dataset.ns) > t, { timeout: 60_000 }, pageT1);
      expect((await state()).vt).toBeGreaterThan(t1);
      expect(pageErrors).toEqual([]);
    } catch (e) {
      if (pageErrors.length) throw new Error(`${(e as Error).message}\npage errors: ${pageErrors.join('\n')}`);
      throw e;
    } finally {
      await page.close();
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  browserIt('sys.serve(): a single board (no ivshmem) shows its console', async () => {
    const sys = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'hello'), time: { icount: 7 }, semihosting: true });
    const view = await sys.serve();
    const page = await browser!.newPage();
    try {
      await sys.runUntil({ exit: true }, { timeout: '1 s' });
      await page.goto(view.url);
      await page.waitForFunction(() => document.getElementById('console0')!.textContent!.includes('PASS: hello'), { timeout: 60_000 });
      expect(await page.$eval('#hex', (e) => e.textContent)).toContain('no ivshmem-flat');
    } finally {
      await page.close();
      await sys.close();
    }
  }, 60_000);
});

describe('the live view server', () => {
  it('binds loopback, serves the page and uPlot from the package, refuses foreign origins and bad input', async () => {
    const sys = await createSystem({ board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'hello'), time: { icount: 7 } });
    try {
      const view = await sys.serve({ port: 0 });
      expect(view.url).toBe(`http://127.0.0.1:${view.port}/`);
      for (const p of ['/', '/app.js', '/app.css', '/lib/uPlot.iife.min.js', '/lib/uPlot.min.css']) expect((await fetch(view.url + p.slice(1))).status, p).toBe(200);
      expect((await fetch(view.url + 'nope')).status).toBe(404);
      expect((await fetch(view.url, { method: 'POST' })).status).toBe(405);
      const state = await (await fetch(view.url + 'state.json')).json();
      expect(state.boards[0].board).toBe('mps2-an385');
      const { WebSocket } = await import('ws');
      const wsUrl = view.url.replace('http', 'ws') + 'ws';
      const refused = await new Promise<string>((r) => {
        const w = new WebSocket(wsUrl, { headers: { origin: 'http://evil.example' } });
        w.on('open', () => r('open'));
        w.on('error', (e) => r(String(e.message)));
      });
      expect(refused).toMatch(/Unexpected server response: 40[13]/);
      const w = new WebSocket(wsUrl);
      const msgs: { type: string; message?: string }[] = [];
      await new Promise<void>((r) => w.on('open', () => r()));
      w.on('message', (d) => msgs.push(JSON.parse(String(d))));
      w.send('{"op":"fly"}');
      w.send('{"op":"step"}');
      await new Promise((r) => setTimeout(r, 300));
      expect(msgs.filter((m) => m.type === 'error').map((m) => m.message)).toEqual(["unknown op 'fly'", 'pause first: step runs one instruction of a halted board']);
      w.close();
      await expect(sys.serve({ port: view.port })).rejects.toThrow(/address in use/);
      await view.close();
    } finally {
      await sys.close();
    }
  });

  it('cmemu run --web: a bad address is a one-line usage error; one board serves and runs to the end', async () => {
    const bad = await runProcess(join(ROOT, 'bin', 'cmemu'), ['run', '--web', 'x:y', firmwarePath('mps2-an385', 'hello')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("cmemu: --web: give PORT or HOST:PORT (e.g. 127.0.0.1:8080), not 'x:y'\n");
    const ok = await runProcess(join(ROOT, 'bin', 'cmemu'), ['run', '--web', '0', firmwarePath('mps2-an385', 'hello')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/^cmemu: live view at http:\/\/127\.0\.0\.1:\d+\/$/m);
    expect(ok.stdout).toContain('PASS: hello');
  });
});
