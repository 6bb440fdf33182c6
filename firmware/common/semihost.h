/* ARM semihosting (BKPT 0xAB on M-profile). QEMU needs -semihosting-config enable=on.
 * Semihosting calls must be made from privileged code: QEMU 7.2 ignores BKPT 0xAB from
 * unprivileged Thread mode (it becomes a real BKPT -> HardFault) unless userspace=on. */
#ifndef SEMIHOST_H
#define SEMIHOST_H
#include <stdint.h>

#define SYS_OPEN          0x01
#define SYS_CLOSE         0x02
#define SYS_WRITEC        0x03
#define SYS_WRITE0        0x04
#define SYS_WRITE         0x05
#define SYS_READ          0x06
#define SYS_READC         0x07
#define SYS_ISERROR       0x08
#define SYS_ISTTY         0x09
#define SYS_SEEK          0x0A
#define SYS_FLEN          0x0C
#define SYS_TMPNAM        0x0D
#define SYS_REMOVE        0x0E
#define SYS_RENAME        0x0F
#define SYS_CLOCK         0x10
#define SYS_TIME          0x11
#define SYS_SYSTEM        0x12
#define SYS_ERRNO         0x13
#define SYS_GET_CMDLINE   0x15
#define SYS_HEAPINFO      0x16
#define SYS_EXIT          0x18
#define SYS_EXIT_EXTENDED 0x20
#define SYS_ELAPSED       0x30
#define SYS_TICKFREQ      0x31

/* Reason codes for SYS_EXIT / SYS_EXIT_EXTENDED */
#define ADP_Stopped_ApplicationExit  0x20026
#define ADP_Stopped_RunTimeErrorUnknown 0x20023

/* SYS_OPEN modes: index into {"r","rb","r+","r+b","w","wb","w+","w+b","a","ab","a+","a+b"} */
#define SH_MODE_R  0
#define SH_MODE_RB 1
#define SH_MODE_W  4
#define SH_MODE_A  8

static inline uint32_t sh_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_writec(char c);
void sh_write0(const char *s);
/* Exit QEMU with `code` as its exit status (0 via SYS_EXIT, others via SYS_EXIT_EXTENDED). */
void sh_exit(int code) __attribute__((noreturn));

#endif
