/*
 * gptm: the LM3S6965's general-purpose timers as QEMU 7.2 models them (hw/arm/stellaris.c):
 * timer A of each module in 32-bit mode (CFG 0), periodic and one-shot, counting the core clock
 * (12.5 MHz out of reset); interrupts on IRQ 19, 21, 23 and 35 (timers 0-3: QEMU connects only
 * timer A's). Checks
 *   - reset values (all 0 in QEMU), IMR keeps only its 0x77 bits, TAILR is 32 bits wide;
 *   - periodic timer 0 at 1 kHz: 50 interrupts with WFI idling between them, MIS.TATO set and
 *     IPSR = 35 in each, cleared through ICR; none after CTL.TAEN is cleared;
 *   - one-shot timer 2: times out once, clears CTL.TAEN itself, RIS.TATO set while IMR is 0 and
 *     no interrupt; setting IMR raises the (level) interrupt at once;
 *   - timers 1 (100 Hz) and 3 (20 Hz, IRQ 35 in the second NVIC bank) together: 20 timer 1
 *     interrupts per 4 of timer 3 (exactly, in icount mode), waiting in a busy loop: with the
 *     CPU in WFI, QEMU 7.2 lets some time-outs pass unserved, so two of them make one
 *     interrupt. In real time a loaded host makes QEMU merge time-outs too (14 seen), so
 *     8-22 is accepted;
 *   - a 50 ms one-shot measured with SysTick (the same clock): at least 625000 cycles and not
 *     wildly more.
 * QEMU 7.2 does not model reading the counter: TAR reads 0 (checked). The 16-bit modes (CFG 4)
 * are not modelled at all (QEMU aborts with "TODO: 16-bit timer mode"), so they are not used.
 * Nothing printed depends on time.
 */
#include "test.h"

#define CLK BOARD_SYSCLK_HZ

static volatile uint32_t n0, n1, n2, n3, bad0, bad3;

void TIMER0A_IRQHandler(void)
{
    if (!(GPTM_MIS(0) & GPTM_INT_TATO) || (get_ipsr() & 0x1FFu) != EXC_IRQ(19))
        bad0++;
    GPTM_ICR(0) = GPTM_INT_TATO;
    n0++;
}

void TIMER1A_IRQHandler(void)
{
    GPTM_ICR(1) = GPTM_INT_TATO;
    n1++;
}

void TIMER2A_IRQHandler(void)
{
    GPTM_ICR(2) = GPTM_INT_TATO;
    n2++;
}

void TIMER3A_IRQHandler(void)
{
    if (!(GPTM_MIS(3) & GPTM_INT_TATO) || (get_ipsr() & 0x1FFu) != EXC_IRQ(35) ||
        !(NVIC_IABR(1) & (1u << (35 - 32))))
        bad3++;
    GPTM_ICR(3) = GPTM_INT_TATO;
    n3++;
}

static void spin(uint32_t n)
{
    for (volatile uint32_t i = 0; i < n; i++)
        ;
}

static void timer_setup(unsigned t, uint32_t mode, uint32_t load)
{
    GPTM_CTL(t) = 0;                 /* disabled while configuring */
    GPTM_CFG(t) = GPTM_CFG_32BIT;
    GPTM_TAMR(t) = mode;
    GPTM_TAILR(t) = load;
    GPTM_ICR(t) = 0xFFFFFFFFu;
}

static void test_registers(void)
{
    for (unsigned t = 0; t < 4; t++) {
        CHECK(GPTM_CFG(t) == 0 && GPTM_TAMR(t) == 0 && GPTM_CTL(t) == 0 && GPTM_IMR(t) == 0 &&
                  GPTM_RIS(t) == 0 && GPTM_TAILR(t) == 0,
              "timer %u at reset: CFG 0x%x TAMR 0x%x CTL 0x%x IMR 0x%x RIS 0x%x TAILR 0x%08x", t,
              GPTM_CFG(t), GPTM_TAMR(t), GPTM_CTL(t), GPTM_IMR(t), GPTM_RIS(t), GPTM_TAILR(t));
    }
    test_ok("timers 0-3 at reset: CFG, TAMR, CTL, IMR, RIS and TAILR read 0");
    GPTM_IMR(0) = 0xFFFFFFFFu;
    CHECK_EQ(GPTM_IMR(0), 0x77u, "IMR after writing all ones");
    GPTM_IMR(0) = 0;
    GPTM_TAILR(0) = 0x89ABCDEFu;
    CHECK_EQ(GPTM_TAILR(0), 0x89ABCDEFu, "TAILR in 32-bit mode");
    GPTM_TAILR(0) = 0;
    test_ok("IMR keeps bits 0x77, TAILR holds 32 bits in 32-bit mode");
}

static void test_periodic(void)
{
    timer_setup(0, GPTM_TAMR_PERIODIC, CLK / 1000u - 1u);
    GPTM_IMR(0) = GPTM_INT_TATO;
    nvic_set_prio(19, 0x40);
    nvic_enable(19);
    GPTM_CTL(0) = GPTM_CTL_TAEN;
    CHECK_EQ(GPTM_TAR(0), 0, "TAR while running (QEMU does not model reading the counter)");
    uint32_t wakeups = 0;
    while (n0 < 50) {
        wfi();
        wakeups++;
    }
    GPTM_CTL(0) = 0;
    uint32_t stopped_at = n0;
    spin(100000);   /* 1 ms or more: another time-out would have come by now */
    CHECK_EQ(n0, stopped_at, "timer 0 interrupts after CTL.TAEN was cleared");
    CHECK_EQ(bad0, 0, "handlers without MIS.TATO or with the wrong IPSR");
    CHECK(wakeups >= 1 && wakeups <= 50, "WFI returned %u times for 50 interrupts", wakeups);
    CHECK_EQ(GPTM_RIS(0), 0, "RIS after the handler cleared it");
    test_ok("periodic timer 0 at 1 kHz (TAILR=%u): 50 interrupts on IRQ 19, MIS.TATO in each",
            CLK / 1000u - 1u);
    test_ok("no more interrupts once CTL.TAEN is cleared; TAR reads 0 while running");
    nvic_disable(19);
}

static void test_oneshot(void)
{
    nvic_set_prio(23, 0x40);
    nvic_enable(23);
    timer_setup(2, GPTM_TAMR_ONESHOT, CLK / 2000u);   /* 0.5 ms */
    GPTM_IMR(2) = 0;
    GPTM_CTL(2) = GPTM_CTL_TAEN;
    uint32_t i;
    for (i = 0; i < 10000000u && !(GPTM_RIS(2) & GPTM_INT_TATO); i++)
        ;
    uint32_t ris = GPTM_RIS(2), ctl = GPTM_CTL(2);
    CHECK(ris & GPTM_INT_TATO, "one-shot timer 2 never timed out (RIS 0x%x)", ris);
    CHECK_EQ(ctl & GPTM_CTL_TAEN, 0, "CTL.TAEN after a one-shot time-out");
    CHECK_EQ(GPTM_MIS(2), 0, "MIS with IMR 0");
    CHECK_EQ(n2, 0, "interrupts with IMR 0");
    CHECK_EQ(NVIC_ISPR(0) & (1u << 23), 0, "ISPR bit 23 with IMR 0");
    test_ok("one-shot timer 2: RIS.TATO set, CTL.TAEN cleared by the time-out, no interrupt with IMR 0");
    GPTM_IMR(2) = GPTM_INT_TATO;
    isb();
    uint32_t taken = n2;
    CHECK_EQ(taken, 1, "interrupts right after setting IMR.TATOIM");
    spin(50000);
    CHECK_EQ(n2, 1, "one-shot interrupts in all");
    CHECK_EQ(GPTM_RIS(2), 0, "RIS after ICR");
    test_ok("setting IMR.TATOIM with RIS.TATO set raises IRQ 23 at once; one time-out only");
    GPTM_IMR(2) = 0;
    nvic_disable(23);
}

static void test_two_timers(void)
{
    nvic_set_prio(21, 0x60);
    nvic_set_prio(35, 0x40);
    nvic_enable(21);
    nvic_enable(35);
    CHECK_EQ(NVIC_ISER(1), 1u << (35 - 32), "ISER(1) with IRQ 35 enabled");
    timer_setup(1, GPTM_TAMR_PERIODIC, CLK / 100u - 1u);
    timer_setup(3, GPTM_TAMR_PERIODIC, CLK / 20u - 1u);
    GPTM_IMR(1) = GPTM_INT_TATO;
    GPTM_IMR(3) = GPTM_INT_TATO;
    irq_disable();
    GPTM_CTL(1) = GPTM_CTL_TAEN;
    GPTM_CTL(3) = GPTM_CTL_TAEN;
    irq_enable();
    while (n3 < 4)   /* busy: in WFI, QEMU 7.2 sometimes merges two time-outs (README.md) */
        ;
    uint32_t c1 = n1;
    GPTM_CTL(1) = 0;
    GPTM_CTL(3) = 0;
    /* 20 expected; in real time a lagging host makes QEMU merge time-outs (seen: 14). */
    CHECK(c1 >= 8 && c1 <= 22, "timer 1 (100 Hz) interrupts per 4 of timer 3 (20 Hz): %u", c1);
    CHECK_EQ(bad3, 0, "timer 3 handlers without MIS.TATO, IPSR 51 or IABR(1) bit 3");
    test_ok("timers 1 (100 Hz, IRQ 21) and 3 (20 Hz, IRQ 35) together: 8 to 22 (20 ideally) to 4");
    nvic_disable(21);
    nvic_disable(35);
}

static void test_against_systick(void)
{
    const uint32_t load = CLK / 20u;   /* 50 ms */
    timer_setup(0, GPTM_TAMR_ONESHOT, load);
    GPTM_IMR(0) = 0;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_CLKSOURCE;
    while (SYST_CVR == 0)
        ;
    uint32_t start = SYST_CVR;
    GPTM_CTL(0) = GPTM_CTL_TAEN;
    while (!(GPTM_RIS(0) & GPTM_INT_TATO))
        ;
    uint32_t end = SYST_CVR;
    SYST_CSR = SYST_CSR_CLKSOURCE;
    GPTM_ICR(0) = GPTM_INT_TATO;
    uint32_t elapsed = (start - end) & 0x00FFFFFFu;
    CHECK(elapsed >= load && elapsed < 2u * load,
          "a one-shot of %u cycles took %u SysTick cycles", load, elapsed);
    test_ok("a one-shot of %u cycles (50 ms) lasts as long as %u SysTick cycles, within 2x", load, load);
}

int main(void)
{
    test_start("gptm");
    test_registers();
    test_periodic();
    test_oneshot();
    test_two_timers();
    test_against_systick();
    test_pass();
}
