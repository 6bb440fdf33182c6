/** `cmemu run --world FILE`: the process form of a world (argv, stdout, exit codes). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { firmwarePath, runCmemu } from '../support/run-cmemu.js';

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-world-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function worldFile(name: string, w: unknown): string {
  const p = join(tmp, name);
  writeFileSync(p, typeof w === 'string' ? w : JSON.stringify(w));
  return p;
}
const pingpong = (n: number, extra: object = {}) => ({
  quantum: '10 us',
  boards: [
    { name: 'a', board: 'mps2-an385', firmware: firmwarePath('mps2-an385', 'ivshmem_pingpong'), append: `initiator n=${n}` },
    { name: 'b', board: 'lm3s6965evb', firmware: firmwarePath('lm3s6965evb', 'ivshmem_pingpong'), append: 'responder' },
  ],
  ivshmem: [{ peers: ['a', 'b'], size: '64K', vectors: 2 }],
  timeout: '5 s',
  ...extra,
});

describe('cmemu run --world', () => {
  it('runs the boards until they finish, each line prefixed, the same on every run', async () => {
    const f = worldFile('pp.json', pingpong(100));
    const r1 = await runCmemu(['run', '--world', f]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toMatch(/^a \| ivshmem: completed 100 messages, 0 errors, 0 departures$/m);
    expect(r1.stdout).toMatch(/^b \| ivshmem: answered 100 messages, 0 errors, 0 departures$/m);
    const r2 = await runCmemu(['run', '--world', f]);
    expect(r2.stdout).toBe(r1.stdout);
  });

  it('stops at "until" with 0, and at the timeout with 3', async () => {
    const r = await runCmemu(['run', '--world', worldFile('until.json', pingpong(1_000_000, { until: { board: 'a', text: 'link up' } }))]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^a \| ivshmem: link up/m);
    const t = await runCmemu(['run', '--world', worldFile('timeout.json', pingpong(1_000_000, { timeout: '20 ms' }))]);
    expect(t.code).toBe(3);
    expect(t.stderr).toBe('cmemu: the boards did not finish within 20 ms of virtual time\n');
  });

  it('bad files are one line and exit 2', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['notjson.json', '{ nope', /^cmemu: world file '.*notjson.json' is not JSON: /],
      ['noboards.json', { boards: [] }, /needs "boards"/],
      ['badpeer.json', { ...pingpong(1), ivshmem: [{ peers: ['a', 'zz'] }] }, /ivshmem\[0\]: no board named 'zz'/],
      ['badboard.json', { boards: [{ board: 'nope', firmware: 'x.elf' }] }, /unsupported machine type 'nope'/],
      ['nofw.json', { boards: [{ board: 'mps2-an385', firmware: 'missing.elf' }] }, /could not load kernel '.*missing.elf': no such file/],
    ];
    for (const [name, w, re] of cases) {
      const r = await runCmemu(['run', '--world', worldFile(name, w)]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr, name).toMatch(re);
    }
    const missing = await runCmemu(['run', '--world', join(tmp, 'absent.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/could not read world file '.*absent.json': no such file/);
  });
});
