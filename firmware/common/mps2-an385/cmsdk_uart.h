/* CMSDK APB UART of mps2-an385 (QEMU hw/char/cmsdk-apb-uart.c): UART0 at 0x40004000, RX IRQ 0,
 * TX IRQ 1. Board code (and mps2-an385 programs) only; portable programs use uart.h. */
#ifndef CMSDK_UART_H
#define CMSDK_UART_H
#include <stdint.h>

#define UART0_BASE      0x40004000u
#define UART_DATA       (*(volatile uint32_t *)(UART0_BASE + 0x00))
#define UART_STATE      (*(volatile uint32_t *)(UART0_BASE + 0x04))
#define UART_CTRL       (*(volatile uint32_t *)(UART0_BASE + 0x08))
#define UART_INTSTATUS  (*(volatile uint32_t *)(UART0_BASE + 0x0C))  /* read: status, write 1: clear */
#define UART_INTCLEAR   UART_INTSTATUS
#define UART_BAUDDIV    (*(volatile uint32_t *)(UART0_BASE + 0x10))

#define UART_STATE_TXFULL  (1u << 0)
#define UART_STATE_RXFULL  (1u << 1)
#define UART_STATE_TXOVR   (1u << 2)
#define UART_STATE_RXOVR   (1u << 3)
#define UART_CTRL_TXEN     (1u << 0)
#define UART_CTRL_RXEN     (1u << 1)
#define UART_CTRL_TXINTEN  (1u << 2)
#define UART_CTRL_RXINTEN  (1u << 3)
#define UART_INT_TX        (1u << 0)
#define UART_INT_RX        (1u << 1)

#define UART0_RX_IRQ 0
#define UART0_TX_IRQ 1

#endif
