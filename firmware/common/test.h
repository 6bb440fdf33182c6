/* Self-checking test helpers. Convention: a failure prints "FAIL: <what>" on UART0 and exits
 * with a non-zero code; success prints "PASS: <program>" and exits 0 (via semihosting). */
#ifndef TEST_H
#define TEST_H
#include <stdint.h>
#include "fmt.h"
#include "nvic.h"
#include "semihost.h"
#include "uart.h"

#define EXIT_FAIL        1   /* a CHECK failed */
#define EXIT_UNEXPECTED  2   /* an exception nobody expected reached the default handler */

void test_start(const char *name);                       /* uart_init + banner */
void test_pass(void) __attribute__((noreturn));          /* "PASS: <name>", exit 0 */
void test_fail(const char *fmt, ...) __attribute__((noreturn));
void test_ok(const char *fmt, ...);  /* "ok: ..." */
/* Exit from anywhere. From unprivileged Thread mode semihosting is not available, so this
 * first issues `svc #255` with the code in r0: a program that runs unprivileged code must
 * handle that SVC, either by calling test_exit() itself from Handler mode
 * (tests/context_switch.c) or by restoring privilege so the exit can proceed on return
 * (tests/faults.c). Without an SVC handler it ends in Default_Handler (exit code 2). */
void test_exit(int code) __attribute__((noreturn));

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond))                                                      \
            test_fail(__VA_ARGS__);                                       \
    } while (0)

#define CHECK_EQ(got, want, what)                                         \
    do {                                                                  \
        uint32_t got_ = (uint32_t)(got), want_ = (uint32_t)(want);        \
        if (got_ != want_)                                                \
            test_fail("%s: got 0x%08x, expected 0x%08x", (what), got_, want_); \
    } while (0)

#endif
