#include "semihost.h"

void sh_writec(char c)
{
    sh_call(SYS_WRITEC, &c);
}

void sh_write0(const char *s)
{
    sh_call(SYS_WRITE0, s);
}

void sh_exit(int code)
{
    if (code == 0) {
        /* 32-bit SYS_EXIT: r1 is the reason code itself; ApplicationExit -> status 0. */
        sh_call(SYS_EXIT, (const void *)ADP_Stopped_ApplicationExit);
    } else {
        /* SYS_EXIT_EXTENDED: r1 -> {reason, subcode}; QEMU exits with the subcode. */
        uint32_t block[2] = { ADP_Stopped_ApplicationExit, (uint32_t)code };
        sh_call(SYS_EXIT_EXTENDED, block);
        /* Not supported by the host: any other reason makes QEMU exit with status 1. */
        sh_call(SYS_EXIT, (const void *)ADP_Stopped_RunTimeErrorUnknown);
    }
    for (;;)
        __asm volatile("wfi");
}
