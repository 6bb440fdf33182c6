/*
 * Startup for every board (Cortex-M3): vector table with the 16 system vectors and the
 * board's BOARD_NUM_IRQS external interrupts (names from BOARD_IRQ_HANDLERS in board.h), a
 * Reset_Handler that copies .data from its load image (in ROM/flash) to RAM and zeroes .bss,
 * and weak default handlers a program overrides by defining a function of the same name.
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
/* The board's external interrupts: BOARD_IRQ_HANDLERS in common/<board>/board.h */
#define DECLARE_IRQ_HANDLER(name) void name(void) WEAK_ALIAS;
BOARD_IRQ_HANDLERS(DECLARE_IRQ_HANDLER)
#define COUNT_IRQ(name) + 1

typedef void (*vector_t)(void);

_Static_assert(0 BOARD_IRQ_HANDLERS(COUNT_IRQ) == BOARD_NUM_IRQS,
               "BOARD_IRQ_HANDLERS must name BOARD_NUM_IRQS handlers");

__attribute__((section(".vectors"), used))
const vector_t vector_table[16 + BOARD_NUM_IRQS] = {
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
#define IRQ_VECTOR(name) name,
    BOARD_IRQ_HANDLERS(IRQ_VECTOR)
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
