/*
 * cmsdk_timer: the mps2-an385 timers and FPGA system registers, as qemu-system-arm 7.2 models them.
 *  - CMSDK APB timers 0 and 1 (0x40000000 IRQ 8, 0x40001000 IRQ 9): reset values and IDs, VALUE
 *    counting down from RELOAD, interrupts from both at once while idling in WFI, IRQEN gating
 *    INTSTATUS, INTSTATUS write-one-to-clear, one-shot from a VALUE write with RELOAD = 0.
 *  - CMSDK dual timer (0x40002000, IRQ 10 for both): reset values, periodic 32-bit interrupts,
 *    one-shot, RIS/MIS with INTEN clear, the 16-bit free-running wrap, the prescaler, QEMU's
 *    "LOAD while periodic restarts as one-shot", TIMERITCR/TIMERITOP driving the IRQ line.
 *  - SCC (0x4002F000): ID/AID/CFG4/DLL/CFGCTRL values, oscillator reads and writes through
 *    CFGCTRL, errors for bad functions, CFG1 read/write, the DLL lock mask.
 *  - FPGA IO (0x40028000): COUNTER/PSCNTR/PRESCALE, CLK1HZ/CLK100HZ, LED0 mask, MISC, BUTTON.
 * The checks hold in both time modes, and nothing printed depends on timing. (Exact counter values
 * are not printed: cmemu's virtual time at a device access advances per translated block, QEMU's
 * per instruction, so a read can differ by a few ticks.)
 */
#include "test.h"

#define TIMER0 0x40000000u
#define TIMER1 0x40001000u
#define T_CTRL(b)      REG32((b) + 0x00u)
#define T_VALUE(b)     REG32((b) + 0x04u)
#define T_RELOAD(b)    REG32((b) + 0x08u)
#define T_INTSTATUS(b) REG32((b) + 0x0Cu)
#define T_EN    (1u << 0)
#define T_IRQEN (1u << 3)

#define DT 0x40002000u
#define DT_LOAD(n)    REG32(DT + 0x20u * (n) + 0x00u)
#define DT_VALUE(n)   REG32(DT + 0x20u * (n) + 0x04u)
#define DT_CONTROL(n) REG32(DT + 0x20u * (n) + 0x08u)
#define DT_INTCLR(n)  REG32(DT + 0x20u * (n) + 0x0Cu)
#define DT_RIS(n)     REG32(DT + 0x20u * (n) + 0x10u)
#define DT_MIS(n)     REG32(DT + 0x20u * (n) + 0x14u)
#define DT_BGLOAD(n)  REG32(DT + 0x20u * (n) + 0x18u)
#define DT_ITCR       REG32(DT + 0xF00u)
#define DT_ITOP       REG32(DT + 0xF04u)
#define DT_ONESHOT  (1u << 0)
#define DT_SIZE32   (1u << 1)
#define DT_PRE16    (1u << 2)
#define DT_INTEN    (1u << 5)
#define DT_PERIODIC (1u << 6)
#define DT_ENABLE   (1u << 7)

#define SCC 0x4002F000u
#define SCC_CFG0        REG32(SCC + 0x000u)
#define SCC_CFG1        REG32(SCC + 0x004u)
#define SCC_CFG3        REG32(SCC + 0x00Cu)
#define SCC_CFG4        REG32(SCC + 0x010u)
#define SCC_CFGDATA_RTN REG32(SCC + 0x0A0u)
#define SCC_CFGDATA_OUT REG32(SCC + 0x0A4u)
#define SCC_CFGCTRL     REG32(SCC + 0x0A8u)
#define SCC_CFGSTAT     REG32(SCC + 0x0ACu)
#define SCC_DLL         REG32(SCC + 0x100u)
#define SCC_AID         REG32(SCC + 0xFF8u)
#define SCC_ID          REG32(SCC + 0xFFCu)
#define CFGCTRL_START   (1u << 31)
#define CFGCTRL_WRITE   (1u << 30)
#define CFGCTRL_FN(f)   ((uint32_t)(f) << 20)

#define FPGAIO 0x40028000u
#define FP_LED0     REG32(FPGAIO + 0x00u)
#define FP_BUTTON   REG32(FPGAIO + 0x08u)
#define FP_CLK1HZ   REG32(FPGAIO + 0x10u)
#define FP_CLK100HZ REG32(FPGAIO + 0x14u)
#define FP_COUNTER  REG32(FPGAIO + 0x18u)
#define FP_PRESCALE REG32(FPGAIO + 0x1Cu)
#define FP_PSCNTR   REG32(FPGAIO + 0x20u)
#define FP_MISC     REG32(FPGAIO + 0x4Cu)

#define IRQ_TIMER0 8
#define IRQ_TIMER1 9
#define IRQ_DUALTIMER 10

static volatile uint32_t t0_ints, t1_ints, dt_ints[2], t0_stop_at, t1_stop_at;

void TIMER0_IRQHandler(void)
{
    T_INTSTATUS(TIMER0) = 1;
    if (++t0_ints == t0_stop_at)
        T_CTRL(TIMER0) = 0;
}

void TIMER1_IRQHandler(void)
{
    T_INTSTATUS(TIMER1) = 1;
    if (++t1_ints == t1_stop_at)
        T_CTRL(TIMER1) = 0;
}

void DUALTIMER_IRQHandler(void)
{
    for (unsigned n = 0; n < 2; n++) {
        if (DT_MIS(n)) {
            DT_INTCLR(n) = 1;
            dt_ints[n]++;
        }
    }
}

static void spin(uint32_t n)
{
    for (volatile uint32_t i = 0; i < n; i++)
        ;
}

/* Wait (idle in WFI) until *v reaches want, or give up after many wake-ups. */
static int wait_for(volatile uint32_t *v, uint32_t want)
{
    for (uint32_t i = 0; i < 1000000u && *v < want; i++)
        wfi();
    return *v >= want;
}

static void check_ids(uint32_t base, uint32_t pid0, const char *what)
{
    static const uint8_t ids[12] = {0x04, 0, 0, 0, 0, 0xb8, 0x1b, 0, 0x0d, 0xf0, 0x05, 0xb1};
    for (unsigned i = 0; i < 12; i++) {
        uint32_t want = i == 4 ? pid0 : ids[i];
        if (REG32(base + 0xFD0u + 4u * i) != want)
            test_fail("%s ID register 0x%x: got 0x%x, expected 0x%x", what, 0xFD0u + 4u * i,
                      REG32(base + 0xFD0u + 4u * i), want);
    }
}

static void test_timers(void)
{
    const uint32_t bases[2] = {TIMER0, TIMER1};
    for (unsigned i = 0; i < 2; i++) {
        uint32_t b = bases[i];
        CHECK_EQ(T_CTRL(b), 0, "timer CTRL at reset");
        CHECK_EQ(T_VALUE(b), 0, "timer VALUE at reset");
        CHECK_EQ(T_RELOAD(b), 0, "timer RELOAD at reset");
        CHECK_EQ(T_INTSTATUS(b), 0, "timer INTSTATUS at reset");
        check_ids(b, 0x22, "timer");
    }
    test_ok("timers 0 and 1: reset values and PrimeCell IDs (PID0 0x22)");

    /* CTRL keeps 4 bits; RELOAD sets VALUE; VALUE counts down from it. */
    T_CTRL(TIMER0) = 0xFFFFFFF0u;
    CHECK_EQ(T_CTRL(TIMER0), 0, "CTRL after writing 0xFFFFFFF0");
    T_RELOAD(TIMER0) = 0x00123456u;
    CHECK_EQ(T_RELOAD(TIMER0), 0x00123456u, "RELOAD");
    CHECK_EQ(T_VALUE(TIMER0), 0x00123456u, "VALUE after a RELOAD write (stopped)");
    T_CTRL(TIMER0) = T_EN;
    uint32_t v1 = T_VALUE(TIMER0);
    spin(100);
    uint32_t v2 = T_VALUE(TIMER0);
    T_CTRL(TIMER0) = 0;
    uint32_t v3 = T_VALUE(TIMER0);
    spin(100);
    CHECK(v1 <= 0x00123456u && v2 < v1, "timer 0 VALUE did not count down: 0x%x then 0x%x", v1, v2);
    CHECK(T_VALUE(TIMER0) == v3, "timer 0 VALUE changed while disabled");
    test_ok("VALUE loads from RELOAD, counts down while enabled, holds while disabled");

    /* No interrupt status without IRQEN, even across an expiry. */
    T_RELOAD(TIMER0) = 250;
    T_CTRL(TIMER0) = T_EN;
    spin(2000);
    CHECK_EQ(T_INTSTATUS(TIMER0), 0, "INTSTATUS after expiries with IRQEN clear");
    T_CTRL(TIMER0) = 0;
    test_ok("no INTSTATUS without IRQEN");

    /* Both timers interrupting, idle in WFI: timer 0 every 100 us, timer 1 every 250 us. */
    t0_stop_at = 20;
    t1_stop_at = 8;
    nvic_enable(IRQ_TIMER0);
    nvic_enable(IRQ_TIMER1);
    T_RELOAD(TIMER0) = 2500u - 1u;
    T_RELOAD(TIMER1) = 6250u - 1u;
    T_CTRL(TIMER0) = T_EN | T_IRQEN;
    T_CTRL(TIMER1) = T_EN | T_IRQEN;
    CHECK(wait_for(&t0_ints, 20) && wait_for(&t1_ints, 8), "timer interrupts: %u and %u", t0_ints, t1_ints);
    spin(20000);
    CHECK_EQ(t0_ints, 20, "timer 0 interrupts (it stops itself at 20)");
    CHECK_EQ(t1_ints, 8, "timer 1 interrupts (it stops itself at 8)");
    CHECK_EQ(T_INTSTATUS(TIMER0) | T_INTSTATUS(TIMER1), 0, "INTSTATUS after the handlers cleared it");
    test_ok("timer 0 (IRQ 8) and timer 1 (IRQ 9): 20 and 8 interrupts, INTSTATUS write-one-to-clear");

    /* INTSTATUS pends the IRQ while set (level): with the handler off, the line stays pending. */
    nvic_disable(IRQ_TIMER0);
    T_RELOAD(TIMER0) = 100;
    T_CTRL(TIMER0) = T_EN | T_IRQEN;
    for (uint32_t t = FP_CLK100HZ; (!T_INTSTATUS(TIMER0)) && FP_CLK100HZ - t < 50u;)
        ;
    T_CTRL(TIMER0) = 0;
    CHECK_EQ(T_INTSTATUS(TIMER0), 1, "INTSTATUS after an expiry with IRQEN");
    CHECK(NVIC_ISPR(0) & (1u << IRQ_TIMER0), "IRQ 8 not pending while INTSTATUS is set");
    T_INTSTATUS(TIMER0) = 1;
    nvic_unpend(IRQ_TIMER0);
    CHECK(!(NVIC_ISPR(0) & (1u << IRQ_TIMER0)), "IRQ 8 pending again after INTSTATUS was cleared");
    test_ok("the timer IRQ follows INTSTATUS");

    /* One-shot: RELOAD = 0, a VALUE write starts a single countdown. */
    nvic_enable(IRQ_TIMER0);
    t0_ints = 0;
    t0_stop_at = 0xFFFFFFFFu;
    T_RELOAD(TIMER0) = 0;
    T_VALUE(TIMER0) = 5000;   /* before enabling: QEMU grumbles about starting a one-shot at 0 */
    T_CTRL(TIMER0) = T_EN | T_IRQEN;
    CHECK(wait_for(&t0_ints, 1), "no interrupt from the one-shot count");
    spin(20000);
    CHECK_EQ(t0_ints, 1, "interrupts from a one-shot count (RELOAD = 0)");
    CHECK_EQ(T_VALUE(TIMER0), 0, "VALUE after the one-shot count");
    T_CTRL(TIMER0) = 0;
    nvic_disable(IRQ_TIMER0);
    nvic_disable(IRQ_TIMER1);
    test_ok("RELOAD = 0: a VALUE write counts down once and stops at 0");
}

static void test_dualtimer(void)
{
    for (unsigned n = 0; n < 2; n++) {
        CHECK_EQ(DT_CONTROL(n), DT_INTEN, "dual timer CONTROL at reset");
        CHECK_EQ(DT_LOAD(n), 0, "dual timer LOAD at reset");
        CHECK_EQ(DT_BGLOAD(n), 0, "dual timer BGLOAD at reset");
        CHECK_EQ(DT_VALUE(n), 0xFFFFFFFFu, "dual timer VALUE at reset");
        CHECK_EQ(DT_RIS(n), 0, "dual timer RIS at reset");
        CHECK_EQ(DT_MIS(n), 0, "dual timer MIS at reset");
    }
    CHECK_EQ(DT_ITCR, 0, "TIMERITCR at reset");
    check_ids(DT, 0x23, "dual timer");
    test_ok("dual timer: reset values (CONTROL 0x20, VALUE 0xFFFFFFFF) and IDs (PID0 0x23)");

    /* Periodic, 32-bit, 100 us, timer 1; timer 2 one-shot 300 us, at the same time. */
    nvic_enable(IRQ_DUALTIMER);
    DT_LOAD(0) = 2500;
    DT_CONTROL(0) = DT_ENABLE | DT_PERIODIC | DT_INTEN | DT_SIZE32;
    DT_LOAD(1) = 7500;
    DT_CONTROL(1) = DT_ENABLE | DT_ONESHOT | DT_INTEN | DT_SIZE32;
    CHECK(wait_for(&dt_ints[0], 10), "dual timer 1 periodic interrupts: %u", dt_ints[0]);
    DT_CONTROL(0) = DT_PERIODIC | DT_INTEN | DT_SIZE32;
    uint32_t got = dt_ints[0];
    spin(20000);
    CHECK_EQ(dt_ints[0], got, "dual timer 1 interrupts after ENABLE was cleared");
    CHECK_EQ(dt_ints[1], 1, "dual timer 2 one-shot interrupts");
    CHECK_EQ(DT_VALUE(1), 0, "dual timer 2 VALUE after its one-shot count");
    CHECK_EQ(DT_LOAD(0), 2500, "LOAD reads back in periodic mode");
    test_ok("periodic (timer 1) and one-shot (timer 2) on IRQ 10, ORed");

    /* QEMU 7.2: LOAD written to an enabled periodic timer restarts it as a one-shot count. */
    dt_ints[0] = 0;
    DT_LOAD(0) = 0x01000000u;   /* first expiry far away: the LOAD below always comes first */
    DT_CONTROL(0) = DT_ENABLE | DT_PERIODIC | DT_INTEN | DT_SIZE32;
    DT_LOAD(0) = 2500;
    CHECK(wait_for(&dt_ints[0], 1), "no interrupt after LOAD");
    spin(40000);
    CHECK_EQ(dt_ints[0], 1, "periodic timer after a LOAD write while enabled (QEMU: one-shot)");
    DT_BGLOAD(0) = 1000;
    CHECK_EQ(DT_LOAD(0), 1000, "LOAD after a BGLOAD write");
    DT_CONTROL(0) = DT_INTEN;
    test_ok("LOAD while periodic restarts as a one-shot count, as QEMU 7.2 does");

    /* RIS without INTEN: status but no interrupt. */
    nvic_disable(IRQ_DUALTIMER);
    nvic_unpend(IRQ_DUALTIMER);
    DT_LOAD(1) = 500;
    DT_CONTROL(1) = DT_ENABLE | DT_ONESHOT | DT_SIZE32;
    for (uint32_t t = FP_CLK100HZ; (!DT_RIS(1)) && FP_CLK100HZ - t < 50u;)
        ;
    CHECK_EQ(DT_RIS(1), 1, "RIS after an expiry with INTEN clear");
    CHECK_EQ(DT_MIS(1), 0, "MIS with INTEN clear");
    CHECK(!(NVIC_ISPR(0) & (1u << IRQ_DUALTIMER)), "IRQ 10 pending with INTEN clear");
    DT_CONTROL(1) = DT_ONESHOT | DT_SIZE32 | DT_INTEN;
    CHECK_EQ(DT_MIS(1), 1, "MIS once INTEN is set");
    CHECK(NVIC_ISPR(0) & (1u << IRQ_DUALTIMER), "IRQ 10 not pending with MIS set");
    DT_INTCLR(1) = 1;
    CHECK_EQ(DT_RIS(1), 0, "RIS after INTCLR");
    nvic_unpend(IRQ_DUALTIMER);
    test_ok("RIS/MIS: INTEN masks the interrupt, INTCLR clears it");

    /* 16-bit free-running: LOAD sets the count; the upper half of VALUE stays as loaded. */
    DT_CONTROL(1) = DT_INTEN;
    DT_LOAD(1) = 0x12340010u;
    CHECK_EQ(DT_VALUE(1), 0x12340010u, "16-bit VALUE after LOAD (stopped)");
    DT_CONTROL(1) = DT_ENABLE | DT_INTEN;
    for (uint32_t t = FP_CLK100HZ; (!DT_RIS(1)) && FP_CLK100HZ - t < 50u;)
        ;
    CHECK_EQ(DT_RIS(1), 1, "RIS after the 16-bit count reached 0");
    uint32_t v = DT_VALUE(1);
    CHECK((v >> 16) == 0x1234u, "upper half of a 16-bit VALUE changed: 0x%x", v);
    spin(2000);
    CHECK((DT_VALUE(1) & 0xFFFFu) > 0x100u, "16-bit free-running count did not wrap to 0xFFFF");
    DT_CONTROL(1) = DT_INTEN;
    DT_INTCLR(1) = 1;
    nvic_unpend(IRQ_DUALTIMER);
    test_ok("16-bit free-running: counts from LOAD, wraps at 0xFFFF, keeps VALUE's upper half");

    /* Prescale /16 counts 16 times slower than /1 over the same loop. */
    DT_LOAD(0) = 0xFFFFFFFFu;
    DT_LOAD(1) = 0xFFFFFFFFu;
    DT_CONTROL(0) = DT_ENABLE | DT_SIZE32;
    DT_CONTROL(1) = DT_ENABLE | DT_SIZE32 | DT_PRE16;
    spin(20000);
    DT_CONTROL(0) = DT_SIZE32;
    DT_CONTROL(1) = DT_SIZE32 | DT_PRE16;
    uint32_t d1 = 0xFFFFFFFFu - DT_VALUE(0), d16 = 0xFFFFFFFFu - DT_VALUE(1);
    CHECK(d1 > 1000u && d16 > 10u && d16 <= d1 / 8u && d16 >= d1 / 32u,
          "prescale: /1 counted %u, /16 counted %u", d1, d16);
    test_ok("PRESCALE /16 counts 16 times slower");

    /* Integration test mode: TIMERITOP drives the IRQ line. */
    DT_ITCR = 0xFFFFFFFFu;
    CHECK_EQ(DT_ITCR, 1, "TIMERITCR keeps bit 0");
    DT_ITOP = 2;
    CHECK(NVIC_ISPR(0) & (1u << IRQ_DUALTIMER), "IRQ 10 not pending from TIMERITOP.TIMINT2");
    DT_ITOP = 0;
    nvic_unpend(IRQ_DUALTIMER);
    DT_ITOP = 1;
    CHECK(NVIC_ISPR(0) & (1u << IRQ_DUALTIMER), "IRQ 10 not pending from TIMERITOP.TIMINT1");
    DT_ITOP = 0;
    DT_ITCR = 0;
    nvic_unpend(IRQ_DUALTIMER);
    CHECK(!(NVIC_ISPR(0) & (1u << IRQ_DUALTIMER)), "IRQ 10 pending after integration test mode");
    test_ok("TIMERITCR/TIMERITOP drive IRQ 10 directly");
}

static uint32_t scc_cfg(uint32_t ctrl)
{
    SCC_CFGCTRL = ctrl | CFGCTRL_START;
    return SCC_CFGSTAT;
}

static void test_scc(void)
{
    CHECK_EQ(SCC_ID, 0x41043850u, "SCC ID");
    CHECK_EQ(SCC_AID, 0x00200008u, "SCC AID");
    CHECK_EQ(SCC_CFG0, 0, "SCC CFG0");
    CHECK_EQ(SCC_CFG1, 0, "SCC CFG1");
    CHECK_EQ(SCC_CFG3, 0, "SCC CFG3");
    CHECK_EQ(SCC_CFG4, 2, "SCC CFG4");
    CHECK_EQ(SCC_CFGCTRL, 0x00100000u, "SCC CFGCTRL at reset");
    CHECK_EQ(SCC_CFGSTAT, 0, "SCC CFGSTAT at reset");
    CHECK_EQ(SCC_DLL, 0xFFFF0001u, "SCC DLL at reset");
    test_ok("SCC: ID 0x%08x, AID 0x%08x, CFG4 %u, DLL 0x%08x", SCC_ID, SCC_AID, SCC_CFG4, SCC_DLL);

    static const uint32_t osc[3] = {50000000u, 24576000u, 25000000u};
    for (unsigned i = 0; i < 3; i++) {
        CHECK_EQ(scc_cfg(CFGCTRL_FN(1) | i), 1, "CFGSTAT after an oscillator read");
        CHECK_EQ(SCC_CFGDATA_RTN, osc[i], "OSCCLK");
    }
    test_ok("oscillators read through CFGCTRL: %u %u %u Hz", osc[0], osc[1], osc[2]);
    CHECK_EQ(SCC_CFGCTRL, CFGCTRL_FN(1) | 2u, "CFGCTRL reads without START");
    CHECK_EQ(scc_cfg(CFGCTRL_FN(1) | 3u), 3, "CFGSTAT for a bad device (DONE|ERROR)");
    CHECK_EQ(scc_cfg(CFGCTRL_FN(2)), 3, "CFGSTAT for a bad function");
    SCC_CFGDATA_OUT = 12345678u;
    CHECK_EQ(SCC_CFGDATA_OUT, 12345678u, "CFGDATA_OUT");
    CHECK_EQ(scc_cfg(CFGCTRL_WRITE | CFGCTRL_FN(1) | 1u), 1, "CFGSTAT after an oscillator write");
    CHECK_EQ(scc_cfg(CFGCTRL_FN(1) | 1u), 1, "CFGSTAT after reading it back");
    CHECK_EQ(SCC_CFGDATA_RTN, 12345678u, "OSCCLK1 after a write");
    SCC_CFGCTRL = 0;
    CHECK_EQ(SCC_CFGSTAT, 0, "CFGSTAT after a CFGCTRL write without START");
    SCC_CFGCTRL = 0xFFFFFFFFu & ~CFGCTRL_START;
    CHECK_EQ(SCC_CFGCTRL, 0x43F00FFFu, "CFGCTRL keeps DEVICE, FUNCTION and WRITE");
    test_ok("SCC config channel: errors, oscillator write, CFGCTRL fields");

    SCC_CFG1 = 0xA5u;
    CHECK_EQ(SCC_CFG1, 0xA5u, "CFG1 read back");
    SCC_CFG1 = 0;
    SCC_DLL = 0x12345678u;
    CHECK_EQ(SCC_DLL, 0x12FF0001u, "DLL: only the lock mask is writable");
    SCC_DLL = 0xFFFF0001u;
    test_ok("CFG1 read/write, DLL lock mask");
}

static void test_fpgaio(void)
{
    CHECK_EQ(FP_LED0, 0, "LED0 at reset");
    CHECK_EQ(FP_BUTTON, 0, "BUTTON");
    CHECK_EQ(FP_PRESCALE, 0, "PRESCALE at reset");
    CHECK_EQ(FP_MISC, 0, "MISC at reset");
    FP_LED0 = 0xFFu;
    CHECK_EQ(FP_LED0, 3, "LED0 keeps 2 bits");
    FP_LED0 = 0;
    FP_MISC = 0x5Au;
    CHECK_EQ(FP_MISC, 0x5Au, "MISC reads as written");
    FP_MISC = 0;
    test_ok("FPGAIO: LED0 (2 LEDs), BUTTON, PRESCALE, MISC");

    /* PRESCALE = 0: COUNTER counts the 25 MHz clock. */
    uint32_t c1 = FP_COUNTER;
    spin(1000);
    uint32_t c2 = FP_COUNTER;
    CHECK(c2 > c1, "COUNTER did not count: %u then %u", c1, c2);

    /* PRESCALE = 249: COUNTER counts at 100 kHz, PSCNTR counts down within 0..249. */
    FP_PRESCALE = 249;
    FP_PSCNTR = 249;
    FP_COUNTER = 0;
    CHECK_EQ(FP_PRESCALE, 249, "PRESCALE");
    for (uint32_t t = FP_CLK100HZ; (FP_COUNTER < 5u) && FP_CLK100HZ - t < 50u;)
        ;
    uint32_t c = FP_COUNTER, p = FP_PSCNTR;
    CHECK(c >= 5u && p <= 249u, "COUNTER %u PSCNTR %u with PRESCALE 249", c, p);
    FP_COUNTER = 1000;
    CHECK(FP_COUNTER >= 1000u && FP_COUNTER < 1100u, "COUNTER after writing 1000");
    test_ok("COUNTER increments each time PSCNTR reloads from PRESCALE");

    FP_CLK100HZ = 5000;
    uint32_t h = FP_CLK100HZ;
    CHECK(h >= 5000u && h < 5010u, "CLK100HZ after writing 5000: %u", h);
    FP_CLK1HZ = 77;
    CHECK_EQ(FP_CLK1HZ, 77, "CLK1HZ after writing 77");
    test_ok("CLK1HZ and CLK100HZ count on from a written value");
}

int main(void)
{
    test_start("cmsdk_timer");
    irq_enable();
    test_timers();
    test_dualtimer();
    test_scc();
    test_fpgaio();
    test_pass();
}
