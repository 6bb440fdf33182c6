/**
 * `make demo`: two emulated boards talk through ivshmem-flat. An ivshmem server runs in this
 * process (a memfd, a UNIX socket in a temporary folder); a responder and an initiator board run as
 * `bin/cmemu` child processes with firmware/tests/ivshmem_pingpong.c, which ping-pong sequence-
 * numbered messages with one doorbell each (docs/ivshmem-pingpong.md) and check every payload.
 * Both consoles are printed, prefixed, then the round-trip figures. Exit 0 on success; otherwise
 * non-zero with a line naming the component that failed. Nothing is left behind: the children are
 * killed by PID, the server stopped, the folder removed (also on Ctrl-C).
 *
 *   DEMO_N=<messages> (default 2000)
 */
import { Board, PingPongPair, parseRtt, pingpongElf, pickBoards, wallMeanUs } from '../bench/pingpong.js';
import { existsSync } from 'node:fs';

const N = Number(process.env.DEMO_N ?? 2000);
const TIMEOUT_MS = 60_000 + N * 5;

function fail(component: string, why: string, code = 1): never {
  process.stdout.write(`\ndemo: FAILED: ${component}: ${why}\n`);
  process.exitCode = code;
  throw new DemoFailure();
}
class DemoFailure extends Error {}

function echo(b: Board, label: string): void {
  b.onLine((line) => process.stdout.write(`${label} | ${line}\n`));
}

async function main(): Promise<void> {
  const boards = pickBoards();
  for (const b of boards) if (!existsSync(pingpongElf(b))) fail('firmware', `${pingpongElf(b)} is missing (make firmware)`);
  process.stdout.write(
    `cmemu demo: two ${boards[0] === boards[1] ? boards[0] : boards.join(' + ')} boards ping-pong ${N} messages through ivshmem-flat\n` +
      `(server in this process; each board is a separate bin/cmemu process in real-time mode)\n\n`,
  );
  const pair = new PingPongPair({ n: N, boards });
  const onSignal = (sig: NodeJS.Signals) => {
    void pair.close().then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const t0 = process.hrtime.bigint();
  try {
    try {
      await pair.start();
    } catch (e) {
      const msg = (e as Error).message;
      if (!pair.responder) fail('ivshmem server', msg);
      fail(`responder board (${boards[1]})`, msg);
    }
    const rLabel = `responder ${boards[1].padEnd(11)}`;
    const iLabel = `initiator ${boards[0].padEnd(11)}`;
    for (const l of pair.responder.out.slice(0, pair.responder.out.lastIndexOf('\n') + 1).split('\n').filter((x) => x)) process.stdout.write(`${rLabel} | ${l}\n`);
    echo(pair.responder, rLabel);
    echo(pair.initiator, iLabel);
    const timer = setTimeout(() => {
      pair.initiator.kill();
      pair.responder.kill();
    }, TIMEOUT_MS);
    await Promise.all([pair.initiator.exited, pair.responder.exited]);
    clearTimeout(timer);
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;

    for (const [b, label] of [[pair.initiator, iLabel], [pair.responder, rLabel]] as const) {
      const errs = b.err.split('\n').filter((l) => l && !/^cmemu: note: -append/.test(l));
      for (const l of errs) process.stdout.write(`${label} ! ${l}\n`);
    }
    for (const [b, role, board] of [[pair.initiator, 'initiator', boards[0]], [pair.responder, 'responder', boards[1]]] as const) {
      const what = `${role} board (${board}, bin/cmemu pid ${b.child.pid})`;
      if (b.exitSignal) fail(what, `killed by ${b.exitSignal}${b.exitSignal === 'SIGKILL' ? ` (no result within ${TIMEOUT_MS / 1000} s)` : ''}`);
      if (b.exitCode !== 0) {
        const f = b.out.match(/FAIL: .*/)?.[0];
        fail(what, f ? `firmware reported "${f}" (exit ${b.exitCode})` : `exit ${b.exitCode}`);
      }
    }
    const rtt = parseRtt(pair.initiator.out);
    if (!rtt || rtt.n !== N) fail('initiator firmware', `no round-trip figures for ${N} messages`);
    const wall = wallMeanUs(pair.initiator, N);
    process.stdout.write(
      `\nround trip: median ${rtt.medianUs.toFixed(1)} us, p99 ${rtt.p99Us.toFixed(1)} us (the initiator's SysTick, ${rtt.n} messages); ` +
        `mean ${wall === null ? '?' : wall.toFixed(1)} us by the host clock\n` +
        `whole demo: ${(wallMs / 1000).toFixed(2)} s wall (start-up included), ${N} messages each way, every payload checked, none lost\n`,
    );
  } finally {
    await pair.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (existsSync(pair.dir)) fail('clean-up', `${pair.dir} was left behind`);
  process.stdout.write('demo: OK\n');
}

main().catch((e) => {
  if (!(e instanceof DemoFailure)) {
    process.stdout.write(`\ndemo: FAILED: demo driver: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  }
});
