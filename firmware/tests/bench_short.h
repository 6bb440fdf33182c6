/* bench_short's kernels (bench_short_kernels.c), shared by the firmware and its host reference
 * build (bench_short-host.c). */
#ifndef BENCH_SHORT_H
#define BENCH_SHORT_H
#include <stdint.h>

/* Iterations: about 1 s under qemu-system-arm on mps2-an385. */
#ifndef BENCH_SHORT_ITERS
#define BENCH_SHORT_ITERS 3000u
#endif
/* From: cc -O2 -o /tmp/bsref tests/bench_short-host.c && /tmp/bsref 3000 */
#define BENCH_SHORT_EXPECT 0xac44u

uint16_t bench_short_run(uint32_t iters);

#endif
