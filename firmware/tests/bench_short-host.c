/* Host reference for bench_short (not part of the firmware): prints the checksum of the same
 * kernels.  cc -O2 -o /tmp/bsref tests/bench_short-host.c && /tmp/bsref [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include "bench_short_kernels.c"

int main(int argc, char **argv)
{
    uint32_t iters = argc > 1 ? (uint32_t)strtoul(argv[1], 0, 0) : BENCH_SHORT_ITERS;
    printf("bench_short: %u iterations, checksum 0x%04x\n", (unsigned)iters, (unsigned)bench_short_run(iters));
    return 0;
}
