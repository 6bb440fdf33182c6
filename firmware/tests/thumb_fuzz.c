/*
 * thumb_fuzz: the harness for random Thumb-2 code (test/reliability/fuzz-thumb.test.ts). The host
 * writes random halfwords into `fuzz_code` (RAM) before the run; main() sets r0-r12 to addresses
 * in `fuzz_scratch` and jumps there. Every fault is recorded (exception, CFSR, HFSR, PC) and the
 * faulting instruction skipped while the PC is inside the buffer; a fault elsewhere, or the
 * eighth one, ends the run: the records are printed and the program exits through semihosting
 * with the fault count. Without code written in (the buffer is all UDF), it prints 8 UNDEFINSTR
 * faults and exits 8.
 */
#include "test.h"
#include "probe.h"
#include "fmt.h"

#define MAX_FAULTS 8u
#define CODE_HALFWORDS 512u

uint16_t fuzz_code[CODE_HALFWORDS] __attribute__((aligned(8))) = { [0 ... CODE_HALFWORDS - 1] = 0xde00 };
uint32_t fuzz_scratch[256] __attribute__((aligned(8)));

static volatile uint32_t nfaults;
static volatile uint32_t rec[MAX_FAULTS][4];

static void __attribute__((noreturn, used)) fuzz_done(void)
{
    uint32_t n = nfaults;
    kprintf("thumb_fuzz: %u fault(s)\n", (unsigned)n);
    for (uint32_t i = 0; i < n && i < MAX_FAULTS; i++)
        kprintf("fault %u: exc %u cfsr %08x hfsr %08x pc %08x\n", (unsigned)i, (unsigned)rec[i][0], (unsigned)rec[i][1], (unsigned)rec[i][2], (unsigned)rec[i][3]);
    test_exit((int)n);
}

void fault_record(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    uint32_t n = nfaults;
    uint32_t pc = frame[6];
    if (n < MAX_FAULTS) {
        rec[n][0] = get_ipsr() & 0x1FFu;
        rec[n][1] = SCB_CFSR;
        rec[n][2] = SCB_HFSR;
        rec[n][3] = pc;
    }
    nfaults = n + 1;
    SCB_CFSR = SCB_CFSR; /* write-one-to-clear */
    SCB_HFSR = SCB_HFSR;
    const uint32_t lo = (uint32_t)fuzz_code, hi = lo + sizeof fuzz_code;
    if (n + 1 >= MAX_FAULTS || pc < lo || pc + 4 > hi) {
        /* Return to Thread mode at fuzz_done with a clean frame (xPSR: Thumb only). */
        frame[6] = (uint32_t)fuzz_done & ~1u;
        frame[7] = 0x01000000u;
        return;
    }
    uint16_t hw = *(const uint16_t *)pc;
    frame[6] = pc + ((hw >> 11) >= 0x1Du ? 4u : 2u);
    frame[7] |= 0x01000000u;
}

FAULT_HANDLERS_RECORD()

int main(void)
{
    test_start("thumb_fuzz");
    __asm volatile("dsb\n isb" ::: "memory");
    register uint32_t base __asm("r12") = (uint32_t)fuzz_scratch + 512u;
    register uint32_t fn __asm("r11") = (uint32_t)fuzz_code | 1u;
    __asm volatile(
        "mov r0, r12\n add r1, r12, #8\n add r2, r12, #16\n add r3, r12, #24\n"
        "add r4, r12, #32\n add r5, r12, #40\n add r6, r12, #48\n add r7, r12, #56\n"
        "add r8, r12, #64\n add r9, r12, #72\n add r10, r12, #80\n"
        "blx r11\n"
        : "+r"(base), "+r"(fn) : : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "lr", "memory", "cc");
    fuzz_done();
}
