/**
 * Seeded randomness for the fuzzers in test/reliability: every case is reproducible from its seed
 * (printed on failure). FUZZ_ITER=N multiplies the iteration counts for a longer run
 * (`FUZZ_ITER=20 npx vitest run test/reliability`).
 */
export const FUZZ_SCALE = Math.max(1, Number(process.env.FUZZ_ITER ?? 1) || 1);

/** Iterations for a fuzzer whose `make test` budget is `n`. */
export function iterations(n: number): number {
  return Math.round(n * FUZZ_SCALE);
}

/** mulberry32: small, fast, and the same on every machine. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** 0 <= x < n */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
  /** A 32-bit value biased towards the edges that break size arithmetic. */
  edgy32(): number {
    return this.pick([0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffc, 0xfffffffe, 0xffffffff, this.u32(), this.u32() & 0xfffff]);
  }
}
