/*
 * gdb_target: a program for a debugger to drive (test/gdb/). Not a parity program: it runs to the
 * end on its own, but its checks are about what a debugger changes while it is stopped.
 *   1. bump() adds 1..5 to `counter` (a breakpoint on bump stops five times; a write watchpoint
 *      on `counter` sees every store); then it stores counter through `target_word` (a debugger
 *      may point it at the ivshmem-flat shared memory and watch that).
 *   2. checkpoint(1); then use_psp() runs on the process stack: a debugger that writes PSP at
 *      checkpoint 1 moves it, and the program prints the PSP it saw (`psp_seen`).
 *   3. SysTick at 1 kHz, three ticks with the core in WFI between them (step into the handler).
 *   4. checkpoint(2); then it idles in WFI (SysTick at 100 Hz) until `release` is non-zero: a
 *      debugger interrupts it there (Ctrl-C) and writes `release`.
 *   5. prints counter, ticks and release, and passes.
 */
#include "test.h"

volatile uint32_t counter;
volatile uint32_t ticks;
volatile uint32_t psp_seen;
volatile uint32_t release;
uint32_t psp_stack[64] __attribute__((aligned(8)));
static volatile uint32_t spare;
volatile uint32_t *volatile target_word = &spare;

__attribute__((noinline)) void bump(uint32_t by)
{
    counter += by;
}

__attribute__((noinline)) void checkpoint(uint32_t n)
{
    __asm volatile("" : : "r"(n) : "memory");
}

void SysTick_Handler(void)
{
    ticks++;
}

/* Switch Thread mode to the process stack, record SP there, switch back. */
__attribute__((noinline)) uint32_t use_psp(void)
{
    uint32_t sp;
    __asm volatile(
        "mrs r1, control\n"
        "orr r2, r1, #2\n"
        "msr control, r2\n"
        "isb\n"
        "mov %0, sp\n"
        "msr control, r1\n"
        "isb\n"
        : "=r"(sp) : : "r1", "r2", "memory");
    return sp;
}

/* An IT block, for breakpoints and steps inside one: returns 11 for 0, 12 otherwise. */
__attribute__((naked, noinline)) uint32_t it_block(uint32_t x)
{
    __asm volatile(
        "cmp r0, #0\n"
        "ite eq\n"
        ".global it_then\n"
        "it_then: moveq r0, #1\n"
        ".global it_else\n"
        "it_else: movne r0, #2\n"
        "adds r0, #10\n"
        "bx lr\n");
}

int main(void)
{
    test_start("gdb_target");
    __asm volatile("msr psp, %0" : : "r"(&psp_stack[64]));

    for (uint32_t i = 1; i <= 5; i++)
        bump(i);
    *target_word = counter;
    counter += it_block(0) + it_block(1) - 23;   /* unchanged: 11 + 12 - 23 */
    kprintf("counter %u\n", (unsigned)counter);

    checkpoint(1);
    psp_seen = use_psp();
    kprintf("psp %s\n", psp_seen == (uint32_t)&psp_stack[64] ? "default" : "moved");

    SYST_RVR = BOARD_SYSCLK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
    while (ticks < 3)
        __asm volatile("wfi");
    SYST_CSR = SYST_CSR_CLKSOURCE;
    kprintf("ticks %u\n", (unsigned)ticks);

    checkpoint(2);
    SYST_RVR = BOARD_SYSCLK_HZ / 100u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
    while (!release)
        __asm volatile("wfi");
    SYST_CSR = SYST_CSR_CLKSOURCE;
    kprintf("released with 0x%x\n", (unsigned)release);
    test_pass();
}
