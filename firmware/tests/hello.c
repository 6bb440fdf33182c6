/* hello: the smallest program. Prints a greeting and a few formatted numbers, and checks the
 * formatter and the C runtime set-up (.data copied from its load image, .bss zeroed). */
#include <string.h>
#include "test.h"

/* volatile, so the compiler cannot fold the checks below into constants */
static volatile uint32_t initialised = 0xC0FFEE42u;   /* .data: copied by Reset_Handler */
static volatile uint32_t zeroed[4];                    /* .bss: zeroed by Reset_Handler */

int main(void)
{
    test_start("hello");
    kprintf("Hello from cmemu firmware\n");

    CHECK_EQ(initialised, 0xC0FFEE42u, ".data initialised");
    CHECK(zeroed[0] == 0 && zeroed[1] == 0 && zeroed[2] == 0 && zeroed[3] == 0, ".bss zeroed");
    test_ok(".data copied and .bss zeroed");

    kprintf("decimal: %d %d %u\n", 42, -42, 4000000000u);
    kprintf("hex: 0x%08x %X %x\n", 0xDEADBEEFu, 0xABCu, 0u);
    kprintf("padded: [%5d] [%-5d] [%05d] [%c] [%-6s] [%6s]\n", 7, 7, -42, 'z', "ab", "cd");
    kprintf("octal: %o pointer: %p percent: %%\n", 8u, (void *)0x20000000);

    /* The same formats into a buffer, compared with the text we expect. */
    char buf[64];
    int n = ksnprintf(buf, sizeof buf, "%d|%u|%x|%05d|%-3s|", -2147483647 - 1, 0xFFFFFFFFu,
                      0x1234abcdu, 42, "x");
    CHECK(strcmp(buf, "-2147483648|4294967295|1234abcd|00042|x  |") == 0,
          "ksnprintf gave \"%s\"", buf);
    CHECK_EQ(n, strlen(buf), "ksnprintf return value");
    n = ksnprintf(buf, 6, "%s", "truncated");
    CHECK(strcmp(buf, "trunc") == 0 && n == 9, "ksnprintf truncation gave \"%s\" (%d)", buf, n);
    test_ok("formatter output");

    /* Hardware divide and a libgcc 64-bit helper. */
    volatile uint32_t a = 1000000007u, b = 97u;
    volatile uint64_t big = 0x123456789ABCDEFull;
    CHECK_EQ(a / b, 10309278u, "udiv");
    CHECK_EQ(a % b, 41u, "urem");
    CHECK_EQ((uint32_t)(big / 1000u), 0xBE587DE6u, "64-bit division (low word)");
    test_ok("division: 1000000007 / 97 = %u rem %u", (uint32_t)(a / b), (uint32_t)(a % b));

    /* Implementer ARM (0x41) and part Cortex-M3 (0xC23); the revision differs between models
       (QEMU 7.2 says r0p1, cmemu r2p0 as the silicon AN385 carries), so it is not printed. */
    kprintf("CPUID: implementer 0x%02x part 0x%03x\n", SCB_CPUID >> 24, (SCB_CPUID >> 4) & 0xfff);
    test_pass();
}
