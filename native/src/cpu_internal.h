// Shared by the files of NativeCpu (cpu.cc, run.cc, memory.cc, mpu.cc, traps.cc, idle.cc,
// exit_check.cc): Unicorn internals the addon calls, and small helpers.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "cpu.h"
#include "exit_check.h"

#include <unicorn/arm.h>

extern "C" {
void tlb_flush_page_by_mmuidx_arm(void* cpu, uint32_t addr, uint16_t idxmap);
// QEMU's precise unwind (what a refused TLB fill does): restore the guest state (PC, ITSTATE) of
// the instruction whose translated code is at host address `host_pc`, then leave the TB.
bool cpu_restore_state_arm(void* cpu, uintptr_t host_pc, bool will_exit);
void cpu_loop_exit_arm(void* cpu) __attribute__((noreturn));
}

namespace cmemu {
namespace {

// uc_emu_stop outside the block-start wrapper (a hook, an MMIO callback): the stop takes effect at
// the next exit check, so the next block start must make one even if it is gated.
inline void stopEngine(uc_engine* uc) {
  uc_emu_stop(uc);
  gateAlways();
}

constexpr uint32_t kPageBits = 10;  // Unicorn's ARM target page: 1 KiB
constexpr uint32_t kPageSize = 1u << kPageBits;
constexpr uint32_t kPageMask = ~(kPageSize - 1);
constexpr int64_t kTimerBackstopNs = 10000000;
constexpr int64_t kTimerBackstopLoNs = 2000000;
constexpr int64_t kTimerBackstopHiNs = 20000000;
// Shadow MMIO windows for pages the MPU splits (see HookTlbFill): guest address + base, one window
// per privilege, above the 32-bit address space (Unicorn's ARM has 40-bit physical addresses).
constexpr uint64_t kShadowBase[2] = {0x200000000ull /* unprivileged */, 0x100000000ull /* privileged */};
constexpr uint64_t kShadowSize = 0x100000000ull;
constexpr uint32_t kProtR = 1, kProtW = 2, kProtX = 4;
// Unicorn 2.1.4's CPUState layout (x86-64 build, read from the disassembly of load_helper /
// store_helper): io_readx/io_writex store the TB's host return address in cpu->mem_io_pc before
// calling an MMIO callback; the ARM env follows CPUState at +0xa2f0, and cpu->env_ptr (+0x128)
// points to it, which the constructor checks before trusting the layout.
constexpr size_t kCpuEnvPtrOff = 0x128, kCpuMemIoPcOff = 0x8178, kCpuEnvOff = 0xa2f0;
// cpu->icount_decr_ptr (right after env_ptr) and the IcountDecr it points to (the end of
// CPUNegativeOffsetState, 16 bytes before env; cpu_loop_exit_requested reads it at +0xa2e0).
constexpr size_t kCpuIcountDecrPtrOff = 0x130, kCpuIcountDecrOff = 0xa2e0;
// cpu->exception_index (cpu_loop_exit_noexc stores -1 there) and QEMU's EXCP_YIELD.
constexpr size_t kCpuExceptionIndexOff = 0x81a0;
constexpr int kExcpYield = 0x10004;

inline bool isPpb(uint32_t a) { return a >= 0xE0000000u && a < 0xE0100000u; }

// v7-M default memory map: instruction fetches from these regions are execute-never.
inline bool isExecuteNever(uint32_t a) {
  return (a >= 0x40000000u && a <= 0x5FFFFFFFu) || a >= 0xA0000000u;
}

inline uint64_t toU64Limit(double v) {
  if (std::isnan(v) || v <= 0) return 0;
  if (!std::isfinite(v) || v >= 18446744073709551615.0) return UINT64_MAX;
  return static_cast<uint64_t>(v);
}

inline uint32_t toU32(const Napi::Value& v) {
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) return 0;
  return static_cast<uint32_t>(static_cast<int64_t>(d));
}

inline int regIdFor(uint32_t n) {
  if (n <= 12) return UC_ARM_REG_R0 + static_cast<int>(n);
  if (n == 13) return UC_ARM_REG_SP;
  if (n == 14) return UC_ARM_REG_LR;
  return UC_ARM_REG_PC;
}

inline bool touchesHflags(int id) {
  switch (id) {
    case UC_ARM_REG_IPSR:
    case UC_ARM_REG_XPSR:
    case UC_ARM_REG_XPSR_NZCVQ:
    case UC_ARM_REG_XPSR_G:
    case UC_ARM_REG_XPSR_NZCVQG:
    case UC_ARM_REG_IEPSR:
    case UC_ARM_REG_EPSR:
    case UC_ARM_REG_IAPSR:
    case UC_ARM_REG_IAPSR_NZCVQ:
    case UC_ARM_REG_IAPSR_G:
    case UC_ARM_REG_IAPSR_NZCVQG:
    case UC_ARM_REG_EAPSR:
    case UC_ARM_REG_EAPSR_NZCVQ:
    case UC_ARM_REG_EAPSR_G:
    case UC_ARM_REG_EAPSR_NZCVQG:
    case UC_ARM_REG_CONTROL:
    case UC_ARM_REG_PRIMASK:
    case UC_ARM_REG_FAULTMASK:
    case UC_ARM_REG_BASEPRI:
    case UC_ARM_REG_BASEPRI_MAX:
      return true;
    default:
      return false;
  }
}

}  // namespace
}  // namespace cmemu
