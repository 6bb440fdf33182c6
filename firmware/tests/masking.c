/*
 * masking: BASEPRI, BASEPRI_MAX, PRIMASK and FAULTMASK against software-pended IRQs on idle
 * lines from board.h (SWIRQ_B at priority 0x40, SWIRQ_C at 0xA0, SWIRQ_D at 0x00; on
 * mps2-an385 6 = GPIO0, 7 = GPIO1, 31 = GPIO0 pin 7), and the
 * Zephyr idle sequence `cpsid i; BASEPRI=0; wfi; cpsie i`: WFI wakes for a pending SysTick
 * even with PRIMASK set, and the interrupt is taken right after cpsie i.
 * "Taken at once" is checked by reading a flag immediately after the unmasking `isb`.
 */
#include "test.h"

static volatile uint32_t count_mid, count_low, count_top, systicks;
static volatile uint32_t set_faultmask_in_isr;

/* By priority: IRQ_TOP 0x00, IRQ_MID 0x40, IRQ_LOW 0xA0 (31, 6, 7 on mps2-an385). */
#define IRQ_MID  SWIRQ_B
#define IRQ_LOW  SWIRQ_C
#define IRQ_TOP SWIRQ_D
_Static_assert(IRQ_MID < 32 && IRQ_LOW < 32 && IRQ_TOP < 32, "all in the first NVIC bank");

void SWIRQ_B_HANDLER(void) { count_mid++; }
void SWIRQ_C_HANDLER(void)
{
    count_low++;
    if (set_faultmask_in_isr)
        fault_disable();   /* cleared again by the exception return */
}
void SWIRQ_D_HANDLER(void) { count_top++; }
void SysTick_Handler(void) { systicks++; }

static void reset_counts(void)
{
    count_mid = count_low = count_top = systicks = 0;
}

static void test_basepri(void)
{
    /* BASEPRI=0x80 masks priorities 0x80..0xFF: IRQ_LOW (0xA0) waits, IRQ_MID (0x40) does not. */
    reset_counts();
    set_basepri(0x80);
    CHECK_EQ(get_basepri(), 0x80, "BASEPRI read back");
    nvic_pend(IRQ_LOW);
    nvic_pend(IRQ_MID);
    isb();
    uint32_t c_mid = count_mid, c_low = count_low;
    CHECK_EQ(c_mid, 1, "SWIRQ_B (0x40) with BASEPRI=0x80");
    CHECK_EQ(c_low, 0, "SWIRQ_C (0xA0) with BASEPRI=0x80");
    CHECK_EQ(NVIC_ISPR(0), 1u << IRQ_LOW, "ISPR with SWIRQ_C masked by BASEPRI");
    set_basepri(0);
    isb();
    c_low = count_low;
    CHECK_EQ(c_low, 1, "SWIRQ_C right after BASEPRI=0; isb");
    test_ok("BASEPRI=0x80 masks IRQ%u (0xA0) but not IRQ%u (0x40); IRQ%u taken right after BASEPRI=0",
            IRQ_LOW, IRQ_MID, IRQ_LOW);

    /* A priority equal to BASEPRI is masked too. */
    reset_counts();
    set_basepri(0x40);
    nvic_pend(IRQ_MID);
    isb();
    c_mid = count_mid;
    set_basepri(0);
    isb();
    CHECK_EQ(c_mid, 0, "SWIRQ_B (0x40) with BASEPRI=0x40");
    CHECK_EQ(count_mid, 1, "SWIRQ_B after BASEPRI=0");
    test_ok("BASEPRI=0x40 masks IRQ%u of equal priority 0x40", IRQ_MID);

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
    nvic_pend(IRQ_TOP);   /* priority 0x00, the highest configurable */
    nvic_pend(IRQ_MID);
    SCB_ICSR = ICSR_PENDSTSET;
    isb();
    uint32_t c = count_top + count_mid + systicks;
    irq_enable();
    isb();
    uint32_t c_top = count_top, c_mid = count_mid, st = systicks;   /* read right after unmasking */
    CHECK_EQ(c, 0, "handlers run while PRIMASK=1");
    CHECK(c_top == 1 && c_mid == 1 && st == 1,
          "after cpsie i; isb: IRQ%u %u, IRQ%u %u, SysTick %u (expected 1 each)", IRQ_TOP, c_top, IRQ_MID, c_mid, st);
    test_ok("PRIMASK masks IRQ%u (0x00), IRQ%u and SysTick; all taken right after cpsie i; isb",
            IRQ_TOP, IRQ_MID);
}

static void test_faultmask(void)
{
    reset_counts();
    fault_disable();
    CHECK_EQ(get_faultmask(), 1, "FAULTMASK after cpsid f");
    nvic_pend(IRQ_TOP);
    isb();
    uint32_t c = count_top;
    fault_enable();
    isb();
    uint32_t c_top = count_top;
    CHECK_EQ(c, 0, "SWIRQ_D (0x00) with FAULTMASK=1");
    CHECK_EQ(c_top, 1, "SWIRQ_D right after cpsie f; isb");
    test_ok("FAULTMASK masks IRQ%u (0x00); taken right after cpsie f; isb", IRQ_TOP);

    /* An exception return (other than from NMI) clears FAULTMASK. */
    set_faultmask_in_isr = 1;
    nvic_pend(IRQ_LOW);
    isb();
    set_faultmask_in_isr = 0;
    CHECK_EQ(count_low, 1, "SWIRQ_C");
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
    SYST_RVR = BOARD_SYSCLK_HZ / 1000u - 1u;
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
    nvic_set_prio(IRQ_MID, 0x40);
    nvic_set_prio(IRQ_LOW, 0xA0);
    nvic_set_prio(IRQ_TOP, 0x00);
    SCB_SHP8(EXC_SYSTICK) = 0x80;
    nvic_enable(IRQ_MID);
    nvic_enable(IRQ_LOW);
    nvic_enable(IRQ_TOP);
    CHECK_EQ(get_primask(), 0, "PRIMASK at reset");
    CHECK_EQ(get_faultmask(), 0, "FAULTMASK at reset");
    CHECK_EQ(get_basepri(), 0, "BASEPRI at reset");

    test_basepri();
    test_primask();
    test_faultmask();
    test_zephyr_idle();
    test_pass();
}
