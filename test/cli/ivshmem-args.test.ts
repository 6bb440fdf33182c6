/** -device ivshmem-flat / --ivshmem on the command line: placement, validation, and clear errors. */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseQemuArgs, UsageError } from '../../src/cli/qemu-args.js';
import { InputError, ivshmemFromArgs, launch, type IvshmemConnector } from '../../src/cli/launch.js';
import { IvshmemPlacementError, placeIvshmemFlat } from '../../src/machine/ivshmem-flat.js';
import { mps2an385 } from '../../src/machine/boards/mps2-an385.js';
import type { BoardDef } from '../../src/machine/board.js';
import type { IvshmemLink } from '../../src/devices/ivshmem-link.js';
import { loadNative } from '../../src/native/cpu.js';
import type { Machine } from '../../src/machine/machine.js';
import { firmwarePath, runCmemu } from '../support/run-cmemu.js';

const tmp = mkdtempSync(join(tmpdir(), 'cmemu-ivargs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// A minimal raw image: SP, reset vector → a `b .` at 0x100.
const image = join(tmp, 'spin.bin');
{
  const b = Buffer.alloc(0x104);
  b.writeUInt32LE(0x20010000, 0);
  b.writeUInt32LE(0x101, 4);
  b.writeUInt16LE(0xe7fe, 0x100);
  writeFileSync(image, b);
}

const SOCK = ['-chardev', 'socket,path=/tmp/cmemu-test-ivshmem.sock,id=iv'];
function plan(dev: string, board: BoardDef = mps2an385) {
  const c = parseQemuArgs(['-M', board.name, '-kernel', 'x.elf', ...SOCK, '-device', dev]);
  const notes: string[] = [];
  const cfg = ivshmemFromArgs(board, c.ivshmem[0]!, c.chardevs.get('iv')!, (n) => notes.push(n));
  const p = { socket: cfg.socket, ...placeIvshmemFlat(board, cfg, cfg.name) };
  return { p, notes };
}
function planError(dev: string, board: BoardDef = mps2an385): string {
  try {
    plan(dev, board);
  } catch (e) {
    // Argument errors are the CLI's; placement errors the machine's (the System turns them into UsageErrors).
    expect(e instanceof UsageError || e instanceof IvshmemPlacementError, String(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('no error');
}

/** A link with real eventfds and host memory, no server. */
function fakeLink(shmSize: number, vectors = 1): IvshmemLink {
  const n = loadNative();
  const fds = Array.from({ length: vectors }, () => n.createEventFd());
  return {
    id: 3,
    shm: n.allocHostMemory(shmSize),
    shmSize,
    ownVectorFds: fds,
    peerVectors: (p: number) => (p === 3 ? fds.length : 0),
    peers: () => [],
    notify: () => false,
    onPeerChange() {},
    onClose() {},
    close() {
      for (const fd of fds.splice(0)) n.closeFd(fd);
    },
  };
}

async function launchWith(dev: string, connect: IvshmemConnector, onMachine?: (m: Machine) => void) {
  const errs: string[] = [];
  const c = parseQemuArgs(['-M', 'mps2-an385', '-nographic', '-device', `loader,file=${image},addr=0`, ...SOCK, '-device', dev]);
  const code = await launch(c, { stderr: (s) => errs.push(s), connectIvshmem: connect, onMachine });
  return { code, errs };
}

describe('ivshmem-flat placement (ivshmemFromArgs, placeIvshmemFlat)', () => {
  it('defaults to the board: registers 0x400FF000, memory 0x40100000, NVIC input 0, size from the server', () => {
    const { p, notes } = plan('ivshmem-flat,chardev=iv');
    expect(p).toEqual({ what: '-device ivshmem-flat,chardev=iv', socket: '/tmp/cmemu-test-ivshmem.sock', irq: 0, iomem: 0x400ff000, shmem: 0x40100000, size: null });
    expect(notes).toEqual([]);
  });
  it("takes the board's own x-irq-qompath, quoted or not, and the addresses", () => {
    const { p, notes } = plan("ivshmem-flat,chardev=iv,x-irq-qompath='/machine/armv7m/nvic/unnamed-gpio-in[7]',x-bus-address-iomem=0x40200000,x-bus-address-shmem=0x40300000,shmem-size=64K");
    expect(p).toMatchObject({ irq: 7, iomem: 0x40200000, shmem: 0x40300000, size: 65536 });
    expect(notes).toEqual([]);
  });
  it("accepts lm3s6965evb's path on mps2-an385 with a note", () => {
    const { p, notes } = plan('ivshmem-flat,chardev=iv,x-irq-qompath=/machine/soc/v7m/nvic/unnamed-gpio-in[3]');
    expect(p.irq).toBe(3);
    expect(notes).toEqual([
      "-device ivshmem-flat,chardev=iv: x-irq-qompath '/machine/soc/v7m/nvic/unnamed-gpio-in[3]' is lm3s6965evb's NVIC path; on mps2-an385 it is '/machine/armv7m/nvic/unnamed-gpio-in[3]': taken as NVIC input 3",
    ]);
  });
  it('rejects other paths, missing inputs, bad alignment and the system region', () => {
    expect(planError('ivshmem-flat,chardev=iv,x-irq-qompath=/machine/foo/gpio-in[1]')).toBe(
      "-device ivshmem-flat,chardev=iv: x-irq-qompath '/machine/foo/gpio-in[1]' is not an NVIC input of mps2-an385 (/machine/armv7m/nvic/unnamed-gpio-in[N])",
    );
    expect(planError('ivshmem-flat,chardev=iv,x-irq-qompath=/machine/armv7m/nvic/unnamed-gpio-in[32]')).toBe(
      '-device ivshmem-flat,chardev=iv: NVIC input 32 does not exist on mps2-an385 (external IRQs 0..31)',
    );
    expect(planError('ivshmem-flat,chardev=iv,x-bus-address-iomem=0x400ff004')).toBe('-device ivshmem-flat,chardev=iv: x-bus-address-iomem 0x400ff004 is not 256-byte aligned');
    expect(planError('ivshmem-flat,chardev=iv,x-bus-address-shmem=0x40100200')).toBe('-device ivshmem-flat,chardev=iv: x-bus-address-shmem 0x40100200 is not 1 KiB aligned');
    expect(planError('ivshmem-flat,chardev=iv,shmem-size=1500')).toBe('-device ivshmem-flat,chardev=iv: shmem-size 1500 is not a multiple of 1 KiB');
    expect(planError('ivshmem-flat,chardev=iv,x-bus-address-iomem=0xe0001000')).toBe(
      '-device ivshmem-flat,chardev=iv: x-bus-address-iomem 0xe0001000 is in the system region (0xE0000000 and up)',
    );
  });
  it('needs a UNIX socket chardev', () => {
    const c = parseQemuArgs(['-M', 'mps2-an385', '-kernel', 'x.elf', '-chardev', 'socket,host=localhost,port=4444,id=iv', '-device', 'ivshmem-flat,chardev=iv']);
    expect(() => ivshmemFromArgs(mps2an385, c.ivshmem[0]!, c.chardevs.get('iv')!)).toThrow('must be a UNIX socket (path=) to the ivshmem server');
  });
});

describe('ivshmem-flat at launch (fake server connection)', () => {
  const neverCalled: IvshmemConnector = async () => {
    throw new Error('should not connect');
  };
  it('a bad placement fails before connecting', async () => {
    await expect(launchWith('ivshmem-flat,chardev=iv,x-bus-address-iomem=0x400ff004', neverCalled)).rejects.toThrow(UsageError);
  });
  it('an unreachable server is one clear InputError', async () => {
    const e = await launchWith('ivshmem-flat,chardev=iv', async () => {
      throw new Error('ivshmem: cannot connect to /tmp/cmemu-test-ivshmem.sock: connect: No such file or directory');
    }).catch((x: Error) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe('-device ivshmem-flat,chardev=iv: cannot connect to /tmp/cmemu-test-ivshmem.sock: connect: No such file or directory');
  });
  it('shared memory over RAM, registers over a UART, memory over the registers: refused', async () => {
    const cases: [string, RegExp][] = [
      ['ivshmem-flat,chardev=iv,x-bus-address-shmem=0x20000000', /shared memory 0x20000000-0x2000ffff overlaps mps.ssram23 on mps2-an385/],
      ['ivshmem-flat,chardev=iv,x-bus-address-iomem=0x40004000', /registers 0x40004000-0x400040ff overlap uart0 \(or share its 1 KiB page\)/],
      ['ivshmem-flat,chardev=iv,x-bus-address-iomem=0x20000400', /registers 0x20000400-0x200004ff overlap mps.ssram23/],
      ['ivshmem-flat,chardev=iv,x-bus-address-iomem=0x40100000', /overlap its own shared memory/],
      ['ivshmem-flat,chardev=iv,x-bus-address-shmem=0x42000000', /overlaps bitband 0x42000000/],
    ];
    for (const [dev, msg] of cases) {
      const link = fakeLink(0x10000);
      const e = await launchWith(dev, async () => link).catch((x: Error) => x);
      expect(e, dev).toBeInstanceOf(InputError);
      expect((e as Error).message).toMatch(msg);
      expect(link.ownVectorFds).toEqual([]); // closed again
    }
  });
  it('shmem-size larger than the server region, or a region the CPU cannot map: refused', async () => {
    let e = await launchWith('ivshmem-flat,chardev=iv,shmem-size=1M', async () => fakeLink(0x10000)).catch((x: Error) => x);
    expect((e as Error).message).toBe("-device ivshmem-flat,chardev=iv: shmem-size 1048576 is larger than the server's region (65536 bytes)");
    e = await launchWith('ivshmem-flat,chardev=iv', async () => ({ ...fakeLink(0x10000), shmSize: 512 })).catch((x: Error) => x);
    expect((e as Error).message).toMatch(/the server's region of 512 bytes is not a multiple of 1 KiB/);
  });
  it('a good placement maps the memory and the registers; size from the server', async () => {
    const link = fakeLink(0x20000, 2);
    const seen: Partial<Record<string, unknown>> = {};
    const { code } = await launchWith('ivshmem-flat,chardev=iv', async (path, opts) => {
      seen.path = path;
      seen.size = opts.shmemSize;
      return link;
    }, (m) => {
      new Uint32Array(link.shm)[1] = 0xcafef00d;
      m.commit();
      seen.layout = m.map.layout().filter((r) => r.name.startsWith('ivshmem'));
      seen.word = m.map.busRead(0x40100004, 4);
      seen.ivposition = m.map.busRead(0x400ff008, 4);
      seen.vectors = m.map.busRead(0x400ff014, 4);
      seen.shmsize = m.map.busRead(0x400ff018, 4);
      m.stop('test done');
    });
    expect(code).toBe(0);
    expect(seen).toEqual({
      path: '/tmp/cmemu-test-ivshmem.sock',
      size: undefined,
      layout: [
        { start: 0x400ff000, end: 0x400ff100, name: 'ivshmem-flat', kind: 'device' },
        { start: 0x40100000, end: 0x40120000, name: 'ivshmem-flat shared memory', kind: 'ram' },
      ],
      word: 0xcafef00d,
      ivposition: 3,
      vectors: 2,
      shmsize: 0x20000,
    });
  });
});

describe('bin/cmemu with an ivshmem server that is not there', () => {
  it('qemu form: one line, exit 2', async () => {
    const r = await runCmemu(['-M', 'mps2-an385', '-nographic', '-device', `loader,file=${image},addr=0`, '-chardev', `socket,path=${join(tmp, 'nosock')},id=iv`, '-device', 'ivshmem-flat,chardev=iv']);
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length, r.stderr).toBe(1);
    expect(lines[0]).toMatch(new RegExp(`^cmemu: -device ivshmem-flat,chardev=iv: cannot connect to ${join(tmp, 'nosock')}: .*is the ivshmem server running`));
  });
  it('friendly form: --ivshmem, one line, exit 2', async () => {
    const r = await runCmemu(['run', '--ivshmem', join(tmp, 'nosock'), '--timeout', '5', firmwarePath('mps2-an385', 'hello')]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n').length, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^cmemu: -device ivshmem-flat,chardev=ivshmem0: cannot connect to .*nosock/);
  });
});
