/*
 * Stellaris LM3S6965 peripherals as QEMU 7.2 models them (hw/arm/stellaris.c,
 * hw/char/pl011.c "pl011_luminary"): system control, UART0 and the general-purpose timers.
 * Register names follow the LM3S6965 data sheet.
 */
#ifndef STELLARIS_H
#define STELLARIS_H
#include <stdint.h>

#define STELLARIS_REG(base, off) (*(volatile uint32_t *)((base) + (off)))

/* System control, 0x400FE000 (IRQ 28) */
#define SYSCTL_BASE    0x400FE000u
#define SYSCTL_DID0    STELLARIS_REG(SYSCTL_BASE, 0x000)
#define SYSCTL_DID1    STELLARIS_REG(SYSCTL_BASE, 0x004)
#define SYSCTL_DC0     STELLARIS_REG(SYSCTL_BASE, 0x008)
#define SYSCTL_DC1     STELLARIS_REG(SYSCTL_BASE, 0x010)
#define SYSCTL_DC2     STELLARIS_REG(SYSCTL_BASE, 0x014)
#define SYSCTL_DC3     STELLARIS_REG(SYSCTL_BASE, 0x018)
#define SYSCTL_DC4     STELLARIS_REG(SYSCTL_BASE, 0x01C)
#define SYSCTL_PBORCTL STELLARIS_REG(SYSCTL_BASE, 0x030)
#define SYSCTL_LDOPCTL STELLARIS_REG(SYSCTL_BASE, 0x034)
#define SYSCTL_RIS     STELLARIS_REG(SYSCTL_BASE, 0x050)
#define SYSCTL_IMC     STELLARIS_REG(SYSCTL_BASE, 0x054)
#define SYSCTL_MISC    STELLARIS_REG(SYSCTL_BASE, 0x058)   /* read: masked status, write 1: clear */
#define SYSCTL_RESC    STELLARIS_REG(SYSCTL_BASE, 0x05C)
#define SYSCTL_RCC     STELLARIS_REG(SYSCTL_BASE, 0x060)
#define SYSCTL_PLLCFG  STELLARIS_REG(SYSCTL_BASE, 0x064)
#define SYSCTL_RCC2    STELLARIS_REG(SYSCTL_BASE, 0x070)
#define SYSCTL_RCGC0   STELLARIS_REG(SYSCTL_BASE, 0x100)
#define SYSCTL_RCGC1   STELLARIS_REG(SYSCTL_BASE, 0x104)
#define SYSCTL_RCGC2   STELLARIS_REG(SYSCTL_BASE, 0x108)
#define SYSCTL_USER0   STELLARIS_REG(SYSCTL_BASE, 0x1E0)
#define SYSCTL_USER1   STELLARIS_REG(SYSCTL_BASE, 0x1E4)
#define SYSCTL_IRQ     28

#define SYSCTL_INT_PLLL       (1u << 6)     /* RIS/IMC/MISC: PLL lock */
#define RCC_MOSCDIS           (1u << 0)
#define RCC_OSCSRC(x)         (((x) & 3u) << 4)
#define RCC_XTAL(x)           (((x) & 0xFu) << 6)
#define RCC_XTAL_MASK         (0xFu << 6)
#define RCC_BYPASS            (1u << 11)
#define RCC_PWRDN             (1u << 13)
#define RCC_USESYSDIV         (1u << 22)
#define RCC_SYSDIV(x)         (((x) & 0xFu) << 23)
#define RCC_SYSDIV_MASK       (0xFu << 23)
#define RCC2_PWRDN2           (1u << 13)
#define RCC2_BYPASS2          (1u << 11)
#define RCC2_SYSDIV2(x)       (((x) & 0x3Fu) << 23)
#define RCC2_SYSDIV2_MASK     (0x3Fu << 23)
#define RCC2_USERCC2          (1u << 31)
#define RCGC1_UART0           (1u << 0)
#define RCGC1_TIMER(n)        (1u << (16 + (n)))

/* UART0, 0x4000C000 (IRQ 5): an ARM PL011 with Luminary's identification registers */
#define UART0_BASE     0x4000C000u
#define UART0_DR       STELLARIS_REG(UART0_BASE, 0x000)
#define UART0_RSR      STELLARIS_REG(UART0_BASE, 0x004)   /* write: error clear */
#define UART0_FR       STELLARIS_REG(UART0_BASE, 0x018)
#define UART0_ILPR     STELLARIS_REG(UART0_BASE, 0x020)
#define UART0_IBRD     STELLARIS_REG(UART0_BASE, 0x024)
#define UART0_FBRD     STELLARIS_REG(UART0_BASE, 0x028)
#define UART0_LCRH     STELLARIS_REG(UART0_BASE, 0x02C)
#define UART0_CTL      STELLARIS_REG(UART0_BASE, 0x030)
#define UART0_IFLS     STELLARIS_REG(UART0_BASE, 0x034)
#define UART0_IM       STELLARIS_REG(UART0_BASE, 0x038)
#define UART0_RIS      STELLARIS_REG(UART0_BASE, 0x03C)
#define UART0_MIS      STELLARIS_REG(UART0_BASE, 0x040)
#define UART0_ICR      STELLARIS_REG(UART0_BASE, 0x044)
#define UART0_PERIPHID(n) STELLARIS_REG(UART0_BASE, 0xFE0 + 4u * (n))   /* n = 0..3 */
#define UART0_PCELLID(n)  STELLARIS_REG(UART0_BASE, 0xFF0 + 4u * (n))
#define UART0_IRQ      5

#define UART_FR_BUSY   (1u << 3)
#define UART_FR_RXFE   (1u << 4)
#define UART_FR_TXFF   (1u << 5)
#define UART_FR_RXFF   (1u << 6)
#define UART_FR_TXFE   (1u << 7)
#define UART_LCRH_FEN  (1u << 4)
#define UART_LCRH_WLEN_8 (3u << 5)
#define UART_CTL_UARTEN (1u << 0)
#define UART_CTL_LBE   (1u << 7)
#define UART_CTL_TXE   (1u << 8)
#define UART_CTL_RXE   (1u << 9)
#define UART_INT_RX    (1u << 4)     /* IM/RIS/MIS/ICR */
#define UART_INT_TX    (1u << 5)
#define UART_INT_RT    (1u << 6)
#define UART_INT_OE    (1u << 10)

/* General-purpose timers 0-3 at 0x40030000 + 0x1000 n; QEMU connects only timer A's interrupt
 * (IRQ 19, 21, 23, 35) and models the 32-bit modes (CFG 0: one-shot/periodic, CFG 1: RTC). */
#define GPTM_BASE(n)   (0x40030000u + 0x1000u * (n))
#define GPTM_CFG(n)    STELLARIS_REG(GPTM_BASE(n), 0x00)
#define GPTM_TAMR(n)   STELLARIS_REG(GPTM_BASE(n), 0x04)
#define GPTM_TBMR(n)   STELLARIS_REG(GPTM_BASE(n), 0x08)
#define GPTM_CTL(n)    STELLARIS_REG(GPTM_BASE(n), 0x0C)
#define GPTM_IMR(n)    STELLARIS_REG(GPTM_BASE(n), 0x18)
#define GPTM_RIS(n)    STELLARIS_REG(GPTM_BASE(n), 0x1C)
#define GPTM_MIS(n)    STELLARIS_REG(GPTM_BASE(n), 0x20)
#define GPTM_ICR(n)    STELLARIS_REG(GPTM_BASE(n), 0x24)
#define GPTM_TAILR(n)  STELLARIS_REG(GPTM_BASE(n), 0x28)
#define GPTM_TBILR(n)  STELLARIS_REG(GPTM_BASE(n), 0x2C)
#define GPTM_TAMATCHR(n) STELLARIS_REG(GPTM_BASE(n), 0x30)
#define GPTM_TAPR(n)   STELLARIS_REG(GPTM_BASE(n), 0x38)
#define GPTM_TAR(n)    STELLARIS_REG(GPTM_BASE(n), 0x48)
#define GPTM_IRQ(n)    ((n) == 3 ? 35 : 19 + 2 * (n))

#define GPTM_CFG_32BIT      0u
#define GPTM_CFG_RTC        1u
#define GPTM_TAMR_ONESHOT   1u
#define GPTM_TAMR_PERIODIC  2u
#define GPTM_CTL_TAEN       (1u << 0)
#define GPTM_CTL_TASTALL    (1u << 1)
#define GPTM_INT_TATO       (1u << 0)    /* IMR/RIS/MIS/ICR: timer A time-out */
#define GPTM_INT_RTC        (1u << 3)

#endif
