/*
 * lm3s6965evb (QEMU hw/arm/stellaris.c: Stellaris LM3S6965, Cortex-M3): what the portable
 * programs need to know about the board. Every board has common/<board>/board.h defining the
 * same names.
 */
#ifndef BOARD_H
#define BOARD_H
#include "stellaris.h"   /* peripheral registers, for board code and lm3s6965evb programs */

#define BOARD_NAME        "lm3s6965evb"
/* Core clock = SysTick with CLKSOURCE=1. QEMU derives it from RCC.SYSDIV alone (200 MHz /
 * (SYSDIV + 1)); RCC resets to SYSDIV 15: 80 ns, 12.5 MHz (Zephyr's board says 12 MHz). */
#define BOARD_SYSCLK_HZ   12500000u
#define BOARD_NUM_IRQS    64                 /* NVIC lines QEMU gives it (ICTR.INTLINESNUM = 1) */
#define BOARD_SRAM_BYTES  (64u * 1024u)

/* UART0 receive interrupt (PL011: one line for all its interrupts) */
#define BOARD_UART0_RX_IRQ     UART0_IRQ
#define BOARD_UART0_RX_HANDLER UART0_IRQHandler
/* PL011: reading the received byte clears the RX interrupt, so the next byte arriving while the
 * handler drains can leave the NVIC line pending with no status left: the handler runs again and
 * finds nothing (uart_echo allows that). */
#define BOARD_UART_RX_INT_SELF_CLEARING 1

/* Interrupt lines without a device in QEMU, pended by software in irq_nesting and masking:
 * A < B < C (in this order), D in the first NVIC bank too; LAST is the last line. */
#define SWIRQ_A 10                /* PWM generator 0 */
#define SWIRQ_B 11                /* PWM generator 1 */
#define SWIRQ_C 12                /* PWM generator 2 */
#define SWIRQ_D 29                /* flash controller */
#define SWIRQ_A_HANDLER PWMGEN0_IRQHandler
#define SWIRQ_B_HANDLER PWMGEN1_IRQHandler
#define SWIRQ_C_HANDLER PWMGEN2_IRQHandler
#define SWIRQ_D_HANDLER FLASH_IRQHandler
#define SWIRQ_LAST_HANDLER IRQ63_Handler

/* faults: the machine sets ignore_memory_transaction_failures, so an access where nothing is
 * mapped reads 0 / is ignored instead of raising a BusFault, and so is an unprivileged access
 * to the System Control Space. */
#define BOARD_BUS_ERRORS 0
#define BOARD_UNMAPPED   0x50000000u

/* Vector table entries 16.. (LM3S6965 data sheet); startup.c makes each a weak alias of
 * Default_Handler. */
#define BOARD_IRQ_HANDLERS(X)                                                              \
    X(GPIOA_IRQHandler)    /* 0 */  X(GPIOB_IRQHandler)    /* 1 */                         \
    X(GPIOC_IRQHandler)    /* 2 */  X(GPIOD_IRQHandler)    /* 3 */                         \
    X(GPIOE_IRQHandler)    /* 4 */  X(UART0_IRQHandler)    /* 5 */                         \
    X(UART1_IRQHandler)    /* 6 */  X(SSI0_IRQHandler)     /* 7 */                         \
    X(I2C0_IRQHandler)     /* 8 */  X(PWMFAULT_IRQHandler) /* 9 */                         \
    X(PWMGEN0_IRQHandler)  /* 10 */ X(PWMGEN1_IRQHandler)  /* 11 */                        \
    X(PWMGEN2_IRQHandler)  /* 12 */ X(QEI0_IRQHandler)     /* 13 */                        \
    X(ADC0SS0_IRQHandler)  /* 14 */ X(ADC0SS1_IRQHandler)  /* 15 */                        \
    X(ADC0SS2_IRQHandler)  /* 16 */ X(ADC0SS3_IRQHandler)  /* 17 */                        \
    X(WATCHDOG_IRQHandler) /* 18 */ X(TIMER0A_IRQHandler)  /* 19 */                        \
    X(TIMER0B_IRQHandler)  /* 20 */ X(TIMER1A_IRQHandler)  /* 21 */                        \
    X(TIMER1B_IRQHandler)  /* 22 */ X(TIMER2A_IRQHandler)  /* 23 */                        \
    X(TIMER2B_IRQHandler)  /* 24 */ X(COMP0_IRQHandler)    /* 25 */                        \
    X(COMP1_IRQHandler)    /* 26 */ X(IRQ27_Handler)       /* 27 */                        \
    X(SYSCTL_IRQHandler)   /* 28 */ X(FLASH_IRQHandler)    /* 29 */                        \
    X(GPIOF_IRQHandler)    /* 30 */ X(GPIOG_IRQHandler)    /* 31 */                        \
    X(IRQ32_Handler)       /* 32 */ X(UART2_IRQHandler)    /* 33 */                        \
    X(IRQ34_Handler)       /* 34 */ X(TIMER3A_IRQHandler)  /* 35 */                        \
    X(TIMER3B_IRQHandler)  /* 36 */ X(I2C1_IRQHandler)     /* 37 */                        \
    X(IRQ38_Handler)       /* 38 */ X(IRQ39_Handler)       /* 39 */                        \
    X(IRQ40_Handler)       /* 40 */ X(IRQ41_Handler)       /* 41 */                        \
    X(ETHERNET_IRQHandler) /* 42 */ X(HIBERNATE_IRQHandler) /* 43 */                       \
    X(IRQ44_Handler) X(IRQ45_Handler) X(IRQ46_Handler) X(IRQ47_Handler)                    \
    X(IRQ48_Handler) X(IRQ49_Handler) X(IRQ50_Handler) X(IRQ51_Handler)                    \
    X(IRQ52_Handler) X(IRQ53_Handler) X(IRQ54_Handler) X(IRQ55_Handler)                    \
    X(IRQ56_Handler) X(IRQ57_Handler) X(IRQ58_Handler) X(IRQ59_Handler)                    \
    X(IRQ60_Handler) X(IRQ61_Handler) X(IRQ62_Handler) X(IRQ63_Handler)

#endif
