/*
 * bench_loop: a CPU-bound benchmark for `npm run bench` (cmemu vs qemu-system-arm):
 *   1. table-driven CRC-32 (zlib's) over a CRC_BYTES buffer (64 KiB), CRC_PASSES times, chained
 *   2. bubble sort of SORT_N words
 *   3. COPIES memcpy()s of ~COPY_LEN (1 MiB) at varying source/destination alignments (newlib's
 *      memcpy), one source word changed after each copy, then a CRC-32 of the result
 * All data come from an LCG, so the results are fixed; they are checked against the values
 * computed by tests/bench_loop_ref.py (Python, zlib) and printed. Nothing printed depends on
 * time. About 300 million instructions in all (measured with -icount shift=0).
 */
#include <string.h>
#include "test.h"

#if BOARD_SRAM_BYTES >= 3u * 1024u * 1024u
/* mps2-an385 (4 MiB of SRAM); the numbers `npm run bench` measures */
#define CRC_BYTES  (64u * 1024u)
#define CRC_PASSES 512u
#define SORT_N     2048u
#define COPY_LEN   (1024u * 1024u)
#define COPIES     64u

/* From: python3 tests/bench_loop_ref.py 512 2048 64 */
#define EXPECT_CRC   0xf7a8743au
#define EXPECT_SORT  0x9d24bb7du
#define EXPECT_COPY  0xbf8e9b28u
#define EXPECT_TOTAL 0xd502546fu
#else
/* 64 KiB of SRAM (lm3s6965evb): the same amount of work on smaller buffers (32 MiB of CRC, a
 * 2048-word sort, 64 MiB of memcpy) */
#define CRC_BYTES  (8u * 1024u)
#define CRC_PASSES 4096u
#define SORT_N     2048u
#define COPY_LEN   (16u * 1024u)
#define COPIES     4096u

/* From: python3 tests/bench_loop_ref.py 4096 2048 4096 8192 16384 */
#define EXPECT_CRC   0x16a50ba2u
#define EXPECT_SORT  0x729867f7u
#define EXPECT_COPY  0x1d026dcbu
#define EXPECT_TOTAL 0x793f019eu
#endif

static uint32_t crc_buf[CRC_BYTES / 4];
static uint32_t sort_buf[SORT_N];
static uint32_t copy_src[(COPY_LEN + 16) / 4];
static uint32_t copy_dst[(COPY_LEN + 16) / 4];
static uint32_t crc_table[256];

static uint32_t lcg_state = 0x12345678u;
static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state;
}

static void crc32_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* zlib's crc32(crc, buf, len): continues a previous CRC. */
static uint32_t crc32(uint32_t crc, const void *data, uint32_t len)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

static void bubble_sort(uint32_t *a, uint32_t n)
{
    for (uint32_t end = n; end > 1; end--) {
        int swapped = 0;
        for (uint32_t i = 1; i < end; i++) {
            if (a[i - 1] > a[i]) {
                uint32_t t = a[i - 1];
                a[i - 1] = a[i];
                a[i] = t;
                swapped = 1;
            }
        }
        if (!swapped)
            break;
    }
}

int main(void)
{
    test_start("bench_loop");
    crc32_init();
    CHECK_EQ(crc32(0, "123456789", 9), 0xCBF43926u, "CRC-32 check value");

    /* 1. CRC-32 */
    for (uint32_t i = 0; i < CRC_BYTES / 4; i++)
        crc_buf[i] = lcg();
    uint32_t crc = 0;
    for (uint32_t p = 0; p < CRC_PASSES; p++)
        crc = crc32(crc, crc_buf, CRC_BYTES);
    kprintf("crc32: %u passes over %u KiB: 0x%08x\n", CRC_PASSES, CRC_BYTES / 1024u, crc);
    CHECK_EQ(crc, EXPECT_CRC, "CRC-32 result");

    /* 2. bubble sort */
    for (uint32_t i = 0; i < SORT_N; i++)
        sort_buf[i] = lcg();
    bubble_sort(sort_buf, SORT_N);
    uint32_t sort_sum = 0;
    for (uint32_t i = 0; i < SORT_N; i++) {
        CHECK(i == 0 || sort_buf[i - 1] <= sort_buf[i], "array not sorted at %u", i);
        sort_sum += sort_buf[i] * (i + 1u);
    }
    kprintf("bubble sort: %u words, weighted sum 0x%08x\n", SORT_N, sort_sum);
    CHECK_EQ(sort_sum, EXPECT_SORT, "sort checksum");

    /* 3. memcpy */
    for (uint32_t i = 0; i < (COPY_LEN + 16) / 4; i++)
        copy_src[i] = lcg();
    uint8_t *src = (uint8_t *)copy_src, *dst = (uint8_t *)copy_dst;
    for (uint32_t k = 0; k < COPIES; k++) {
        memcpy(dst + (k & 3u), src + ((k >> 2) & 3u), COPY_LEN - 4u);
        uint32_t w = (k * 4099u * 4u) % COPY_LEN / 4u;
        copy_src[w] ^= 0xA5A5A5A5u ^ k;
    }
    uint32_t copy_crc = crc32(0, copy_dst, COPY_LEN + 16u);
    kprintf("memcpy: %u copies of %u KiB, CRC-32 0x%08x\n", COPIES, COPY_LEN / 1024u, copy_crc);
    CHECK_EQ(copy_crc, EXPECT_COPY, "memcpy result");

    uint32_t total = crc ^ sort_sum ^ copy_crc;
    kprintf("checksum: 0x%08x\n", total);
    CHECK_EQ(total, EXPECT_TOTAL, "checksum");
    test_pass();
}
