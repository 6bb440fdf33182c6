/*
 * sysctl: the LM3S6965 system control block as QEMU 7.2 models it (hw/arm/stellaris.c,
 * "stellaris-sys" at 0x400FE000, IRQ 28):
 *   - identification: DID0, DID1 and DC0-DC4 are QEMU's LM3S6965EVB values (DID0 0x10010002:
 *     class Fury, revision A2; DID1 part 0x73; DC0: 256 KiB flash, 64 KiB SRAM);
 *   - reset values: RCC 0x078E3AC0 (SYSDIV 15, XTAL 6 MHz, PLL powered down), RCC2 0x07802810,
 *     PBORCTL 0x7FFD, RCGC0 1, RESC 0 (QEMU records no reset cause), PLLCFG follows RCC.XTAL;
 *     USER0/USER1 hold the MAC address of the first NIC (QEMU's default 52:54:00:12:34:56);
 *   - the data sheet's clock set-up to 50 MHz from an 8 MHz crystal through the PLL: BYPASS,
 *     XTAL, PWRDN cleared, then poll RIS.PLLLRIS (QEMU sets it at once when PWRDN goes 1 -> 0),
 *     then SYSDIV 3 with USESYSDIV and BYPASS cleared;
 *   - the PLL-lock interrupt: IMC.PLLLIM, IRQ 28 when PWRDN is cleared again, MISC reads the
 *     masked status and write-1-clears it;
 *   - the core clock really changes: QEMU makes it 200 MHz / (SYSDIV + 1) (RCC, or RCC2 when
 *     RCC2.USERCC2 is set) and ignores BYPASS, USESYSDIV, XTAL and the PLL. SysTick set for
 *     100 Hz of the expected clock must interrupt 100 +-40 times per second of a GPTM in RTC
 *     mode (CFG 1, which counts seconds of the virtual clock, not core clock cycles): at
 *     12.5 MHz out of reset, at 50 MHz after the set-up, at 8 MHz with RCC2.SYSDIV2 = 24
 *     (exactly 100 in icount mode; 80-100 in real time on a loaded host, hence the margin,
 *     which still tells every one of these clocks from the others).
 * Takes three seconds (of virtual time). Nothing printed depends on time.
 */
#include "test.h"

static volatile uint32_t ticks, sysctl_irqs, sysctl_misc;

void SysTick_Handler(void) { ticks++; }

void SYSCTL_IRQHandler(void)
{
    sysctl_irqs++;
    sysctl_misc = SYSCTL_MISC;
    SYSCTL_MISC = sysctl_misc;   /* write 1 to clear */
}

#define CHECK_REG(reg, want) CHECK_EQ(reg, want, #reg)

static void test_identification(void)
{
    uint32_t did0 = SYSCTL_DID0, did1 = SYSCTL_DID1, dc0 = SYSCTL_DC0;
    CHECK_REG(SYSCTL_DID0, 0x10010002u);
    CHECK_REG(SYSCTL_DID1, 0x1073402Eu);
    CHECK_REG(SYSCTL_DC0, 0x00FF007Fu);
    CHECK_REG(SYSCTL_DC1, 0x001133FFu);
    CHECK_REG(SYSCTL_DC2, 0x030F5317u);
    CHECK_REG(SYSCTL_DC3, 0x0F0F87FFu);
    CHECK_REG(SYSCTL_DC4, 0x5000007Fu);
    test_ok("DID0=0x%08x: version %u, class %u (Fury), revision %c%u", did0, (did0 >> 28) & 7u,
            (did0 >> 16) & 0xFFu, 'A' + ((did0 >> 8) & 0xFFu), did0 & 0xFFu);
    test_ok("DID1=0x%08x: family %u, part number 0x%02x (LM3S6965)", did1, (did1 >> 24) & 0xFu,
            (did1 >> 16) & 0xFFu);
    test_ok("DC0=0x%08x: %u KiB flash, %u KiB SRAM", dc0, ((dc0 & 0xFFFFu) + 1u) * 2u,
            ((dc0 >> 16) + 1u) / 4u);
    test_ok("DC1=0x%08x DC2=0x%08x DC3=0x%08x DC4=0x%08x", SYSCTL_DC1, SYSCTL_DC2, SYSCTL_DC3,
            SYSCTL_DC4);
    /* Timers 0-3 (DC2 bits 16-19) and UART0 (DC2 bit 0) are there. */
    CHECK_EQ(SYSCTL_DC2 & 0xF0001u, 0xF0001u, "DC2: UART0 and timers 0-3");
}

static void test_reset_values(uint32_t rcgc1_at_reset)
{
    CHECK_REG(SYSCTL_RCC, 0x078E3AC0u);
    CHECK_REG(SYSCTL_RCC2, 0x07802810u);
    CHECK_REG(SYSCTL_PBORCTL, 0x00007FFDu);
    CHECK_REG(SYSCTL_LDOPCTL, 0);
    CHECK_REG(SYSCTL_RIS, 0);
    CHECK_REG(SYSCTL_IMC, 0);
    CHECK_REG(SYSCTL_MISC, 0);
    CHECK_REG(SYSCTL_RESC, 0);
    CHECK_REG(SYSCTL_RCGC0, 1);
    CHECK_EQ(rcgc1_at_reset, 0, "RCGC1 at reset");
    CHECK_REG(SYSCTL_RCGC2, 0);
    test_ok("RCC=0x%08x (SYSDIV %u, XTAL %u, PWRDN) RCC2=0x%08x PBORCTL=0x%04x RCGC0=1 RESC=0",
            SYSCTL_RCC, (SYSCTL_RCC >> 23) & 0xFu, (SYSCTL_RCC >> 6) & 0xFu, SYSCTL_RCC2,
            SYSCTL_PBORCTL);
    CHECK_REG(SYSCTL_PLLCFG, 0x1902u);   /* Fury table, XTAL 0xB (6 MHz) */
    test_ok("PLLCFG=0x%04x for XTAL 6 MHz", SYSCTL_PLLCFG);
    uint32_t u0 = SYSCTL_USER0, u1 = SYSCTL_USER1;
    CHECK(u0 == 0x00005452u && u1 == 0x00563412u, "USER0 0x%08x USER1 0x%08x", u0, u1);
    test_ok("USER0/USER1: MAC address %02x:%02x:%02x:%02x:%02x:%02x", u0 & 0xFFu, (u0 >> 8) & 0xFFu,
            (u0 >> 16) & 0xFFu, u1 & 0xFFu, (u1 >> 8) & 0xFFu, (u1 >> 16) & 0xFFu);
}

/* Seconds of virtual time: timer 0 in RTC mode with match 0 sets RIS.RTCRIS every second. */
static void rtc_start(void)
{
    GPTM_CTL(0) = 0;
    GPTM_CFG(0) = GPTM_CFG_RTC;
    GPTM_TAMATCHR(0) = 0;
    GPTM_IMR(0) = 0;
    GPTM_ICR(0) = 0xFFFFFFFFu;
    GPTM_CTL(0) = GPTM_CTL_TAEN | (1u << 4);   /* TAEN, RTCEN */
}

static void systick_100hz(uint32_t clk_hz)
{
    SYST_CSR = SYST_CSR_CLKSOURCE;
    SYST_RVR = clk_hz / 100u - 1u;
    SYST_CVR = 0;
    ticks = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
}

/* SysTick interrupts until the next RTC second. No WFI: in icount mode (sleep=off) QEMU 7.2 wakes
 * a WFI late for timer interrupts, every other SysTick period is lost (51 ticks per second).
 * RIS is polled every ~1000 instructions only: constant MMIO polling slows QEMU's real-time timers
 * down (82 ticks per second). */
static uint32_t ticks_to_next_second(void)
{
    while (!(GPTM_RIS(0) & GPTM_INT_RTC))
        __asm volatile("mov r0, #500\n1: subs r0, r0, #1\n bne 1b\n" ::: "r0", "cc");
    uint32_t n = ticks;
    GPTM_ICR(0) = GPTM_INT_RTC;
    return n;
}

static void expect_100(const char *what, uint32_t clk_hz, uint32_t n)
{
    CHECK(n >= 60 && n <= 140, "%s: %u SysTick interrupts at 100 Hz of %u Hz in one second", what, n,
          clk_hz);
    test_ok("%s: core clock %u Hz (SysTick RVR=%u: 100 +-40 interrupts per RTC second)", what, clk_hz,
            clk_hz / 100u - 1u);
}

int main(void)
{
    uint32_t rcgc1_at_reset = SYSCTL_RCGC1;   /* before uart_init() enables UART0's clock */
    test_start("sysctl");
    test_identification();
    test_reset_values(rcgc1_at_reset);

    SYSCTL_RCC = (SYSCTL_RCC & ~RCC_XTAL_MASK) | RCC_XTAL(0xE);
    CHECK_REG(SYSCTL_PLLCFG, 0x0640u);
    test_ok("PLLCFG=0x%04x for XTAL 8 MHz", SYSCTL_PLLCFG);

    /* Clock at reset, measured over the first RTC second. */
    SCB_SHP8(EXC_SYSTICK) = 0x80;
    rtc_start();
    systick_100hz(12500000u);
    expect_100("reset (RCC.SYSDIV 15)", 12500000u, ticks_to_next_second());

    /* Clock set-up: 8 MHz crystal, PLL, SYSDIV 3 -> 50 MHz. */
    uint32_t rcc = SYSCTL_RCC;
    rcc |= RCC_BYPASS;
    rcc &= ~RCC_USESYSDIV;
    SYSCTL_RCC = rcc;
    rcc &= ~(RCC_XTAL_MASK | RCC_OSCSRC(3) | RCC_MOSCDIS);
    rcc |= RCC_XTAL(0xE) | RCC_OSCSRC(0);
    rcc &= ~RCC_PWRDN;
    SYSCTL_MISC = SYSCTL_INT_PLLL;
    SYSCTL_RCC = rcc;
    uint32_t polls = 0;
    while (!(SYSCTL_RIS & SYSCTL_INT_PLLL) && polls < 1000000u)
        polls++;
    CHECK(SYSCTL_RIS & SYSCTL_INT_PLLL, "RIS.PLLLRIS never set after clearing RCC.PWRDN");
    CHECK_EQ(SYSCTL_MISC, 0, "MISC with IMC 0");
    rcc = (rcc & ~RCC_SYSDIV_MASK) | RCC_SYSDIV(3) | RCC_USESYSDIV;
    SYSCTL_RCC = rcc;
    rcc &= ~RCC_BYPASS;
    SYSCTL_RCC = rcc;
    systick_100hz(50000000u);
    CHECK_REG(SYSCTL_RCC, 0x01CE1380u);
    test_ok("clock set-up: PLL lock seen in RIS after clearing PWRDN; RCC=0x%08x (SYSDIV 3, XTAL 8 MHz)",
            SYSCTL_RCC);
    SYSCTL_MISC = SYSCTL_INT_PLLL;
    CHECK_REG(SYSCTL_RIS, 0);
    expect_100("RCC.SYSDIV 3", 50000000u, ticks_to_next_second());

    /* The PLL-lock interrupt. */
    SYSCTL_IMC = SYSCTL_INT_PLLL;
    nvic_set_prio(SYSCTL_IRQ, 0x40);
    nvic_enable(SYSCTL_IRQ);
    SYSCTL_RCC = rcc & ~RCC_PWRDN;   /* already clear: no new lock */
    isb();
    CHECK_EQ(sysctl_irqs, 0, "PLL-lock interrupts with PWRDN already clear");
    SYSCTL_RCC = rcc | RCC_PWRDN;
    isb();
    CHECK_EQ(sysctl_irqs, 0, "PLL-lock interrupts after setting PWRDN");
    SYSCTL_RCC = rcc;
    isb();
    CHECK_EQ(sysctl_irqs, 1, "PLL-lock interrupts after clearing PWRDN");
    CHECK_EQ(sysctl_misc, SYSCTL_INT_PLLL, "MISC in the handler");
    CHECK_REG(SYSCTL_RIS, 0);
    test_ok("IMC.PLLLIM: IRQ 28 when PWRDN goes 1 -> 0, MISC=0x%02x in the handler, cleared by writing it",
            sysctl_misc);

    /* RCC2 overrides RCC when USERCC2 is set: SYSDIV2 24 -> 8 MHz. PWRDN2 1 -> 0 locks too. */
    uint32_t rcc2 = SYSCTL_RCC2;
    rcc2 = (rcc2 & ~RCC2_SYSDIV2_MASK) | RCC2_SYSDIV2(24) | RCC2_USERCC2;
    SYSCTL_RCC2 = rcc2;
    CHECK_EQ(sysctl_irqs, 1, "PLL-lock interrupts after setting RCC2 with PWRDN2 still set");
    rcc2 &= ~RCC2_PWRDN2;
    SYSCTL_RCC2 = rcc2;
    isb();
    CHECK_EQ(sysctl_irqs, 2, "PLL-lock interrupts after clearing RCC2.PWRDN2");
    CHECK_REG(SYSCTL_RCC2, 0x8C000810u);
    nvic_disable(SYSCTL_IRQ);
    SYSCTL_IMC = 0;
    test_ok("RCC2=0x%08x (USERCC2, SYSDIV2 24): PWRDN2 1 -> 0 raised the PLL-lock interrupt", rcc2);
    systick_100hz(8000000u);
    expect_100("RCC2.SYSDIV2 24", 8000000u, ticks_to_next_second());

    SYST_CSR = SYST_CSR_CLKSOURCE;
    GPTM_CTL(0) = 0;
    test_pass();
}
