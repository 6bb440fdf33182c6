/*
 * masking: BASEPRI, BASEPRI_MAX, PRIMASK and FAULTMASK against software-pended IRQs
 * (6 = GPIO0 at priority 0x40, 7 = GPIO1 at 0xA0, 31 = GPIO0 pin 7 at 0x00), and the
 * Zephyr idle sequence `cpsid i; BASEPRI=0; wfi; cpsie i`: WFI wakes for a pending SysTick
 * even with PRIMASK set, and the interrupt is taken right after cpsie i.
 * "Taken at once" is checked by reading a flag immediately after the unmasking `isb`.
 */
#include "test.h"

static volatile uint32_t count6, count7, count31, systicks;
static volatile uint32_t set_faultmask_in_isr;

void GPIO0_IRQHandler(void) { count6++; }
void GPIO1_IRQHandler(void)
{
    count7++;
    if (set_faultmask_in_isr)
        fault_disable();   /* cleared again by the exception return */
}
void GPIO0_7_IRQHandler(void) { count31++; }
void SysTick_Handler(void) { systicks++; }

static void reset_counts(void)
{
    count6 = count7 = count31 = systicks = 0;
}

static void test_basepri(void)
{
    /* BASEPRI=0x80 masks priorities 0x80..0xFF: IRQ7 (0xA0) waits, IRQ6 (0x40) does not. */
    reset_counts();
    set_basepri(0x80);
    CHECK_EQ(get_basepri(), 0x80, "BASEPRI read back");
    nvic_pend(7);
    nvic_pend(6);
    isb();
    uint32_t c6 = count6, c7 = count7;
    CHECK_EQ(c6, 1, "IRQ6 (0x40) with BASEPRI=0x80");
    CHECK_EQ(c7, 0, "IRQ7 (0xA0) with BASEPRI=0x80");
    CHECK_EQ(NVIC_ISPR(0), 1u << 7, "ISPR with IRQ7 masked by BASEPRI");
    set_basepri(0);
    isb();
    c7 = count7;
    CHECK_EQ(c7, 1, "IRQ7 right after BASEPRI=0; isb");
    test_ok("BASEPRI=0x80 masks IRQ7 (0xA0) but not IRQ6 (0x40); IRQ7 taken right after BASEPRI=0");

    /* A priority equal to BASEPRI is masked too. */
    reset_counts();
    set_basepri(0x40);
    nvic_pend(6);
    isb();
    c6 = count6;
    set_basepri(0);
    isb();
    CHECK_EQ(c6, 0, "IRQ6 (0x40) with BASEPRI=0x40");
    CHECK_EQ(count6, 1, "IRQ6 after BASEPRI=0");
    test_ok("BASEPRI=0x40 masks IRQ6 of equal priority 0x40");

    /* BASEPRI_MAX only ever raises the masking level (lowers the value), and ignores 0. */
    set_basepri(0x80);
    set_basepri_max(0xA0);
    CHECK_EQ(get_basepri(), 0x80, "BASEPRI after BASEPRI_MAX=0xA0 (lower priority)");
    set_basepri_max(0x40);
    CHECK_EQ(get_basepri(), 0x40, "BASEPRI after BASEPRI_MAX=0x40 (higher priority)");
    set_basepri_max(0);
    CHECK_EQ(get_basepri(), 0x40, "BASEPRI after BASEPRI_MAX=0");
    set_basepri(0);
    CHECK_EQ(get_basepri(), 0, "BASEPRI after BASEPRI=0");
    test_ok("BASEPRI_MAX: 0x80 -> (0xA0) 0x80 -> (0x40) 0x40 -> (0) 0x40");
}

static void test_primask(void)
{
    reset_counts();
    irq_disable();
    CHECK_EQ(get_primask(), 1, "PRIMASK after cpsid i");
    nvic_pend(31);   /* priority 0x00, the highest configurable */
    nvic_pend(6);
    SCB_ICSR = ICSR_PENDSTSET;
    isb();
    uint32_t c = count31 + count6 + systicks;
    irq_enable();
    isb();
    uint32_t c31 = count31, c6 = count6, st = systicks;   /* read right after unmasking */
    CHECK_EQ(c, 0, "handlers run while PRIMASK=1");
    CHECK(c31 == 1 && c6 == 1 && st == 1,
          "after cpsie i; isb: IRQ31 %u, IRQ6 %u, SysTick %u (expected 1 each)", c31, c6, st);
    test_ok("PRIMASK masks IRQ31 (0x00), IRQ6 and SysTick; all taken right after cpsie i; isb");
}

static void test_faultmask(void)
{
    reset_counts();
    fault_disable();
    CHECK_EQ(get_faultmask(), 1, "FAULTMASK after cpsid f");
    nvic_pend(31);
    isb();
    uint32_t c = count31;
    fault_enable();
    isb();
    uint32_t c31 = count31;
    CHECK_EQ(c, 0, "IRQ31 (0x00) with FAULTMASK=1");
    CHECK_EQ(c31, 1, "IRQ31 right after cpsie f; isb");
    test_ok("FAULTMASK masks IRQ31 (0x00); taken right after cpsie f; isb");

    /* An exception return (other than from NMI) clears FAULTMASK. */
    set_faultmask_in_isr = 1;
    nvic_pend(7);
    isb();
    set_faultmask_in_isr = 0;
    CHECK_EQ(count7, 1, "IRQ7");
    CHECK_EQ(get_faultmask(), 0, "FAULTMASK after returning from an ISR that set it");
    test_ok("FAULTMASK set in an ISR is cleared by the exception return");
}

static void test_zephyr_idle(void)
{
    /* SysTick at priority 0xC0, 1 ms; armed with interrupts already masked. */
    reset_counts();
    SCB_SHP8(EXC_SYSTICK) = 0xC0;
    irq_disable();
    set_basepri(0);
    SYST_RVR = 25000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
    /* WFI may in principle return early: loop until SysTick is pending, as an idle loop does. */
    unsigned wfis = 0;
    while (!(SCB_ICSR & ICSR_PENDSTSET) && wfis < 1000) {
        wfi();
        wfis++;
    }
    SYST_CSR = SYST_CSR_CLKSOURCE;   /* stop: the pending bit stays, no second tick */
    uint32_t icsr = SCB_ICSR, before = systicks;
    irq_enable();
    isb();
    uint32_t after = systicks;
    CHECK(icsr & ICSR_PENDSTSET, "SysTick not pending after WFI (%u WFIs)", wfis);
    CHECK_EQ(before, 0, "SysTick handler ran while PRIMASK=1");
    CHECK_EQ(after, 1, "SysTick handler right after cpsie i; isb");
    CHECK_EQ(ICSR_VECTPENDING(icsr), EXC_SYSTICK, "VECTPENDING before cpsie i");
    test_ok("cpsid i; BASEPRI=0; wfi woke with SysTick pending (PRIMASK=1), handler ran after cpsie i");
}

int main(void)
{
    test_start("masking");
    nvic_set_prio(6, 0x40);
    nvic_set_prio(7, 0xA0);
    nvic_set_prio(31, 0x00);
    SCB_SHP8(EXC_SYSTICK) = 0x80;
    nvic_enable(6);
    nvic_enable(7);
    nvic_enable(31);
    CHECK_EQ(get_primask(), 0, "PRIMASK at reset");
    CHECK_EQ(get_faultmask(), 0, "FAULTMASK at reset");
    CHECK_EQ(get_basepri(), 0, "BASEPRI at reset");

    test_basepri();
    test_primask();
    test_faultmask();
    test_zephyr_idle();
    test_pass();
}
