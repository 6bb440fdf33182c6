/*
 * faults: synchronous faults, each caught by a handler that records CFSR/HFSR/BFAR/MMFAR and
 * the stacked PC/xPSR, clears the status bits, and resumes: it skips the faulting
 * instruction (stacked PC += its length) or, for faults on an instruction fetch, returns to
 * `resume_pc` with the Thumb bit set again. The exact answers asserted are QEMU 7.2's on
 * mps2-an385 (see README.md). On lm3s6965evb (BOARD_BUS_ERRORS 0) QEMU 7.2's machine ignores
 * failed memory transactions (an unmapped load reads 0, a store vanishes, even an unprivileged
 * SCS access goes through), where cmemu raises the architectural BusFault on every board: the
 * parts that depend on it, (a), the BusFault half of (d), the unmapped fetch of (e) and (g), are
 * skipped there (cmemu's behaviour is checked by test/machine/lm3s6965evb.test.ts).
 *   (a) ldr/str at 0x50000000 (nothing mapped there) -> precise BusFault, BFAR = address
 *       (a real Cortex-M3 would report the store as an imprecise BusFault; QEMU is precise)
 *   (b) udf #0 -> UsageFault UNDEFINSTR
 *   (c) udiv by 0 -> 0 without CCR.DIV_0_TRP, UsageFault DIVBYZERO with it
 *   (d) with BusFault / UsageFault disabled in SHCSR -> HardFault, HFSR.FORCED, CFSR kept
 *   (e) bx to an even address -> UsageFault INVSTATE (stacked PC = target, stacked T = 0);
 *       bx to 0x40000001 (Peripheral region, execute-never) -> MemManage IACCVIOL, no MMFAR;
 *       bx to 0x60000001 (executable region, nothing mapped) -> BusFault IBUSERR, no BFAR
 *   (f) CCR.UNALIGN_TRP: unaligned ldr works without it, UsageFault UNALIGNED with it
 *   (g) unprivileged read of SYST_CSR -> precise BusFault, BFAR = 0xE000E010
 */
#include "test.h"
#include "probe.h"

struct fault {
    uint32_t count, exc, exc_return, shcsr, cfsr, hfsr, bfar, mmfar, pc, xpsr;
};
static volatile struct fault last;
static volatile uint32_t resume_pc;   /* non-zero: return there instead of skipping */

void fault_record(uint32_t *frame, uint32_t exc_return)
{
    last.count++;
    last.exc = get_ipsr() & 0x1FFu;
    last.exc_return = exc_return;
    last.shcsr = SCB_SHCSR;
    last.cfsr = SCB_CFSR;
    last.hfsr = SCB_HFSR;
    last.bfar = SCB_BFAR;
    last.mmfar = SCB_MMFAR;
    last.pc = frame[6];
    last.xpsr = frame[7];
    SCB_CFSR = last.cfsr;   /* write-one-to-clear */
    SCB_HFSR = last.hfsr;
    if (resume_pc) {
        frame[6] = resume_pc & ~1u;
        frame[7] |= 1u << 24;   /* EPSR.T, cleared by a bx to an even address */
        resume_pc = 0;
    } else {
        uint16_t hw = *(const uint16_t *)frame[6];
        frame[6] += (hw >> 11) >= 0x1Du ? 4u : 2u;   /* 32-bit Thumb encodings: 0b111xx, xx != 00 */
    }
}

FAULT_HANDLERS_RECORD()

/* SVC: give Thread mode its privilege back (after the unprivileged probe in (g)). */
void SVC_Handler(void)
{
    set_control(get_control() & ~1u);
}

PROBE(probe_load, "ldr r0, [r0]\n bx lr\n")                 /* skipped: returns a */
PROBE(probe_store, "str r1, [r0]\n bx lr\n")
PROBE(probe_udf, "udf #0\n bx lr\n")
PROBE(probe_udiv, "udiv r0, r0, r1\n bx lr\n")              /* skipped: returns a */
PROBE(probe_bx, "bx r0\n .global probe_bx_resume\n .thumb_func\n probe_bx_resume: bx lr\n")
extern void probe_bx_resume(void);


/* Check the last fault: exactly one, of exception `exc`, with CFSR/HFSR as given and the
 * stacked PC at `pc`; print the registers. */
static void expect_fault(const char *what, uint32_t exc, uint32_t cfsr, uint32_t hfsr, uint32_t pc,
                         const char *pc_name)
{
    static const char *const names[] = { [EXC_HARDFAULT] = "HardFault", [EXC_MEMMANAGE] = "MemManage",
                                         [EXC_BUSFAULT] = "BusFault", [EXC_USAGEFAULT] = "UsageFault" };
    CHECK(last.count == 1, "%s: %u faults taken, expected 1", what, last.count);
    CHECK(last.exc == exc, "%s: exception %u, expected %u (%s)", what, last.exc, exc, names[exc]);
    CHECK_EQ(last.exc_return, EXC_RETURN_THREAD_MSP, "EXC_RETURN in the fault handler");
    CHECK(last.cfsr == cfsr, "%s: CFSR 0x%08x, expected 0x%08x", what, last.cfsr, cfsr);
    CHECK(last.hfsr == hfsr, "%s: HFSR 0x%08x, expected 0x%08x", what, last.hfsr, hfsr);
    CHECK(last.pc == pc, "%s: stacked PC 0x%08x, expected 0x%08x (%s)", what, last.pc, pc, pc_name);
    CHECK_EQ(SCB_CFSR, 0, "CFSR after the handler cleared it");
    CHECK_EQ(SCB_HFSR, 0, "HFSR after the handler cleared it");
    test_ok("%s: %s CFSR=0x%08x HFSR=0x%08x, stacked PC = %s", what, names[exc], last.cfsr,
            last.hfsr, pc_name);
    if (cfsr & BFSR_BFARVALID) {
        kprintf("    BFAR=0x%08x\n", last.bfar);
    }
    if (cfsr & MMFSR_MMARVALID) {
        kprintf("    MMFAR=0x%08x\n", last.mmfar);
    }
    last.count = 0;
}

#define UNMAPPED BOARD_UNMAPPED   /* 0x50000000: nothing mapped there on either board */


int main(void)
{
    test_start("faults");
    SCB_SHCSR |= SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    CHECK_EQ(SCB_SHCSR & 0x70000u, 0x70000u, "SHCSR enables");
    CHECK_EQ(SCB_CFSR, 0, "CFSR at reset");

#if BOARD_BUS_ERRORS
    /* (a) precise BusFaults on data accesses to an unmapped address */
    uint32_t v = probe_load(UNMAPPED, 0);
    CHECK_EQ(v, UNMAPPED, "r0 after the skipped ldr");
    expect_fault("(a) ldr from 0x50000000", EXC_BUSFAULT, BFSR_PRECISERR | BFSR_BFARVALID, 0,
                 INSN(probe_load_insn), "the ldr");
    CHECK_EQ(last.bfar, UNMAPPED, "BFAR");
    CHECK(last.shcsr & SHCSR_BUSFAULTACT, "SHCSR.BUSFAULTACT in the handler");
    probe_store(UNMAPPED + 4, 0x1234);
    expect_fault("(a) str to 0x50000004", EXC_BUSFAULT, BFSR_PRECISERR | BFSR_BFARVALID, 0,
                 INSN(probe_store_insn), "the str");
    CHECK_EQ(last.bfar, UNMAPPED + 4, "BFAR");
#else
    uint32_t v;
    test_ok("(a) skipped: QEMU's lm3s6965evb ignores bus errors, cmemu faults");
#endif

    /* (b) undefined instruction */
    probe_udf(0, 0);
    expect_fault("(b) udf #0", EXC_USAGEFAULT, UFSR_UNDEFINSTR, 0, INSN(probe_udf_insn), "the udf");
    CHECK(last.shcsr & SHCSR_USGFAULTACT, "SHCSR.USGFAULTACT in the handler");

    /* (c) division by zero */
    v = probe_udiv(100, 0);
    CHECK_EQ(v, 0, "udiv by 0 without DIV_0_TRP");
    CHECK_EQ(last.count, 0, "faults from udiv by 0 without DIV_0_TRP");
    test_ok("(c) udiv by 0 with CCR.DIV_0_TRP=0 gives 0, no fault");
    SCB_CCR |= CCR_DIV_0_TRP;
    v = probe_udiv(100, 0);
    SCB_CCR &= ~CCR_DIV_0_TRP;
    CHECK_EQ(v, 100, "r0 after the skipped udiv");
    expect_fault("(c) udiv by 0 with CCR.DIV_0_TRP=1", EXC_USAGEFAULT, UFSR_DIVBYZERO, 0,
                 INSN(probe_udiv_insn), "the udiv");

    /* (d) escalation to HardFault when the fault's handler is disabled */
#if BOARD_BUS_ERRORS
    SCB_SHCSR &= ~SHCSR_BUSFAULTENA;
    probe_load(UNMAPPED + 8, 0);
    expect_fault("(d) ldr from 0x50000008, BusFault disabled", EXC_HARDFAULT,
                 BFSR_PRECISERR | BFSR_BFARVALID, HFSR_FORCED, INSN(probe_load_insn), "the ldr");
    CHECK_EQ(last.bfar, UNMAPPED + 8, "BFAR");
    SCB_SHCSR |= SHCSR_BUSFAULTENA;
#endif
    SCB_SHCSR &= ~SHCSR_USGFAULTENA;
    probe_udf(0, 0);
    expect_fault("(d) udf #0, UsageFault disabled", EXC_HARDFAULT, UFSR_UNDEFINSTR, HFSR_FORCED,
                 INSN(probe_udf_insn), "the udf");
    SCB_SHCSR |= SHCSR_USGFAULTENA;

    /* (e) faults on the instruction fetch after a bx */
    uint32_t even = INSN(probe_load);
    resume_pc = (uint32_t)probe_bx_resume;
    probe_bx(even, 0);
    expect_fault("(e) bx to an even address", EXC_USAGEFAULT, UFSR_INVSTATE, 0, even,
                 "the target (probe_load)");
    CHECK_EQ(last.xpsr & (1u << 24), 0, "stacked EPSR.T after bx to an even address");
    resume_pc = (uint32_t)probe_bx_resume;
    probe_bx(0x40000001u, 0);
    expect_fault("(e) bx to 0x40000001 (execute-never)", EXC_MEMMANAGE, MMFSR_IACCVIOL, 0,
                 0x40000000u, "0x40000000");
    CHECK(last.shcsr & SHCSR_MEMFAULTACT, "SHCSR.MEMFAULTACT in the handler");
#if BOARD_BUS_ERRORS
    resume_pc = (uint32_t)probe_bx_resume;
    probe_bx(0x60000001u, 0);
    expect_fault("(e) bx to 0x60000001 (unmapped)", EXC_BUSFAULT, BFSR_IBUSERR, 0, 0x60000000u,
                 "0x60000000");
#endif

    /* (f) unaligned word load */
    static volatile uint32_t words[2] = { 0x33221100u, 0x77665544u };
    uint32_t odd = (uint32_t)words + 1;
    v = probe_load(odd, 0);
    CHECK_EQ(v, 0x44332211u, "unaligned ldr without UNALIGN_TRP");
    CHECK_EQ(last.count, 0, "faults from an unaligned ldr without UNALIGN_TRP");
    test_ok("(f) unaligned ldr with CCR.UNALIGN_TRP=0 reads 0x%08x, no fault", v);
    SCB_CCR |= CCR_UNALIGN_TRP;
    probe_load(odd, 0);
    SCB_CCR &= ~CCR_UNALIGN_TRP;
    expect_fault("(f) unaligned ldr with CCR.UNALIGN_TRP=1", EXC_USAGEFAULT, UFSR_UNALIGNED, 0,
                 INSN(probe_load_insn), "the ldr");

    /* (g) the System Control Space is privileged-only */
#if BOARD_BUS_ERRORS
    set_control(1);   /* nPRIV */
    isb();
    v = probe_load(0xE000E010u, 0);
    __asm volatile("svc #0" ::: "memory");   /* back to privileged */
    CHECK_EQ(get_control(), 0, "CONTROL after the SVC");
    expect_fault("(g) unprivileged ldr from SYST_CSR", EXC_BUSFAULT, BFSR_PRECISERR | BFSR_BFARVALID,
                 0, INSN(probe_load_insn), "the ldr");
    CHECK_EQ(last.bfar, 0xE000E010u, "BFAR");
#else
    test_ok("(g) skipped: QEMU's lm3s6965evb ignores bus errors, cmemu faults");
#endif

    test_pass();
}
