/* Minimal printf-like formatter (no newlib stdio).
 * Supports %d %i %u %x %X %o %c %s %p %%, flags '-' and '0', a width (digits or '*'),
 * and ignores the length modifiers 'l', 'h', 'z' (every integer here is 32-bit).
 * No format attribute: uint32_t is `long` on arm-none-eabi, and %u/%x take it as is. */
#ifndef FMT_H
#define FMT_H
#include <stdarg.h>
#include <stddef.h>

typedef void (*fmt_out_fn)(char c, void *ctx);

int vfmt(fmt_out_fn out, void *ctx, const char *fmt, va_list ap);
int kprintf(const char *fmt, ...);          /* to UART0 */
int vkprintf(const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...);

#endif
