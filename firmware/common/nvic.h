/* Cortex-M3 System Control Space registers (ARMv7-M ARM, chapter B3) used by the tests. */
#ifndef NVIC_H
#define NVIC_H
#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(addr))
#define REG8(addr)  (*(volatile uint8_t *)(addr))

/* SysTick */
#define SYST_CSR   REG32(0xE000E010u)   /* bit0 ENABLE, bit1 TICKINT, bit2 CLKSOURCE, bit16 COUNTFLAG */
#define SYST_RVR   REG32(0xE000E014u)
#define SYST_CVR   REG32(0xE000E018u)
#define SYST_CALIB REG32(0xE000E01Cu)
#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define SYST_CSR_COUNTFLAG (1u << 16)

/* NVIC: bank n covers external IRQs 32n..32n+31 (mps2-an385 has 32, so only bank 0). */
#define NVIC_ISER(n) REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) REG32(0xE000E180u + 4u * (n))
#define NVIC_ISPR(n) REG32(0xE000E200u + 4u * (n))
#define NVIC_ICPR(n) REG32(0xE000E280u + 4u * (n))
#define NVIC_IABR(n) REG32(0xE000E300u + 4u * (n))
#define NVIC_IPR8(irq) REG8(0xE000E400u + (irq))   /* byte-accessible priority registers */
#define NVIC_STIR  REG32(0xE000EF00u)

/* System control block */
#define SCB_ICTR   REG32(0xE000E004u)
#define SCB_ACTLR  REG32(0xE000E008u)
#define SCB_CPUID  REG32(0xE000ED00u)
#define SCB_ICSR   REG32(0xE000ED04u)
#define SCB_VTOR   REG32(0xE000ED08u)
#define SCB_AIRCR  REG32(0xE000ED0Cu)
#define SCB_SCR    REG32(0xE000ED10u)
#define SCB_CCR    REG32(0xE000ED14u)
#define SCB_SHPR1  REG32(0xE000ED18u)   /* MemManage(4), BusFault(5), UsageFault(6) */
#define SCB_SHPR2  REG32(0xE000ED1Cu)   /* SVCall(11) in bits 31:24 */
#define SCB_SHPR3  REG32(0xE000ED20u)   /* PendSV(14) in 23:16, SysTick(15) in 31:24 */
#define SCB_SHP8(exc) REG8(0xE000ED18u + (exc) - 4u)   /* byte access to a system handler priority */
#define SCB_SHCSR  REG32(0xE000ED24u)
#define SCB_CFSR   REG32(0xE000ED28u)   /* MMFSR 7:0, BFSR 15:8, UFSR 31:16 */
#define SCB_HFSR   REG32(0xE000ED2Cu)
#define SCB_DFSR   REG32(0xE000ED30u)
#define SCB_MMFAR  REG32(0xE000ED34u)
#define SCB_BFAR   REG32(0xE000ED38u)
#define SCB_AFSR   REG32(0xE000ED3Cu)

#define ICSR_VECTACTIVE(x)  ((x) & 0x1FFu)
#define ICSR_RETTOBASE      (1u << 11)
#define ICSR_VECTPENDING(x) (((x) >> 12) & 0x1FFu)
#define ICSR_ISRPENDING     (1u << 22)
#define ICSR_PENDSTCLR      (1u << 25)
#define ICSR_PENDSTSET      (1u << 26)
#define ICSR_PENDSVCLR      (1u << 27)
#define ICSR_PENDSVSET      (1u << 28)
#define ICSR_NMIPENDSET     (1u << 31)

#define AIRCR_VECTKEY       (0x05FAu << 16)
#define AIRCR_PRIGROUP(n)   (((n) & 7u) << 8)
#define AIRCR_SYSRESETREQ   (1u << 2)

#define SCR_SLEEPONEXIT     (1u << 1)
#define SCR_SLEEPDEEP       (1u << 2)
#define SCR_SEVONPEND       (1u << 4)

#define CCR_NONBASETHRDENA  (1u << 0)
#define CCR_USERSETMPEND    (1u << 1)
#define CCR_UNALIGN_TRP     (1u << 3)
#define CCR_DIV_0_TRP       (1u << 4)
#define CCR_BFHFNMIGN       (1u << 8)
#define CCR_STKALIGN        (1u << 9)

#define SHCSR_MEMFAULTACT    (1u << 0)
#define SHCSR_BUSFAULTACT    (1u << 1)
#define SHCSR_USGFAULTACT    (1u << 3)
#define SHCSR_SVCALLACT      (1u << 7)
#define SHCSR_MONITORACT     (1u << 8)
#define SHCSR_PENDSVACT      (1u << 10)
#define SHCSR_SYSTICKACT     (1u << 11)
#define SHCSR_MEMFAULTENA    (1u << 16)
#define SHCSR_BUSFAULTENA    (1u << 17)
#define SHCSR_USGFAULTENA    (1u << 18)

/* CFSR bits */
#define MMFSR_IACCVIOL   (1u << 0)
#define MMFSR_DACCVIOL   (1u << 1)
#define MMFSR_MUNSTKERR  (1u << 3)
#define MMFSR_MSTKERR    (1u << 4)
#define MMFSR_MMARVALID  (1u << 7)
#define BFSR_IBUSERR     (1u << 8)
#define BFSR_PRECISERR   (1u << 9)
#define BFSR_IMPRECISERR (1u << 10)
#define BFSR_UNSTKERR    (1u << 11)
#define BFSR_STKERR      (1u << 12)
#define BFSR_BFARVALID   (1u << 15)
#define UFSR_UNDEFINSTR  (1u << 16)
#define UFSR_INVSTATE    (1u << 17)
#define UFSR_INVPC       (1u << 18)
#define UFSR_NOCP        (1u << 19)
#define UFSR_UNALIGNED   (1u << 24)
#define UFSR_DIVBYZERO   (1u << 25)

#define HFSR_VECTTBL     (1u << 1)
#define HFSR_FORCED      (1u << 30)
#define HFSR_DEBUGEVT    (1u << 31)

/* Exception numbers (IPSR / VECTACTIVE values) */
#define EXC_NMI        2
#define EXC_HARDFAULT  3
#define EXC_MEMMANAGE  4
#define EXC_BUSFAULT   5
#define EXC_USAGEFAULT 6
#define EXC_SVCALL     11
#define EXC_DEBUGMON   12
#define EXC_PENDSV     14
#define EXC_SYSTICK    15
#define EXC_IRQ(n)     (16 + (n))

/* EXC_RETURN values (ARMv7-M without FP) */
#define EXC_RETURN_HANDLER_MSP 0xFFFFFFF1u
#define EXC_RETURN_THREAD_MSP  0xFFFFFFF9u
#define EXC_RETURN_THREAD_PSP  0xFFFFFFFDu

static inline void nvic_enable(unsigned irq)   { NVIC_ISER(irq >> 5) = 1u << (irq & 31); }
static inline void nvic_disable(unsigned irq)  { NVIC_ICER(irq >> 5) = 1u << (irq & 31); }
static inline void nvic_pend(unsigned irq)     { NVIC_ISPR(irq >> 5) = 1u << (irq & 31); }
static inline void nvic_unpend(unsigned irq)   { NVIC_ICPR(irq >> 5) = 1u << (irq & 31); }
static inline void nvic_set_prio(unsigned irq, uint8_t prio) { NVIC_IPR8(irq) = prio; }

/* Special registers and barriers */
static inline void dsb(void) { __asm volatile("dsb" ::: "memory"); }
static inline void isb(void) { __asm volatile("isb" ::: "memory"); }
static inline void wfi(void) { __asm volatile("wfi" ::: "memory"); }
static inline void irq_disable(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void irq_enable(void)  { __asm volatile("cpsie i" ::: "memory"); }
static inline void fault_disable(void) { __asm volatile("cpsid f" ::: "memory"); }
static inline void fault_enable(void)  { __asm volatile("cpsie f" ::: "memory"); }

#define DEFINE_SPECIAL_REG(name)                                                   \
    static inline uint32_t get_##name(void)                                        \
    { uint32_t v; __asm volatile("mrs %0, " #name : "=r"(v) :: "memory"); return v; } \
    static inline void set_##name(uint32_t v)                                      \
    { __asm volatile("msr " #name ", %0" :: "r"(v) : "memory"); }
DEFINE_SPECIAL_REG(primask)
DEFINE_SPECIAL_REG(faultmask)
DEFINE_SPECIAL_REG(basepri)
DEFINE_SPECIAL_REG(basepri_max)
DEFINE_SPECIAL_REG(control)
DEFINE_SPECIAL_REG(psp)
DEFINE_SPECIAL_REG(msp)
static inline uint32_t get_ipsr(void) { uint32_t v; __asm volatile("mrs %0, ipsr" : "=r"(v)); return v; }
static inline uint32_t get_xpsr(void) { uint32_t v; __asm volatile("mrs %0, xpsr" : "=r"(v)); return v; }
static inline uint32_t get_sp(void) { uint32_t v; __asm volatile("mov %0, sp" : "=r"(v)); return v; }

/* In a naked exception handler: r0 = the stacked exception frame (on MSP or PSP, as EXC_RETURN
   bit 2 says), r1 = EXC_RETURN. Then call a C function taking (uint32_t *frame, uint32_t exc_return). */
#define FRAME_ARGS_ASM \
    "tst   lr, #4\n"   \
    "ite   eq\n"       \
    "mrseq r0, msp\n"  \
    "mrsne r0, psp\n"  \
    "mov   r1, lr\n"

#endif
