/* Fault probes for self-checking fault tests: one faulting instruction each, at a global label
 * the checks compare the stacked PC with, and a trampoline that routes every fault handler to the
 * program's `void fault_record(uint32_t *frame, uint32_t exc_return)`. */
#ifndef PROBE_H
#define PROBE_H
#include <stdint.h>
#include "nvic.h"

/* uint32_t name(uint32_t a, uint32_t b): runs `body` (r0 = a, r1 = b); name##_insn is its first
 * instruction. A handler that skips the faulting instruction makes a load probe return `a`. */
#define PROBE(name, body)                                                        \
    extern const char name##_insn[];                                             \
    __attribute__((naked)) uint32_t name(uint32_t a, uint32_t b)                 \
    {                                                                            \
        __asm volatile(".global " #name "_insn\n" #name "_insn:\n" body);        \
    }

/* The address of a probe label as the stacked PC shows it. */
#define INSN(label) ((uint32_t)(label) & ~1u)

/* HardFault, MemManage, BusFault and UsageFault all call fault_record(frame, EXC_RETURN). */
#define FAULT_HANDLERS_RECORD()                                                  \
    void fault_record(uint32_t *frame, uint32_t exc_return);                     \
    __attribute__((naked)) void fault_entry(void)                                \
    {                                                                            \
        __asm volatile(FRAME_ARGS_ASM                                            \
                       "push  {r4, lr}\n"                                        \
                       "bl    fault_record\n"                                    \
                       "pop   {r4, pc}\n");                                      \
    }                                                                            \
    void HardFault_Handler(void) __attribute__((alias("fault_entry")));          \
    void MemManage_Handler(void) __attribute__((alias("fault_entry")));          \
    void BusFault_Handler(void) __attribute__((alias("fault_entry")));           \
    void UsageFault_Handler(void) __attribute__((alias("fault_entry")));

#endif
