#include "uart.h"

void uart_init(void)
{
    /* QEMU only needs TX enabled and BAUDDIV >= 16; 25 MHz / 115200 = 217 like real hardware. */
    UART_BAUDDIV = 25000000u / 115200u;
    UART_CTRL |= UART_CTRL_TXEN;
}

void uart_putc(char c)
{
    /* Polled transmit: wait while the one-byte TX buffer is full. Output is raw bytes; no
     * '\n' -> "\r\n" translation, so what the tests compare is exactly what we wrote. */
    while (UART_STATE & UART_STATE_TXFULL)
        ;
    UART_DATA = (uint8_t)c;
}

void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

void uart_rx_int_enable(void)
{
    UART_INTCLEAR = UART_INT_RX | UART_INT_TX;
    UART_CTRL |= UART_CTRL_RXEN | UART_CTRL_RXINTEN;
}

void uart_rx_int_disable(void)
{
    UART_CTRL &= ~(UART_CTRL_RXEN | UART_CTRL_RXINTEN);
}

int uart_rx_int_status(void)
{
    return (UART_INTSTATUS & UART_INT_RX) != 0;
}

void uart_rx_int_clear(void)
{
    UART_INTCLEAR = UART_INT_RX;
}

int uart_rx_ready(void)
{
    return (UART_STATE & UART_STATE_RXFULL) != 0;
}

char uart_rx_read(void)
{
    return (char)UART_DATA;
}
