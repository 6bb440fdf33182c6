// The block start without a block hook (see exit_check.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace cmemu {

class NativeCpu;

constexpr size_t kCallCacheSize = 1 << 14;      // entries of NativeCpu::calls_ (a power of two)
constexpr size_t kStartBitsMask = (1u << 18) - 1;  // words of NativeCpu::startBits_ - 1 (1 GiB of code)
constexpr uint32_t kDeadlinePollBlocks = 1024;  // blocks between two clock polls with a deadline
constexpr uint32_t kNoPollBlocks = 0xFFFFFFFFu; // no deadline: the countdown only wraps

// Unicorn's TCGContext of `uc`, learnt by flushing its (empty) code buffer; nullptr if not seen.
void* captureTcgContext(void* uc);
// NativeCpus alive on this thread (a region reset clears their call caches).
void registerCpu(NativeCpu* cpu);
void unregisterCpu(NativeCpu* cpu);

// The NativeCpu whose run is in progress on this thread (nullptr outside runs).
NativeCpu* currentCpu();

// The core MMU index that the addon gives, at translation, to the accesses of instructions that
// ARMv7-M leaves UNDEFINED but Unicorn's translator performs (align_check.cc): no TLB entry is
// ever made for it, so each such access reaches the TLB-fill hook, which refuses it as an
// undefined instruction. M-profile cores without the Security Extension never use it
// (QEMU's ARMMMUIdx_MSPrivNegPri).
constexpr int kUndefMmuIdx = 7;
// The MMU index of the TLB fill in progress on this thread (unicorn_fill_tlb wrapper), or -1.
int fillMmuIdx();

// While a run is in progress on this thread, the block-start wrapper serves this CPU.
struct RunScope {
  explicit RunScope(NativeCpu* cpu);
  ~RunScope();
  NativeCpu* prev;
  uintptr_t prevPhase, prevMask;
  int64_t prevPoll;
  int32_t prevAttention;
  int32_t prevFastCount;
  void* prevCountBase;
  void* prevStartBits;
  uintptr_t prevTbOff, prevStartOff;
};

}  // namespace cmemu
