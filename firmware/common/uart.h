/* UART0 driver, the same API on every board; the registers are the board's business
 * (common/<board>/uart.c, with their definitions in common/<board>/). Polled transmit of raw
 * bytes (no '\r' added); interrupt-driven receive for the programs that read input. */
#ifndef UART_H
#define UART_H
#include <stdint.h>
#include "board.h"

void uart_init(void);          /* 115200 8N1, transmitter on; safe to call again at any time */
void uart_putc(char c);
void uart_puts(const char *s);

/* Receive through the RX interrupt (NVIC line BOARD_UART0_RX_IRQ, handler BOARD_UART0_RX_HANDLER;
 * the NVIC is left to the caller). */
void uart_rx_int_enable(void);    /* receiver and its interrupt on, stale RX/TX status cleared */
void uart_rx_int_disable(void);   /* receiver and its interrupt off */
int uart_rx_int_status(void);     /* the RX interrupt status is set */
void uart_rx_int_clear(void);     /* clear it (a byte arriving afterwards sets it again) */
int uart_rx_ready(void);          /* a received byte is waiting */
char uart_rx_read(void);          /* take it (only when uart_rx_ready()) */

#endif
