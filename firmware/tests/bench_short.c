/*
 * bench_short: a short-block CPU benchmark for `make bench` (cmemu vs the bare engine vs
 * qemu-system-arm). Where bench_loop's blocks are long (tight CRC and copy loops), this one has
 * the shape of embedded benchmarks such as CoreMark: short basic blocks, many branches, many
 * small non-inlined calls. Each iteration runs four kernels over small data sets:
 *   1. a linked list of LIST_N nodes in a pool: find by key, reverse, find again, insertion sort
 *      by value, restore the order by index (pointer chasing, short loops);
 *   2. a switch-based state machine classifying a byte buffer into numbers, hex, decimals,
 *      words and separators (a byte-wise dispatch through a jump table);
 *   3. a MAT_N x MAT_N 16-bit matrix: add a constant, multiply by a constant, by a vector, by
 *      a matrix, and a bit-extracting variant;
 *   4. CRC16 (bit-wise, one call per byte) of every result, chained into one checksum.
 * Everything derives from the iteration number, so the output is fixed; the final checksum is
 * checked against a host build of the same kernels (bench_short_ref.c, `cc -O2`), and printed.
 * Nothing printed depends on time. Built with -O2 (the firmware Makefile), like CoreMark runs.
 */
#include "test.h"
#include "bench_short.h"

int main(void)
{
    test_start("bench_short");
    uint16_t crc = bench_short_run(BENCH_SHORT_ITERS);
    kprintf("bench_short: %u iterations, checksum 0x%04x\n", (unsigned)BENCH_SHORT_ITERS, (unsigned)crc);
    CHECK_EQ(crc, BENCH_SHORT_EXPECT, "checksum");
    test_pass();
}
