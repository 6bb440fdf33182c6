/* UART0 of lm3s6965evb: QEMU's "pl011_luminary" at 0x4000C000, IRQ 5. */
#include "uart.h"

#define UART_LCRH_WANTED UART_LCRH_WLEN_8   /* FIFOs off, see below */
#define UART_CTL_WANTED  (UART_CTL_UARTEN | UART_CTL_TXE | UART_CTL_RXE)

void uart_init(void)
{
    /* 115200 8N1, in the data sheet's initialisation sequence (QEMU ignores the clock gate, the
     * baud rate, UARTEN, TXE and RXE). The FIFOs stay off (one-byte holding registers, as on
     * mps2-an385): QEMU 7.2's PL011 receives from reset on, whatever CTL says, and empties the
     * receive FIFO when LCRH.FEN changes, so enabling the FIFOs here could drop input that
     * arrived before (uart_echo's "a"). Nothing is written when the UART is already set up. */
    SYSCTL_RCGC1 |= RCGC1_UART0;
    if (UART0_CTL == UART_CTL_WANTED && UART0_LCRH == UART_LCRH_WANTED)
        return;
    UART0_CTL = 0;
    /* 12.5 MHz / (16 * 115200) = 6.78: IBRD 6, FBRD round(0.78 * 64) = 50 */
    UART0_IBRD = 6;
    UART0_FBRD = 50;
    if (UART0_LCRH != UART_LCRH_WANTED)
        UART0_LCRH = UART_LCRH_WANTED;
    UART0_CTL = UART_CTL_WANTED;
}

void uart_putc(char c)
{
    /* Polled transmit: wait while the TX FIFO is full. Raw bytes, no '\n' -> "\r\n". */
    while (UART0_FR & UART_FR_TXFF)
        ;
    UART0_DR = (uint8_t)c;
}

void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

void uart_rx_int_enable(void)
{
    uart_init();
    /* Not RXRIS: QEMU raises it only when a byte comes in, so clearing it with a byte already
     * waiting (input that arrived before the program started) would leave that byte unnoticed. */
    UART0_ICR = UART_INT_RT | UART_INT_TX;
    UART0_IM |= UART_INT_RX | UART_INT_RT;
}

void uart_rx_int_disable(void)
{
    UART0_IM &= ~(UART_INT_RX | UART_INT_RT);
}

int uart_rx_int_status(void)
{
    return (UART0_MIS & (UART_INT_RX | UART_INT_RT)) != 0;
}

void uart_rx_int_clear(void)
{
    UART0_ICR = UART_INT_RX | UART_INT_RT;
}

int uart_rx_ready(void)
{
    return !(UART0_FR & UART_FR_RXFE);
}

char uart_rx_read(void)
{
    return (char)UART0_DR;
}
