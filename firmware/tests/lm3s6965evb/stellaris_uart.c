/*
 * stellaris_uart: UART0 of the LM3S6965 as QEMU 7.2 models it (hw/char/pl011.c,
 * "pl011_luminary" at 0x4000C000, all interrupts on IRQ 5). Input: "xyz\n" on stdin
 * (tests/lm3s6965evb/stellaris_uart.input). Checks
 *   - reset values (CTL 0x300, LCRH 0, IFLS 0x12, IM 0) and Luminary's PeriphID/PCellID bytes;
 *   - transmit: FR never shows TXFF or BUSY (QEMU sends at once), every write to DR sets
 *     RIS.TXRIS, ICR clears it; IM.TXIM with TXRIS set raises IRQ 5 at once, MIS = TX;
 *   - CTL.LBE: QEMU 7.2 has no loopback; the byte goes out on the serial line and nothing is
 *     received (the "L" in the output);
 *   - receive, FIFOs off (one-byte holding register): a byte arriving with IM.RXIM clear sets
 *     RIS only (FR.RXFF=1, RXFE=0), and setting IM.RXIM takes it at once; each byte raises IRQ 5
 *     with MIS.RXMIS and FR.RXFF set; reading DR clears RIS.RXRIS by itself; RSR reads 0.
 *     (An interrupt can come with nothing pending: the next byte arrived and was read in the
 *     previous handler, the NVIC kept the line's pulse pending. Counted, not an error.)
 *   - LCRH.FEN: the FIFOs switch on (LCRH reads back 0x70), FR shows both FIFOs empty.
 * Waits for its input forever (like uart_echo).
 */
#include "test.h"

static volatile uint32_t tx_irqs, tx_mis, rx_irqs, rx_empty_irqs, rx_bad;
static volatile char rx_buf[16];
static volatile uint32_t rx_len;

/* The input arrives whenever the host delivers it (before main, or later), so nothing below
 * depends on when: the checks hold whatever the interleaving. */
void UART0_IRQHandler(void)
{
    uint32_t mis = UART0_MIS;
    if (mis & UART_INT_TX) {
        tx_irqs++;
        tx_mis = mis;
        UART0_IM &= ~UART_INT_TX;   /* every byte printed would raise it again */
        UART0_ICR = UART_INT_TX;
    }
    if (mis & UART_INT_RX) {
        rx_irqs++;
        uint32_t fr = UART0_FR;
        if (!(fr & UART_FR_RXFF) || (fr & UART_FR_RXFE))
            rx_bad |= 1;
        char c = (char)UART0_DR;
        /* Reading the byte clears RXRIS, unless the next byte is already there. */
        if ((UART0_RIS & UART_INT_RX) && (UART0_FR & UART_FR_RXFE))
            rx_bad |= 2;
        if (UART0_RSR != 0)
            rx_bad |= 4;
        if (rx_len < sizeof rx_buf)
            rx_buf[rx_len++] = c;
    } else if (!(mis & UART_INT_TX)) {
        /* The line went up and down again while we were reading (the next byte came and was
         * read in the same handler): the NVIC kept it pending. */
        rx_empty_irqs++;
    }
}

int main(void)
{
    uint32_t ctl = UART0_CTL, lcrh = UART0_LCRH, ifls = UART0_IFLS, im = UART0_IM, fr = UART0_FR;
    test_start("stellaris_uart");
    CHECK_EQ(ctl, 0x300, "CTL at reset (TXE|RXE)");
    CHECK_EQ(lcrh, 0, "LCRH at reset");
    CHECK_EQ(ifls, 0x12, "IFLS at reset");
    CHECK_EQ(im, 0, "IM at reset");
    CHECK(fr & UART_FR_TXFE, "FR at reset: 0x%08x", fr);
    test_ok("reset: CTL=0x%03x LCRH=0x%02x IFLS=0x%02x IM=0x%x FR.TXFE=1", ctl, lcrh, ifls, im);
    static const uint8_t ids[8] = { 0x11, 0x00, 0x18, 0x01, 0x0D, 0xF0, 0x05, 0xB1 };
    for (unsigned i = 0; i < 4; i++) {
        CHECK_EQ(UART0_PERIPHID(i), ids[i], "PeriphID");
        CHECK_EQ(UART0_PCELLID(i), ids[4 + i], "PCellID");
    }
    test_ok("PeriphID0-3 = 0x11 0x00 0x18 0x01 (Luminary), PCellID0-3 = 0x0d 0xf0 0x05 0xb1");
    CHECK_EQ(UART0_CTL, UART_CTL_UARTEN | UART_CTL_TXE | UART_CTL_RXE, "CTL after uart_init");
    CHECK_EQ(UART0_LCRH, UART_LCRH_WLEN_8, "LCRH after uart_init (8N1, FIFOs off)");

    /* Transmit */
    UART0_ICR = UART_INT_TX;
    uint32_t ris_cleared = UART0_RIS & UART_INT_TX;
    uart_putc('>');
    uint32_t ris_after = UART0_RIS & UART_INT_TX;
    fr = UART0_FR;
    uart_putc('\n');
    CHECK_EQ(ris_cleared, 0, "RIS.TXRIS after ICR");
    CHECK_EQ(ris_after, UART_INT_TX, "RIS.TXRIS after a write to DR");
    CHECK((fr & (UART_FR_TXFF | UART_FR_BUSY)) == 0 && (fr & UART_FR_TXFE), "FR after a write: 0x%08x", fr);
    test_ok("a write to DR sets RIS.TXRIS, ICR clears it; FR: TXFE=1 TXFF=0 BUSY=0");
    nvic_set_prio(UART0_IRQ, 0x80);
    nvic_enable(UART0_IRQ);
    UART0_IM = UART_INT_TX;
    isb();
    uint32_t n = tx_irqs;
    CHECK_EQ(n, 1, "TX interrupts right after setting IM.TXIM");
    CHECK_EQ(tx_mis, UART_INT_TX, "MIS in the TX interrupt");
    test_ok("IM.TXIM with RIS.TXRIS set: IRQ 5 at once, MIS=0x%02x", tx_mis);

    /* Loopback */
    uart_puts("loopback byte: ");
    UART0_CTL = UART_CTL_UARTEN | UART_CTL_TXE | UART_CTL_RXE | UART_CTL_LBE;
    UART0_DR = 'L';
    UART0_CTL = UART_CTL_UARTEN | UART_CTL_TXE | UART_CTL_RXE;
    uart_putc('\n');
    test_ok("CTL.LBE: the byte went out on the serial line (QEMU 7.2 has no loopback)");

    /* Receive: the first byte with IM.RXIM clear sets RIS only; setting IM.RXIM takes it. */
    kprintf("waiting for input\n");
    while (!(UART0_RIS & UART_INT_RX))
        ;
    fr = UART0_FR;
    uint32_t mis_masked = UART0_MIS, irqs_masked = rx_irqs;
    UART0_IM = UART_INT_RX;
    isb();
    uint32_t got = rx_len;
    CHECK_EQ(mis_masked, 0, "MIS with IM 0 and a byte received");
    CHECK_EQ(irqs_masked, 0, "RX interrupts with IM 0");
    CHECK((fr & UART_FR_RXFF) && !(fr & UART_FR_RXFE), "FR with a byte received: 0x%08x", fr);
    CHECK(got >= 1, "no RX interrupt right after setting IM.RXIM");
    test_ok("a byte received with IM.RXIM clear: RIS.RXRIS only, FR.RXFF=1 FR.RXFE=0; "
            "IRQ 5 right after setting IM.RXIM");
    while (rx_len < 4 && rx_buf[rx_len - 1] != '\n')
        wfi();
    UART0_IM = 0;
    CHECK_EQ(rx_bad & 1, 0, "FR in the RX interrupt (RXFF set, RXFE clear)");
    CHECK_EQ(rx_bad & 2, 0, "RIS.RXRIS after reading DR");
    CHECK_EQ(rx_bad & 4, 0, "RSR");
    CHECK(rx_len == 4 && rx_buf[0] == 'x' && rx_buf[1] == 'y' && rx_buf[2] == 'z' && rx_buf[3] == '\n',
          "received %u bytes", rx_len);
    test_ok("received \"%c%c%c\\n\" through IRQ 5: MIS.RXMIS, FR.RXFF=1, FR.RXFE=0 in each; reading DR "
            "clears RXRIS; RSR=0", rx_buf[0], rx_buf[1], rx_buf[2]);

    /* FIFOs on */
    UART0_LCRH = UART_LCRH_WLEN_8 | UART_LCRH_FEN;
    CHECK_EQ(UART0_LCRH, 0x70, "LCRH with FEN");
    fr = UART0_FR;
    CHECK_EQ(fr & (UART_FR_RXFE | UART_FR_TXFE | UART_FR_RXFF | UART_FR_TXFF), UART_FR_RXFE | UART_FR_TXFE,
             "FR with the FIFOs on");
    test_ok("LCRH.FEN: LCRH=0x%02x, FR.RXFE=1 FR.TXFE=1", UART0_LCRH);
    UART0_LCRH = UART_LCRH_WLEN_8;
    nvic_disable(UART0_IRQ);
    test_pass();
}
