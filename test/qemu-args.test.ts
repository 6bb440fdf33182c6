import { describe, expect, it } from 'vitest';
import { UsageError, infoText, parseKeyVals, parseQemuArgs, splitOptList, type ChardevSpec } from '../src/cli/qemu-args.js';

const BASE = ['-M', 'mps2-an385', '-kernel', 'fw.elf'];
const p = (...args: string[]) => parseQemuArgs([...BASE, ...args]);

function usage(argv: string[]): string {
  try {
    parseQemuArgs(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    const m = (e as Error).message;
    expect(m).not.toContain('\n');
    return m;
  }
  throw new Error(`expected a UsageError for ${argv.join(' ')}`);
}
const err = (...args: string[]) => usage([...BASE, ...args]);

describe("Zephyr's board run line", () => {
  const ZEPHYR =
    '-cpu cortex-m3 -machine mps2-an385 -nographic -vga none -net none -pidfile qemu.pid -chardev stdio,id=con,mux=on -serial chardev:con -mon chardev=con,mode=readline -icount shift=7,align=off,sleep=off -rtc clock=vm -kernel zephyr.elf'.split(
      ' ',
    );
  it('parses exactly', () => {
    const c = parseQemuArgs(ZEPHYR);
    expect(c.info).toBeNull();
    expect(c.machine).toEqual({ name: 'mps2-an385', props: {} });
    expect(c.cpu).toBe('cortex-m3');
    expect(c.kernel).toBe('zephyr.elf');
    expect(c.nographic).toBe(true);
    expect(c.pidfile).toBe('qemu.pid');
    const con: ChardevSpec = { id: 'con', mux: true, backend: 'stdio', signal: true };
    expect(c.chardevs.get('con')).toEqual(con);
    expect(c.chardevs.size).toBe(1);
    expect(c.serials).toEqual([con]);
    expect(c.serials[0]).toBe(c.chardevs.get('con'));
    expect(c.monitor).toEqual({ chardev: 'con', mode: 'readline' });
    expect(c.icount).toEqual({ shift: 7, align: false, sleep: false });
    expect(c.rtc).toEqual({ clock: 'vm', base: 'utc' });
    expect(c.semihosting.enabled).toBe(false);
    expect(c.log).toEqual({ items: [], file: null, events: [] });
    expect(c.gdb).toBeNull();
    expect(c.noReboot).toBe(false);
    expect(c.notes).toEqual(['the QEMU monitor is not implemented: -mon/-monitor accepted, its chardev carries only the serial console']);
  });
  it('also with --long options', () => {
    const c = parseQemuArgs(ZEPHYR.map((a) => (a.startsWith('-') ? '-' + a : a)));
    expect(c.serials[0].id).toBe('con');
  });
});

describe('option syntax', () => {
  it('rejects -opt=value clearly', () => {
    expect(usage(['-machine=mps2-an385'])).toBe("-machine=mps2-an385: '-opt=value' is not QEMU syntax: write '-machine mps2-an385'");
    expect(usage(['--kernel=a.elf'])).toBe("--kernel=a.elf: '-opt=value' is not QEMU syntax: write '-kernel a.elf'");
    expect(usage(['-bogus=1'])).toBe('unknown option -bogus');
  });
  it('unknown options', () => {
    expect(err('-xyz')).toBe('unknown option -xyz');
    expect(err('--xyz')).toBe('unknown option -xyz');
    expect(err('-constructor')).toBe('unknown option -constructor');
  });
  it('missing argument', () => {
    expect(usage(['-M', 'mps2-an385', '-kernel'])).toBe('-kernel: requires an argument');
    expect(err('-serial')).toBe('-serial: requires an argument');
  });
  it('stray argument', () => {
    expect(err('disk.img')).toBe("unexpected argument 'disk.img' (disk images are not supported; the firmware goes in -kernel FILE)");
  });
  it('comma escaping', () => {
    expect(splitOptList('a,b,,c,d')).toEqual(['a', 'b,c', 'd']);
    expect(splitOptList('x,,,,y')).toEqual(['x,,y']);
    expect([...parseKeyVals('-o', 'stdio,id=a,flag,noother', 'backend')]).toEqual([
      ['backend', 'stdio'],
      ['id', 'a'],
      ['flag', 'on'],
      ['other', 'off'],
    ]);
    const c = p('-chardev', 'file,id=f,path=/tmp/a,,b', '-serial', 'chardev:f');
    expect(c.serials[0]).toMatchObject({ backend: 'file', path: '/tmp/a,b' });
    expect(err('-chardev', 'file,id=f,,path=/x')).toBe("-chardev file,id=f,,path=/x: invalid chardev id 'f,path=/x' (letters, digits, '-', '.', '_'; starting with a letter)");
    expect(err('-chardev', 'stdio,,,id=x')).toBe("-chardev stdio,,,id=x: chardev backend 'stdio,' is not supported (supported: stdio, null, file, pipe, socket)");
    expect(err('-chardev', 'stdio,=x,id=c')).toBe("-chardev stdio,=x,id=c: empty parameter name in '=x'");
    expect(err('-chardev', 'stdio,id=c,,')).toBe("-chardev stdio,id=c,,: invalid chardev id 'c,' (letters, digits, '-', '.', '_'; starting with a letter)");
    expect(err('-chardev', 'stdio,id=c,,x,')).toBe("-chardev stdio,id=c,,x,: empty item in option list");
  });
});

describe('-machine / -cpu / -kernel', () => {
  it('machine name and props', () => {
    expect(parseQemuArgs(['-M', 'lm3s6965evb', '-kernel', 'k']).machine.name).toBe('lm3s6965evb');
    const c = parseQemuArgs(['-machine', 'type=mps2-an385,accel=tcg', '-kernel', 'k']);
    expect(c.machine).toEqual({ name: 'mps2-an385', props: { accel: 'tcg' } });
    expect(c.notes.filter((n) => n.startsWith('-machine'))).toEqual([]);
    const d = p('-machine', 'mps2-an385,dtb=x');
    expect(d.machine.props).toEqual({ dtb: 'x' });
    expect(d.notes).toContain('-machine dtb=x: machine property not supported, ignored');
  });
  it('machine errors', () => {
    expect(usage(['-M', 'virt', '-kernel', 'k'])).toBe(
      "-machine virt: unsupported machine type 'virt' (supported: lm3s6965evb, mps2-an385; use -machine help)",
    );
    expect(usage(['-kernel', 'k'])).toBe('No machine specified, and there is no default (use -machine help to list supported boards)');
    expect(usage(['-M', 'mps2-an385'])).toBe('Guest image must be specified (using -kernel)');
    expect(err('-M', 'mps2-an385,accel=kvm')).toBe("-machine mps2-an385,accel=kvm: accelerator 'kvm' not available (use accel=tcg or nothing)");
  });
  it('-M help and -M name,help', () => {
    const c = parseQemuArgs(['-M', 'help']);
    expect(c.info).toEqual({ kind: 'machine-help' });
    expect(infoText(c.info!)).toBe(
      'Supported machines are:\nlm3s6965evb          Stellaris LM3S6965EVB (Cortex-M3)\nmps2-an385           ARM MPS2 with AN385 FPGA image for Cortex-M3\n',
    );
    expect(parseQemuArgs(['-M', '?']).info).toEqual({ kind: 'machine-help' });
    const d = parseQemuArgs(['-M', 'mps2-an385,help']);
    expect(d.info).toEqual({ kind: 'machine-props', machine: 'mps2-an385' });
    expect(infoText(d.info!)).toContain('mps2-an385: ARM MPS2 with AN385 FPGA image for Cortex-M3');
  });
  it('-cpu', () => {
    expect(p('-cpu', 'cortex-m3').cpu).toBe('cortex-m3');
    expect(err('-cpu', 'cortex-m4')).toBe('-cpu cortex-m4: unsupported CPU model (supported: cortex-m3)');
    const c = parseQemuArgs(['-cpu', 'help']);
    expect(c.info).toEqual({ kind: 'cpu-help' });
    expect(infoText(c.info!)).toBe('Available CPUs:\n  cortex-m3\n');
    expect(p('-cpu', 'cortex-m3,x=1').notes).toContain('-cpu cortex-m3,x=1: CPU properties are not supported, ignored');
  });
  it('-version and -help', () => {
    for (const o of ['-version', '--version']) {
      const c = parseQemuArgs([o]);
      expect(c.info).toEqual({ kind: 'version' });
      expect(infoText(c.info!)).toMatch(/^QEMU emulator version \d+\.\d+\.\d+ \(cmemu /);
    }
    for (const o of ['-h', '-help', '--help']) expect(parseQemuArgs([o]).info).toEqual({ kind: 'help' });
    expect(infoText({ kind: 'help' })).toContain('-icount shift=N|auto');
  });
});

describe('-serial', () => {
  it('stdio, null, file, pipe, in order', () => {
    const c = p('-serial', 'stdio', '-serial', 'null', '-serial', 'file:/tmp/out.txt', '-serial', 'pipe:/tmp/fifo');
    expect(c.serials).toEqual([
      { id: 'serial0', mux: false, backend: 'stdio', signal: true },
      { id: 'serial1', mux: false, backend: 'null' },
      { id: 'serial2', mux: false, backend: 'file', path: '/tmp/out.txt', append: false },
      { id: 'serial3', mux: false, backend: 'pipe', path: '/tmp/fifo' },
    ]);
    expect(c.monitor).toBeNull();
  });
  it('none takes no index', () => {
    const c = p('-serial', 'none', '-serial', 'null');
    expect(c.serials).toEqual([{ id: 'serial0', mux: false, backend: 'null' }]);
    expect(p('-serial', 'none').serials).toEqual([]);
  });
  it('unix sockets', () => {
    const c = p('-serial', 'unix:/tmp/s.sock,server=on,wait=off', '-serial', 'unix:/tmp/c.sock', '-serial', 'unix:/tmp/t,server');
    expect(c.serials[0]).toEqual({
      id: 'serial0', mux: false, backend: 'socket', address: { type: 'unix', path: '/tmp/s.sock' }, server: true, wait: false, nodelay: false, reconnect: 0,
    });
    expect(c.serials[1]).toMatchObject({ address: { type: 'unix', path: '/tmp/c.sock' }, server: false, wait: false });
    expect(c.serials[2]).toMatchObject({ server: true, wait: true });
  });
  it('tcp sockets (default host 127.0.0.1, never all interfaces)', () => {
    const c = p('-serial', 'tcp::4444,server=on,wait=off', '-serial', 'tcp:0.0.0.0:5555,server,nowait,nodelay', '-serial', 'tcp:localhost:6666');
    expect(c.serials[0]).toMatchObject({ address: { type: 'tcp', host: '127.0.0.1', port: 4444 }, server: true, wait: false });
    expect(c.serials[1]).toMatchObject({ address: { type: 'tcp', host: '0.0.0.0', port: 5555 }, server: true, wait: false, nodelay: true });
    expect(c.serials[2]).toMatchObject({ address: { type: 'tcp', host: 'localhost', port: 6666 }, server: false });
    expect(p('-serial', 'tcp:[::1]:7,server').serials[0]).toMatchObject({ address: { host: '::1', port: 7 } });
  });
  it('mon:stdio muxes the monitor', () => {
    const c = p('-serial', 'mon:stdio');
    expect(c.serials).toEqual([{ id: 'serial0', mux: true, backend: 'stdio', signal: true }]);
    expect(c.monitor).toEqual({ chardev: 'serial0', mode: 'readline' });
  });
  it('chardev:ID resolves regardless of order', () => {
    const c = p('-serial', 'chardev:a', '-chardev', 'null,id=a');
    expect(c.serials[0]).toBe(c.chardevs.get('a'));
  });
  it('errors', () => {
    expect(err('-serial', 'pty')).toBe(
      "-serial pty: unsupported character device 'pty' (supported: stdio, null, none, chardev:ID, file:PATH, pipe:PATH, unix:PATH, tcp:HOST:PORT, mon:stdio)",
    );
    expect(err('-serial', '/dev/ttyS0')).toContain("-serial /dev/ttyS0: unsupported character device '/dev/ttyS0'");
    expect(err('-serial', 'chardev:nope')).toBe("-serial chardev:nope: chardev 'nope' not found");
    expect(err('-serial', 'chardev:')).toBe("-serial chardev:: missing chardev id after 'chardev:'");
    expect(err('-serial', 'file:')).toBe("-serial file:: missing file name after 'file:'");
    expect(err('-serial', 'pipe:')).toBe("-serial pipe:: missing path after 'pipe:'");
    expect(err('-serial', 'unix:')).toBe("-serial unix:: missing socket path after 'unix:'");
    expect(err('-serial', 'tcp:4444')).toBe('-serial tcp:4444: expected tcp:[HOST]:PORT');
    expect(err('-serial', 'tcp::99999')).toBe("-serial tcp::99999: invalid port '99999'");
    expect(err('-serial', 'tcp::x')).toBe("-serial tcp::x: invalid port 'x'");
    expect(err('-serial', 'tcp::1,wait=off')).toBe("-serial tcp::1,wait=off: 'wait' option is incompatible with socket in client connect mode");
    expect(err('-serial', 'tcp::1,server,reconnect=2')).toBe("-serial tcp::1,server,reconnect=2: 'reconnect' option is incompatible with socket in server listen mode");
    expect(err('-serial', 'tcp::1,telnet')).toBe("-serial tcp::1,telnet: socket option 'telnet' is not supported");
    expect(err('-serial', 'tcp::1,bogus=1')).toBe("-serial tcp::1,bogus=1: invalid parameter 'bogus' for a socket");
    expect(err('-serial', 'tcp::1,server=maybe')).toBe("-serial tcp::1,server=maybe: parameter 'server' expects 'on' or 'off' (got 'maybe')");
    expect(err('-serial', 'stdio', '-serial', 'stdio')).toBe('cannot use stdio by multiple character devices (serial0, serial1): share one with mux=on');
    expect(err('-serial', 'help')).toContain('-serial help: backends are stdio, null');
  });
});

describe('defaults', () => {
  it('-nographic with no -serial: serial0 = mon:stdio', () => {
    const c = p('-nographic');
    expect(c.serials).toEqual([{ id: 'serial0', mux: true, backend: 'stdio', signal: true }]);
    expect(c.monitor).toEqual({ chardev: 'serial0', mode: 'readline' });
    expect(c.notes).toEqual([]);
  });
  it('no -nographic: stdio anyway, with a note', () => {
    const c = p();
    expect(c.serials[0]).toMatchObject({ backend: 'stdio' });
    expect(c.notes).toEqual(['no graphical display: serial port 0 goes to stdio (as with -nographic)']);
  });
  it('-nographic with -monitor none: plain stdio serial', () => {
    const c = p('-nographic', '-monitor', 'none');
    expect(c.serials).toEqual([{ id: 'serial0', mux: false, backend: 'stdio', signal: true }]);
    expect(c.monitor).toBeNull();
  });
  it('-nodefaults: no serial', () => {
    expect(p('-nographic', '-nodefaults').serials).toEqual([]);
  });
  it('stdio already used by a monitor: serial0 unconnected', () => {
    const c = p('-nographic', '-monitor', 'stdio');
    expect(c.serials).toEqual([]);
    expect(c.monitor).toEqual({ chardev: 'compat_monitor0', mode: 'readline' });
    expect(c.notes).toContain('stdio is already in use by another chardev: serial port 0 is not connected');
  });
});

describe('-chardev', () => {
  const ch = (spec: string) => p('-chardev', spec).chardevs;
  it('stdio', () => {
    expect(ch('stdio,id=a,mux=on,signal=off').get('a')).toEqual({ id: 'a', mux: true, backend: 'stdio', signal: false });
  });
  it('null, file, pipe', () => {
    expect(ch('null,id=n').get('n')).toEqual({ id: 'n', mux: false, backend: 'null' });
    expect(ch('file,id=f,path=/tmp/o,append=on').get('f')).toEqual({ id: 'f', mux: false, backend: 'file', path: '/tmp/o', append: true });
    expect(ch('pipe,id=q,path=/tmp/p').get('q')).toEqual({ id: 'q', mux: false, backend: 'pipe', path: '/tmp/p' });
  });
  it('socket: unix and tcp, client and server, old flags', () => {
    expect(ch('socket,id=s,path=/tmp/x').get('s')).toEqual({
      id: 's', mux: false, backend: 'socket', address: { type: 'unix', path: '/tmp/x' }, server: false, wait: false, nodelay: false, reconnect: 0,
    });
    expect(ch('socket,id=s,path=/tmp/x,server=on,wait=off').get('s')).toMatchObject({ server: true, wait: false });
    expect(ch('socket,id=s,path=/tmp/x,server,nowait').get('s')).toMatchObject({ server: true, wait: false });
    expect(ch('socket,id=s,path=/tmp/x,server').get('s')).toMatchObject({ server: true, wait: true });
    expect(ch('socket,id=s,host=127.0.0.1,port=1234,server=on').get('s')).toMatchObject({ address: { type: 'tcp', host: '127.0.0.1', port: 1234 }, server: true, wait: true });
    expect(ch('socket,id=s,host=,port=1234,server=on,wait=off').get('s')).toMatchObject({ address: { type: 'tcp', host: '127.0.0.1', port: 1234 } });
    expect(ch('socket,id=s,host=0.0.0.0,port=1,server=on').get('s')).toMatchObject({ address: { host: '0.0.0.0' } });
    expect(ch('socket,id=s,path=/x,reconnect=3').get('s')).toMatchObject({ reconnect: 3 });
  });
  it('errors', () => {
    expect(err('-chardev', 'stdio')).toBe("-chardev stdio: parameter 'id' is missing");
    expect(err('-chardev', 'id=x')).toBe('-chardev id=x: missing backend (e.g. -chardev stdio,id=con)');
    expect(err('-chardev', 'pty,id=x')).toBe("-chardev pty,id=x: chardev backend 'pty' is not supported (supported: stdio, null, file, pipe, socket)");
    expect(err('-chardev', 'stdio,id=x,foo=bar')).toBe("-chardev stdio,id=x,foo=bar: invalid parameter 'foo' for backend stdio");
    expect(err('-chardev', 'null,id=x,path=y')).toBe("-chardev null,id=x,path=y: invalid parameter 'path' for backend null");
    expect(err('-chardev', 'pipe,id=x,foo=1')).toBe("-chardev pipe,id=x,foo=1: invalid parameter 'foo' for backend pipe");
    expect(err('-chardev', 'file,id=x,foo=1')).toBe("-chardev file,id=x,foo=1: invalid parameter 'foo' for backend file");
    expect(err('-chardev', 'file,id=x,path=a,input-path=b')).toBe('-chardev file,id=x,path=a,input-path=b: chardev: file: input-path is not supported');
    expect(err('-chardev', 'file,id=x')).toBe('-chardev file,id=x: chardev: file: no filename given');
    expect(err('-chardev', 'pipe,id=x')).toBe('-chardev pipe,id=x: chardev: pipe: no device path given');
    expect(err('-chardev', 'socket,id=x')).toBe('-chardev socket,id=x: chardev: socket: no host given');
    expect(err('-chardev', 'socket,id=x,host=a')).toBe('-chardev socket,id=x,host=a: chardev: socket: no port given');
    expect(err('-chardev', 'socket,id=x,path=a,port=1')).toBe('-chardev socket,id=x,path=a,port=1: chardev: socket: give either path= or host=/port=, not both');
    expect(err('-chardev', 'socket,id=x,path=')).toBe('-chardev socket,id=x,path=: chardev: socket: empty path');
    expect(err('-chardev', 'socket,id=x,path=a,wait=off')).toBe("-chardev socket,id=x,path=a,wait=off: 'wait' option is incompatible with socket in client connect mode");
    expect(err('-chardev', 'null,id=9x')).toBe("-chardev null,id=9x: invalid chardev id '9x' (letters, digits, '-', '.', '_'; starting with a letter)");
    expect(err('-chardev', 'null,id=a', '-chardev', 'null,id=a')).toBe("-chardev null,id=a: Duplicate ID 'a' for chardev");
    expect(err('-chardev', 'null,id=a,mux=2')).toBe("-chardev null,id=a,mux=2: parameter 'mux' expects 'on' or 'off' (got '2')");
    expect(err('-chardev', 'help')).toBe('-chardev help: available backends: stdio, null, file, pipe, socket');
    expect(err('-chardev', 'stdio,id=a', '-chardev', 'stdio,id=b')).toBe('cannot use stdio by multiple character devices (a, b): share one with mux=on');
  });
  it('logfile is noted', () => {
    expect(p('-chardev', 'null,id=a,logfile=/tmp/l').notes).toContain('-chardev null,id=a,logfile=/tmp/l: logfile= is not implemented, ignored');
  });
  it('sharing a chardev needs mux=on', () => {
    expect(err('-chardev', 'stdio,id=c', '-serial', 'chardev:c', '-mon', 'chardev=c')).toBe("chardev 'c' is used by serial0 and the monitor: add mux=on to share it");
    expect(err('-chardev', 'null,id=c', '-serial', 'chardev:c', '-serial', 'chardev:c')).toBe("chardev 'c' is used by serial0 and serial1: add mux=on to share it");
    const c = p('-chardev', 'null,id=c,mux=on', '-serial', 'chardev:c', '-serial', 'chardev:c');
    expect(c.serials[0]).toBe(c.serials[1]);
  });
});

describe('-mon / -monitor', () => {
  it('-mon records and notes once', () => {
    const c = p('-chardev', 'stdio,id=c,mux=on', '-serial', 'chardev:c', '-mon', 'chardev=c,mode=readline', '-mon', 'c');
    expect(c.monitor).toEqual({ chardev: 'c', mode: 'readline' });
    expect(c.notes.filter((n) => n.includes('monitor'))).toHaveLength(1);
    expect(p('-chardev', 'null,id=q', '-mon', 'chardev=q,mode=control,pretty=on').monitor).toEqual({ chardev: 'q', mode: 'control' });
  });
  it('-mon errors', () => {
    expect(err('-mon', 'mode=readline')).toBe("-mon mode=readline: parameter 'chardev' is missing");
    expect(err('-mon', 'chardev=c,mode=x')).toBe("-mon chardev=c,mode=x: mode must be readline or control (got 'x')");
    expect(err('-mon', 'chardev=c,foo=1')).toBe("-mon chardev=c,foo=1: invalid parameter 'foo'");
    expect(err('-mon', 'chardev=zz')).toBe("-mon chardev=zz: chardev 'zz' not found");
  });
  it('-monitor null (as FreeRTOS\'s QEMU demos pass it) asks for nothing that is missing: no note', () => {
    const c = p('-monitor', 'null', '-serial', 'stdio', '-nographic');
    expect(c.notes.filter((n) => n.includes('monitor'))).toEqual([]);
    expect(p('-monitor', 'stdio', '-serial', 'null').notes.filter((n) => n.includes('monitor'))).toHaveLength(1);
  });
  it('-monitor none|stdio', () => {
    expect(p('-monitor', 'none', '-serial', 'null').monitor).toBeNull();
    const c = p('-monitor', 'stdio', '-serial', 'null');
    expect(c.monitor).toEqual({ chardev: 'compat_monitor0', mode: 'readline' });
    expect(c.chardevs.get('compat_monitor0')).toMatchObject({ backend: 'stdio' });
    expect(err('-monitor', 'stdio', '-serial', 'stdio')).toBe(
      'cannot use stdio by multiple character devices (compat_monitor0, serial0): share one with mux=on',
    );
  });
});

describe('-icount', () => {
  it('forms', () => {
    expect(p('-icount', '7').icount).toEqual({ shift: 7, align: false, sleep: true });
    expect(p('-icount', 'shift=0,sleep=off').icount).toEqual({ shift: 0, align: false, sleep: false });
    expect(p('-icount', 'shift=auto').icount).toEqual({ shift: 'auto', align: false, sleep: true });
    expect(p('-icount', 'auto').icount).toEqual({ shift: 'auto', align: false, sleep: true });
    const c = p('-icount', 'shift=3,align=on');
    expect(c.icount).toEqual({ shift: 3, align: true, sleep: true });
    expect(c.notes).toContain('-icount shift=3,align=on: align=on is not implemented (virtual time is not throttled to real time), ignored');
    expect(p().icount).toBeNull();
  });
  it('errors', () => {
    expect(err('-icount', 'shift=11')).toBe("-icount shift=11: icount: Invalid shift value '11' (0..10 or auto)");
    expect(err('-icount', 'x')).toBe("-icount x: icount: Invalid shift value 'x' (0..10 or auto)");
    expect(err('-icount', 'shift=1,align=on,sleep=off')).toBe('-icount shift=1,align=on,sleep=off: align=on and sleep=off are incompatible');
    expect(err('-icount', 'shift=auto,align=on')).toBe('-icount shift=auto,align=on: shift=auto and align=on are incompatible');
    expect(err('-icount', 'shift=auto,sleep=off')).toBe('-icount shift=auto,sleep=off: shift=auto and sleep=off are incompatible');
    expect(err('-icount', 'align=on')).toBe('-icount align=on: Please specify shift option when using align');
    expect(err('-icount', 'sleep=off')).toBe('-icount sleep=off: Please specify shift=N or shift=auto');
    expect(err('-icount', 'shift=1,rr=record')).toBe('-icount shift=1,rr=record: record/replay (rr=) is not supported');
    expect(err('-icount', 'shift=1,foo=2')).toBe("-icount shift=1,foo=2: invalid parameter 'foo'");
  });
});

describe('-rtc', () => {
  it('forms', () => {
    expect(p('-rtc', 'clock=host').rtc).toEqual({ clock: 'host', base: 'utc' });
    expect(p('-rtc', 'clock=rt,base=localtime,driftfix=slew').rtc).toEqual({ clock: 'rt', base: 'localtime' });
    expect(p('-rtc', 'base=2006-06-17T16:01:21').rtc).toEqual({ clock: 'host', base: '2006-06-17T16:01:21' });
  });
  it('errors', () => {
    expect(err('-rtc', 'clock=wall')).toBe("-rtc clock=wall: invalid clock 'wall' (host, rt or vm)");
    expect(err('-rtc', 'base=yesterday')).toBe("-rtc base=yesterday: invalid base 'yesterday' (utc, localtime, or YYYY-MM-DD[THH:MM:SS])");
    expect(err('-rtc', 'driftfix=x')).toBe("-rtc driftfix=x: invalid driftfix 'x' (none or slew)");
    expect(err('-rtc', 'foo=1')).toBe("-rtc foo=1: invalid parameter 'foo'");
  });
});

describe('semihosting', () => {
  it('-semihosting', () => {
    const c = p('-semihosting');
    expect(c.semihosting).toEqual({ enabled: true, target: 'auto', args: ['fw.elf'], cmdline: 'fw.elf', chardev: null, userspace: false });
  });
  it('-semihosting-config with args (repeatable, comma-escaped)', () => {
    const c = p('-semihosting-config', 'enable=on,target=native,arg=prog,arg=a,,b', '-semihosting-config', 'arg=c');
    expect(c.semihosting).toMatchObject({ enabled: true, target: 'native', args: ['prog', 'a,b', 'c'], cmdline: 'prog a,b c' });
  });
  it('enable defaults to on; enable=off', () => {
    expect(p('-semihosting-config', 'target=native').semihosting.enabled).toBe(true);
    expect(p('-semihosting-config', 'enable=off').semihosting.enabled).toBe(false);
    expect(p('-semihosting-config', 'on').semihosting.enabled).toBe(true);
  });
  it('falls back to -kernel and -append words for argv', () => {
    const c = p('-semihosting', '-append', 'one  two');
    expect(c.semihosting.args).toEqual(['fw.elf', 'one', 'two']);
    expect(c.notes).toContain('-append: M-profile boards have no kernel command line; used only as the semihosting command line fallback');
  });
  it('chardev, userspace, target=gdb', () => {
    const c = p('-chardev', 'null,id=sh', '-semihosting-config', 'enable=on,chardev=sh,userspace=on,target=gdb');
    expect(c.semihosting).toMatchObject({ chardev: 'sh', userspace: true, target: 'gdb' });
    expect(c.notes).toContain('-semihosting-config enable=on,chardev=sh,userspace=on,target=gdb: semihosting calls are handled natively, not forwarded to the debugger');
  });
  it('errors', () => {
    expect(err('-semihosting-config', 'target=jtag')).toBe("-semihosting-config target=jtag: target must be native, gdb or auto (got 'jtag')");
    expect(err('-semihosting-config', 'enable=maybe')).toBe("-semihosting-config enable=maybe: parameter 'enable' expects 'on' or 'off' (got 'maybe')");
    expect(err('-semihosting-config', 'foo=1')).toBe("-semihosting-config foo=1: invalid parameter 'foo'");
    expect(err('-semihosting-config', 'chardev=zz')).toBe("-semihosting-config: chardev 'zz' not found");
  });
});

describe('-d / -D', () => {
  it('items, last -d wins', () => {
    expect(p('-d', 'unimp,guest_errors').log.items).toEqual(['unimp', 'guest_errors']);
    expect(p('-d', 'int', '-d', 'exec,in_asm,cpu_reset').log.items).toEqual(['exec', 'in_asm', 'cpu_reset']);
    expect(p('-d', 'int,int').log.items).toEqual(['int']);
    expect(p('-D', '/tmp/log.txt').log.file).toBe('/tmp/log.txt');
  });
  it('QEMU items we do not implement are noted', () => {
    const c = p('-d', 'guest_errors,fpu,cpu,trace:foo*');
    expect(c.log.items).toEqual(['guest_errors', 'cpu']);
    expect(c.notes).toEqual(expect.arrayContaining(['-d fpu: log item not implemented by cmemu, ignored', "-d trace:foo*: no trace event matches 'foo*' (see -d trace:help)"]));
    expect(c.log.events).toEqual(['foo*']);
  });
  it('unknown items list the known ones', () => {
    expect(err('-d', 'unimp,bogus')).toBe(
      "-d unimp,bogus: unknown log item 'bogus' (known items: in_asm, int, exec, cpu, nochain, cpu_reset, unimp, guest_errors; see -d help)",
    );
  });
  it('-d help', () => {
    const c = parseQemuArgs(['-d', 'help']);
    expect(c.info).toEqual({ kind: 'log-help' });
    expect(infoText(c.info!)).toMatch(/^Log items \(comma separated\):\nin_asm {10}show target assembly/);
  });
});

describe('accepted no-op options and notes', () => {
  it('-vga/-net/-nic/-display none are silent', () => {
    expect(p('-nographic', '-vga', 'none', '-net', 'none', '-nic', 'none', '-display', 'none').notes).toEqual([]);
  });
  it('other values are noted', () => {
    const c = p('-nographic', '-vga', 'std', '-net', 'nic', '-nic', 'user', '-display', 'gtk', '-netdev', 'user,id=n', '-global', 'a.b=c', '-qmp', 'stdio');
    expect(c.notes).toEqual([
      '-vga std: this board has no display, ignored',
      '-net nic: networking is not emulated, ignored',
      '-nic user: networking is not emulated, ignored',
      '-display gtk: there is no graphical display, ignored',
      '-netdev user,id=n: networking is not emulated, ignored',
      '-global a.b=c: device properties are fixed on this emulator, ignored',
      '-qmp: the QEMU monitor (QMP) is not implemented, ignored',
    ]);
  });
  it('-pidfile, -no-reboot, -no-shutdown', () => {
    const c = p('-pidfile', 'x.pid', '-no-reboot', '-no-shutdown');
    expect(c).toMatchObject({ pidfile: 'x.pid', noReboot: true, noShutdown: true });
  });
  it('-m is accepted with a note', () => {
    const c = p('-m', '16M');
    expect(c.memSize).toBe(16 * 1024 * 1024);
    expect(c.notes).toContain("-m 16M: the board's memory map is fixed, ignored");
    expect(p('-m', '4').memSize).toBe(4 * 1024 * 1024);
    expect(p('-m', 'size=1G').memSize).toBe(1024 ** 3);
    expect(err('-m', 'lots')).toBe("-m lots: invalid size 'lots'");
  });
  it('misc', () => {
    expect(p('-nographic', '-name', 'x', '-no-user-config', '-accel', 'tcg', '-smp', '1').notes).toEqual([]);
    expect(err('-accel', 'kvm')).toBe('-accel kvm: accelerator not available (cmemu runs guest code in its own JIT; use -accel tcg or nothing)');
    expect(err('-smp', '2')).toBe('-smp 2: this board has exactly one CPU');
    expect(err('-enable-kvm')).toBe('-enable-kvm: KVM cannot run Cortex-M guests');
    expect(err('-daemonize')).toBe('-daemonize: not supported (run cmemu in the background with your shell)');
    expect(p('-nographic', '-L', 'x').notes).toEqual(['-L: not applicable to this emulator, ignored']);
    expect(p('-nographic', '-trace', 'e').notes).toEqual(["-trace e: no trace event matches 'e' (see -d trace:help)"]);
  });
  it('unsupported boot media are clear errors', () => {
    expect(err('-bios', 'x.bin')).toBe('-bios: not supported on this board (use -kernel for the firmware image)');
    expect(err('-drive', 'file=x')).toBe('-drive: not supported on this board (it has no block devices; use -kernel or -device loader)');
    expect(err('-sd', 'x')).toBe('-sd: not supported on this board (it has no block devices; use -kernel or -device loader)');
    expect(err('-pflash', 'x')).toBe('-pflash: not supported on this board (it has no block devices; use -kernel or -device loader)');
  });
});

describe('gdb options', () => {
  it('-s, -S, -gdb', () => {
    const c = p('-nographic', '-s', '-S');
    expect(c.gdb).toEqual({ dev: 'tcp::1234', address: { type: 'tcp', host: '127.0.0.1', port: 1234 }, waitForGdb: true });
    expect(c.notes).toEqual([]);
    expect(p('-gdb', 'tcp:0.0.0.0:3333').gdb).toEqual({ dev: 'tcp:0.0.0.0:3333', address: { type: 'tcp', host: '0.0.0.0', port: 3333 }, waitForGdb: false });
    expect(p('-gdb', 'unix:/tmp/g,server').gdb?.address).toEqual({ type: 'unix', path: '/tmp/g' });
    expect(p('-gdb', '4321').gdb?.address).toEqual({ type: 'tcp', host: '127.0.0.1', port: 4321 });
    expect(p('-s', '-gdb', 'none').gdb).toEqual({ dev: null, address: null, waitForGdb: false });
    expect(p('-S').gdb).toEqual({ dev: null, address: null, waitForGdb: true });
  });
  it('errors', () => {
    expect(err('-gdb', 'pty')).toBe("-gdb pty: unsupported gdb device 'pty' (tcp:[HOST]:PORT, unix:PATH, a port number, or none)");
    expect(err('-gdb', 'tcp:1234')).toBe('-gdb tcp:1234: expected tcp:[HOST]:PORT');
    expect(err('-gdb', 'unix:')).toBe('-gdb unix:: missing socket path');
  });
});

describe('-device loader', () => {
  it('file with and without addr', () => {
    const c = p('-device', 'loader,file=blob.bin,addr=0x20000000', '-device', 'loader,file=extra.elf', '-device', 'loader,file=r.bin,addr=0x100,force-raw=on,cpu-num=0');
    expect(c.loaders).toEqual([
      { kind: 'file', file: 'blob.bin', addr: 0x2000_0000, forceRaw: false, cpuNum: null },
      { kind: 'file', file: 'extra.elf', addr: null, forceRaw: false, cpuNum: null },
      { kind: 'file', file: 'r.bin', addr: 0x100, forceRaw: true, cpuNum: 0 },
    ]);
  });
  it('a loader file is a guest image even without -kernel', () => {
    expect(parseQemuArgs(['-M', 'mps2-an385', '-device', 'loader,file=x.elf']).kernel).toBeNull();
  });
  it('data', () => {
    const [l] = p('-device', 'loader,addr=0x20000000,data=0x12345678,data-len=4').loaders;
    expect(l).toEqual({ kind: 'data', addr: 0x2000_0000, bytes: new Uint8Array([0x78, 0x56, 0x34, 0x12]), cpuNum: null });
    const [b] = p('-device', 'loader,addr=16,data=0x1234,data-len=2,data-be=on').loaders;
    expect(b).toMatchObject({ addr: 16, bytes: new Uint8Array([0x12, 0x34]) });
    const [q] = p('-device', 'loader,addr=0,data=0x0102030405060708,data-len=8').loaders;
    expect([...(q as { bytes: Uint8Array }).bytes]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
  });
  it('pc', () => {
    expect(p('-device', 'loader,addr=0x401,cpu-num=0').loaders).toEqual([{ kind: 'pc', addr: 0x401, cpuNum: 0 }]);
  });
  it('errors', () => {
    const e = (s: string) => err('-device', s);
    expect(e('loader,file=a,data=1,data-len=1')).toBe('-device loader,file=a,data=1,data-len=1: data can not be specified when setting a file');
    expect(e('loader,data=1,data-len=1')).toBe('-device loader,data=1,data-len=1: addr is required with data=');
    expect(e('loader,addr=0,data=1')).toBe('-device loader,addr=0,data=1: data-len must be specified when data is set');
    expect(e('loader,addr=0,data-len=1')).toBe('-device loader,addr=0,data-len=1: data-len given without data');
    expect(e('loader,addr=0,data=1,data-len=3')).toBe('-device loader,addr=0,data=1,data-len=3: data-len must be 1, 2, 4 or 8 (got 3)');
    expect(e('loader,addr=0,data=0x100,data-len=1')).toBe('-device loader,addr=0,data=0x100,data-len=1: data 0x100 does not fit in 1 bytes');
    expect(e('loader,addr=0,data=zz,data-len=1')).toBe("-device loader,addr=0,data=zz,data-len=1: parameter 'data' expects a number (got 'zz')");
    expect(e('loader,addr=0x100000000,file=x')).toBe("-device loader,addr=0x100000000,file=x: parameter 'addr' value 0x100000000 is out of range (max 0xffffffff)");
    expect(e('loader,addr=x1,file=x')).toBe("-device loader,addr=x1,file=x: parameter 'addr' expects a number (got 'x1')");
    expect(e('loader,addr=0,cpu-num=1')).toBe('-device loader,addr=0,cpu-num=1: cpu-num 1 does not exist (this board has one CPU, number 0)');
    expect(e('loader,addr=0')).toBe('-device loader,addr=0: give file=PATH, or addr=A,data=V,data-len=N, or addr=A,cpu-num=N');
    expect(e('loader,file=x,force-raw=on')).toBe('-device loader,file=x,force-raw=on: force-raw=on needs addr=');
    expect(e('loader,addr=0,force-raw=on')).toBe('-device loader,addr=0,force-raw=on: force-raw needs file=');
    expect(e('loader,file=')).toBe('-device loader,file=: empty file name');
    expect(e('loader,file=x,color=red')).toBe("-device loader,file=x,color=red: invalid parameter 'color' for device loader");
  });
});

describe('-device ivshmem-flat', () => {
  const SOCK = ['-chardev', 'socket,path=/tmp/ivshmem_socket,id=ivshm'];
  it('parses the properties', () => {
    const c = p(
      ...SOCK,
      '-device',
      "ivshmem-flat,chardev=ivshm,x-irq-qompath='/machine/armv7m/nvic/unnamed-gpio-in[0]',x-bus-address-iomem=0x400FF000,x-bus-address-shmem=0x40100000,shmem-size=65536",
    );
    expect(c.ivshmem).toEqual([
      { chardev: 'ivshm', irqPath: "'/machine/armv7m/nvic/unnamed-gpio-in[0]'", irqNode: '/machine/armv7m/nvic/unnamed-gpio-in', irq: 0, iomemAddr: 0x400ff000, shmemAddr: 0x40100000, shmemSize: 65536 },
    ]);
  });
  it('defaults', () => {
    const c = p(...SOCK, '-device', 'ivshmem-flat,chardev=ivshm,x-irq-qompath=/machine/soc/v7m/nvic/unnamed-gpio-in[17]');
    expect(c.ivshmem[0]).toEqual({ chardev: 'ivshm', irqPath: '/machine/soc/v7m/nvic/unnamed-gpio-in[17]', irqNode: '/machine/soc/v7m/nvic/unnamed-gpio-in', irq: 17, iomemAddr: null, shmemAddr: null, shmemSize: null });
    expect(p(...SOCK, '-device', 'ivshmem-flat,chardev=ivshm,shmem-size=1M').ivshmem[0]).toMatchObject({ irq: null, irqPath: null, shmemSize: 1 << 20 });
  });
  it('errors', () => {
    expect(err('-device', 'ivshmem-flat')).toBe('-device ivshmem-flat: ivshmem-flat needs chardev=ID (a socket to the ivshmem server)');
    expect(err('-device', 'ivshmem-flat,chardev=nope')).toBe("-device ivshmem-flat: chardev 'nope' not found");
    expect(err('-chardev', 'null,id=n', '-device', 'ivshmem-flat,chardev=n')).toBe("-device ivshmem-flat: chardev 'n' must be a socket to the ivshmem server (it is null)");
    expect(err('-chardev', 'socket,id=n,path=/x,server=on,wait=off', '-device', 'ivshmem-flat,chardev=n')).toBe(
      "-device ivshmem-flat: chardev 'n' must be a client socket (server=off) to the ivshmem server",
    );
    expect(err(...SOCK, '-device', 'ivshmem-flat,chardev=ivshm,x-irq-qompath=/foo')).toBe(
      "-device ivshmem-flat,chardev=ivshm,x-irq-qompath=/foo: x-irq-qompath '/foo' does not name an NVIC input (…/nvic/unnamed-gpio-in[N])",
    );
    expect(err(...SOCK, '-device', 'ivshmem-flat,chardev=ivshm,shmem-size=0')).toBe('-device ivshmem-flat,chardev=ivshm,shmem-size=0: shmem-size 0 is out of range');
    expect(err(...SOCK, '-device', 'ivshmem-flat,chardev=ivshm,x-bus-address-shmem=0xfff00000,shmem-size=2M')).toBe(
      '-device ivshmem-flat,chardev=ivshm,x-bus-address-shmem=0xfff00000,shmem-size=2M: shared memory at 0xfff00000 (+2097152) runs past 4 GiB',
    );
    expect(err(...SOCK, '-device', 'ivshmem-flat,chardev=ivshm,vectors=2')).toBe("-device ivshmem-flat,chardev=ivshm,vectors=2: invalid parameter 'vectors' for device ivshmem-flat");
    expect(err('-chardev', 'socket,id=s,path=/x,mux=on', '-device', 'ivshmem-flat,chardev=s')).toBe("chardev 's': ivshmem-flat needs a chardev of its own (no mux=on)");
  });
});

describe('-device help and unknown devices', () => {
  it('help', () => {
    const c = parseQemuArgs(['-device', 'help']);
    expect(c.info).toEqual({ kind: 'device-help' });
    expect(infoText(c.info!)).toBe('Devices:\nname "loader"\nname "ivshmem-flat"\n');
    const d = parseQemuArgs(['-device', 'loader,help']);
    expect(d.info).toEqual({ kind: 'device-props', device: 'loader' });
    expect(infoText(d.info!)).toContain('loader options:');
  });
  it('unknown', () => {
    expect(err('-device', 'virtio-net')).toBe("-device virtio-net: 'virtio-net' is not a valid device model name (supported: loader, ivshmem-flat)");
    expect(err('-device', ',x=1')).toBe('-device ,x=1: missing device name (see -device help)');
  });
});
