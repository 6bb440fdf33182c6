/* bench_short's kernels (bench_short_kernels.c), shared by the firmware and its host reference
 * build (bench_short-host.c). */
#ifndef BENCH_SHORT_H
#define BENCH_SHORT_H
#include <stdint.h>

/* Iterations: about 3-4 s under qemu-system-arm on mps2-an385 (~760 M instructions), as long as the
 * 12 000-iteration CoreMark run issue 10 measured, so that start-up (its own figure in make bench)
 * is a small part of the per-block comparison. */
#ifndef BENCH_SHORT_ITERS
#define BENCH_SHORT_ITERS 12000u
#endif
/* From: cc -O2 -o /tmp/bsref tests/bench_short-host.c && /tmp/bsref 12000 (also -O0: the same) */
#define BENCH_SHORT_EXPECT 0x7801u

uint16_t bench_short_run(uint32_t iters);

#endif
