/*
 * cpu_faults: instructions that an emulator must turn into architectural faults, each run from a
 * RAM buffer (the instruction, then `bx lr`) and caught by a handler that records the exception,
 * CFSR and the stacked PC, clears the status and skips the instruction. Prints one line per case
 * (the parity test compares them with qemu-system-arm's), then checks the ARMv7-M answer.
 *   (a) coprocessor instructions (CDP, MCR, MRC, MCRR, LDC, STC and their "2" forms) on
 *       coprocessors 0, 7, 10, 11, 14, 15: a Cortex-M3 has no coprocessor, so each one is a
 *       UsageFault NOCP (ARMv7-M: Coproc_Accepted() is FALSE -> GenerateCoprocessorException()).
 *   (b) T32 1111 1001 xxx0: ARMv7-A's Advanced SIMD element and structure loads and stores,
 *       UNDEFINED on ARMv7-M (A5.3.10): a UsageFault UNDEFINSTR at the instruction, with nothing
 *       loaded or stored and no base writeback.
 */
#include "test.h"
#include "probe.h"

struct fault {
    uint32_t count, exc, cfsr, hfsr, pc;
};
static volatile struct fault last;

void fault_record(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    last.count++;
    last.exc = get_ipsr() & 0x1FFu;
    last.cfsr = SCB_CFSR;
    last.hfsr = SCB_HFSR;
    last.pc = frame[6];
    SCB_CFSR = last.cfsr;   /* write-one-to-clear */
    SCB_HFSR = last.hfsr;
    uint16_t hw = *(const uint16_t *)frame[6];
    frame[6] += (hw >> 11) >= 0x1Du ? 4u : 2u;
}

FAULT_HANDLERS_RECORD()

/* The code buffer: up to 6 halfwords of test code, then `bx lr`. */
static uint16_t code[8] __attribute__((aligned(8)));
static uint32_t words[8] __attribute__((aligned(8)));

typedef uint32_t (*fn_t)(uint32_t a, uint32_t b);

/* Runs `n` halfwords with r0 = a, r1 = b (r2, r3 = 0x22222222, 0x33333333); returns r0. */
static uint32_t run_code(const uint16_t *hw, unsigned n, uint32_t a, uint32_t b, uint32_t *r2out)
{
    for (unsigned i = 0; i < n; i++)
        code[i] = hw[i];
    code[n] = 0x4770;   /* bx lr */
    __asm volatile("dsb\n isb" ::: "memory");
    uint32_t r0 = a, r2 = 0x22222222u;
    register uint32_t x0 __asm("r0") = r0;
    register uint32_t x1 __asm("r1") = b;
    register uint32_t x2 __asm("r2") = r2;
    register uint32_t x3 __asm("r3") = 0x33333333u;
    register uint32_t fn __asm("r12") = (uint32_t)code | 1u;
    __asm volatile("blx r12" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(fn) : : "lr", "memory", "cc");
    if (r2out)
        *r2out = x2;
    return x0;
}

static uint32_t failures;

/* Print the outcome of one case and check it against the expected exception and CFSR. */
static void report(const char *what, uint32_t exc, uint32_t cfsr)
{
    kprintf("%s: faults=%u exc=%u cfsr=0x%08x hfsr=0x%08x pc=+%u\n", what, last.count, last.exc,
            last.cfsr, last.hfsr, last.count ? last.pc - (uint32_t)code : 0);
    uint32_t want_count = exc ? 1 : 0;
    if (last.count != want_count || (exc && (last.exc != exc || last.cfsr != cfsr || last.pc != (uint32_t)code))) {
        kprintf("  (ARMv7-M: exc=%u cfsr=0x%08x at +0)\n", exc, cfsr);
        failures++;
    }
    last.count = 0;
    last.exc = last.cfsr = last.hfsr = last.pc = 0;
}

struct insn {
    const char *name;
    uint16_t hw[2];
};

int main(void)
{
    test_start("cpu_faults");
    SCB_SHCSR |= SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    char name[48];

    /* (a) coprocessor space: <form> with the coprocessor number in bits 11:8 of the 2nd halfword */
    static const struct insn cp_forms[] = {
        { "cdp", { 0xEE12, 0x1083 } },    /* cdp  pN, 1, c1, c2, c3, 4 */
        { "cdp2", { 0xFE12, 0x1083 } },
        { "mcr", { 0xEE01, 0x0010 } },    /* mcr  pN, 0, r0, c1, c0, 0 */
        { "mrc", { 0xEE11, 0x3010 } },    /* mrc  pN, 0, r3, c1, c0, 0 */
        { "mcr2", { 0xFE01, 0x0010 } },
        { "mcrr", { 0xEC41, 0x0012 } },   /* mcrr pN, 1, r0, r1, c2 */
        { "mrrc", { 0xEC53, 0x0012 } },   /* mrrc pN, 1, r0, r3, c2 */
        { "ldc", { 0xED90, 0x1000 } },    /* ldc  pN, c1, [r0] */
        { "stc", { 0xED80, 0x1000 } },    /* stc  pN, c1, [r0] */
        { "ldc2l", { 0xFD50, 0xC0EA } },  /* ldc2l pN, c12, [r0, #-936] */
    };
    static const uint8_t cps[] = { 0, 7, 10, 11, 14, 15 };
    for (unsigned f = 0; f < sizeof cp_forms / sizeof cp_forms[0]; f++) {
        for (unsigned c = 0; c < sizeof cps; c++) {
            uint16_t hw[2] = { cp_forms[f].hw[0], (uint16_t)(cp_forms[f].hw[1] | (cps[c] << 8)) };
            ksnprintf(name, sizeof name, "(a) %s p%u", cp_forms[f].name, cps[c]);
            run_code(hw, 2, (uint32_t)&words[4], 0, 0);
            report(name, EXC_USAGEFAULT, UFSR_NOCP);
        }
    }

    /* (b) Advanced SIMD element/structure load/store encodings, base r0 = &words[4], r2 = 0x22222222 */
    static const struct insn simd_forms[] = {
        { "vst1.8 {d0}, [r0]", { 0xF900, 0x070F } },
        { "vld1.8 {d0}, [r0]!", { 0xF920, 0x070D } },
        { "vld4.8 {d0[1]-d3[1]}, [r0], r2", { 0xF9A0, 0x0322 } },
        { "vst1.32 {d0[0]}, [r0]", { 0xF980, 0x080F } },
        { "vld1.32 {d0[]}, [r0]", { 0xF9A0, 0x0C8F } },
        { "vst2.16 {d0-d1}, [r0:128]", { 0xF900, 0x086F } },
    };
    for (unsigned f = 0; f < sizeof simd_forms / sizeof simd_forms[0]; f++) {
        for (unsigned i = 0; i < 8; i++)
            words[i] = 0x5A5A5A5Au;
        ksnprintf(name, sizeof name, "(b) %s", simd_forms[f].name);
        uint32_t r0 = run_code(simd_forms[f].hw, 2, (uint32_t)&words[4], 0, 0);
        report(name, EXC_USAGEFAULT, UFSR_UNDEFINSTR);
        unsigned changed = 0;
        for (unsigned i = 0; i < 8; i++)
            changed += words[i] != 0x5A5A5A5Au;
        kprintf("  r0 %s, %u words changed\n", r0 == (uint32_t)&words[4] ? "kept" : "written back", changed);
        if (r0 != (uint32_t)&words[4] || changed)
            failures++;
    }

    CHECK(failures == 0, "%u cases differ from ARMv7-M", failures);
    test_pass();
}
