#include "test.h"

static const char *test_name = "?";

void test_start(const char *name)
{
    test_name = name;
    uart_init();
    kprintf("=== %s ===\n", name);
}

void test_exit(int code)
{
    uint32_t control = get_control();
    if (get_ipsr() == 0 && (control & 1u)) {
        register int r0 __asm__("r0") = code;
        __asm volatile("svc #255" :: "r"(r0) : "memory");
    }
    sh_exit(code);
}

void test_pass(void)
{
    kprintf("PASS: %s\n", test_name);
    test_exit(0);
}

void test_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    uart_puts("FAIL: ");
    vkprintf(fmt, ap);
    uart_puts("\n");
    va_end(ap);
    test_exit(EXIT_FAIL);
}

void test_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    uart_puts("ok: ");
    vkprintf(fmt, ap);
    uart_puts("\n");
    va_end(ap);
}
