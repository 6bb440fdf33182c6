/*
 * uart_echo: UART0 receive through the RX interrupt (BOARD_UART0_RX_IRQ: 0 on mps2-an385, 5 on
 * lm3s6965evb). Every character received is
 * echoed in upper case until a newline ('\n' or '\r'), then the program prints
 * "ECHO DONE" and exits 0. Drive it through stdin, e.g.
 *   printf 'abc\n' | qemu-system-arm -M mps2-an385 ... -display none -serial stdio -monitor none
 * which prints "ABC". With no input it waits (idle in WFI) forever; there is deliberately no
 * timeout: in icount mode with sleep=off an idle CPU's virtual clock races ahead, so any
 * timer-based timeout would fire before the host had delivered the input.
 *
 * RX is enabled before anything is printed and the ISR only moves bytes into a ring buffer
 * (echoing happens in Thread mode), so the RX holding register (one byte on mps2-an385) is
 * emptied as fast as possible. That matters for QEMU 7.2 with -nographic: its stdio multiplexer buffers
 * input the UART cannot take at that moment and only retries when more input arrives, so
 * piped input can get stuck there (see README.md).
 */
#include "test.h"

#define RING 64   /* power of two */
static volatile char ring[RING];
static volatile uint32_t head, tail;   /* ISR writes head, Thread mode advances tail */
static volatile uint32_t rx_irqs, rx_irqs_without_status, overflows;

void BOARD_UART0_RX_HANDLER(void)
{
    rx_irqs++;
    if (!uart_rx_int_status())
        rx_irqs_without_status++;
    /* Clear first, then drain: a character arriving after the clear raises the IRQ again. */
    uart_rx_int_clear();
    while (uart_rx_ready()) {
        char c = uart_rx_read();
        if (head - tail < RING)
            ring[head++ % RING] = c;
        else
            overflows++;
    }
}

int main(void)
{
    uart_rx_int_enable();
    nvic_set_prio(BOARD_UART0_RX_IRQ, 0x80);
    nvic_enable(BOARD_UART0_RX_IRQ);

    test_start("uart_echo");
    kprintf("echoing UART0 input in upper case until a newline\n");

    char line[RING];
    uint32_t len = 0;
    int done = 0;
    while (!done) {
        irq_disable();   /* check-then-sleep without missing a wake-up (WFI wakes anyway) */
        if (head == tail)
            wfi();
        irq_enable();
        while (!done && tail != head) {
            char c = ring[tail++ % RING];
            if (c == '\n' || c == '\r') {
                done = 1;
                break;
            }
            if (c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            uart_putc(c);
            if (len < sizeof line - 1)
                line[len++] = c;
        }
    }

    uart_rx_int_disable();
    nvic_disable(BOARD_UART0_RX_IRQ);
    uart_putc('\n');
    CHECK(rx_irqs >= 1, "no RX interrupt");
#if !BOARD_UART_RX_INT_SELF_CLEARING
    CHECK_EQ(rx_irqs_without_status, 0, "RX interrupts with INTSTATUS.RX clear");
#endif
    CHECK_EQ(overflows, 0, "ring buffer overflows");
    line[len] = '\0';
    test_ok("received %u characters through the RX interrupt: \"%s\"", len, line);
    kprintf("ECHO DONE\n");
    test_pass();
}
