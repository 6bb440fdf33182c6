/*
 * unaligned: the accesses ARMv7-M always checks for alignment (ARMv7-M ARM A3.2.1: LDM, STM,
 * PUSH, POP, LDRD, STRD and the exclusives must be word-aligned whatever CCR.UNALIGN_TRP says;
 * single LDR/STR/LDRH/STRH are checked only with UNALIGN_TRP set). Each case runs from a RAM buffer
 * (the instruction, then `bx lr`) and is caught by a handler that records the exception, CFSR,
 * HFSR, the stacked PC and ITSTATE, clears the status and skips the instruction. One line per case
 * (the parity test compares them with qemu-system-arm's), each checked against ARMv7-M:
 *   (a) aligned: every form runs, with its loads, stores and writeback;
 *   (b) misaligned by 1, 2, 3 with UNALIGN_TRP clear and set: UsageFault UNALIGNED at the
 *       instruction, nothing loaded, stored or written back;
 *   (c) single-word and halfword accesses misaligned with UNALIGN_TRP clear: they run;
 *   (d) in an IT block: taken, the fault's stacked PC and ITSTATE are the instruction's; skipped,
 *       no fault;
 *   (e) from a handler (PendSV, lowest priority): UsageFault preempts it; with UsageFault
 *       disabled the fault escalates to HardFault (HFSR.FORCED, CFSR UNALIGNED);
 *   (f) device memory (the SCB): a misaligned LDM faults without touching it; an aligned one reads.
 */
#include "test.h"
#include "probe.h"

struct fault {
    uint32_t count, exc, cfsr, hfsr, pc, it;
};
static volatile struct fault last;

void fault_record(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    uint32_t cfsr = SCB_CFSR, hfsr = SCB_HFSR;
    SCB_CFSR = cfsr;   /* write-one-to-clear */
    SCB_HFSR = hfsr;
    last.cfsr = cfsr;
    last.hfsr = hfsr;
    last.exc = get_ipsr() & 0x1FFu;
    last.pc = frame[6];
    last.it = xpsr_itstate(frame[7]);
    last.count++;
    frame_skip_insn(frame);   /* PC and ITSTATE */
}

FAULT_HANDLERS_RECORD()

static uint16_t code[8] __attribute__((aligned(8)));
static uint32_t words[8] __attribute__((aligned(8)));
static uint32_t out_r1, out_r2, out_r3;

/* Runs `n` halfwords with r0 = a, r1 = b, r2 = 0x22222222, r3 = 0x33333333; returns r0 and keeps
 * r1..r3 in out_r1..out_r3. */
static uint32_t run_code(const uint16_t *hw, unsigned n, uint32_t a, uint32_t b)
{
    for (unsigned i = 0; i < n; i++)
        code[i] = hw[i];
    code[n] = 0x4770;   /* bx lr */
    __asm volatile("dsb\n isb" ::: "memory");
    register uint32_t x0 __asm("r0") = a;
    register uint32_t x1 __asm("r1") = b;
    register uint32_t x2 __asm("r2") = 0x22222222u;
    register uint32_t x3 __asm("r3") = 0x33333333u;
    register uint32_t fn __asm("r12") = (uint32_t)code | 1u;
    __asm volatile("blx r12" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(fn) : : "lr", "memory", "cc");
    out_r1 = x1;
    out_r2 = x2;
    out_r3 = x3;
    return x0;
}

static uint32_t failures;

static void fail(const char *what, const char *why)
{
    kprintf("  %s: %s\n", what, why);
    failures++;
}

/* Print one case's fault record and check it: `exc` 0 means no fault; `at` the halfword index of
 * the faulting instruction in the buffer. */
static void report(const char *what, uint32_t exc, uint32_t cfsr, uint32_t hfsr, unsigned at)
{
    kprintf("%s: faults=%u exc=%u cfsr=0x%08x hfsr=0x%08x pc=+%u it=0x%02x\n", what, last.count, last.exc,
            last.cfsr, last.hfsr, last.count ? last.pc - (uint32_t)code : 0, last.it);
    if (last.count != (exc ? 1u : 0u))
        fail(what, exc ? "no fault (ARMv7-M faults)" : "faulted (ARMv7-M runs it)");
    else if (exc && (last.exc != exc || last.cfsr != cfsr || last.hfsr != hfsr || last.pc != (uint32_t)&code[at]))
        fail(what, "wrong exception, status or stacked PC");
    last.count = 0;
    last.exc = last.cfsr = last.hfsr = last.pc = last.it = 0;
}

struct insn {
    const char *name;
    uint16_t hw[2];
    int8_t wb;        /* r0 after the aligned run: base + wb */
    uint8_t loads;    /* r1/r2 loaded: bit 0 r1, bit 1 r2, bit 2 r2+r3 (LDRD) */
    uint8_t stores;   /* words stored at base (STM r1,r2 / STRD r2,r3) */
    int8_t at;        /* the lowest word accessed, relative to base (words) */
};

static const struct insn multi[] = {
    { "ldmia r0!, {r1, r2}", { 0xC806, 0 }, 8, 3, 0, 0 },
    { "ldmia r0, {r2}", { 0xC804, 0 }, 4, 2, 0, 0 },   /* T1 writes back (r0 not in the list) */
    { "stmia r0!, {r1, r2}", { 0xC006, 0 }, 8, 0, 2, 0 },
    { "ldm.w r0, {r1, r2}", { 0xE890, 0x0006 }, 0, 3, 0, 0 },
    { "stm.w r0, {r1, r2}", { 0xE880, 0x0006 }, 0, 0, 2, 0 },
    { "ldmdb r0!, {r1, r2}", { 0xE930, 0x0006 }, -8, 3, 0, -2 },
    { "stmdb r0!, {r1, r2}", { 0xE920, 0x0006 }, -8, 0, 2, -2 },
    { "ldrd r2, r3, [r0]", { 0xE9D0, 0x2300 }, 0, 4, 0, 0 },
    { "ldrd r2, r3, [r0, #8]!", { 0xE9F0, 0x2302 }, 8, 4, 0, 2 },
    { "strd r2, r3, [r0]", { 0xE9C0, 0x2300 }, 0, 0, 2, 0 },
    { "strd r2, r3, [r0], #-8", { 0xE860, 0x2302 }, -8, 0, 2, 0 },
    { "ldrex r2, [r0]", { 0xE850, 0x2F00 }, 0, 2, 0, 0 },
    { "ldrexh r2, [r0]", { 0xE8D0, 0x2F5F }, 0, 2, 0, 0 },
};

static void fill(void)
{
    for (unsigned k = 0; k < 8; k++)
        words[k] = 0x11111111u * (k + 1);
}

static int words_intact(void)
{
    for (unsigned k = 0; k < 8; k++)
        if (words[k] != 0x11111111u * (k + 1))
            return 0;
    return 1;
}

/* PendSV runs the case given here (from Handler mode, lowest priority). */
static const uint16_t *pend_hw;
static unsigned pend_n;
static uint32_t pend_a;
void PendSV_Handler(void) { run_code(pend_hw, pend_n, pend_a, 0xAAAAAAAAu); }

static void from_pendsv(const uint16_t *hw, unsigned n, uint32_t a)
{
    pend_hw = hw;
    pend_n = n;
    pend_a = a;
    SCB_ICSR = ICSR_PENDSVSET;
    __asm volatile("dsb\n isb" ::: "memory");
}

int main(void)
{
    test_start("unaligned");
    SCB_SHCSR |= SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    SCB_SHPR3 |= 0xFFu << 16;   /* PendSV: lowest priority */
    char name[64];
    const unsigned N = sizeof multi / sizeof multi[0];

    /* (a) aligned: base = &words[4] */
    for (unsigned i = 0; i < N; i++) {
        fill();
        uint32_t base = (uint32_t)&words[4];
        unsigned n = multi[i].hw[1] ? 2 : 1;
        uint32_t r0 = run_code(multi[i].hw, n, base, 0xAAAAAAAAu);
        ksnprintf(name, sizeof name, "(a) %s, aligned", multi[i].name);
        report(name, 0, 0, 0, 0);
        int at = 4 + multi[i].at;
        if (r0 != base + (uint32_t)(int32_t)multi[i].wb)
            fail(name, "writeback");
        if ((multi[i].loads & 1) && out_r1 != 0x11111111u * (at + 1))
            fail(name, "r1 not loaded");
        if ((multi[i].loads & 2) && out_r2 != 0x11111111u * (at + ((multi[i].loads & 1) ? 2 : 1)))
            if (!((multi[i].hw[0] & 0xFFF0) == 0xE8D0 && out_r2 == (0x11111111u * (at + 1) & 0xFFFFu)))
                fail(name, "r2 not loaded");
        if ((multi[i].loads & 4) && (out_r2 != 0x11111111u * (at + 1) || out_r3 != 0x11111111u * (at + 2)))
            fail(name, "r2, r3 not loaded");
        if (multi[i].stores) {
            uint32_t lo = (multi[i].hw[0] & 0xFFF0) == 0xE9C0 || (multi[i].hw[0] & 0xFFF0) == 0xE860 ? 0x22222222u : 0xAAAAAAAAu;
            uint32_t hi = lo == 0x22222222u ? 0x33333333u : 0x22222222u;
            if (words[at] != lo || words[at + 1] != hi)
                fail(name, "not stored");
        }
    }

    /* (b) misaligned, UNALIGN_TRP clear then set */
    for (unsigned trap = 0; trap < 2; trap++) {
        if (trap)
            SCB_CCR |= CCR_UNALIGN_TRP;
        else
            SCB_CCR &= ~CCR_UNALIGN_TRP;
        for (unsigned off = 1; off < 4; off++) {
            for (unsigned i = 0; i < N; i++) {
                if ((multi[i].hw[0] & 0xFFF0) == 0xE8D0 && off == 2)
                    continue;   /* LDREXH at +2 is halfword-aligned */
                fill();
                uint32_t addr = (uint32_t)&words[4] + off;
                uint32_t r0 = run_code(multi[i].hw, multi[i].hw[1] ? 2 : 1, addr, 0xAAAAAAAAu);
                ksnprintf(name, sizeof name, "(b) %s, +%u, trap %u", multi[i].name, off, trap);
                report(name, EXC_USAGEFAULT, UFSR_UNALIGNED, 0, 0);
                if (r0 != addr)
                    fail(name, "written back");
                if (out_r1 != 0xAAAAAAAAu || out_r2 != 0x22222222u || out_r3 != 0x33333333u)
                    fail(name, "a register was loaded");
                if (!words_intact())
                    fail(name, "memory was written");
            }
        }
    }
    SCB_CCR &= ~CCR_UNALIGN_TRP;

    /* (c) single accesses misaligned, trap clear: they run */
    static const struct insn single[] = {
        { "ldr r2, [r0]", { 0x6802, 0 }, 0, 0, 0, 0 },
        { "ldrh r2, [r0]", { 0x8802, 0 }, 0, 0, 0, 0 },
        { "str r1, [r0]", { 0x6001, 0 }, 0, 0, 0, 0 },
        { "ldr.w r2, [r0, #4]!", { 0xF850, 0x2F04 }, 0, 0, 0, 0 },
    };
    for (unsigned i = 0; i < sizeof single / sizeof single[0]; i++) {
        fill();
        run_code(single[i].hw, single[i].hw[1] ? 2 : 1, (uint32_t)&words[4] + 1, 0xAAAAAAAAu);
        ksnprintf(name, sizeof name, "(c) %s, +1", single[i].name);
        report(name, 0, 0, 0, 0);
    }
    fill();
    run_code(single[0].hw, 1, (uint32_t)&words[4] + 1, 0);
    if (out_r2 != 0x66555555u)
        fail("(c) ldr +1", "wrong value");

    /* (d) IT blocks: cmp r1, #0; it eq; ldmiaeq r0!, {r1, r2}  and  cmp r1, #0; ite ne; strdne; addeq */
    static const uint16_t it_ldm[] = { 0x2900, 0xBF08, 0xC806 };
    fill();
    run_code(it_ldm, 3, (uint32_t)&words[4] + 2, 0);
    report("(d) it eq; ldmiaeq r0!, {r1, r2} (taken)", EXC_USAGEFAULT, UFSR_UNALIGNED, 0, 2);
    run_code(it_ldm, 3, (uint32_t)&words[4] + 2, 1);
    report("(d) it eq; ldmiaeq r0!, {r1, r2} (skipped)", 0, 0, 0, 0);
    static const uint16_t ite_strd[] = { 0x2900, 0xBF14, 0xE9C0, 0x2300, 0x3001 };  /* ... strdne r2, r3, [r0]; addeq r0, #1 */
    fill();
    uint32_t r0 = run_code(ite_strd, 5, (uint32_t)&words[4] + 1, 1);
    report("(d) ite ne; strdne r2, r3, [r0]; addeq (taken)", EXC_USAGEFAULT, UFSR_UNALIGNED, 0, 2);
    if (r0 != (uint32_t)&words[4] + 1 || !words_intact())
        fail("(d) strdne", "the skipped addeq ran, or memory was written");
    r0 = run_code(ite_strd, 5, (uint32_t)&words[4] + 1, 0);
    report("(d) ite ne; strdne r2, r3, [r0]; addeq (skipped)", 0, 0, 0, 0);
    if (r0 != (uint32_t)&words[4] + 2)
        fail("(d) strdne skipped", "addeq did not run");

    /* (e) from a handler: UsageFault preempts PendSV; disabled, it escalates to HardFault */
    static const uint16_t ldm[] = { 0xC806 };
    fill();
    from_pendsv(ldm, 1, (uint32_t)&words[4] + 3);
    report("(e) ldmia in PendSV", EXC_USAGEFAULT, UFSR_UNALIGNED, 0, 0);
    SCB_SHCSR &= ~SHCSR_USGFAULTENA;
    from_pendsv(ldm, 1, (uint32_t)&words[4] + 3);
    report("(e) ldmia in PendSV, UsageFault disabled", EXC_HARDFAULT, UFSR_UNALIGNED, HFSR_FORCED, 0);
    run_code(ldm, 1, (uint32_t)&words[4] + 1, 0);
    report("(e) ldmia in Thread mode, UsageFault disabled", EXC_HARDFAULT, UFSR_UNALIGNED, HFSR_FORCED, 0);
    SCB_SHCSR |= SHCSR_USGFAULTENA;
    if (!words_intact())
        fail("(e)", "memory was written");

    /* (f) device memory: the SCB (CPUID, ICSR) */
    static const uint16_t ldm2[] = { 0xE890, 0x0006 };   /* ldm.w r0, {r1, r2} */
    run_code(ldm2, 2, (uint32_t)&SCB_CPUID + 1, 0);
    report("(f) ldm.w r0, {r1, r2}, r0=CPUID+1", EXC_USAGEFAULT, UFSR_UNALIGNED, 0, 0);
    run_code(ldm2, 2, (uint32_t)&SCB_CPUID, 0);
    report("(f) ldm.w r0, {r1, r2}, r0=CPUID", 0, 0, 0, 0);
    if (out_r1 != SCB_CPUID)
        fail("(f) aligned", "CPUID not read");

    CHECK(failures == 0, "%u cases differ from ARMv7-M", failures);
    test_pass();
}
