/*
 * bench_idle: an idle-heavy guest shaped like Zephyr's synchronization sample under twister:
 * two "threads" take turns printing a line, each sleeping 500 ms of guest time in between, with
 * the CPU in WFI between SysTick ticks. Two phases, at Zephyr's two usual tick rates: 100 Hz
 * (CONFIG_SYS_CLOCK_TICKS_PER_SEC=100) and 10 kHz (the tickful default of many boards).
 * The tick handler does what a kernel's tick does in miniature (count, check the sleeping
 * thread's deadline). `make bench` times it as guest seconds per host second, icount mode, against
 * qemu-system-arm with the same flags. Nothing printed depends on the host: the lines carry tick
 * counts, which are guest time. Length: 14 s of guest time.
 */
#include "test.h"

#define LINES_100HZ  20   /* 10 s of guest time at 100 Hz */
#define LINES_10KHZ  8    /*  4 s at 10 kHz */

static volatile uint32_t ticks, wake_at, woken;

void SysTick_Handler(void)
{
    uint32_t t = ++ticks;
    if (t == wake_at)
        woken = 1;
}

/* k_msleep(ms) at `hz` ticks per second: sleep in WFI until the tick count reaches the deadline. */
static void sleep_ms(uint32_t ms, uint32_t hz)
{
    __asm volatile("cpsid i" ::: "memory");
    woken = 0;
    wake_at = ticks + ms * hz / 1000u;
    while (!woken) {
        /* WFI with PRIMASK set still wakes on a pending interrupt; it is taken after cpsie. */
        wfi();
        __asm volatile("cpsie i\n\tisb\n\tcpsid i" ::: "memory");
    }
    __asm volatile("cpsie i" ::: "memory");
}

static void phase(uint32_t hz, uint32_t lines)
{
    SYST_CSR = SYST_CSR_CLKSOURCE;
    SYST_RVR = BOARD_SYSCLK_HZ / hz - 1u;
    SYST_CVR = 0;
    ticks = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
    for (uint32_t i = 0; i < lines; i++) {
        kprintf("%s: Hello World from %s! (%u Hz, tick %u)\n", (i & 1) ? "thread_b" : "thread_a",
                BOARD_NAME, (unsigned)hz, (unsigned)ticks);
        sleep_ms(500, hz);
    }
    SYST_CSR = SYST_CSR_CLKSOURCE;
}

int main(void)
{
    test_start("bench_idle");
    phase(100, LINES_100HZ);
    phase(10000, LINES_10KHZ);
    test_pass();
}
