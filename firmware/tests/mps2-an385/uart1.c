/*
 * uart1: prints on UART1 (0x40005000) as well as on UART0. Run with `-serial null -serial stdio`,
 * only the UART1 line reaches stdout: serial ports map to UART0, UART1, ... in command-line order,
 * as in qemu-system-arm (test/cli/serial.test.ts). With one -serial, UART1 is not connected and
 * its bytes go nowhere; the program does not wait on them (TX never stays full).
 */
#include "test.h"

#define UART1_BASE 0x40005000u
#define UART1_DATA    REG32(UART1_BASE + 0x00u)
#define UART1_STATE   REG32(UART1_BASE + 0x04u)
#define UART1_CTRL    REG32(UART1_BASE + 0x08u)
#define UART1_BAUDDIV REG32(UART1_BASE + 0x10u)

static void uart1_puts(const char *s)
{
    for (; *s; s++) {
        for (uint32_t i = 0; i < 1000000u && (UART1_STATE & UART_STATE_TXFULL); i++)
            ;
        UART1_DATA = (uint8_t)*s;
    }
}

int main(void)
{
    test_start("uart1");
    UART1_BAUDDIV = 25000000u / 115200u;
    UART1_CTRL = UART_CTRL_TXEN;
    uart1_puts("uart1: hello from UART1\n");
    CHECK_EQ(UART1_STATE & UART_STATE_TXFULL, 0, "UART1 STATE.TXFULL after sending");
    test_ok("wrote one line on UART1");
    test_pass();
}
