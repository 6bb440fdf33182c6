/*
 * context_switch: a minimal RTOS-style scheduler.
 *
 * Three threads run on the process stack (CONTROL.SPSEL=1, EXC_RETURN 0xFFFFFFFD):
 *   T0 privileged:   yields by pending PendSV itself (ICSR.PENDSVSET), reports at the end
 *   T1 unprivileged: CONTROL.nPRIV=1, so it cannot touch the SCB; yields with SVC #1
 *   T2 privileged:   never yields; it is time-sliced by SysTick, whose handler pends PendSV
 * SVC #0 (from main, on the main stack) starts T0. PendSV (lowest priority, 0xE0) saves
 * r4-r11 below the hardware frame on the outgoing thread's PSP and restores the next one's.
 * Each thread checks its callee-saved registers and a pattern on its own stack survive every
 * switch; T2 checks *all* registers and the flags across asynchronous preemption.
 */
#include "test.h"

#define NTHREADS  3
#define ITER      50     /* T0 and T1 loop iterations (each yields once) */
#define T2_SLICES 20     /* how many times T2 must be preempted by SysTick */
#define STACK_WORDS 256

#define PRIO_SVC     0x80
#define PRIO_SYSTICK 0xC0
#define PRIO_PENDSV  0xE0   /* lowest: a switch never preempts another handler */

struct tcb {
    uint32_t sp;        /* saved PSP (points at the r4-r11 software frame); offset 0 */
    uint32_t control;   /* CONTROL to restore (nPRIV); offset 4 */
    volatile uint32_t done;
    volatile uint32_t iterations;
    volatile uint32_t tick_preempts;   /* switched out because SysTick pended PendSV */
};

static struct tcb tcbs[NTHREADS];
struct tcb *volatile current;                  /* used by the assembly handlers */
static uint32_t stacks[NTHREADS][STACK_WORDS] __attribute__((aligned(8)));

static volatile uint32_t switches, systicks, tick_flag;
static volatile uint32_t bad_pendsv_excret, bad_systick_pend, svc_yields;

/* ---------------------------------------------------------------- scheduler ------ */

/* Called from PendSV with the outgoing thread saved; picks the next runnable thread
 * round-robin (a thread that set `done` is skipped; T0 never does). */
struct tcb *sched_next(uint32_t exc_return)
{
    if (exc_return != EXC_RETURN_THREAD_PSP)
        bad_pendsv_excret++;
    if (tick_flag) {
        tick_flag = 0;
        current->tick_preempts++;
    }
    unsigned i = (unsigned)(current - tcbs);
    do {
        i = (i + 1) % NTHREADS;
    } while (tcbs[i].done);
    switches++;
    current = &tcbs[i];
    return current;
}

__attribute__((naked)) void PendSV_Handler(void)
{
    __asm volatile(
        "mrs   r0, psp\n"
        "stmdb r0!, {r4-r11}\n"       /* software frame below the hardware one */
        "ldr   r3, =current\n"
        "ldr   r2, [r3]\n"
        "str   r0, [r2, #0]\n"        /* current->sp */
        "mrs   r1, control\n"
        "str   r1, [r2, #4]\n"        /* current->control (nPRIV) */
        "mov   r4, lr\n"              /* EXC_RETURN, kept in a register we already saved */
        "mov   r0, lr\n"
        "bl    sched_next\n"          /* r0 = next tcb */
        "mov   lr, r4\n"
        "ldr   r1, [r0, #4]\n"
        "msr   control, r1\n"         /* in Handler mode only nPRIV is written */
        "isb\n"
        "ldr   r1, [r0, #0]\n"
        "ldmia r1!, {r4-r11}\n"
        "msr   psp, r1\n"
        "bx    lr\n");
}

/* SVC #0: start the first thread (from main). SVC #1: yield. SVC #2: return r0 + r1.
 * SVC #255: exit with code r0 (test_exit from unprivileged code). */
struct tcb *svc_dispatch(uint32_t *frame, uint32_t exc_return)
{
    uint8_t imm = ((const uint16_t *)frame[6])[-1] & 0xFFu;   /* low byte of `svc #imm` */
    switch (imm) {
    case 0:
        CHECK_EQ(exc_return, EXC_RETURN_THREAD_MSP, "SVC #0 from main: EXC_RETURN");
        current = &tcbs[0];
        return current;
    case 1:
        if (exc_return != EXC_RETURN_THREAD_PSP)
            test_fail("SVC #1 EXC_RETURN 0x%08x", exc_return);
        svc_yields++;
        SCB_ICSR = ICSR_PENDSVSET;   /* PendSV tail-chains after this SVC returns */
        return 0;
    case 2:
        frame[0] = frame[0] + frame[1];   /* result goes back through the stacked r0 */
        return 0;
    case 255:
        test_exit((int)frame[0]);
    default:
        test_fail("unknown SVC #%u", imm);
    }
}

__attribute__((naked)) void SVC_Handler(void)
{
    __asm volatile(
        FRAME_ARGS_ASM
        "push  {r4, lr}\n"
        "bl    svc_dispatch\n"
        "pop   {r4, lr}\n"
        "cbz   r0, 1f\n"
        /* start the thread in r0: as the second half of PendSV */
        "ldr   r1, [r0, #4]\n"
        "msr   control, r1\n"
        "isb\n"
        "ldr   r1, [r0, #0]\n"
        "ldmia r1!, {r4-r11}\n"
        "msr   psp, r1\n"
        "ldr   lr, =0xFFFFFFFD\n"     /* return to Thread mode on PSP */
        "1:\n"
        "bx    lr\n");
}

void SysTick_Handler(void)
{
    systicks++;
    SCB_ICSR = ICSR_PENDSVSET;   /* time slice over: switch when we return */
    if (!(SCB_ICSR & ICSR_PENDSVSET))
        bad_systick_pend++;
    tick_flag = 1;
}

/* --------------------------------------------------------------- helpers --------- */

static inline uint32_t svc_add(uint32_t a, uint32_t b)
{
    register uint32_t r0 __asm__("r0") = a;
    register uint32_t r1 __asm__("r1") = b;
    __asm volatile("svc #2" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* Load r4-r11 with seed+4..seed+11, yield (PendSV directly if use_svc == 0, else SVC #1),
 * and return 0 if all eight came back intact, 1 otherwise. */
__attribute__((naked)) uint32_t regs_survive_yield(uint32_t seed, uint32_t use_svc)
{
    __asm volatile(
        "push  {r4-r11, lr}\n"
        "add   r4, r0, #4\n"  "add   r5, r0, #5\n"  "add   r6, r0, #6\n"  "add   r7, r0, #7\n"
        "add   r8, r0, #8\n"  "add   r9, r0, #9\n"  "add   r10, r0, #10\n" "add   r11, r0, #11\n"
        "cbnz  r1, 1f\n"
        "ldr   r2, =0xE000ED04\n"     /* ICSR */
        "mov   r3, #0x10000000\n"     /* PENDSVSET */
        "str   r3, [r2]\n"
        "dsb\n"
        "isb\n"                       /* PendSV is taken here */
        "b     2f\n"
        "1:\n"
        "svc   #1\n"
        "2:\n"
        "add r1, r0, #4\n"  "cmp r4, r1\n"  "bne 3f\n"
        "add r1, r0, #5\n"  "cmp r5, r1\n"  "bne 3f\n"
        "add r1, r0, #6\n"  "cmp r6, r1\n"  "bne 3f\n"
        "add r1, r0, #7\n"  "cmp r7, r1\n"  "bne 3f\n"
        "add r1, r0, #8\n"  "cmp r8, r1\n"  "bne 3f\n"
        "add r1, r0, #9\n"  "cmp r9, r1\n"  "bne 3f\n"
        "add r1, r0, #10\n" "cmp r10, r1\n" "bne 3f\n"
        "add r1, r0, #11\n" "cmp r11, r1\n" "bne 3f\n"
        "movs  r0, #0\n"
        "pop   {r4-r11, pc}\n"
        "3:\n"
        "movs  r0, #1\n"
        "pop   {r4-r11, pc}\n");
}

/* Spin `iterations` times checking that r0-r12, lr and the flags keep the values we gave
 * them (seed + register number; r1 holds the seed) while SysTick preempts us. */
__attribute__((naked)) uint32_t spin_check(uint32_t iterations, uint32_t seed)
{
#define CHK(r, k) "sub " #r ", " #r ", #" #k "\n cmp " #r ", r1\n bne 2f\n add " #r ", " #r ", #" #k "\n"
    __asm volatile(
        "push  {r4-r11, lr}\n"
        "add   r2, r1, #2\n"  "add   r3, r1, #3\n"  "add   r4, r1, #4\n"  "add   r5, r1, #5\n"
        "add   r6, r1, #6\n"  "add   r7, r1, #7\n"  "add   r8, r1, #8\n"  "add   r9, r1, #9\n"
        "add   r10, r1, #10\n" "add   r11, r1, #11\n" "add   r12, r1, #12\n" "add   lr, r1, #14\n"
        "1:\n"
        CHK(r2, 2) CHK(r3, 3) CHK(r4, 4) CHK(r5, 5) CHK(r6, 6) CHK(r7, 7) CHK(r8, 8)
        CHK(r9, 9) CHK(r10, 10) CHK(r11, 11) CHK(r12, 12) CHK(lr, 14)
        "subs  r0, r0, #1\n"
        "bne   1b\n"
        "movs  r0, #0\n"
        "pop   {r4-r11, pc}\n"
        "2:\n"
        "movs  r0, #1\n"
        "pop   {r4-r11, pc}\n");
#undef CHK
}

/* A pattern in this thread's stack frame, checked after every switch. */
static void fill_pattern(volatile uint32_t *p, unsigned id)
{
    for (unsigned i = 0; i < 16; i++)
        p[i] = (0xA5000000u | (id << 16)) + i * 0x101u;
}

static void check_pattern(volatile uint32_t *p, unsigned id)
{
    for (unsigned i = 0; i < 16; i++)
        CHECK(p[i] == (0xA5000000u | (id << 16)) + i * 0x101u,
              "thread %u: stack word %u changed across a switch", id, i);
}

static void check_on_own_stack(unsigned id)
{
    uint32_t sp = get_sp(), lo = (uint32_t)stacks[id], hi = lo + sizeof stacks[id];
    CHECK(sp > lo && sp <= hi, "thread %u: SP 0x%08x not on its own stack", id, sp);
}

/* ---------------------------------------------------------------- threads -------- */

static void thread1(uint32_t arg)   /* unprivileged */
{
    volatile uint32_t pattern[16];
    CHECK_EQ(arg, 0xA1, "T1 argument");
    CHECK_EQ(get_control() & 3u, 3u, "T1 CONTROL (nPRIV|SPSEL)");
    check_on_own_stack(1);
    /* Unprivileged code cannot mask interrupts or regain privilege: both writes are ignored. */
    irq_disable();
    CHECK_EQ(get_primask(), 0, "T1 PRIMASK after unprivileged cpsid i");
    set_control(0);
    isb();
    CHECK_EQ(get_control() & 1u, 1u, "T1 CONTROL.nPRIV after unprivileged write of 0");

    fill_pattern(pattern, 1);
    for (uint32_t i = 0; i < ITER; i++) {
        uint32_t before = switches;
        CHECK(regs_survive_yield(0x11110000u + (i << 4), 1) == 0,
              "T1: r4-r11 changed across SVC #1 yield %u", i);
        CHECK(switches != before, "T1: SVC #1 did not switch");
        check_pattern(pattern, 1);
        CHECK_EQ(svc_add(i, 1000), i + 1000, "T1 SVC #2 result");
        tcbs[1].iterations++;
    }
    tcbs[1].done = 1;
    for (;;)
        __asm volatile("svc #1");   /* never scheduled again */
}

static void thread2(uint32_t arg)   /* privileged, preempted only by SysTick */
{
    volatile uint32_t pattern[16];
    CHECK_EQ(arg, 0xA2, "T2 argument");
    CHECK_EQ(get_control() & 3u, 2u, "T2 CONTROL (SPSEL)");
    check_on_own_stack(2);
    fill_pattern(pattern, 2);
    uint32_t seed = 0x22220000u;
    while (tcbs[2].tick_preempts < T2_SLICES) {
        CHECK(spin_check(500, seed) == 0, "T2: a register or flag changed across preemption");
        check_pattern(pattern, 2);
        tcbs[2].iterations++;
        seed += 0x100u;
    }
    tcbs[2].done = 1;
    for (;;) {
        SCB_ICSR = ICSR_PENDSVSET;
        isb();
    }
}

static void thread0(uint32_t arg)   /* privileged: drives the test and reports */
{
    volatile uint32_t pattern[16];
    CHECK_EQ(arg, 0xA0, "T0 argument");
    CHECK_EQ(get_control() & 3u, 2u, "T0 CONTROL (SPSEL, privileged)");
    check_on_own_stack(0);

    /* Time slicing: SysTick at 1 kHz (from the core clock) pends PendSV. */
    SYST_RVR = BOARD_SYSCLK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;

    fill_pattern(pattern, 0);
    for (uint32_t i = 0; i < ITER; i++) {
        uint32_t before = switches;
        CHECK(regs_survive_yield(0x00010000u + (i << 4), 0) == 0,
              "T0: r4-r11 changed across PendSV yield %u", i);
        CHECK(switches != before, "T0: pending PendSV did not switch");
        check_pattern(pattern, 0);
        CHECK_EQ(svc_add(i, 7), i + 7, "T0 SVC #2 result");
        tcbs[0].iterations++;
    }
    while (!tcbs[1].done || !tcbs[2].done) {
        SCB_ICSR = ICSR_PENDSVSET;
        isb();
    }
    SYST_CSR = 0;
    SCB_ICSR = ICSR_PENDSTCLR;

    CHECK_EQ(bad_pendsv_excret, 0, "PendSV entered with an EXC_RETURN other than 0xFFFFFFFD");
    CHECK_EQ(bad_systick_pend, 0, "ICSR.PENDSVSET not set after SysTick pended PendSV");
    CHECK_EQ(tcbs[0].iterations, ITER, "T0 iterations");
    CHECK_EQ(tcbs[1].iterations, ITER, "T1 iterations");
    CHECK(tcbs[2].iterations >= 1, "T2 never completed a spin");
    CHECK(svc_yields >= ITER, "SVC #1 yields: %u", svc_yields);
    CHECK(systicks >= T2_SLICES, "SysTicks: %u", systicks);
    CHECK(switches >= 2 * ITER + T2_SLICES, "switches: %u", switches);
    test_ok("T0 (privileged, PendSV yield): %u iterations, r4-r11 and stack intact", ITER);
    test_ok("T1 (unprivileged, SVC #1 yield): %u iterations, r4-r11 and stack intact", ITER);
    test_ok("T2 (privileged, no yield): preempted by SysTick->PendSV %u times, "
            "r0-r12, lr, flags and stack intact", T2_SLICES);
    test_ok("PendSV always returned to Thread mode on PSP (EXC_RETURN 0xFFFFFFFD)");
    test_pass();
}

/* Build a thread's initial stack: the hardware frame PendSV/SVC "returns" into, with the
 * software frame (r4-r11) below it. */
static void init_thread(unsigned id, void (*entry)(uint32_t), uint32_t arg, int unprivileged)
{
    uint32_t *sp = &stacks[id][STACK_WORDS];
    *--sp = 0x01000000u;                       /* xPSR: Thumb bit */
    *--sp = (uint32_t)entry & ~1u;             /* PC */
    *--sp = 0xFFFFFFFFu;                       /* LR: threads never return */
    *--sp = 0x12121212u;                       /* r12 */
    *--sp = 0x03030303u;                       /* r3 */
    *--sp = 0x02020202u;                       /* r2 */
    *--sp = 0x01010101u;                       /* r1 */
    *--sp = arg;                               /* r0 */
    for (int r = 11; r >= 4; r--)
        *--sp = 0x01010101u * (uint32_t)r;     /* r11..r4 */
    tcbs[id].sp = (uint32_t)sp;
    tcbs[id].control = unprivileged ? 1u : 0u;
}

/* With SPSEL=1, SP reads as PSP (done in assembly: the compiler's locals are on MSP). */
__attribute__((naked)) uint32_t sp_with_spsel(uint32_t psp_value)
{
    __asm volatile(
        "mrs   r1, control\n"
        "msr   psp, r0\n"
        "orr   r2, r1, #2\n"
        "msr   control, r2\n"
        "isb\n"
        "mov   r3, sp\n"
        "msr   control, r1\n"
        "isb\n"
        "mov   r0, r3\n"
        "bx    lr\n");
}

int main(void)
{
    test_start("context_switch");
    CHECK_EQ(get_control(), 0, "CONTROL at reset");
    uint32_t msp = get_msp();
    CHECK_EQ(sp_with_spsel(0x20001000u), 0x20001000u, "SP with CONTROL.SPSEL=1");
    CHECK_EQ(get_msp(), msp, "MSP untouched while SPSEL=1");
    test_ok("CONTROL.SPSEL=1 makes SP the PSP in Thread mode");

    SCB_SHP8(EXC_SVCALL) = PRIO_SVC;
    SCB_SHP8(EXC_PENDSV) = PRIO_PENDSV;
    SCB_SHP8(EXC_SYSTICK) = PRIO_SYSTICK;
    CHECK_EQ(SCB_SHPR3, (PRIO_SYSTICK << 24) | (PRIO_PENDSV << 16), "SHPR3");
    CHECK_EQ(SCB_SHPR2, PRIO_SVC << 24, "SHPR2");

    init_thread(0, thread0, 0xA0, 0);
    init_thread(1, thread1, 0xA1, 1);
    init_thread(2, thread2, 0xA2, 0);
    kprintf("starting 3 threads with SVC #0\n");
    __asm volatile("svc #0" ::: "memory");
    test_fail("SVC #0 returned to main");
}
