/**
 * The short versions of `make soak` (src/bench/soak.ts): 50 000 messages each way between two
 * bin/cmemu boards through a `cmemu ivshmem-server` process (0 lost, duplicated or corrupted; fd
 * counts of all three the same at the end as at the start), and 8 pairs, 16 boards, on one server
 * at once (every pair passes). The run must outlast the 300 ms soakPair waits before its first
 * sample: on a quiet machine 3000 messages were done in less (the start sample found the initiator
 * gone).
 */
import { describe, expect, it } from 'vitest';
import { pairOk, soakPair, soakPairs } from '../../src/bench/soak.js';

describe('soak (short)', () => {
  it('50 000 messages each way through cmemu ivshmem-server: nothing lost, fds flat', async () => {
    const a = await soakPair(50_000);
    expect(pairOk(a.result), JSON.stringify(a.result)).toBe(true);
    for (const k of ['initiator', 'responder', 'server']) {
      expect(a.start[k], k).toBeTruthy();
      expect(a.end[k]?.fds, k).toBe(a.start[k]!.fds);
    }
  }, 120_000);

  it('8 pairs (16 boards) on one server at once: every pair passes', async () => {
    const b = await soakPairs(8, 200);
    expect(b.results).toHaveLength(8);
    for (const [i, r] of b.results.entries()) expect(pairOk(r), `pair ${i}: ${JSON.stringify(r)}`).toBe(true);
  }, 180_000);
});
