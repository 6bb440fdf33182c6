/*
 * irq_nesting: external interrupts pended by software (NVIC_ISPR and STIR) on lines whose
 * devices stay idle, SWIRQ_A < SWIRQ_B < SWIRQ_C and SWIRQ_D from board.h (mps2-an385: 5 = UART2
 * TX, 6 = GPIO0, 7 = GPIO1, 31 = GPIO0 pin 7; lm3s6965evb: 10, 11, 12 = PWM generators 0-2,
 * 29 = flash controller, none of them modelled by QEMU), written A, B, C, D below, checking
 *   A. preemption: a low-priority ISR pends a higher one, which runs at once (after dsb; isb),
 *      with ICSR.VECTACTIVE/RETTOBASE and NVIC_IABR showing the nesting;
 *   B. pended while PRIMASK is set, they run in priority order by tail-chaining, and equal
 *      priorities go lowest IRQ number first; ICSR.VECTPENDING/ISRPENDING while masked;
 *   C. PRIGROUP: with priorities 0x60 and 0x40 in the same group (PRIGROUP=5) there is no
 *      preemption (the pended one waits, visible in VECTPENDING); with PRIGROUP=4 there is;
 *   D. a disabled interrupt stays pending until enabled; ICPR removes a pending one;
 *   E. (boards with more than 32 interrupts) the last line, in the second NVIC bank.
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

#define A SWIRQ_A
#define B SWIRQ_B
#define C SWIRQ_C
#define D SWIRQ_D
_Static_assert(A < B && B < C && C < 32 && D < 32 && D != A && D != B && D != C,
               "SWIRQ_A < SWIRQ_B < SWIRQ_C, all four in the first NVIC bank");

void SWIRQ_A_HANDLER(void) { isr(A); }
void SWIRQ_B_HANDLER(void) { isr(B); }
void SWIRQ_C_HANDLER(void) { isr(C); }
void SWIRQ_D_HANDLER(void) { isr(D); }

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
    char got[128];
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

static volatile uint32_t a_icsr_a, a_iabr_a, a_icsr_b, a_iabr_b, a_ipsr_b, a_done_after_isb;

static void a_action(unsigned irq)
{
    if (irq == A) {
        a_icsr_a = SCB_ICSR;
        a_iabr_a = NVIC_IABR(0);
        nvic_pend(B);
        dsb();
        isb();
        /* B (higher priority) must have run completely by now. */
        a_done_after_isb = nlog == 3 && evlog[2] == LEAVE(B);
    } else if (irq == B) {
        a_icsr_b = SCB_ICSR;
        a_iabr_b = NVIC_IABR(0);
        a_ipsr_b = get_ipsr();
    }
}

static void test_preemption(void)
{
    char what[96];
    nvic_set_prio(A, 0xA0);
    nvic_set_prio(B, 0x40);
    reset_log(a_action);
    NVIC_STIR = A;   /* software trigger */
    dsb();
    isb();
    static const uint8_t exp[] = { ENTER(A), ENTER(B), LEAVE(B), LEAVE(A), 0xFF };
    ksnprintf(what, sizeof what, "A. IRQ%u (prio 0xA0) pends IRQ%u (prio 0x40) which preempts it", A, B);
    expect_log(what, exp);
    CHECK(a_done_after_isb, "IRQ%u had not run right after dsb; isb in IRQ%u", B, A);
    test_ok("IRQ%u completed before the instruction after dsb; isb", B);
    CHECK_EQ(ICSR_VECTACTIVE(a_icsr_a), EXC_IRQ(A), "VECTACTIVE in A");
    CHECK(a_icsr_a & ICSR_RETTOBASE, "RETTOBASE in IRQ%u (only active exception): ICSR 0x%08x", A, a_icsr_a);
    CHECK_EQ(a_iabr_a, 1u << A, "IABR in A");
    CHECK_EQ(ICSR_VECTACTIVE(a_icsr_b), EXC_IRQ(B), "VECTACTIVE in B");
    CHECK(!(a_icsr_b & ICSR_RETTOBASE), "RETTOBASE in nested IRQ%u: ICSR 0x%08x", B, a_icsr_b);
    CHECK_EQ(a_iabr_b, (1u << A) | (1u << B), "IABR in nested B");
    CHECK_EQ(a_ipsr_b, EXC_IRQ(B), "IPSR in B");
    test_ok("in IRQ%u: VECTACTIVE=%u RETTOBASE=1 IABR=0x%08x", A, EXC_IRQ(A), a_iabr_a);
    test_ok("in IRQ%u: VECTACTIVE=%u RETTOBASE=0 IABR=0x%08x", B, EXC_IRQ(B), a_iabr_b);
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
    char what[96];
    nvic_set_prio(A, 0x80);
    nvic_set_prio(B, 0x60);
    nvic_set_prio(C, 0xA0);
    nvic_set_prio(D, 0x20);
    reset_log(b_action);
    irq_disable();
    nvic_pend(C);
    NVIC_STIR = A;
    nvic_pend(D);
    NVIC_STIR = B;
    dsb();
    isb();
    uint32_t icsr = SCB_ICSR, ispr = NVIC_ISPR(0), n = nlog;
    irq_enable();
    isb();
    CHECK_EQ(n, 0, "handlers run while PRIMASK=1");
    CHECK_EQ(ispr, (1u << A) | (1u << B) | (1u << C) | (1u << D), "ISPR while masked");
    CHECK_EQ(ICSR_VECTPENDING(icsr), EXC_IRQ(D), "VECTPENDING while masked");
    CHECK(icsr & ICSR_ISRPENDING, "ISRPENDING while masked: ICSR 0x%08x", icsr);
    test_ok("while masked: ISPR=0x%08x VECTPENDING=%u ISRPENDING=1", ispr, ICSR_VECTPENDING(icsr));
    static const uint8_t exp[] = { ENTER(D), LEAVE(D), ENTER(B), LEAVE(B), ENTER(A), LEAVE(A),
                                   ENTER(C), LEAVE(C), 0xFF };
    ksnprintf(what, sizeof what, "B. pended %u,%u,%u,%u (0xA0,0x80,0x20,0x60) run in priority order",
              C, A, D, B);
    expect_log(what, exp);
    CHECK_EQ(b_bad_state, 0, "tail-chained handlers seeing nesting (RETTOBASE/IABR/VECTACTIVE)");
    test_ok("each tail-chained handler: RETTOBASE=1, IABR = its own bit only");
    CHECK_EQ(NVIC_ISPR(0), 0, "ISPR after");

    /* Equal priorities: the lowest exception number wins. */
    nvic_set_prio(A, 0x60);
    nvic_set_prio(B, 0x60);
    nvic_set_prio(C, 0x60);
    reset_log(b_action);
    irq_disable();
    nvic_pend(C);
    nvic_pend(B);
    nvic_pend(A);
    irq_enable();
    isb();
    static const uint8_t exp2[] = { ENTER(A), LEAVE(A), ENTER(B), LEAVE(B), ENTER(C), LEAVE(C), 0xFF };
    ksnprintf(what, sizeof what, "B. equal priority 0x60, pended %u,%u,%u: lowest number first", C, B, A);
    expect_log(what, exp2);
}

/* --------------------------------------------------------------- C: PRIGROUP --------- */

static volatile uint32_t c_ran_early, c_icsr;

static void c_action(unsigned irq)
{
    if (irq == A) {
        nvic_pend(B);
        dsb();
        isb();
        c_ran_early = nlog > 1;
        c_icsr = SCB_ICSR;
    }
}

static void test_prigroup(void)
{
    char what[96];
    nvic_set_prio(A, 0x60);
    nvic_set_prio(B, 0x40);

    /* PRIGROUP=5: group priority is bits [7:6], so 0x60 and 0x40 are both group 0x40. */
    SCB_AIRCR = AIRCR_VECTKEY | AIRCR_PRIGROUP(5);
    CHECK_EQ((SCB_AIRCR >> 8) & 7u, 5, "AIRCR.PRIGROUP");
    reset_log(c_action);
    nvic_pend(A);
    isb();
    static const uint8_t exp[] = { ENTER(A), LEAVE(A), ENTER(B), LEAVE(B), 0xFF };
    ksnprintf(what, sizeof what, "C. PRIGROUP=5: IRQ%u (0x40) pended in IRQ%u (0x60), same group, waits",
              B, A);
    expect_log(what, exp);
    CHECK(!c_ran_early, "IRQ%u preempted IRQ%u in the same priority group", B, A);
    CHECK_EQ(ICSR_VECTPENDING(c_icsr), EXC_IRQ(B), "VECTPENDING in A with B waiting");
    test_ok("in IRQ%u: VECTPENDING=%u (IRQ%u pending, not preempting)", A, ICSR_VECTPENDING(c_icsr), B);

    /* PRIGROUP=4: group priority is bits [7:5], so 0x40 is a higher group than 0x60. */
    SCB_AIRCR = AIRCR_VECTKEY | AIRCR_PRIGROUP(4);
    CHECK_EQ((SCB_AIRCR >> 8) & 7u, 4, "AIRCR.PRIGROUP");
    reset_log(c_action);
    nvic_pend(A);
    isb();
    static const uint8_t exp2[] = { ENTER(A), ENTER(B), LEAVE(B), LEAVE(A), 0xFF };
    ksnprintf(what, sizeof what, "C. PRIGROUP=4: same priorities, IRQ%u preempts IRQ%u", B, A);
    expect_log(what, exp2);

    SCB_AIRCR = AIRCR_VECTKEY | AIRCR_PRIGROUP(0);
}

/* ---------------------------------------------- D: disabled and cleared pending ------ */

static void test_enable_clear(void)
{
    char what[96];
    reset_log(0);
    nvic_disable(C);
    nvic_pend(C);
    isb();
    CHECK_EQ(nlog, 0, "handler runs for a disabled IRQ");
    CHECK_EQ(NVIC_ISPR(0), 1u << C, "ISPR with C disabled and pending");
    CHECK_EQ(NVIC_ISER(0) & (1u << C), 0, "ISER bit C after ICER");
    nvic_enable(C);
    isb();
    static const uint8_t exp[] = { ENTER(C), LEAVE(C), 0xFF };
    ksnprintf(what, sizeof what, "D. IRQ%u pended while disabled runs when enabled", C);
    expect_log(what, exp);

    reset_log(0);
    irq_disable();
    nvic_pend(B);
    CHECK_EQ(NVIC_ISPR(0), 1u << B, "ISPR with B pending");
    nvic_unpend(B);
    CHECK_EQ(NVIC_ISPR(0), 0, "ISPR after ICPR");
    irq_enable();
    isb();
    CHECK_EQ(nlog, 0, "handler runs for an IRQ cleared through ICPR");
    test_ok("D. ICPR removes a pending IRQ before it is taken");
}

#if BOARD_NUM_IRQS > 32
/* ------------------------------------------------ E: the second NVIC bank ----------- */

#define LAST (BOARD_NUM_IRQS - 1)
static volatile uint32_t e_iabr0, e_iabr1, e_icsr;

void SWIRQ_LAST_HANDLER(void)
{
    log_event(ENTER(LAST));
    e_iabr0 = NVIC_IABR(0);
    e_iabr1 = NVIC_IABR(1);
    e_icsr = SCB_ICSR;
    log_event(LEAVE(LAST));
}

static void test_second_bank(void)
{
    char what[96];
    const uint32_t bit = 1u << (LAST & 31);
    nvic_set_prio(LAST, 0x40);
    nvic_enable(LAST);
    CHECK_EQ(NVIC_ISER(1), bit, "ISER(1)");
    /* Lines beyond the last one do not exist: their enable bits read 0. */
    NVIC_ISER(2) = 0xFFFFFFFFu;
    CHECK_EQ(NVIC_ISER(2), 0, "ISER(2) after writing all ones");
    reset_log(0);
    irq_disable();
    NVIC_STIR = LAST;
    dsb();
    isb();
    uint32_t ispr1 = NVIC_ISPR(1), icsr = SCB_ICSR;
    irq_enable();
    isb();
    CHECK_EQ(ispr1, bit, "ISPR(1) while masked");
    CHECK_EQ(ICSR_VECTPENDING(icsr), EXC_IRQ(LAST), "VECTPENDING while masked");
    static const uint8_t exp[] = { ENTER(LAST), LEAVE(LAST), 0xFF };
    ksnprintf(what, sizeof what, "E. IRQ%u (second bank) pended through STIR", LAST);
    expect_log(what, exp);
    CHECK_EQ(e_iabr0, 0, "IABR(0) in the handler");
    CHECK_EQ(e_iabr1, bit, "IABR(1) in the handler");
    CHECK_EQ(ICSR_VECTACTIVE(e_icsr), EXC_IRQ(LAST), "VECTACTIVE in the handler");
    test_ok("while masked: ISPR(1)=0x%08x VECTPENDING=%u; in the handler: IABR(1)=0x%08x "
            "VECTACTIVE=%u", ispr1, ICSR_VECTPENDING(icsr), e_iabr1, ICSR_VECTACTIVE(e_icsr));
    CHECK_EQ(NVIC_ISPR(1), 0, "ISPR(1) after");
    nvic_disable(LAST);
    CHECK_EQ(NVIC_ISER(1), 0, "ISER(1) after ICER");
}
#endif

int main(void)
{
    test_start("irq_nesting");
    uint32_t ictr = SCB_ICTR & 0xFu;
    kprintf("ICTR.INTLINESNUM=%u (%u external interrupts)\n", ictr, 32u * (ictr + 1u));
    CHECK_EQ(ictr, (BOARD_NUM_IRQS + 31) / 32 - 1, "ICTR.INTLINESNUM (" BOARD_NAME ")");
    nvic_enable(A);
    nvic_enable(B);
    nvic_enable(C);
    nvic_enable(D);
    CHECK_EQ(NVIC_ISER(0), (1u << A) | (1u << B) | (1u << C) | (1u << D), "ISER");

    test_preemption();
    test_tail_chain();
    test_prigroup();
    test_enable_clear();
#if BOARD_NUM_IRQS > 32
    test_second_bank();
#endif
    test_pass();
}
