/*
 * bench_irq: an interrupt-heavy benchmark for `make bench`, shaped like an RTOS under load
 * (FreeRTOS's full QEMU demo takes ~17 000 exceptions per guest second): the guest never sleeps,
 * and per SysTick tick (10 kHz) it takes
 *   - SysTick, which counts the tick, reads ICSR and SysTick's CVR (device reads), pends an
 *     external interrupt through STIR and pends PendSV;
 *   - the external interrupt (SWIRQ_A, higher priority than SysTick: it preempts the SysTick
 *     handler at once), which counts and reads NVIC_IABR;
 *   - PendSV (lowest priority, tail-chained), which switches between two threads on PSP, as an
 *     RTOS context switch does (r4-r11 saved below the hardware frame);
 * while the two threads run short CRC loops. After BENCH_IRQ_TICKS ticks SysTick ends the run.
 * What is printed does not depend on timing: the tick count, and that both threads ran.
 */
#include "test.h"
#include "board.h"

#ifndef BENCH_IRQ_TICKS
#define BENCH_IRQ_TICKS 20000u   /* 2 s of guest time at 10 kHz */
#endif
#define TICK_HZ 10000u

struct tcb {
    uint32_t sp;
    uint32_t runs;
};
static struct tcb tasks[2];
struct tcb *volatile current = &tasks[0];
static uint32_t stack_a[256] __attribute__((aligned(8)));
static uint32_t stack_b[256] __attribute__((aligned(8)));
static volatile uint32_t ticks, swirqs, switches, sink;
static volatile uint32_t work[2];

struct tcb *sched_next(void)
{
    switches++;
    current = current == &tasks[0] ? &tasks[1] : &tasks[0];
    current->runs++;
    return current;
}

__attribute__((naked)) void PendSV_Handler(void)
{
    __asm volatile(
        "mrs   r0, psp\n"
        "stmdb r0!, {r4-r11}\n"
        "ldr   r3, =current\n"
        "ldr   r2, [r3]\n"
        "str   r0, [r2, #0]\n"
        "mov   r4, lr\n"
        "bl    sched_next\n"
        "mov   lr, r4\n"
        "ldr   r1, [r0, #0]\n"
        "ldmia r1!, {r4-r11}\n"
        "msr   psp, r1\n"
        "bx    lr\n");
}

void SysTick_Handler(void)
{
    uint32_t t = ++ticks;
    sink += SCB_ICSR + SYST_CVR;
    NVIC_STIR = SWIRQ_A;                 /* preempts this handler at once */
    SCB_ICSR = 1u << 28;                 /* PENDSVSET: a context switch when the handlers are done */
    if (t >= BENCH_IRQ_TICKS) {
        SYST_CSR = 0;
        CHECK(swirqs == t, "external interrupts: %u for %u ticks", (unsigned)swirqs, (unsigned)t);
        CHECK(work[0] != 0 && work[1] != 0, "both threads ran (%u, %u)", (unsigned)work[0], (unsigned)work[1]);
        kprintf("bench_irq: %u ticks, %u external interrupts, both threads ran\n", (unsigned)t, (unsigned)swirqs);
        test_pass();
    }
}

void SWIRQ_A_HANDLER(void)
{
    swirqs++;
    sink += NVIC_IABR(0);
}

static void thread(uint32_t id)
{
    uint32_t crc = id + 1;
    for (;;) {
        for (unsigned i = 0; i < 16; i++)
            crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1u));
        work[id] = crc | 1u;
    }
}
static void thread_a(void) { thread(0); }
static void thread_b(void) { thread(1); }

/* A thread's first frame: the hardware part (r0-r3, r12, lr, pc, xPSR) under r4-r11. */
static uint32_t initial_sp(uint32_t *stack, unsigned words, void (*entry)(void))
{
    uint32_t *sp = stack + words - 16;
    for (unsigned i = 0; i < 16; i++)
        sp[i] = 0;
    sp[8 + 5] = 0xFFFFFFFFu;             /* lr: the thread never returns */
    sp[8 + 6] = (uint32_t)entry & ~1u;   /* pc */
    sp[8 + 7] = 1u << 24;                /* xPSR.T */
    return (uint32_t)sp;
}

int main(void)
{
    test_start("bench_irq");
    tasks[0].sp = initial_sp(stack_a, 256, thread_a);
    tasks[1].sp = initial_sp(stack_b, 256, thread_b);
    SCB_SHP8(14) = 0xE0;                 /* PendSV lowest */
    SCB_SHP8(15) = 0x80;                 /* SysTick */
    NVIC_IPR8(SWIRQ_A) = 0x40;           /* above SysTick */
    NVIC_ISER(SWIRQ_A / 32) = 1u << (SWIRQ_A % 32);
    /* Thread mode on PSP, running thread A (its frame is popped by hand). */
    uint32_t *a = (uint32_t *)tasks[0].sp;
    __asm volatile("msr psp, %0\n"
                   "mov r0, #2\n"
                   "msr control, r0\n"
                   "isb\n" : : "r"(a + 16) : "r0", "memory");
    SYST_RVR = BOARD_SYSCLK_HZ / TICK_HZ - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
    thread_a();
}
