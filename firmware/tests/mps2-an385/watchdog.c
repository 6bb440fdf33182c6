/*
 * watchdog: the CMSDK APB watchdog of mps2-an385 (0x40008000), as qemu-system-arm 7.2 models it.
 *  - reset values and IDs; the counter runs from reset (LOAD 0xFFFFFFFF) even with INTEN clear;
 *  - LOCK: any value but 0x1ACCE551 locks, writes are then ignored, the key unlocks;
 *  - WDOGINT goes to the NMI: INTEN and an expiry give NMIs, INTCLR clears and reloads;
 *  - RIS without INTEN, MIS masked by it; ITCR/ITOP drive the NMI directly;
 *  - an expiry with RIS still set and RESEN set resets the machine: the program starts again,
 *    finds its marker in PSRAM (not part of the image, so it survives the reset) and checks that
 *    the watchdog is back at its reset values.
 */
#include "test.h"

#define WD 0x40008000u
#define WD_LOAD    REG32(WD + 0x000u)
#define WD_VALUE   REG32(WD + 0x004u)
#define WD_CONTROL REG32(WD + 0x008u)
#define WD_INTCLR  REG32(WD + 0x00Cu)
#define WD_RIS     REG32(WD + 0x010u)
#define WD_MIS     REG32(WD + 0x014u)
#define WD_LOCK    REG32(WD + 0xC00u)
#define WD_ITCR    REG32(WD + 0xF00u)
#define WD_ITOP    REG32(WD + 0xF04u)
#define WD_KEY     0x1ACCE551u
#define WD_INTEN   (1u << 0)
#define WD_RESEN   (1u << 1)

#define CLK100HZ   REG32(0x40028014u)   /* FPGA IO: for timeouts that hold in real time too */
#define MARK       REG32(0x21000000u)   /* PSRAM */
#define MARK_RESET 0x57D06E5Eu

static volatile uint32_t nmis, clear_in_nmi;

void NMI_Handler(void)
{
    nmis++;
    if (clear_in_nmi) {
        WD_LOCK = WD_KEY;
        WD_INTCLR = 1;
    }
}

static void spin(uint32_t n)
{
    for (volatile uint32_t i = 0; i < n; i++)
        ;
}

static void check_reset_values(void)
{
    CHECK_EQ(WD_LOAD, 0xFFFFFFFFu, "LOAD at reset");
    CHECK_EQ(WD_CONTROL, 0, "CONTROL at reset");
    CHECK_EQ(WD_RIS, 0, "RIS at reset");
    CHECK_EQ(WD_MIS, 0, "MIS at reset");
    CHECK_EQ(WD_LOCK, 0, "LOCK at reset");
    CHECK_EQ(WD_ITCR, 0, "ITCR at reset");
}

int main(void)
{
    test_start("watchdog");

    if (MARK == MARK_RESET) {
        MARK = 0;
        check_reset_values();
        test_ok("the watchdog reset the machine; its registers are back at their reset values");
        test_pass();
    }
    MARK = 0;

    check_reset_values();
    static const uint8_t ids[12] = {0x04, 0, 0, 0, 0x24, 0xb8, 0x1b, 0, 0x0d, 0xf0, 0x05, 0xb1};
    for (unsigned i = 0; i < 12; i++)
        CHECK_EQ(REG32(WD + 0xFD0u + 4u * i), ids[i], "watchdog ID register");
    uint32_t v1 = WD_VALUE;
    spin(100);
    uint32_t v2 = WD_VALUE;
    CHECK(v2 < v1 && v1 < 0xFFFFFFFFu, "VALUE does not count from reset: 0x%x then 0x%x", v1, v2);
    test_ok("reset values, IDs (PID0 0x24), counting from reset with INTEN clear");

    /* LOCK */
    WD_LOCK = 0;
    CHECK_EQ(WD_LOCK, 1, "LOCK after writing 0");
    WD_LOAD = 1234;
    WD_CONTROL = WD_INTEN;
    CHECK_EQ(WD_LOAD, 0xFFFFFFFFu, "LOAD written while locked");
    CHECK_EQ(WD_CONTROL, 0, "CONTROL written while locked");
    WD_LOCK = WD_KEY;
    CHECK_EQ(WD_LOCK, 0, "LOCK after the key");
    /* (Long counts throughout: two expiries without an INTCLR between them latch the reset and
     * stop the counter, and a slow host in real-time mode must not get there by accident.) */
    WD_LOAD = 0x01000000u;
    CHECK_EQ(WD_LOAD, 0x01000000u, "LOAD once unlocked");
    CHECK(WD_VALUE <= 0x01000000u, "VALUE after a LOAD write: 0x%x", WD_VALUE);
    WD_LOCK = WD_KEY + 1u;
    CHECK_EQ(WD_LOCK, 1, "LOCK after a wrong key");
    WD_LOCK = WD_KEY;
    test_ok("LOCK: writes ignored while locked, 0x1ACCE551 unlocks");

    /* RIS without INTEN: no NMI. (1 ms: the second expiry, which would latch the reset, is far.) */
    CHECK_EQ(WD_RIS, 0, "RIS before the first expiry");
    WD_LOAD = 25000;
    uint32_t t0 = CLK100HZ;
    while (!WD_RIS && CLK100HZ - t0 < 100u)
        ;
    CHECK_EQ(WD_RIS, 1, "RIS after an expiry");
    CHECK_EQ(WD_MIS, 0, "MIS with INTEN clear");
    CHECK_EQ(nmis, 0, "NMIs with INTEN clear");
    WD_INTCLR = 1;
    CHECK_EQ(WD_RIS, 0, "RIS after INTCLR");
    CHECK(WD_VALUE <= 25000u && WD_VALUE > 20000u, "VALUE after INTCLR: %u", WD_VALUE);
    test_ok("RIS set by an expiry, MIS masked by INTEN, INTCLR clears and reloads");

    /* NMIs: every 2 ms, the handler clears each one. */
    clear_in_nmi = 1;
    WD_LOAD = 50000;
    WD_CONTROL = WD_INTEN;
    t0 = CLK100HZ;
    while (nmis < 5u && CLK100HZ - t0 < 200u)
        ;
    WD_CONTROL = 0;
    uint32_t n = nmis, ris = WD_RIS;
    WD_LOAD = 0xFFFFFFFFu;   /* no more expiries for a while (two in a row would latch the reset) */
    CHECK(n >= 5u, "watchdog NMIs: %u", n);
    CHECK_EQ(ris, 0, "RIS after the NMI handler cleared it");
    test_ok("INTEN: expiries raise the NMI, INTCLR in the handler restarts the count");
    kprintf("%u NMIs\n", n);

    /* Integration test mode: ITOP.WDOGINT drives the NMI. */
    clear_in_nmi = 0;
    uint32_t before = nmis;
    WD_ITCR = 0xFFFFFFFFu;
    CHECK_EQ(WD_ITCR, 1, "ITCR keeps bit 0");
    WD_ITOP = 2;
    dsb();
    isb();   /* take the NMI now */
    CHECK_EQ(nmis, before + 1u, "NMIs from ITOP.WDOGINT");
    WD_ITOP = 0;
    WD_ITCR = 0;
    test_ok("ITCR/ITOP: ITOP.WDOGINT raises the NMI");

    /* Reset: the second expiry with RIS set and RESEN resets the machine. */
    MARK = MARK_RESET;
    WD_INTCLR = 1;
    WD_LOAD = 2500;
    WD_CONTROL = WD_INTEN | WD_RESEN;   /* NMI after 100 us, reset 100 us later */
    uint32_t n0 = nmis;
    kprintf("waiting for the watchdog reset\n");
    t0 = CLK100HZ;
    while (nmis == n0 && CLK100HZ - t0 < 100u)
        ;
    kprintf("NMI taken, RIS %u\n", WD_RIS);
    t0 = CLK100HZ;
    while (CLK100HZ - t0 < 300u)
        ;
    MARK = 0;
    test_fail("the watchdog did not reset the machine (RIS %u, VALUE %u)", WD_RIS, WD_VALUE);
}
