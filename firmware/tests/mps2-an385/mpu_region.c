/*
 * mpu_region: PMSAv7 MPU regions on guest loads, stores and instruction fetches (mps2-an385).
 * Regions: 0 = code (SSRAM1, 4 MiB, read-only, executable), 1 = SSRAM2/3 (4 MiB, full access,
 * execute-never), 2 = a 32-byte no-access region in the middle of a RAM page, 3 = a 256-byte
 * read-only region with subregion 1 disabled. CTRL = ENABLE | PRIVDEFENA. Each fault is caught
 * by a handler that records CFSR/HFSR/MMFAR and the stacked PC, clears the status and skips the
 * faulting instruction (or, for a fetch, returns to `resume_pc`):
 *   (a) ldr/str inside the 32-byte region -> MemManage DACCVIOL, MMFAR = the address;
 *       the words just below and above it work (the region is exact inside its 1 KiB page)
 *   (b) region 3 is read-only: a store faults DACCVIOL; its disabled subregion falls through to
 *       region 1 (writable)
 *   (c) bx to code copied into RAM (region 1 is XN) -> MemManage IACCVIOL, no MMFAR,
 *       stacked PC = the target; with XN cleared it runs
 *   (d) MemManage disabled in SHCSR -> HardFault FORCED, CFSR.DACCVIOL kept
 *   (e) the MPU off again: everything works
 */
#include "test.h"
#include "probe.h"

#define MPU_TYPE  REG32(0xE000ED90u)
#define MPU_CTRL  REG32(0xE000ED94u)
#define MPU_RNR   REG32(0xE000ED98u)
#define MPU_RBAR  REG32(0xE000ED9Cu)
#define MPU_RASR  REG32(0xE000EDA0u)
#define RASR(size_log2, ap, xn, srd) \
    (1u | (((size_log2) - 1u) << 1) | ((uint32_t)(srd) << 8) | ((uint32_t)(ap) << 24) | ((xn) ? 1u << 28 : 0u))

static void mpu_region(unsigned n, uint32_t base, uint32_t rasr)
{
    MPU_RBAR = base | 0x10u | n;   /* VALID | REGION */
    MPU_RASR = rasr;
}

struct fault {
    uint32_t count, exc, cfsr, hfsr, mmfar, pc;
};
static volatile struct fault last;
static volatile uint32_t resume_pc;

void fault_record(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    last.count++;
    last.exc = get_ipsr() & 0x1FFu;
    last.cfsr = SCB_CFSR;
    last.hfsr = SCB_HFSR;
    last.mmfar = SCB_MMFAR;
    last.pc = frame[6];
    SCB_CFSR = last.cfsr;
    SCB_HFSR = last.hfsr;
    if (resume_pc) {
        frame[6] = resume_pc & ~1u;
        resume_pc = 0;
    } else {
        uint16_t hw = *(const uint16_t *)frame[6];
        frame[6] += (hw >> 11) >= 0x1Du ? 4u : 2u;
    }
}

FAULT_HANDLERS_RECORD()

PROBE(probe_load, "ldr r0, [r0]\n bx lr\n")
PROBE(probe_store, "str r1, [r0]\n bx lr\n")
PROBE(probe_bx, "bx r0\n .global probe_bx_resume\n .thumb_func\n probe_bx_resume: bx lr\n")
extern void probe_bx_resume(void);

static void expect_fault(const char *what, uint32_t exc, uint32_t cfsr, uint32_t hfsr, uint32_t pc)
{
    CHECK(last.count == 1, "%s: %u faults taken, expected 1", what, last.count);
    CHECK(last.exc == exc, "%s: exception %u, expected %u", what, last.exc, exc);
    CHECK(last.cfsr == cfsr, "%s: CFSR 0x%08x, expected 0x%08x", what, last.cfsr, cfsr);
    CHECK(last.hfsr == hfsr, "%s: HFSR 0x%08x, expected 0x%08x", what, last.hfsr, hfsr);
    CHECK(last.pc == pc, "%s: stacked PC 0x%08x, expected 0x%08x", what, last.pc, pc);
    test_ok("%s: exception %u CFSR=0x%08x HFSR=0x%08x", what, last.exc, last.cfsr, last.hfsr);
    if (cfsr & MMFSR_MMARVALID)
        kprintf("    MMFAR=0x%08x\n", last.mmfar);
    last.count = 0;
}

static void expect_none(const char *what)
{
    CHECK(last.count == 0, "%s: %u faults taken, expected none", what, last.count);
    test_ok("%s: no fault", what);
}

/* 2 KiB of RAM: the 32-byte region sits at offset 0x400 + 0x60 (inside one 1 KiB page), the
 * 256-byte one at offset 0x100. */
static volatile uint32_t area[512] __attribute__((aligned(2048)));
/* Code run from RAM: movs r0, #42; bx lr. */
static uint16_t ram_code[4] __attribute__((aligned(8)));

int main(void)
{
    test_start("mpu_region");
    CHECK_EQ(MPU_TYPE, 0x800, "MPU_TYPE (8 regions)");
    SCB_SHCSR |= SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;

    const uint32_t base = (uint32_t)area;
    const uint32_t guard = base + 0x460, ro = base + 0x100;
    mpu_region(0, 0x00000000u, RASR(22, 6, 0, 0));
    mpu_region(1, 0x20000000u, RASR(22, 3, 1, 0));
    mpu_region(2, guard, RASR(5, 0, 1, 0));
    mpu_region(3, ro, RASR(8, 6, 1, 0x02));
    MPU_CTRL = 5;   /* ENABLE | PRIVDEFENA */
    dsb();
    isb();
    kprintf("MPU_CTRL=0x%08x\n", MPU_CTRL);

    /* (a) the 32-byte region */
    area[0x460 / 4 - 1] = 0x11111111u;
    area[0x480 / 4] = 0x22222222u;
    CHECK_EQ(probe_load(guard - 4, 0), 0x11111111u, "load just below the region");
    CHECK_EQ(probe_load(guard + 0x20, 0), 0x22222222u, "load just above the region");
    expect_none("(a) ldr below and above the 32-byte region");
    probe_load(guard, 0);
    expect_fault("(a) ldr from the region", EXC_MEMMANAGE, MMFSR_DACCVIOL | MMFSR_MMARVALID, 0, INSN(probe_load_insn));
    CHECK_EQ(last.mmfar, guard, "MMFAR");
    probe_store(guard + 0x1c, 0x1234);
    expect_fault("(a) str to the region's last word", EXC_MEMMANAGE, MMFSR_DACCVIOL | MMFSR_MMARVALID, 0,
                 INSN(probe_store_insn));
    CHECK_EQ(last.mmfar, guard + 0x1c, "MMFAR");
    probe_store(guard + 0x20, 0x5678);
    probe_store(guard - 4, 0x9abc);
    expect_none("(a) str beside the region");
    CHECK_EQ(area[0x480 / 4], 0x5678, "stored above");
    CHECK_EQ(area[0x460 / 4 - 1], 0x9abc, "stored below");

    /* (b) subregions */
    probe_store(ro + 0x40, 3);
    expect_fault("(b) str to read-only subregion 2", EXC_MEMMANAGE, MMFSR_DACCVIOL | MMFSR_MMARVALID, 0,
                 INSN(probe_store_insn));
    CHECK_EQ(last.mmfar, ro + 0x40, "MMFAR");
    probe_store(ro, 4);
    expect_fault("(b) str to read-only subregion 0", EXC_MEMMANAGE, MMFSR_DACCVIOL | MMFSR_MMARVALID, 0,
                 INSN(probe_store_insn));
    CHECK_EQ(last.mmfar, ro, "MMFAR");
    CHECK_EQ(probe_load(ro + 0x40, 0), 0, "load from a read-only subregion");
    expect_none("(b) ldr from read-only subregion 2");
    /* Last: QEMU 7.2 caches a whole-page TLB entry for an access that falls through a disabled
     * subregion to a lower region (until the next MPU write flushes it). */
    probe_store(ro + 0x20, 1);
    probe_store(ro + 0x3c, 2);
    expect_none("(b) str to the disabled subregion 1 (region 1 applies)");

    /* (c) execute-never */
    ram_code[0] = 0x202a;   /* movs r0, #42 */
    ram_code[1] = 0x4770;   /* bx lr */
    dsb();
    isb();
    resume_pc = (uint32_t)probe_bx_resume;
    probe_bx((uint32_t)ram_code | 1u, 0);
    expect_fault("(c) bx to code in RAM (XN)", EXC_MEMMANAGE, MMFSR_IACCVIOL, 0, (uint32_t)ram_code);
    mpu_region(1, 0x20000000u, RASR(22, 3, 0, 0));
    dsb();
    isb();
    uint32_t r = ((uint32_t (*)(void))((uint32_t)ram_code | 1u))();
    CHECK_EQ(r, 42, "code in RAM without XN");
    expect_none("(c) code in RAM with XN clear");

    /* (d) escalation */
    SCB_SHCSR &= ~SHCSR_MEMFAULTENA;
    probe_load(guard + 8, 0);
    expect_fault("(d) ldr from the region, MemManage disabled", EXC_HARDFAULT, MMFSR_DACCVIOL | MMFSR_MMARVALID,
                 HFSR_FORCED, INSN(probe_load_insn));
    CHECK_EQ(last.mmfar, guard + 8, "MMFAR");
    SCB_SHCSR |= SHCSR_MEMFAULTENA;

    /* (e) off */
    MPU_CTRL = 0;
    dsb();
    isb();
    probe_store(guard, 0x77);
    CHECK_EQ(probe_load(guard, 0), 0x77, "load from the region with the MPU off");
    expect_none("(e) MPU off");
    test_pass();
}
