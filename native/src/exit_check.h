// The block start without a block hook (see exit_check.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace cmemu {

class NativeCpu;

constexpr size_t kCallCacheSize = 1 << 14;      // entries of NativeCpu::calls_ (a power of two)
constexpr size_t kStartBitsMask = (1u << 18) - 1;  // words of NativeCpu::startBits_ - 1 (1 GiB of code)
// Block starts between two polls: the host clock (a run with a deadline) and the TLB's size.
constexpr uint32_t kDeadlinePollBlocks = 1024;
// Send every block start of this thread's run to the wrapper from now on: after a uc_emu_stop
// outside a block start (a hook, an MMIO callback), so that the next start's exit check sees it.
void gateAlways();
// The gate word's low half (the countdown; the high half is the exit request: exit_check.cc,
// CmemuTls::gate), from any thread; nothing if there is no gate word.
inline void storeGateLow(int32_t* gate, uint16_t v) {
  if (gate != nullptr) __atomic_store_n(reinterpret_cast<uint16_t*>(gate), v, __ATOMIC_SEQ_CST);
}


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
// Literal loads (LDR Rt, [PC, #imm] and its byte and halfword forms: the constant pools in flash)
// use MMU index 8 + the core index (0-3), tables QEMU has (NB_MMU_MODES 12) and M-profile code never
// selects (align_check.cc). The TLB is indexed by page number modulo its size, and flash at 0 and
// RAM at 0x20000000 put the pages at the same offset in the same slot at any size: code whose hot
// constants and hot data lie at the same offsets of the two (the vector table and early code, and
// .data/.bss at the start of RAM) otherwise swaps the two entries through the victim TLB, Unicorn's
// slow path, at every alternation. The TLB-fill hook decides by address and the current privilege
// alone, so these entries are filled exactly as the data entries are.
constexpr int kLiteralMmuIdxBase = 8;
// align_check.cc found uc->no_exit_request where this build expects it: accesses can be emitted
// without their exit check.
bool accessChecksOmittable();
// SP's TCG global of a TCGContext as a TCGv (made by arm_translate_init), or 0 if not seen.
intptr_t spGlobal(void* tcgCtx);
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
  int32_t* prevGate;
  int32_t prevGateRearm;
};

}  // namespace cmemu
