#include <stdint.h>
#include "fmt.h"
#include "uart.h"

static void emit(fmt_out_fn out, void *ctx, char c, int *count)
{
    out(c, ctx);
    (*count)++;
}

static void emit_padded(fmt_out_fn out, void *ctx, const char *s, int len, int width,
                        int left, char pad, int *count)
{
    int fill = width > len ? width - len : 0;
    /* Zero padding goes after a sign, e.g. %05d of -42 is "-0042". */
    if (!left && pad == '0' && len > 0 && s[0] == '-') {
        emit(out, ctx, *s++, count);
        len--;
    }
    if (!left)
        while (fill-- > 0)
            emit(out, ctx, pad, count);
    while (len-- > 0)
        emit(out, ctx, *s++, count);
    if (left)
        while (fill-- > 0)
            emit(out, ctx, ' ', count);
}

int vfmt(fmt_out_fn out, void *ctx, const char *fmt, va_list ap)
{
    int count = 0;
    char buf[12];

    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(out, ctx, *fmt, &count);
            continue;
        }
        fmt++;
        int left = 0;
        char pad = ' ';
        for (;; fmt++) {
            if (*fmt == '-')
                left = 1;
            else if (*fmt == '0')
                pad = '0';
            else
                break;
        }
        int width = 0;
        if (*fmt == '*') {
            width = va_arg(ap, int);
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                width = width * 10 + (*fmt++ - '0');
        }
        while (*fmt == 'l' || *fmt == 'h' || *fmt == 'z')
            fmt++;

        unsigned base = 10;
        int neg = 0, upper = 0;
        uint32_t v;
        switch (*fmt) {
        case '\0':
            return count;
        case '%':
            emit(out, ctx, '%', &count);
            continue;
        case 'c':
            buf[0] = (char)va_arg(ap, int);
            emit_padded(out, ctx, buf, 1, width, left, ' ', &count);
            continue;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = 0;
            while (s[len])
                len++;
            emit_padded(out, ctx, s, len, width, left, ' ', &count);
            continue;
        }
        case 'd':
        case 'i': {
            int32_t sv = va_arg(ap, int32_t);
            neg = sv < 0;
            v = neg ? 0u - (uint32_t)sv : (uint32_t)sv;
            break;
        }
        case 'u':
            v = va_arg(ap, uint32_t);
            break;
        case 'o':
            v = va_arg(ap, uint32_t);
            base = 8;
            break;
        case 'X':
            upper = 1;
            /* fall through */
        case 'x':
            v = va_arg(ap, uint32_t);
            base = 16;
            break;
        case 'p':
            v = (uint32_t)va_arg(ap, void *);
            base = 16;
            emit(out, ctx, '0', &count);
            emit(out, ctx, 'x', &count);
            width = 8;
            pad = '0';
            break;
        default:   /* unknown conversion: print it verbatim */
            emit(out, ctx, '%', &count);
            emit(out, ctx, *fmt, &count);
            continue;
        }

        /* Convert right to left into buf; the CM3 has a hardware divider. */
        int i = sizeof buf;
        const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
        do {
            buf[--i] = digits[v % base];
            v /= base;
        } while (v);
        if (neg)
            buf[--i] = '-';
        emit_padded(out, ctx, buf + i, (int)sizeof buf - i, width, left, pad, &count);
    }
    return count;
}

static void uart_out(char c, void *ctx)
{
    (void)ctx;
    uart_putc(c);
}

int vkprintf(const char *fmt, va_list ap)
{
    return vfmt(uart_out, 0, fmt, ap);
}

int kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vkprintf(fmt, ap);
    va_end(ap);
    return n;
}

struct sbuf {
    char *p;
    size_t left;
};

static void buf_out(char c, void *ctx)
{
    struct sbuf *b = ctx;
    if (b->left > 1) {
        *b->p++ = c;
        b->left--;
    }
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
    struct sbuf b = { buf, size };
    va_list ap;
    va_start(ap, fmt);
    int n = vfmt(buf_out, &b, fmt, ap);
    va_end(ap);
    if (size)
        *b.p = '\0';
    return n;
}
