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

/* ITSTATE from a stacked xPSR (IT[1:0] in bits 26:25, IT[7:2] in bits 15:10). */
static inline uint32_t xpsr_itstate(uint32_t xpsr) { return ((xpsr >> 25) & 3u) | (((xpsr >> 10) & 0x3Fu) << 2); }

/* Return past the faulting instruction: the stacked PC moves over it (16 or 32 bits) and, inside
 * an IT block, the stacked ITSTATE advances as the instruction would have advanced it. */
static inline void frame_skip_insn(uint32_t *frame)
{
    uint16_t hw = *(const uint16_t *)frame[6];
    frame[6] += (hw >> 11) >= 0x1Du ? 4u : 2u;
    uint32_t it = xpsr_itstate(frame[7]);
    if (it != 0) {
        it = (it & 7u) == 0 ? 0 : ((it & 0xE0u) | ((it << 1) & 0x1Fu));
        frame[7] = (frame[7] & ~((3u << 25) | (0x3Fu << 10))) | ((it & 3u) << 25) | (((it >> 2) & 0x3Fu) << 10);
    }
}

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
