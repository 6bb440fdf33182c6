/*
 * mpu_userscs: unprivileged code under the MPU (mps2-an385). Regions: 0 = code (read-only for
 * both privileges, executable), 1 = SSRAM2/3 (full access, execute-never), 2 = 32 bytes
 * unprivileged read-only, 3 = 32 bytes privileged-only. CTRL = ENABLE | PRIVDEFENA. Thread mode
 * drops privilege (CONTROL.nPRIV) and probes; each fault is recorded and the instruction skipped:
 *   (a) str to MPU_CTRL -> precise BusFault, BFAR = 0xE000ED94 (the System Control Space is
 *       privileged-only and never subject to the MPU); MPU_CTRL unchanged
 *   (b) the unprivileged read-only region: ldr works, str -> MemManage DACCVIOL, MMFAR
 *   (c) the privileged-only region: ldr -> DACCVIOL, MMFAR
 *   (d) UART0 (no region: the background region serves privileged code only) -> DACCVIOL, MMFAR
 * then an SVC gives privilege back and the same accesses work.
 */
#include "test.h"
#include "probe.h"

#define MPU_CTRL  REG32(0xE000ED94u)
#define MPU_RBAR  REG32(0xE000ED9Cu)
#define MPU_RASR  REG32(0xE000EDA0u)
#define RASR(size_log2, ap, xn) \
    (1u | (((size_log2) - 1u) << 1) | ((uint32_t)(ap) << 24) | ((xn) ? 1u << 28 : 0u))

struct fault {
    uint32_t count, exc, cfsr, bfar, mmfar, pc;
};
static volatile struct fault last;

void fault_record(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    last.count++;
    last.exc = get_ipsr() & 0x1FFu;
    last.cfsr = SCB_CFSR;
    last.bfar = SCB_BFAR;
    last.mmfar = SCB_MMFAR;
    last.pc = frame[6];
    SCB_CFSR = last.cfsr;
    uint16_t hw = *(const uint16_t *)frame[6];
    frame[6] += (hw >> 11) >= 0x1Du ? 4u : 2u;
}

FAULT_HANDLERS_RECORD()

void SVC_Handler(void)
{
    set_control(get_control() & ~1u);
}

PROBE(probe_load, "ldr r0, [r0]\n bx lr\n")
PROBE(probe_store, "str r1, [r0]\n bx lr\n")

/* Recorded while unprivileged, printed afterwards (UART0 is not reachable from user code here). */
static struct fault seen[8];
static unsigned nseen;

static void keep(void)
{
    seen[nseen].count = last.count;
    seen[nseen].exc = last.exc;
    seen[nseen].cfsr = last.cfsr;
    seen[nseen].bfar = last.bfar;
    seen[nseen].mmfar = last.mmfar;
    seen[nseen].pc = last.pc;
    nseen++;
    last.count = 0;
}

static volatile uint32_t user_ro[8] __attribute__((aligned(32))) = { 0x5555aaaau };
static volatile uint32_t priv_only[8] __attribute__((aligned(32))) = { 0x12345678u };

#define UART0_STATE 0x40004004u

int main(void)
{
    test_start("mpu_userscs");
    SCB_SHCSR |= SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    MPU_RBAR = 0x00000000u | 0x10u | 0;
    MPU_RASR = RASR(22, 6, 0);
    MPU_RBAR = 0x20000000u | 0x10u | 1;
    MPU_RASR = RASR(22, 3, 1);
    MPU_RBAR = (uint32_t)user_ro | 0x10u | 2;
    MPU_RASR = RASR(5, 2, 1);
    MPU_RBAR = (uint32_t)priv_only | 0x10u | 3;
    MPU_RASR = RASR(5, 1, 1);
    MPU_CTRL = 5;
    dsb();
    isb();

    set_control(1);   /* nPRIV */
    isb();
    uint32_t v1, v2;
    probe_store(0xE000ED94u, 0);                      /* (a) */
    keep();
    v1 = probe_load((uint32_t)user_ro, 0);            /* (b) */
    keep();
    probe_store((uint32_t)user_ro + 4, 0x99);
    keep();
    probe_load((uint32_t)priv_only + 8, 0);           /* (c) */
    keep();
    probe_load(UART0_STATE, 0);                       /* (d) */
    keep();
    __asm volatile("svc #0" ::: "memory");
    CHECK_EQ(get_control(), 0, "CONTROL after the SVC");

    static const char *const what[] = {
        "(a) unprivileged str to MPU_CTRL", "(b) unprivileged ldr from the user read-only region",
        "(b) unprivileged str to the user read-only region", "(c) unprivileged ldr from the privileged-only region",
        "(d) unprivileged ldr from UART0 (background region)",
    };
    static const uint32_t want_exc[] = { EXC_BUSFAULT, 0, EXC_MEMMANAGE, EXC_MEMMANAGE, EXC_MEMMANAGE };
    static const uint32_t want_cfsr[] = { BFSR_PRECISERR | BFSR_BFARVALID, 0, MMFSR_DACCVIOL | MMFSR_MMARVALID,
                                          MMFSR_DACCVIOL | MMFSR_MMARVALID, MMFSR_DACCVIOL | MMFSR_MMARVALID };
    const uint32_t want_pc[] = { INSN(probe_store_insn), 0, INSN(probe_store_insn), INSN(probe_load_insn),
                                 INSN(probe_load_insn) };
    for (unsigned i = 0; i < nseen; i++) {
        if (want_exc[i] == 0) {
            CHECK(seen[i].count == 0, "%s: %u faults, expected none", what[i], seen[i].count);
            test_ok("%s: no fault", what[i]);
            continue;
        }
        CHECK(seen[i].count == 1, "%s: %u faults, expected 1", what[i], seen[i].count);
        CHECK(seen[i].exc == want_exc[i], "%s: exception %u, expected %u", what[i], seen[i].exc, want_exc[i]);
        CHECK(seen[i].cfsr == want_cfsr[i], "%s: CFSR 0x%08x, expected 0x%08x", what[i], seen[i].cfsr, want_cfsr[i]);
        CHECK(seen[i].pc == want_pc[i], "%s: stacked PC 0x%08x, expected 0x%08x", what[i], seen[i].pc, want_pc[i]);
        test_ok("%s: exception %u CFSR=0x%08x", what[i], seen[i].exc, seen[i].cfsr);
        if (seen[i].cfsr & BFSR_BFARVALID)
            kprintf("    BFAR=0x%08x\n", seen[i].bfar);
        if (seen[i].cfsr & MMFSR_MMARVALID)
            kprintf("    MMFAR=0x%08x\n", seen[i].mmfar);
    }
    CHECK_EQ(nseen, 5, "probes");
    CHECK_EQ(seen[0].bfar, 0xE000ED94u, "BFAR");
    CHECK_EQ(seen[2].mmfar, (uint32_t)user_ro + 4, "MMFAR (b)");
    CHECK_EQ(seen[3].mmfar, (uint32_t)priv_only + 8, "MMFAR (c)");
    CHECK_EQ(seen[4].mmfar, UART0_STATE, "MMFAR (d)");
    CHECK_EQ(v1, 0x5555aaaau, "unprivileged load from the read-only region");
    CHECK_EQ(user_ro[1], 0, "user_ro[1] unchanged");
    CHECK_EQ(MPU_CTRL, 5, "MPU_CTRL after the unprivileged write");

    /* Privileged again: the same accesses work. */
    probe_store((uint32_t)user_ro + 4, 0x99);
    v2 = probe_load((uint32_t)priv_only, 0);
    CHECK(last.count == 0, "privileged accesses: %u faults", last.count);
    CHECK_EQ(user_ro[1], 0x99, "privileged store to the user read-only region");
    CHECK_EQ(v2, 0x12345678u, "privileged load from the privileged-only region");
    test_ok("privileged again: the regions allow everything");
    MPU_CTRL = 0;
    test_pass();
}
