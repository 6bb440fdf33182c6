/* api_probe: a program for the System API's tests (test/system/): it is driven from outside.
 * The test writes g_mode (through the ELF's symbols) and pends IRQ 7 through the NVIC; the
 * program counts in g_counter, reports what it sees, and reaches test_done() when asked.
 *   g_mode 0: count.  3: print "mode 3 at ..." and call test_done().  5: read an unmapped address
 *   (a BusFault: the handler prints CFSR and returns past the load).  6: exit with code 7.
 *   IRQ 7 (a RAM vector table, so the handler needs no board-specific name): "irq 7 taken N".
 * Not in the parity list: without a driver it only counts (PROGS_DRIVEN in the Makefile). */
#include "test.h"
#include "probe.h"

volatile uint32_t g_mode;
volatile uint32_t g_counter;
volatile uint32_t g_irq_count;
volatile uint16_t g_half = 0x1234;
volatile uint8_t g_bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};

extern const uint32_t vector_table[];
static uint32_t ram_vectors[16 + BOARD_NUM_IRQS] __attribute__((aligned(512)));

void __attribute__((noinline)) test_done(void)
{
    __asm volatile("" ::: "memory");
}

static void irq7_handler(void)
{
    g_irq_count++;
    kprintf("irq 7 taken %u\n", g_irq_count);
}

/* Every fault handler comes here with the stacked frame (probe.h's trampoline). */
FAULT_HANDLERS_RECORD()

void fault_record(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    kprintf("busfault CFSR=0x%08x BFAR=0x%08x\n", SCB_CFSR, SCB_BFAR);
    SCB_CFSR = SCB_CFSR;
    frame[6] += 2; /* skip the faulting 16-bit load */
}

int main(void)
{
    test_start("api_probe");
    for (unsigned i = 0; i < 16 + BOARD_NUM_IRQS; i++)
        ram_vectors[i] = vector_table[i];
    ram_vectors[16 + 7] = (uint32_t)irq7_handler;
    dsb();
    SCB_VTOR = (uint32_t)ram_vectors;
    SCB_SHCSR |= 1u << 17; /* BUSFAULTENA */
    nvic_enable(7);
    kprintf("api_probe: ready (half 0x%x, byte %u)\n", g_half, g_bytes[7]);
    for (;;) {
        g_counter++;
        uint32_t m = g_mode;
        if (m == 3) {
            kprintf("mode 3 at count %u\n", g_counter);
            g_mode = 0;
            test_done();
        } else if (m == 5) {
            g_mode = 0;
            volatile uint32_t *bad = (volatile uint32_t *)0x30000000u;
            uint32_t v;
            __asm volatile("ldr %0, [%1]" : "=l"(v) : "l"(bad) : "memory");
            (void)v;
            kprintf("after the fault\n");
        } else if (m == 6) {
            kprintf("exiting with 7\n");
            test_exit(7);
        }
    }
}
