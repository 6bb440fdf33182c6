/*
 * mps2-an385 (QEMU hw/arm/mps2.c, ARM AN385): what the portable programs need to know about the
 * board. Every board has common/<board>/board.h defining the same names.
 */
#ifndef BOARD_H
#define BOARD_H
#include "cmsdk_uart.h"   /* UART0 registers, for board code and mps2-an385 programs */

#define BOARD_NAME        "mps2-an385"
#define BOARD_SYSCLK_HZ   25000000u          /* core clock = SysTick with CLKSOURCE=1 */
#define BOARD_NUM_IRQS    32                 /* external interrupts (ICTR.INTLINESNUM = 0) */
#define BOARD_SRAM_BYTES  (4u * 1024u * 1024u)   /* SSRAM2/3: .data, .bss and the stacks */

/* UART0 receive interrupt */
#define BOARD_UART0_RX_IRQ     UART0_RX_IRQ
#define BOARD_UART0_RX_HANDLER UART0RX_IRQHandler
/* The RX interrupt status stays set until cleared (INTCLEAR). */
#define BOARD_UART_RX_INT_SELF_CLEARING 0

/* Interrupt lines whose devices stay idle, pended by software in irq_nesting and masking:
 * A < B < C (in this order), D in the first NVIC bank too. */
#define SWIRQ_A 5                 /* UART2 TX */
#define SWIRQ_B 6                 /* GPIO0 combined */
#define SWIRQ_C 7                 /* GPIO1 combined */
#define SWIRQ_D 31                /* GPIO0 pin 7 */
#define SWIRQ_A_HANDLER UART2TX_IRQHandler
#define SWIRQ_B_HANDLER GPIO0_IRQHandler
#define SWIRQ_C_HANDLER GPIO1_IRQHandler
#define SWIRQ_D_HANDLER GPIO0_7_IRQHandler

/* faults: QEMU raises a BusFault for an access where nothing is mapped (and for an
 * unprivileged access to the System Control Space). */
#define BOARD_BUS_ERRORS 1
#define BOARD_UNMAPPED   0x50000000u   /* nothing mapped between 0x44000000 and 0xE0000000 */
#define BOARD_UNMAPPED_X 0x60000000u   /* the same, in an executable region of the default map */

/* Vector table entries 16.. (AN385 / QEMU hw/arm/mps2.c); startup.c makes each a weak alias of
 * Default_Handler. */
#define BOARD_IRQ_HANDLERS(X)                                                              \
    X(UART0RX_IRQHandler)   /* 0 */  X(UART0TX_IRQHandler)   /* 1 */                       \
    X(UART1RX_IRQHandler)   /* 2 */  X(UART1TX_IRQHandler)   /* 3 */                       \
    X(UART2RX_IRQHandler)   /* 4 */  X(UART2TX_IRQHandler)   /* 5 */                       \
    X(GPIO0_IRQHandler)     /* 6 */  X(GPIO1_IRQHandler)     /* 7 */                       \
    X(TIMER0_IRQHandler)    /* 8 */  X(TIMER1_IRQHandler)    /* 9 */                       \
    X(DUALTIMER_IRQHandler) /* 10 */ X(SPI_IRQHandler)       /* 11 */                      \
    X(UARTOVF_IRQHandler)   /* 12 */ X(ETHERNET_IRQHandler)  /* 13 */                      \
    X(I2S_IRQHandler)       /* 14 */ X(TSC_IRQHandler)       /* 15 */                      \
    X(GPIO2_IRQHandler)     /* 16 */ X(GPIO3_IRQHandler)     /* 17 */                      \
    X(UART3RX_IRQHandler)   /* 18 */ X(UART3TX_IRQHandler)   /* 19 */                      \
    X(UART4RX_IRQHandler)   /* 20 */ X(UART4TX_IRQHandler)   /* 21 */                      \
    X(SPI2_IRQHandler)      /* 22 */ X(SPI3_4_IRQHandler)    /* 23 */                      \
    X(GPIO0_0_IRQHandler)   /* 24 */ X(GPIO0_1_IRQHandler)   /* 25 */                      \
    X(GPIO0_2_IRQHandler)   /* 26 */ X(GPIO0_3_IRQHandler)   /* 27 */                      \
    X(GPIO0_4_IRQHandler)   /* 28 */ X(GPIO0_5_IRQHandler)   /* 29 */                      \
    X(GPIO0_6_IRQHandler)   /* 30 */ X(GPIO0_7_IRQHandler)   /* 31 */

#endif
