/*
 * systick: SysTick at 1 kHz from the core clock (CSR = ENABLE|TICKINT|CLKSOURCE = 7,
 * RVR = BOARD_SYSCLK_HZ / 1000 - 1: 24999 at 25 MHz on mps2-an385, 12499 at 12.5 MHz on
 * lm3s6965evb). Checks the register semantics (24-bit RVR, a CVR write clears the counter
 * and COUNTFLAG, CVR counts down, COUNTFLAG is set by a wrap and cleared by reading CSR),
 * then counts 100 SysTick interrupts with the CPU idle in WFI between them.
 * Nothing printed depends on timing, so the output is the same in real-time and icount mode.
 */
#include "test.h"

#define TICKS      100
#define RVR_1KHZ   (BOARD_SYSCLK_HZ / 1000u - 1u)
#define RVR_10KHZ  (BOARD_SYSCLK_HZ / 10000u - 1u)

static volatile uint32_t ticks, countflag_missing, wrong_context;

void SysTick_Handler(void)
{
    /* This wrap set COUNTFLAG and nobody else reads CSR while interrupts run. */
    if (!(SYST_CSR & SYST_CSR_COUNTFLAG))
        countflag_missing++;
    if ((get_ipsr() & 0x1FFu) != EXC_SYSTICK || !(SCB_SHCSR & SHCSR_SYSTICKACT))
        wrong_context++;
    if (++ticks == TICKS)
        SYST_CSR = SYST_CSR_CLKSOURCE;   /* stop: exactly TICKS interrupts */
}

static void spin(uint32_t n)
{
    for (volatile uint32_t i = 0; i < n; i++)
        ;
}

/* After enabling with CVR = 0, the counter loads RVR on the next clock edge. QEMU does that
 * reload in its timer callback, so in real-time mode CVR can read 0 for a while: wait. */
static void wait_for_reload(void)
{
    for (uint32_t i = 0; i < 10000000u; i++)
        if (SYST_CVR != 0)
            return;
    test_fail("CVR never loaded RVR after enabling SysTick");
}

int main(void)
{
    test_start("systick");

    /* Registers with the counter stopped. */
    SYST_CSR = SYST_CSR_CLKSOURCE;
    SYST_RVR = 0xFFFFFFFFu;
    CHECK_EQ(SYST_RVR, 0x00FFFFFFu, "RVR after writing 0xFFFFFFFF (24-bit)");
    test_ok("RVR is 24 bits wide");
    SYST_CVR = 0x1234u;
    CHECK_EQ(SYST_CVR, 0, "CVR after a write");
    CHECK_EQ(SYST_CSR & SYST_CSR_COUNTFLAG, 0, "COUNTFLAG after a CVR write");
    test_ok("writing CVR clears it to 0 and clears COUNTFLAG");

    /* CVR counts down from RVR (0xFFFFFF: the first wrap is 671 ms away at 25 MHz). */
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_CLKSOURCE;
    wait_for_reload();
    uint32_t v1 = SYST_CVR;
    spin(1000);
    uint32_t v2 = SYST_CVR;
    CHECK(v1 <= 0x00FFFFFFu && v2 < v1, "CVR did not count down: 0x%08x then 0x%08x", v1, v2);
    CHECK_EQ(SYST_CSR & SYST_CSR_COUNTFLAG, 0, "COUNTFLAG before the first wrap");
    test_ok("CVR counts down from RVR, COUNTFLAG clear before the first wrap");

    /* COUNTFLAG: run with a 100 us period until CVR is seen to go up (the counter wrapped
     * from 1 through 0 and reloaded; the first load after enabling does not count), without
     * reading CSR; stop the counter; the first CSR read shows COUNTFLAG=1, the
     * second 0 (the read cleared it, and a stopped counter cannot wrap again). */
    SYST_CSR = SYST_CSR_CLKSOURCE;
    SYST_RVR = RVR_10KHZ;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_CLKSOURCE;
    wait_for_reload();
    uint32_t prev = SYST_CVR, wrapped = 0;
    for (uint32_t i = 0; i < 10000000u && !wrapped; i++) {
        uint32_t now = SYST_CVR;
        wrapped = now > prev;
        prev = now;
    }
    CHECK(wrapped, "CVR never reloaded with RVR = %u", RVR_10KHZ);
    SYST_CSR = SYST_CSR_CLKSOURCE;
    uint32_t csr1 = SYST_CSR, csr2 = SYST_CSR;
    CHECK(csr1 & SYST_CSR_COUNTFLAG, "COUNTFLAG not set after a wrap (CSR 0x%08x)", csr1);
    CHECK(!(csr2 & SYST_CSR_COUNTFLAG), "COUNTFLAG not cleared by reading CSR (CSR 0x%08x)", csr2);
    test_ok("COUNTFLAG set by a wrap, cleared by reading CSR");

    /* 100 interrupts at 1 kHz, idling in WFI. */
    SCB_SHP8(EXC_SYSTICK) = 0x80;
    SYST_RVR = RVR_1KHZ;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
    CHECK_EQ(SYST_CSR & 7u, 7u, "CSR");
    uint32_t wakeups = 0;
    while (ticks < TICKS) {
        wfi();
        wakeups++;
    }
    spin(100000);   /* the handler stopped the timer: no more interrupts */
    CHECK_EQ(ticks, TICKS, "SysTick interrupts");
    CHECK_EQ(SCB_ICSR & ICSR_PENDSTSET, 0, "ICSR.PENDSTSET after stopping");
    CHECK_EQ(countflag_missing, 0, "handlers that found COUNTFLAG clear");
    CHECK_EQ(wrong_context, 0, "handlers with wrong IPSR or SHCSR.SYSTICKACT");
    CHECK(wakeups >= 1 && wakeups <= TICKS, "WFI returned %u times for %u ticks", wakeups, TICKS);
    test_ok("%u SysTick interrupts at 1 kHz (RVR=%u), COUNTFLAG set in each handler",
            TICKS, RVR_1KHZ);
    test_ok("WFI idle woken by SysTick");
    kprintf("ticks: %u\n", ticks);
    test_pass();
}
