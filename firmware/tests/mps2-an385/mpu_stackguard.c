/*
 * mpu_stackguard: a 32-byte MPU stack guard (no access) at the bottom of a process stack
 * (mps2-an385), hit by exception stacking and unstacking. Thread mode runs on PSP with PSP 8 bytes
 * above the guard and pends PendSV: the 32-byte frame would go into the guard, so stacking fails
 * and MemManage is taken instead with MSTKERR (no MMFAR; PSP lowered over the unwritten frame).
 * The handler cancels the PendSV and returns: unstacking from the guard fails -> MemManage
 * MUNSTKERR on the same frame. That handler points PSP at a prepared frame whose PC resumes the
 * thread. Also: a str into the guard from privileged Thread mode -> DACCVIOL with MMFAR.
 */
#include "test.h"

#define MPU_CTRL  REG32(0xE000ED94u)
#define MPU_RBAR  REG32(0xE000ED9Cu)
#define MPU_RASR  REG32(0xE000EDA0u)
#define RASR(size_log2, ap, xn) \
    (1u | (((size_log2) - 1u) << 1) | ((uint32_t)(ap) << 24) | ((xn) ? 1u << 28 : 0u))

static uint32_t pstack[64] __attribute__((aligned(32)));   /* guard = the first 32 bytes */
static uint32_t fake[8] __attribute__((aligned(8)));
extern void trigger_resume(void);

struct entry {
    uint32_t cfsr, mmfar, psp, exc_return, pendsv;
};
static volatile struct entry ent[4];
static volatile unsigned nent;
static volatile unsigned pendsv_count;
static volatile uint32_t skip_pc;

void mm_record(uint32_t exc_return, uint32_t *msp_frame)
{
    unsigned i = nent++;
    uint32_t cfsr = SCB_CFSR;
    ent[i].cfsr = cfsr;
    ent[i].mmfar = SCB_MMFAR;
    ent[i].psp = get_psp();
    ent[i].exc_return = exc_return;
    ent[i].pendsv = (SCB_ICSR & ICSR_PENDSVSET) != 0;
    SCB_CFSR = cfsr;
    if (cfsr & MMFSR_MSTKERR) {
        SCB_ICSR = ICSR_PENDSVCLR;   /* leave PSP in the guard: the return will fail to unstack */
    } else if (cfsr & MMFSR_MUNSTKERR) {
        fake[6] = (uint32_t)trigger_resume & ~1u;
        fake[7] = 1u << 24;
        set_psp((uint32_t)fake);
    } else if (cfsr & MMFSR_DACCVIOL) {
        msp_frame[6] += 2;   /* skip the 16-bit str */
    }
}

__attribute__((naked)) void MemManage_Handler(void)
{
    __asm volatile(
        "mov   r0, lr\n"
        "mrs   r1, msp\n"
        "push  {r4, lr}\n"
        "bl    mm_record\n"
        "pop   {r4, pc}\n");
}

void PendSV_Handler(void)
{
    pendsv_count++;
}

/* trigger(psp): Thread mode on PSP = psp, pend PendSV; resumes at trigger_resume on MSP. */
__attribute__((naked)) void trigger(uint32_t psp)
{
    __asm volatile(
        "push  {r4-r7, lr}\n"
        "msr   psp, r0\n"
        "movs  r1, #2\n"
        "msr   control, r1\n"
        "isb\n"
        "ldr   r1, =0xE000ED04\n"
        "ldr   r2, =0x10000000\n"
        "str   r2, [r1]\n"
        "dsb\n"
        "isb\n"
        "1: b 1b\n"
        ".global trigger_resume\n"
        ".thumb_func\n"
        "trigger_resume:\n"
        "movs  r1, #0\n"
        "msr   control, r1\n"
        "isb\n"
        "pop   {r4-r7, pc}\n"
        ".ltorg\n");
}

extern const char guard_str_insn[];
__attribute__((naked)) void guard_str(uint32_t a)
{
    __asm volatile(".global guard_str_insn\nguard_str_insn:\n str r0, [r0]\n bx lr\n");
}

int main(void)
{
    test_start("mpu_stackguard");
    SCB_SHCSR |= SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    SCB_SHP8(EXC_PENDSV) = 0xFF;
    const uint32_t guard = (uint32_t)pstack;
    MPU_RBAR = 0x00000000u | 0x10u | 0;
    MPU_RASR = RASR(22, 6, 0);
    MPU_RBAR = 0x20000000u | 0x10u | 1;
    MPU_RASR = RASR(22, 3, 1);
    MPU_RBAR = guard | 0x10u | 2;
    MPU_RASR = RASR(5, 0, 1);
    MPU_CTRL = 5;
    dsb();
    isb();

    /* A store into the guard from (privileged) Thread mode on MSP. */
    guard_str(guard + 0x10);
    CHECK_EQ(nent, 1, "MemManage entries after the str");
    CHECK_EQ(ent[0].cfsr, MMFSR_DACCVIOL | MMFSR_MMARVALID, "CFSR after the str");
    CHECK_EQ(ent[0].mmfar, guard + 0x10, "MMFAR");
    test_ok("str into the guard: MemManage CFSR=0x%08x MMFAR=guard+0x%x", ent[0].cfsr, ent[0].mmfar - guard);
    nent = 0;

    trigger(guard + 0x28);
    CHECK_EQ(nent, 2, "MemManage entries");
    CHECK_EQ(pendsv_count, 0, "PendSV runs (cancelled)");
    CHECK_EQ(ent[0].cfsr, MMFSR_MSTKERR, "CFSR at the stacking fault");
    CHECK_EQ(ent[0].exc_return, EXC_RETURN_THREAD_PSP, "EXC_RETURN at the stacking fault");
    CHECK_EQ(ent[0].pendsv, 1, "PendSV still pending at the stacking fault");
    test_ok("stacking into the guard: MemManage CFSR=0x%08x PSP=guard+0x%x EXC_RETURN=0x%08x", ent[0].cfsr,
            ent[0].psp - guard, ent[0].exc_return);
    CHECK_EQ(ent[1].cfsr, MMFSR_MUNSTKERR, "CFSR at the unstacking fault");
    CHECK_EQ(ent[1].psp, ent[0].psp, "PSP at the unstacking fault");
    CHECK_EQ(ent[1].exc_return, EXC_RETURN_THREAD_PSP, "EXC_RETURN at the unstacking fault");
    test_ok("unstacking from the guard: MemManage CFSR=0x%08x PSP=guard+0x%x EXC_RETURN=0x%08x", ent[1].cfsr,
            ent[1].psp - guard, ent[1].exc_return);
    CHECK_EQ(get_control(), 0, "CONTROL after resuming");
    CHECK_EQ(SCB_CFSR, 0, "CFSR at the end");
    MPU_CTRL = 0;
    test_pass();
}
