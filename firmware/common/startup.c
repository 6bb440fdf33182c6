/*
 * Startup for mps2-an385 (Cortex-M3): vector table with the 16 system vectors and the
 * board's 32 external interrupts, a Reset_Handler that copies .data from its load image in
 * SSRAM1 to SSRAM2/3 and zeroes .bss, and weak default handlers a program overrides by
 * defining a function of the same name.
 */
#include <stdint.h>
#include <string.h>
#include "test.h"

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
extern int main(void);

void Reset_Handler(void) __attribute__((noreturn));
void Default_Handler(void);

#define WEAK_ALIAS __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) WEAK_ALIAS;
void HardFault_Handler(void) WEAK_ALIAS;
void MemManage_Handler(void) WEAK_ALIAS;
void BusFault_Handler(void) WEAK_ALIAS;
void UsageFault_Handler(void) WEAK_ALIAS;
void SVC_Handler(void) WEAK_ALIAS;
void DebugMon_Handler(void) WEAK_ALIAS;
void PendSV_Handler(void) WEAK_ALIAS;
void SysTick_Handler(void) WEAK_ALIAS;
/* mps2-an385 external interrupts (AN385 / QEMU hw/arm/mps2.c) */
void UART0RX_IRQHandler(void) WEAK_ALIAS;   /* 0 */
void UART0TX_IRQHandler(void) WEAK_ALIAS;   /* 1 */
void UART1RX_IRQHandler(void) WEAK_ALIAS;   /* 2 */
void UART1TX_IRQHandler(void) WEAK_ALIAS;   /* 3 */
void UART2RX_IRQHandler(void) WEAK_ALIAS;   /* 4 */
void UART2TX_IRQHandler(void) WEAK_ALIAS;   /* 5 */
void GPIO0_IRQHandler(void) WEAK_ALIAS;     /* 6 */
void GPIO1_IRQHandler(void) WEAK_ALIAS;     /* 7 */
void TIMER0_IRQHandler(void) WEAK_ALIAS;    /* 8 */
void TIMER1_IRQHandler(void) WEAK_ALIAS;    /* 9 */
void DUALTIMER_IRQHandler(void) WEAK_ALIAS; /* 10 */
void SPI_IRQHandler(void) WEAK_ALIAS;       /* 11 */
void UARTOVF_IRQHandler(void) WEAK_ALIAS;   /* 12 */
void ETHERNET_IRQHandler(void) WEAK_ALIAS;  /* 13 */
void I2S_IRQHandler(void) WEAK_ALIAS;       /* 14 */
void TSC_IRQHandler(void) WEAK_ALIAS;       /* 15 */
void GPIO2_IRQHandler(void) WEAK_ALIAS;     /* 16 */
void GPIO3_IRQHandler(void) WEAK_ALIAS;     /* 17 */
void UART3RX_IRQHandler(void) WEAK_ALIAS;   /* 18 */
void UART3TX_IRQHandler(void) WEAK_ALIAS;   /* 19 */
void UART4RX_IRQHandler(void) WEAK_ALIAS;   /* 20 */
void UART4TX_IRQHandler(void) WEAK_ALIAS;   /* 21 */
void SPI2_IRQHandler(void) WEAK_ALIAS;      /* 22 */
void SPI3_4_IRQHandler(void) WEAK_ALIAS;    /* 23 */
void GPIO0_0_IRQHandler(void) WEAK_ALIAS;   /* 24 */
void GPIO0_1_IRQHandler(void) WEAK_ALIAS;   /* 25 */
void GPIO0_2_IRQHandler(void) WEAK_ALIAS;   /* 26 */
void GPIO0_3_IRQHandler(void) WEAK_ALIAS;   /* 27 */
void GPIO0_4_IRQHandler(void) WEAK_ALIAS;   /* 28 */
void GPIO0_5_IRQHandler(void) WEAK_ALIAS;   /* 29 */
void GPIO0_6_IRQHandler(void) WEAK_ALIAS;   /* 30 */
void GPIO0_7_IRQHandler(void) WEAK_ALIAS;   /* 31 */

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used))
const vector_t vector_table[16 + 32] = {
    (vector_t)&_estack,   /* 0: initial MSP */
    Reset_Handler,        /* 1 */
    NMI_Handler,          /* 2 */
    HardFault_Handler,    /* 3 */
    MemManage_Handler,    /* 4 */
    BusFault_Handler,     /* 5 */
    UsageFault_Handler,   /* 6 */
    0, 0, 0, 0,           /* 7-10 reserved */
    SVC_Handler,          /* 11 */
    DebugMon_Handler,     /* 12 */
    0,                    /* 13 reserved */
    PendSV_Handler,       /* 14 */
    SysTick_Handler,      /* 15 */
    UART0RX_IRQHandler, UART0TX_IRQHandler, UART1RX_IRQHandler, UART1TX_IRQHandler,
    UART2RX_IRQHandler, UART2TX_IRQHandler, GPIO0_IRQHandler, GPIO1_IRQHandler,
    TIMER0_IRQHandler, TIMER1_IRQHandler, DUALTIMER_IRQHandler, SPI_IRQHandler,
    UARTOVF_IRQHandler, ETHERNET_IRQHandler, I2S_IRQHandler, TSC_IRQHandler,
    GPIO2_IRQHandler, GPIO3_IRQHandler, UART3RX_IRQHandler, UART3TX_IRQHandler,
    UART4RX_IRQHandler, UART4TX_IRQHandler, SPI2_IRQHandler, SPI3_4_IRQHandler,
    GPIO0_0_IRQHandler, GPIO0_1_IRQHandler, GPIO0_2_IRQHandler, GPIO0_3_IRQHandler,
    GPIO0_4_IRQHandler, GPIO0_5_IRQHandler, GPIO0_6_IRQHandler, GPIO0_7_IRQHandler,
};

void Reset_Handler(void)
{
    /* memcpy/memset need neither .data nor .bss, so they are safe to call this early. */
    memcpy(&_sdata, &_sidata, (uint32_t)&_edata - (uint32_t)&_sdata);
    memset(&_sbss, 0, (uint32_t)&_ebss - (uint32_t)&_sbss);
    SCB_VTOR = (uint32_t)vector_table;
    test_exit(main());
}

/* Report any exception no program asked for, with its stacked PC, then exit non-zero. */
void default_handler_report(uint32_t *frame, uint32_t exc_return)
{
    uart_init();
    kprintf("\nFAIL: unexpected exception %u (EXC_RETURN 0x%08x, stacked PC 0x%08x, "
            "CFSR 0x%08x, HFSR 0x%08x)\n",
            get_ipsr() & 0x1FFu, exc_return, frame[6], SCB_CFSR, SCB_HFSR);
    sh_exit(EXIT_UNEXPECTED);
}

__attribute__((naked)) void Default_Handler(void)
{
    __asm volatile(
        FRAME_ARGS_ASM
        "b     default_handler_report\n");
}
