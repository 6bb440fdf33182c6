/*
 * irq_nesting: external interrupts pended by software (NVIC_ISPR and STIR) on lines whose
 * devices stay idle (5 = UART2 TX, 6 = GPIO0, 7 = GPIO1, 31 = GPIO0 pin 7), checking
 *   A. preemption: a low-priority ISR pends a higher one, which runs at once (after dsb; isb),
 *      with ICSR.VECTACTIVE/RETTOBASE and NVIC_IABR showing the nesting;
 *   B. pended while PRIMASK is set, they run in priority order by tail-chaining, and equal
 *      priorities go lowest IRQ number first; ICSR.VECTPENDING/ISRPENDING while masked;
 *   C. PRIGROUP: with priorities 0x60 and 0x40 in the same group (PRIGROUP=5) there is no
 *      preemption (the pended one waits, visible in VECTPENDING); with PRIGROUP=4 there is;
 *   D. a disabled interrupt stays pending until enabled; ICPR removes a pending one.
 * Only the top 3 priority bits are used, as on a real Cortex-M3 (QEMU implements 8).
 * Every handler logs "+n" on entry and "-n" on exit; the logs are checked and printed.
 */
#include "test.h"

#define MAXLOG 32
static volatile uint8_t evlog[MAXLOG];
static volatile unsigned nlog;
static void (*volatile on_irq)(unsigned irq);   /* what the handlers do in this scenario */

#define ENTER(n) ((uint8_t)(n))
#define LEAVE(n) ((uint8_t)(0x80u | (n)))

static void log_event(uint8_t e)
{
    if (nlog < MAXLOG)
        evlog[nlog++] = e;
}

static void isr(unsigned irq)
{
    log_event(ENTER(irq));
    if (on_irq)
        on_irq(irq);
    log_event(LEAVE(irq));
}

void UART2TX_IRQHandler(void) { isr(5); }
void GPIO0_IRQHandler(void)   { isr(6); }
void GPIO1_IRQHandler(void)   { isr(7); }
void GPIO0_7_IRQHandler(void) { isr(31); }

static void reset_log(void (*action)(unsigned))
{
    nlog = 0;
    on_irq = action;
}

static void format_log(char *buf, unsigned size)
{
    unsigned len = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < nlog && len + 5 < size; i++)
        len += ksnprintf(buf + len, size - len, "%s%c%u", i ? " " : "", evlog[i] & 0x80 ? '-' : '+',
                         evlog[i] & 0x7Fu);
}

/* Compare the log with `exp` (terminated by 0xFF) and print it. */
static void expect_log(const char *what, const uint8_t *exp)
{
    char got[96];
    format_log(got, sizeof got);
    unsigned n = 0;
    while (exp[n] != 0xFF)
        n++;
    CHECK(nlog == n, "%s: handler log \"%s\"", what, got);
    for (unsigned i = 0; i < n; i++)
        CHECK(evlog[i] == exp[i], "%s: handler log \"%s\"", what, got);
    test_ok("%s: %s", what, got);
}

/* ---------------------------------------------------------------- A: preemption --- */

static volatile uint32_t a_icsr5, a_iabr5, a_icsr6, a_iabr6, a_ipsr6, a_done_after_isb;

static void a_action(unsigned irq)
{
    if (irq == 5) {
        a_icsr5 = SCB_ICSR;
        a_iabr5 = NVIC_IABR(0);
        nvic_pend(6);
        dsb();
        isb();
        /* IRQ 6 (higher priority) must have run completely by now. */
        a_done_after_isb = nlog == 3 && evlog[2] == LEAVE(6);
    } else if (irq == 6) {
        a_icsr6 = SCB_ICSR;
        a_iabr6 = NVIC_IABR(0);
        a_ipsr6 = get_ipsr();
    }
}

static void test_preemption(void)
{
    nvic_set_prio(5, 0xA0);
    nvic_set_prio(6, 0x40);
    reset_log(a_action);
    NVIC_STIR = 5;   /* software trigger */
    dsb();
    isb();
    static const uint8_t exp[] = { ENTER(5), ENTER(6), LEAVE(6), LEAVE(5), 0xFF };
    expect_log("A. IRQ5 (prio 0xA0) pends IRQ6 (prio 0x40) which preempts it", exp);
    CHECK(a_done_after_isb, "IRQ6 had not run right after dsb; isb in IRQ5");
    test_ok("IRQ6 completed before the instruction after dsb; isb");
    CHECK_EQ(ICSR_VECTACTIVE(a_icsr5), EXC_IRQ(5), "VECTACTIVE in IRQ5");
    CHECK(a_icsr5 & ICSR_RETTOBASE, "RETTOBASE in IRQ5 (only active exception): ICSR 0x%08x", a_icsr5);
    CHECK_EQ(a_iabr5, 1u << 5, "IABR in IRQ5");
    CHECK_EQ(ICSR_VECTACTIVE(a_icsr6), EXC_IRQ(6), "VECTACTIVE in IRQ6");
    CHECK(!(a_icsr6 & ICSR_RETTOBASE), "RETTOBASE in nested IRQ6: ICSR 0x%08x", a_icsr6);
    CHECK_EQ(a_iabr6, (1u << 5) | (1u << 6), "IABR in nested IRQ6");
    CHECK_EQ(a_ipsr6, EXC_IRQ(6), "IPSR in IRQ6");
    test_ok("in IRQ5: VECTACTIVE=%u RETTOBASE=1 IABR=0x%08x", EXC_IRQ(5), a_iabr5);
    test_ok("in IRQ6: VECTACTIVE=%u RETTOBASE=0 IABR=0x%08x", EXC_IRQ(6), a_iabr6);
    CHECK_EQ(NVIC_IABR(0), 0, "IABR in Thread mode");
    CHECK_EQ(ICSR_VECTACTIVE(SCB_ICSR), 0, "VECTACTIVE in Thread mode");
}

/* ---------------------------------------------------------- B: tail-chaining --------- */

static volatile uint32_t b_bad_state;

static void b_action(unsigned irq)
{
    /* Tail-chained, never nested: each one is the only active exception. */
    uint32_t icsr = SCB_ICSR;
    if (!(icsr & ICSR_RETTOBASE) || NVIC_IABR(0) != (1u << irq) ||
        ICSR_VECTACTIVE(icsr) != EXC_IRQ(irq))
        b_bad_state++;
}

static void test_tail_chain(void)
{
    nvic_set_prio(5, 0x80);
    nvic_set_prio(6, 0x60);
    nvic_set_prio(7, 0xA0);
    nvic_set_prio(31, 0x20);
    reset_log(b_action);
    irq_disable();
    nvic_pend(7);
    NVIC_STIR = 5;
    nvic_pend(31);
    NVIC_STIR = 6;
    dsb();
    isb();
    uint32_t icsr = SCB_ICSR, ispr = NVIC_ISPR(0), n = nlog;
    irq_enable();
    isb();
    CHECK_EQ(n, 0, "handlers run while PRIMASK=1");
    CHECK_EQ(ispr, (1u << 5) | (1u << 6) | (1u << 7) | (1u << 31), "ISPR while masked");
    CHECK_EQ(ICSR_VECTPENDING(icsr), EXC_IRQ(31), "VECTPENDING while masked");
    CHECK(icsr & ICSR_ISRPENDING, "ISRPENDING while masked: ICSR 0x%08x", icsr);
    test_ok("while masked: ISPR=0x%08x VECTPENDING=%u ISRPENDING=1", ispr, ICSR_VECTPENDING(icsr));
    static const uint8_t exp[] = { ENTER(31), LEAVE(31), ENTER(6), LEAVE(6), ENTER(5), LEAVE(5),
                                   ENTER(7), LEAVE(7), 0xFF };
    expect_log("B. pended 7,5,31,6 (0xA0,0x80,0x20,0x60) run in priority order", exp);
    CHECK_EQ(b_bad_state, 0, "tail-chained handlers seeing nesting (RETTOBASE/IABR/VECTACTIVE)");
    test_ok("each tail-chained handler: RETTOBASE=1, IABR = its own bit only");
    CHECK_EQ(NVIC_ISPR(0), 0, "ISPR after");

    /* Equal priorities: the lowest exception number wins. */
    nvic_set_prio(5, 0x60);
    nvic_set_prio(6, 0x60);
    nvic_set_prio(7, 0x60);
    reset_log(b_action);
    irq_disable();
    nvic_pend(7);
    nvic_pend(6);
    nvic_pend(5);
    irq_enable();
    isb();
    static const uint8_t exp2[] = { ENTER(5), LEAVE(5), ENTER(6), LEAVE(6), ENTER(7), LEAVE(7), 0xFF };
    expect_log("B. equal priority 0x60, pended 7,6,5: lowest number first", exp2);
}

/* --------------------------------------------------------------- C: PRIGROUP --------- */

static volatile uint32_t c_ran_early, c_icsr;

static void c_action(unsigned irq)
{
    if (irq == 5) {
        nvic_pend(6);
        dsb();
        isb();
        c_ran_early = nlog > 1;
        c_icsr = SCB_ICSR;
    }
}

static void test_prigroup(void)
{
    nvic_set_prio(5, 0x60);
    nvic_set_prio(6, 0x40);

    /* PRIGROUP=5: group priority is bits [7:6], so 0x60 and 0x40 are both group 0x40. */
    SCB_AIRCR = AIRCR_VECTKEY | AIRCR_PRIGROUP(5);
    CHECK_EQ((SCB_AIRCR >> 8) & 7u, 5, "AIRCR.PRIGROUP");
    reset_log(c_action);
    nvic_pend(5);
    isb();
    static const uint8_t exp[] = { ENTER(5), LEAVE(5), ENTER(6), LEAVE(6), 0xFF };
    expect_log("C. PRIGROUP=5: IRQ6 (0x40) pended in IRQ5 (0x60), same group, waits", exp);
    CHECK(!c_ran_early, "IRQ6 preempted IRQ5 in the same priority group");
    CHECK_EQ(ICSR_VECTPENDING(c_icsr), EXC_IRQ(6), "VECTPENDING in IRQ5 with IRQ6 waiting");
    test_ok("in IRQ5: VECTPENDING=%u (IRQ6 pending, not preempting)", ICSR_VECTPENDING(c_icsr));

    /* PRIGROUP=4: group priority is bits [7:5], so 0x40 is a higher group than 0x60. */
    SCB_AIRCR = AIRCR_VECTKEY | AIRCR_PRIGROUP(4);
    CHECK_EQ((SCB_AIRCR >> 8) & 7u, 4, "AIRCR.PRIGROUP");
    reset_log(c_action);
    nvic_pend(5);
    isb();
    static const uint8_t exp2[] = { ENTER(5), ENTER(6), LEAVE(6), LEAVE(5), 0xFF };
    expect_log("C. PRIGROUP=4: same priorities, IRQ6 preempts IRQ5", exp2);

    SCB_AIRCR = AIRCR_VECTKEY | AIRCR_PRIGROUP(0);
}

/* ---------------------------------------------- D: disabled and cleared pending ------ */

static void test_enable_clear(void)
{
    reset_log(0);
    nvic_disable(7);
    nvic_pend(7);
    isb();
    CHECK_EQ(nlog, 0, "handler runs for a disabled IRQ");
    CHECK_EQ(NVIC_ISPR(0), 1u << 7, "ISPR with IRQ7 disabled and pending");
    CHECK_EQ(NVIC_ISER(0) & (1u << 7), 0, "ISER bit 7 after ICER");
    nvic_enable(7);
    isb();
    static const uint8_t exp[] = { ENTER(7), LEAVE(7), 0xFF };
    expect_log("D. IRQ7 pended while disabled runs when enabled", exp);

    reset_log(0);
    irq_disable();
    nvic_pend(6);
    CHECK_EQ(NVIC_ISPR(0), 1u << 6, "ISPR with IRQ6 pending");
    nvic_unpend(6);
    CHECK_EQ(NVIC_ISPR(0), 0, "ISPR after ICPR");
    irq_enable();
    isb();
    CHECK_EQ(nlog, 0, "handler runs for an IRQ cleared through ICPR");
    test_ok("D. ICPR removes a pending IRQ before it is taken");
}

int main(void)
{
    test_start("irq_nesting");
    uint32_t ictr = SCB_ICTR & 0xFu;
    kprintf("ICTR.INTLINESNUM=%u (%u external interrupts)\n", ictr, 32u * (ictr + 1u));
    CHECK_EQ(ictr, 0, "ICTR.INTLINESNUM (mps2-an385 has 32 interrupts)");
    nvic_enable(5);
    nvic_enable(6);
    nvic_enable(7);
    nvic_enable(31);
    CHECK_EQ(NVIC_ISER(0), (1u << 5) | (1u << 6) | (1u << 7) | (1u << 31), "ISER");

    test_preemption();
    test_tail_chain();
    test_prigroup();
    test_enable_clear();
    test_pass();
}
