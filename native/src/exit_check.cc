// The block start without a block hook: counting, stop requests, deadlines and every rare
// condition are handled in a wrapper around Unicorn's exit check.
//
// Unicorn 2.1.4 emits a call to helper_check_exit_request(uc, 0) at the start of every translated
// block (gen_tb_start, qemu/include/exec/gen-icount.h) and after every guest memory access outside
// IT blocks (check_exit_request, qemu/tcg/tcg-op.c). The addon is linked with
// -Wl,--wrap=helper_check_exit_request_arm (binding.gyp), so generated code calls
// __wrap_helper_check_exit_request_arm below, which tail-calls the real helper: the helper's
// GETPC() is still the translated block's return address, and a stop requested here (uc_emu_stop)
// leaves at once with PC restored to the block's first instruction (nothing of it has run), exactly
// as a stop from a block hook did. Stops are only ever requested at a block start: a stop at a
// check after an access would restore PC to the accessing instruction, which then runs again
// (an MMIO store twice).
//
// The wrapper tells a block-start call from an access call, and finds the block's guest address,
// size and instruction count, from the call's host return address. Every new block passes through
// tb_gen_code (wrapped as well): its host code starts with the start call (nothing precedes it
// without a block hook: mov[abs] $uc, %rdi; xor %esi, %esi; call), which onNewBlock() decodes and checks
// (the call must reach this wrapper), and records in a direct-mapped cache (NativeCpu::calls_) by
// that return address, with QEMU's own guest address, size and instruction count of the block.
// Blocks start on an icache-line boundary (tcg_tb_alloc) and the start call's length is the same
// in every block, so every start call's return address has the same offset in its 64-byte line:
// a call at any other offset is an access call and costs two compares. If a block ever breaks
// either rule, the wrapper falls back to probing every call (callMiss: QEMU's tcg_tb_lookup,
// and the offset from the block's first host byte), slower but still exact.
// Host code is reused only after a code-buffer reset (tcg_region_reset_all, wrapped too), which
// clears the caches; invalidated blocks keep their code until then (never run again).
//
// Per block this costs one cache probe, one test of one word of rare conditions (RareFlags), the
// stop word, the instruction limit and the clock-poll countdown: no decode, no hash probe through
// a PLT, no block hook (whose PC store and argument set-up Unicorn would emit into every block).
// And in a run that neither counts nor tracks, not even the call: onNewBlock rewrites each start
// call's argument set-up into a gate on QEMU's own icount_decr word (see CmemuTls::gate), and the
// start costs two instructions unless a stop, a rare condition or the poll wants it looked at.
#include "exit_check.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <vector>

#include "cpu.h"
#include "watcher.h"

extern "C" {
// Per emulation thread, in one cache line that the wrapper's first instructions read anyway:
// - phase/phase_mask: the first filter, set for the engine that runs: a return address whose
//   offset in its 64-byte line is not that engine's start-call phase is an access call (see
//   onNewBlock, which keeps this true: phase_mask is 0, every call looked at, until a block shows
//   the phase, and for good as soon as any block breaks it);
// - attention: non-zero makes the next block start be looked at (a run that counts, a rare
//   condition, a stop request; the watcher thread writes it through cmemu_attention_word());
//   else block starts only count `poll` down and are looked at when it goes negative (the
//   deadline poll);
// - fast_count: a counting run in fast mode with nothing else to look at: the wrapper itself
//   counts a block start whose start bit (start_bits) is set and whose TranslationBlock (return
//   address - tb_off) points back at it (tc.ptr = return address - start_off): through
//   count_base (NativeCpu::icount_, then limit_, blockBefore_, blockTb_) it adds tb->icount,
//   unless that reaches the limit, and records the block for syncBlock(); anything else goes to
//   cmemu_block_start as before;
// - cpu: the NativeCpu running on this thread (RunScope); fill_ra: the host return address of
//   the TLB fill in progress (unicorn_fill_tlb wrapper), or 0;
// - gate: the block-start gate. QEMU's generated code starts each block with a test of
//   icount_decr.u32 (negative: an exit is requested, cpu_exit sets the high half to -1); Unicorn
//   replaced that with the call. onNewBlock rewrites the call's argument set-up (mov $uc, %edi or
//   movabs; xor %esi, %esi: 7 or 12 bytes) as `nop; decl icount_decr(%rbp); jns <past the call>`
//   (TCG keeps env in %rbp; the call and its return address stay where they were): a block start
//   costs two instructions and calls the wrapper only when the word goes negative, i.e. when an
//   exit is requested or when the low half, which Unicorn never uses (it has no icount), counted
//   down through 0 (the word is then exactly -1: the wrapper writes gate_rearm back and, if that
//   is not 0, looks at the start as a poll that ran out). gate_rearm 0 sends every start to the
//   wrapper (a run that counts or tracks, attention, a stop under way); otherwise it is
//   kDeadlinePollBlocks. Only the wrapper writes the high half (never while an exit is requested);
//   everything else writes the low half: the watcher thread stores 0 there after attention, and
//   a store that races the inline decrement can be lost, which delays that wake by at most
//   kDeadlinePollBlocks block starts (the next look finds attention set).
struct CmemuTls {
  uintptr_t phase;       // 0
  uintptr_t phase_mask;  // 8
  int64_t poll;          // 16
  int32_t attention;     // 24
  int32_t fast_count;    // 28
  uint64_t* count_base;  // 32: &NativeCpu::icount_
  uint64_t* start_bits;  // 40
  uintptr_t tb_off;      // 48
  uintptr_t start_off;   // 56
  void* cpu;             // 64
  uintptr_t fill_ra;     // 72
  void* uc;              // 80: cpu's engine
  int32_t fill_idx;      // 88: the MMU index of the TLB fill in progress, or -1
  int32_t* gate;         // 96: the running engine's gate word (its icount_decr.u32), or nullptr
  int32_t gate_rearm;    // 104: what the wrapper writes back when a gated countdown ran out
  int32_t gate_expired;  // 108: set by the wrapper when it did (nonTrackingStart: the poll is due)
};
__attribute__((visibility("hidden"))) thread_local CmemuTls cmemu_tls
    __attribute__((tls_model("initial-exec"), aligned(64))) = {0, 0, INT64_MAX, 0, 0, nullptr, nullptr, 0, 0, nullptr, 0, nullptr, -1, nullptr, 0, 0};
static_assert(offsetof(CmemuTls, attention) == 24 && offsetof(CmemuTls, fast_count) == 28 && offsetof(CmemuTls, count_base) == 32 &&
                  offsetof(CmemuTls, start_bits) == 40 && offsetof(CmemuTls, tb_off) == 48 && offsetof(CmemuTls, start_off) == 56 &&
                  offsetof(CmemuTls, uc) == 80 && offsetof(CmemuTls, gate) == 96 && offsetof(CmemuTls, gate_rearm) == 104 &&
                  offsetof(CmemuTls, gate_expired) == 108,
              "the wrapper's offsets");
bool __real_unicorn_fill_tlb_arm(void* cs, uint64_t address, int size, int rw, int mmu_idx, bool probe, uintptr_t retaddr);
void cmemu_block_start(uintptr_t ra, void* uc);
void __real_helper_check_exit_request_arm(void* uc, uint32_t in_delay_slot);
void __real_tcg_region_reset_all_arm(void* tcg_ctx);
void* tcg_tb_lookup_arm(void* tcg_ctx, uintptr_t tc_ptr);
void* __real_tb_gen_code_arm(void* cpu, uint32_t pc, uint32_t cs_base, uint32_t flags, int cflags);
void __wrap_helper_check_exit_request_arm(void* uc, uint32_t in_delay_slot);
}

namespace cmemu {

void gateAlways() {
  cmemu_tls.gate_rearm = 0;
  storeGateLow(cmemu_tls.gate, 0);
}

namespace {

thread_local void** t_captureCtx __attribute__((tls_model("initial-exec"))) = nullptr;
thread_local std::vector<NativeCpu*>* t_cpus = nullptr;

// struct TranslationBlock, Unicorn 2.1.4 (qemu/include/exec/exec-all.h), 32-bit guest on a 64-bit
// host: target_ulong pc @0, cs_base @4, uint32_t flags @8, uint16_t size @12, uint16_t icount @14,
// uint32_t cflags @16, trace_vcpu_dstate @20, struct tb_tc { void* ptr; size_t size; } tc @24.
constexpr size_t kTbPc = 0, kTbSize = 12, kTbIcount = 14, kTbTcPtr = 24, kTbTcSize = 32;
// The wrapper's fast count (the asm below) writes these as immediates: keep them in step.
static_assert(kTbIcount == 14 && kTbTcPtr == 24 && kTbSize + 2 == kTbIcount && kStartBitsMask == 0x3ffff,
              "__wrap_helper_check_exit_request_arm's offsets and mask");
// Without the decoded pattern (fallback): the start call's return address lies this close to the
// block's first host byte (12 to 18 bytes: mov[abs] $uc, %rdi; xor %esi, %esi; call); an access
// call lies past an inline TLB lookup and the start call (over 60 bytes).
constexpr uintptr_t kStartMax = 40;

template <typename T>
T field(const char* p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}

}  // namespace

void* captureTcgContext(void* uc) {
  void* ctx = nullptr;
  t_captureCtx = &ctx;
  uc_ctl_flush_tb(static_cast<uc_engine*>(uc));
  t_captureCtx = nullptr;
  return ctx;
}

NativeCpu* currentCpu() { return static_cast<NativeCpu*>(cmemu_tls.cpu); }

void registerCpu(NativeCpu* cpu) {
  if (t_cpus == nullptr) t_cpus = new std::vector<NativeCpu*>();
  t_cpus->push_back(cpu);
}

void unregisterCpu(NativeCpu* cpu) {
  if (t_cpus == nullptr) return;
  for (size_t i = 0; i < t_cpus->size(); i++) {
    if ((*t_cpus)[i] == cpu) {
      t_cpus->erase(t_cpus->begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
}

RunScope::RunScope(NativeCpu* cpu)
    : prev(static_cast<NativeCpu*>(cmemu_tls.cpu)),
      prevPhase(cmemu_tls.phase),
      prevMask(cmemu_tls.phase_mask),
      prevPoll(cmemu_tls.poll),
      prevAttention(cmemu_tls.attention),
      prevFastCount(cmemu_tls.fast_count),
      prevCountBase(cmemu_tls.count_base),
      prevStartBits(cmemu_tls.start_bits),
      prevTbOff(cmemu_tls.tb_off),
      prevStartOff(cmemu_tls.start_off),
      prevGate(cmemu_tls.gate),
      prevGateRearm(cmemu_tls.gate_rearm) {
  cmemu_tls.fast_count = 0;
  cmemu_tls.cpu = cpu;
  cmemu_tls.uc = cpu->ucHandle();
  cmemu_tls.gate = cpu->gateWord();
}
// A run nested in another engine's MMIO handler gives the outer run its thread state back.
RunScope::~RunScope() {
  cmemu_tls.cpu = prev;
  cmemu_tls.uc = prev != nullptr ? prev->ucHandle() : nullptr;
  cmemu_tls.phase = prevPhase;
  cmemu_tls.phase_mask = prevMask;
  cmemu_tls.poll = prevPoll;
  cmemu_tls.count_base = static_cast<uint64_t*>(prevCountBase);
  cmemu_tls.start_bits = static_cast<uint64_t*>(prevStartBits);
  cmemu_tls.tb_off = prevTbOff;
  cmemu_tls.start_off = prevStartOff;
  cmemu_tls.fast_count = prevFastCount;
  __atomic_store_n(&cmemu_tls.attention, prevAttention, __ATOMIC_SEQ_CST);
  cmemu_tls.gate = prevGate;
  cmemu_tls.gate_rearm = prevGateRearm;
}

void NativeCpu::onRegionReset(void* tcgCtx) {
  if (t_cpus == nullptr) return;
  for (NativeCpu* c : *t_cpus)
    if (c->tcgCtx_ == tcgCtx) c->clearCalls();
}

void NativeCpu::clearCalls() {
  std::fill(calls_.begin(), calls_.end(), CallEntry{});
  if (startBits_ != nullptr) {
    for (uint32_t w : startWords_) startBits_[w] = 0;
    startWords_.clear();
  }
  exitBlocks_.clear();
}

inline void NativeCpu::atExitCheck(uintptr_t ra) {
  uint32_t pc;
  uint32_t size, count;
  if (__builtin_expect(fastMode_, 1)) {
    // Fast mode: a start call returns at the start phase of a line that starts a block (startBits_),
    // and its TranslationBlock lies tbOff_ bytes before, with tc.ptr pointing back at the line.
    // The wrapper's filter has checked the phase (cmemu_tls.phase_mask is 63 in fast mode once a
    // block showed it; before that nothing is cached and no bit is set).
    // First a compact cache of the recent block starts (16 bytes each, one per 256 bytes of code:
    // the hot ones stay in L1), filled only from verified starts.
    CallEntry& hot = hotCalls_[(ra >> 8) & (kCallCacheSize - 1)];
    if (__builtin_expect(hot.ra == ra, 1)) {
      pc = hot.pc;
      size = hot.size;
      count = hot.count;
      goto have;
    }
    {
    if (((ra - startPhase_) & 63) != 0) return;
    const uintptr_t line = ra >> 6;
    const char* tb = reinterpret_cast<const char*>(ra - tbOff_);
    if (!((startBits_[(line >> 6) & kStartBitsMask] >> (line & 63)) & 1)) {
      if (__builtin_expect(exitBlocks_.empty(), 1)) return;
      if (field<uintptr_t>(tb, kTbTcPtr) != ra - startOff_) return;
      CallEntry x;
      if (!exitBlock(reinterpret_cast<uintptr_t>(tb), &x)) return;
      pc = x.pc;
      size = x.size;
      count = x.count;
    } else {
      if (field<uintptr_t>(tb, kTbTcPtr) != ra - startOff_) return;
      pc = field<uint32_t>(tb, kTbPc);
      const uint32_t sc = field<uint32_t>(tb, kTbSize);  // size @12, icount @14
      size = sc & 0xFFFF;
      count = sc >> 16;
      hot.ra = ra;
      hot.pc = pc;
      hot.size = static_cast<uint16_t>(size);
      hot.count = static_cast<uint16_t>(count);
    }
    }
  } else {
    const CallEntry& t = calls_[(ra >> 2) & (kCallCacheSize - 1)];
    if (__builtin_expect(t.ra != ra, 0)) {
      callMiss(ra);
      return;
    }
    if (t.pc & 1) return;  // the check after a memory access
    pc = t.pc;
    size = t.size;
    count = t.count;
  }
have:
  if (!tracking_) {
    CallEntry e;
    e.pc = pc;
    e.size = static_cast<uint16_t>(size);
    e.count = static_cast<uint16_t>(count);
    nonTrackingStart(e);
    return;
  }
  blockTb_ = 0;  // this start is counted here
  bool due;
  if (fastCount_) {
    // The wrapper counts what it can; this start came here for a reason (a rare condition, a stop,
    // the limit, the poll, a start it could not verify): look, then let the wrapper count again
    // unless something still wants attention (the order of nonTrackingStart, for the watcher).
    due = cmemu_tls.poll < 0;
    if (due) cmemu_tls.poll = kDeadlinePollBlocks;
    __atomic_store_n(&cmemu_tls.attention, 0, __ATOMIC_SEQ_CST);
  } else {
    due = --deadlinePoll_ == 0;
  }
  if (__builtin_expect((rare_.any != 0) | (stopBits_.load() != 0) | (icount_ >= limit_) | due, 0)) {
    CallEntry e;
    e.pc = pc;
    e.size = static_cast<uint16_t>(size);
    e.count = static_cast<uint16_t>(count);
    slowBlockStart(e, due);
    if (fastCount_ && (rare_.any != 0 || stopBits_.load() != 0)) lookAtEveryStart();
    if (__builtin_expect(traceExec_, 0) && hookStop_ == HookStop::None && blockValid_ && blockStart_ == pc) traceBlock(pc);
    return;
  }
  if (__builtin_expect(traceExec_, 0)) traceBlock(pc);
  blockValid_ = true;
  blockStart_ = pc;
  blockSize_ = size;
  blockCount_ = count;
  blockBefore_ = icount_;
  icount_ += count;
}

void NativeCpu::callMiss(uintptr_t ra) {
  callMisses_++;
  CallEntry n;
  n.ra = ra;
  const char* tb = static_cast<const char*>(tcg_tb_lookup_arm(tcgCtx_, ra));
  if (tb != nullptr) {
    const uintptr_t ptr = field<uintptr_t>(tb, kTbTcPtr);
    const size_t tcSize = field<size_t>(tb, kTbTcSize);
    const uint32_t pc = field<uint32_t>(tb, kTbPc);
    if (ra <= ptr || ra - ptr > tcSize || (pc & 1)) {
      layoutBad_ = true;  // Run() reports it (EngineError)
    } else if (startOff_ != 0 ? ra - ptr == startOff_ : ra - ptr <= kStartMax) {
      auto it = exitBlocks_.find(reinterpret_cast<uintptr_t>(tb));
      if (it != exitBlocks_.end()) {
        n = it->second;
        n.ra = ra;
      } else {
        n.pc = pc;
        n.size = field<uint16_t>(tb, kTbSize);
        n.count = field<uint16_t>(tb, kTbIcount);
      }
      if (checkCounts_) {
        const uint32_t decoded = countRange(pc, n.size);
        if (decoded != n.count && n.count != 0)
          fprintf(stderr, "cmemu: block 0x%08x+%u: QEMU counts %u instructions, the decoder %u\n", pc, n.size, n.count, decoded);
      }
    }
  }
  CallEntry& e = calls_[(ra >> 2) & (kCallCacheSize - 1)];
  e = n;
  // A block start seen for the first time was probably just translated (slow): poll the clock now.
  if (e.pc & 1) return;
  if (tracking_) {
    slowBlockStart(e, true);
  } else {
    nonTrackingStart(e);
  }
}

// A block was just translated: find its start call (see the top of this file) and record it.
void NativeCpu::onNewBlock(const void* tbp) {
  const char* tb = static_cast<const char*>(tbp);
  const auto* p = reinterpret_cast<const uint8_t*>(field<uintptr_t>(tb, kTbTcPtr));
  const size_t tcSize = field<size_t>(tb, kTbTcSize);
  const uint32_t pc = field<uint32_t>(tb, kTbPc);
  newBlocks_++;
  if (fetchExitSet_) {
    // Translated while an exit is set (splitFetchStop): QEMU counts the exit itself as an
    // instruction of the block (it never runs, and lies outside tb->size). These blocks are
    // counted by the decoder, from a side table by TranslationBlock (they stay in the code cache
    // after the exit goes); they never get a start bit.
    CallEntry n;
    n.pc = pc;
    n.size = field<uint16_t>(tb, kTbSize);
    n.count = static_cast<uint16_t>(countRange(pc, n.size));
    exitBlocks_[reinterpret_cast<uintptr_t>(tb)] = n;
  }
  size_t i = 0;
  bool rdi = false, esi = false;
  for (int k = 0; k < 2 && i + 10 <= tcSize; k++) {
    if (p[i] == 0x48 && p[i + 1] == 0xbf && field<uint64_t>(reinterpret_cast<const char*>(p), i + 2) == reinterpret_cast<uintptr_t>(uc_)) {
      i += 10;  // movabs $uc, %rdi
      rdi = true;
    } else if (p[i] == 0xbf && field<uint32_t>(reinterpret_cast<const char*>(p), i + 1) == reinterpret_cast<uintptr_t>(uc_)) {
      i += 5;  // mov $uc, %edi (uc below 4 GiB)
      rdi = true;
    } else if ((p[i] == 0x31 || p[i] == 0x33) && p[i + 1] == 0xf6) {
      i += 2;  // xor %esi, %esi
      esi = true;
    } else {
      break;
    }
  }
  uintptr_t ra = 0, target = 0;
  if (rdi && esi && i + 6 <= tcSize) {
    if (p[i] == 0xe8) {  // call rel32
      ra = reinterpret_cast<uintptr_t>(p + i + 5);
      target = ra + static_cast<intptr_t>(field<int32_t>(reinterpret_cast<const char*>(p), i + 1));
    } else if (p[i] == 0xff && p[i + 1] == 0x15) {  // call *rel32(%rip)
      ra = reinterpret_cast<uintptr_t>(p + i + 6);
      target = field<uintptr_t>(reinterpret_cast<const char*>(ra + static_cast<intptr_t>(field<int32_t>(reinterpret_cast<const char*>(p), i + 2))), 0);
    }
  }
  if (target != reinterpret_cast<uintptr_t>(&__wrap_helper_check_exit_request_arm) || (pc & 1)) {
    if (startBits_ != nullptr && getenv("CMEMU_NATIVE_STATS") != nullptr) {
      fprintf(stderr, "cmemu native: block 0x%08x: start call not recognised (target %lx, wrapper %lx):", pc, (unsigned long)target, (unsigned long)(uintptr_t)&__wrap_helper_check_exit_request_arm);
      for (size_t k = 0; k < 32 && k < tcSize; k++) fprintf(stderr, " %02x", p[k]);
      fprintf(stderr, "\n");
    }
    phaseFallback();
    return;
  }
  if (checkCounts_ && !fetchExitSet_) {
    const uint32_t decoded = countRange(pc, field<uint16_t>(tb, kTbSize));
    const uint32_t n = field<uint16_t>(tb, kTbIcount);
    if (decoded != n) fprintf(stderr, "cmemu: block 0x%08x: QEMU counts %u instructions, the decoder %u\n", pc, n, decoded);
  }
  if (startBits_ == nullptr) return;  // table mode: callMiss classifies
  const uintptr_t off = ra - reinterpret_cast<uintptr_t>(p), tbOff = ra - reinterpret_cast<uintptr_t>(tb);
  if (!phaseKnown_) {
    phaseKnown_ = true;
    startPhase_ = ra & 63;
    startOff_ = off;
    tbOff_ = tbOff;
    cmemu_tls.phase = startPhase_;  // this engine runs on this thread now
    cmemu_tls.phase_mask = 63;
  } else if ((ra & 63) != startPhase_ || off != startOff_ || tbOff != tbOff_) {
    phaseFallback();
    return;
  }
  if (fetchExitSet_) return;  // counted from exitBlocks_
  const uintptr_t line = ra >> 6;
  uint64_t& w = startBits_[(line >> 6) & kStartBitsMask];
  if (w == 0) startWords_.push_back(static_cast<uint32_t>((line >> 6) & kStartBitsMask));
  w |= 1ull << (line & 63);
  if (gateWord_ == nullptr) return;
  uint8_t* code = const_cast<uint8_t*>(p);
  const size_t callLen = ra - reinterpret_cast<uintptr_t>(p + i);
  if (i == 7 || i == 12) {
    // The start's argument set-up becomes the gate (see CmemuTls::gate): a nop of 2 or 7 bytes,
    // decl disp8(%rbp) (ff 4d disp8), jns past the call (79 len).
    static const uint8_t kNop2[2] = {0x66, 0x90}, kNop7[7] = {0x0f, 0x1f, 0x80, 0, 0, 0, 0};
    uint8_t g[12];
    const size_t pad = i - 5;
    std::memcpy(g, pad == 2 ? kNop2 : kNop7, pad);
    g[pad] = 0xff;
    g[pad + 1] = 0x4d;
    g[pad + 2] = static_cast<uint8_t>(gateDisp_);
    g[pad + 3] = 0x79;
    g[pad + 4] = static_cast<uint8_t>(callLen);
    std::memcpy(code, g, i);
    gatedBlocks_++;
  }
}

// Unicorn's exit check after each guest memory access only matters to a stop requested during the
// access by a memory hook (UNALIGN_TRP's, a watchpoint's) or by the MPU's shadow-window fallback
// (no usable CPUState layout): a device handler's exception unwinds to the access itself
// (unwindToAccess), code hooks keep the check Unicorn emits after their own call, and every other
// stop is made at a block start. Without those, align_check.cc emits the accesses with no check:
// no helper call, and none of the register spills TCG makes around one.
bool NativeCpu::accessChecksNeeded() const { return alignHook_ != 0 || !watches_.empty() || !shadowPrecise_; }
bool NativeCpu::exitChecksOmitted() const { return accessChecksOmittable() && omitExitChecks_ && !accessChecksNeeded(); }

// Some block did not follow the rules the fast filter relies on: probe every call from now on.
void NativeCpu::phaseFallback() {
  cmemu_tls.phase_mask = 0;  // every call is looked at from now on
  if (fastCount_) {
    // The wrapper counts no more (the start bits go): every block start comes to atExitCheck.
    fastCount_ = false;
    cmemu_tls.fast_count = 0;
    cmemu_tls.start_bits = nullptr;
    lookAtEveryStart();
  }
  if (startBits_ == nullptr) return;
  freeStartBits();
  phaseFallbacks_++;
  calls_.assign(kCallCacheSize, CallEntry{});
  hotCalls_ = calls_.data();
  clearCalls();
}

void NativeCpu::allocStartBits() {
  void* m = mmap(nullptr, (kStartBitsMask + 1) * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  startBits_ = m == MAP_FAILED ? nullptr : static_cast<uint64_t*>(m);
  fastMode_ = startBits_ != nullptr;
  if (startBits_ == nullptr) cmemu_tls.phase_mask = 0;
}

void NativeCpu::freeStartBits() {
  if (startBits_ != nullptr) munmap(startBits_, (kStartBitsMask + 1) * sizeof(uint64_t));
  startBits_ = nullptr;
  fastMode_ = false;
  std::vector<uint32_t>().swap(startWords_);
}

bool NativeCpu::exitBlock(uintptr_t tb, CallEntry* out) {
  auto it = exitBlocks_.find(tb);
  if (it == exitBlocks_.end()) return false;
  *out = it->second;
  return true;
}

// A block start in a run that does not track blocks, reached because something wanted attention
// or the poll countdown ran out: only stops, rare conditions and the clock matter.
// A gated start comes here when its countdown ran out (the poll is due) or while gate_rearm is 0;
// the gate is re-armed before attention is cleared (the watcher writes them in the other order),
// so a stop bit set meanwhile is either seen below or leaves the gate's low half at 0 behind.
void NativeCpu::nonTrackingStart(const CallEntry& e) {
  const bool due = cmemu_tls.poll < 0 || cmemu_tls.gate_expired != 0;
  cmemu_tls.gate_expired = 0;
  if (due) cmemu_tls.poll = kDeadlinePollBlocks;
  cmemu_tls.gate_rearm = kDeadlinePollBlocks;
  storeGateLow(cmemu_tls.gate, kDeadlinePollBlocks);
  __atomic_store_n(&cmemu_tls.attention, 0, __ATOMIC_SEQ_CST);
  if (rare_.any != 0 || stopBits_.load() != 0 || due) {
    slowBlockStart(e, due);
    // Still something to look at (a stop is under way, a watch is armed): keep looking.
    if (rare_.any != 0 || stopBits_.load() != 0) lookAtEveryStart();
  }
}

void NativeCpu::lookAtEveryStart() {
  __atomic_store_n(&cmemu_tls.attention, 1, __ATOMIC_SEQ_CST);
  gateAlways();
}

void NativeCpu::wake() {
  if (running_) lookAtEveryStart();
}

void NativeCpu::beginEmu() {
  tracking_ = counting_ || alignHook_ != 0 || traceExec_;
  cmemu_tls.phase = startPhase_;
  cmemu_tls.phase_mask = startBits_ != nullptr && phaseKnown_ ? 63 : 0;
  forgetBlock();
  // The poll: the host deadline, if any, and the TLB's size (growTlbIfThrashing) every
  // kDeadlinePollBlocks block starts.
  cmemu_tls.poll = kDeadlinePollBlocks;
  // Counting only (no UNALIGN_TRP hook, no exec trace), start bits and phase known: the wrapper
  // counts block starts itself while nothing else wants attention.
  fastCount_ = counting_ && alignHook_ == 0 && !traceExec_ && startBits_ != nullptr && phaseKnown_ && !noFastCount_;
  cmemu_tls.count_base = &icount_;
  cmemu_tls.start_bits = startBits_;
  cmemu_tls.tb_off = tbOff_;
  cmemu_tls.start_off = startOff_;
  cmemu_tls.fast_count = fastCount_ ? 1 : 0;
  const bool look = (tracking_ && !fastCount_) || rare_.any != 0 || stopBits_.load() != 0;
  // Gated starts: every one reaches the wrapper in a run that counts or tracks (or has something
  // to look at); else one in kDeadlinePollBlocks does (the poll, and a bound on a lost wake).
  cmemu_tls.gate_rearm = look || tracking_ ? 0 : static_cast<int32_t>(kDeadlinePollBlocks);
  cmemu_tls.gate_expired = 0;
  if (gateWord_ != nullptr) __atomic_store_n(gateWord_, cmemu_tls.gate_rearm, __ATOMIC_SEQ_CST);  // no exit is requested before the run
  __atomic_store_n(&cmemu_tls.attention, look ? 1 : 0, __ATOMIC_SEQ_CST);
}

void NativeCpu::endEmu() {
  __atomic_store_n(&cmemu_tls.attention, 0, __ATOMIC_SEQ_CST);
  cmemu_tls.fast_count = 0;
  cmemu_tls.poll = INT64_MAX;
  syncBlock();
}

bool NativeCpu::blockOfFill(uint32_t* start, uint32_t* size) {
  if (cmemu_tls.fill_ra == 0 || tcgCtx_ == nullptr) return false;
  const char* tb = static_cast<const char*>(tcg_tb_lookup_arm(tcgCtx_, cmemu_tls.fill_ra));
  if (tb == nullptr) return false;
  *start = field<uint32_t>(tb, kTbPc);
  *size = field<uint16_t>(tb, kTbSize);
  return true;
}

// The block start when anything is set (the order is the old block hook's).
void NativeCpu::slowBlockStart(const CallEntry& e, bool due) {
  if (rare_.f.itFix | rare_.f.alignFired | rare_.f.alignRebuild) {
    // alignFired: an unaligned access with the trap on was seen (late inside an IT block), and
    // Run() undoes everything since. itFix: this block was looked up with a possibly stale
    // ITSTATE. alignRebuild: the guest changed CCR.UNALIGN_TRP. In all cases stop before this
    // block runs (the block info still describes the previous block; icount includes it).
    hookStop_ = rare_.f.alignFired ? HookStop::Align : rare_.f.itFix ? HookStop::ItFix : HookStop::AlignRebuild;
    uc_emu_stop(uc_);
    return;
  }
  if (rare_.f.mpuNegWatch) {
    // Entries were filled with the MPU exempted by FAULTMASK (HFNMIENA clear): a guest CPSIE f or
    // MSR FAULTMASK ends its translated block, so checking here drops them before the next access.
    uint32_t fm = 1;
    uc_reg_read(uc_, UC_ARM_REG_FAULTMASK, &fm);
    if (!(fm & 1) && !mpuHfNmi_) mpuNegPriChanged(false);
  }
  blockValid_ = true;
  blockTb_ = 0;
  blockStart_ = e.pc;
  blockSize_ = e.size;
  blockCount_ = e.count;
  blockBefore_ = icount_;
  if (rare_.f.divStop) {
    // A divide-by-zero stop inside an IT block is undone by Unicorn (no stops in IT blocks);
    // stop now, late. Run() moves PC back to the divide.
    hookStop_ = HookStop::Div;
    uc_emu_stop(uc_);
    return;
  }
  uint32_t bits = stopBits_.load(std::memory_order_relaxed);
  // Host deadline: poll the clock every kDeadlinePollBlocks blocks (and after new blocks); the
  // watcher's timerfd is only a late backstop.
  if (due) {
    growTlbIfThrashing();
    deadlinePoll_ = kDeadlinePollBlocks;
    if (deadlineNs_ != 0 && pollClock(monotonicNowNs())) bits = stopBits_.fetch_or(kStopDeadline) | kStopDeadline;
  }
  if (bits != 0) {
    hookStopNs_ = monotonicNowNs();
    hookStop_ = HookStop::Bits;
    hookStopBits_ = bits;
    uc_emu_stop(uc_);
    return;
  }
  if (icount_ >= limit_) {
    hookStop_ = HookStop::Limit;
    uc_emu_stop(uc_);
    return;
  }
  if (rare_.f.mask && maskWouldTake()) {
    hookStop_ = HookStop::Mask;
    uc_emu_stop(uc_);
    return;
  }
  if (rare_.f.split && !fetchExitSet_ && splitFetchStop(e.pc, e.size)) return;
  if (tracking_) icount_ += blockCount_;
}

int fillMmuIdx() { return cmemu_tls.fill_idx; }

void NativeCpu::syncBlockFromTb() {
  const char* tb = reinterpret_cast<const char*>(blockTb_);
  const uint32_t sc = field<uint32_t>(tb, kTbSize);  // size, then icount
  blockStart_ = field<uint32_t>(tb, kTbPc);
  blockSize_ = sc & 0xFFFF;
  blockCount_ = sc >> 16;
  blockValid_ = true;
  blockTb_ = 0;
}

}  // namespace cmemu

extern "C" {

// The entry generated code calls, without a frame: access calls (the wrong phase) go straight to
// the real helper; block starts too unless something wants attention or the poll countdown ran
// out; the rest call cmemu_block_start with the block's return address and then jump to the real
// helper with the original arguments (its GETPC() is the block's return address: stops are exact).
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl __wrap_helper_check_exit_request_arm\n"
    ".hidden __wrap_helper_check_exit_request_arm\n"
    ".type __wrap_helper_check_exit_request_arm, @function\n"
    "__wrap_helper_check_exit_request_arm:\n"
    "  movq cmemu_tls@gottpoff(%rip), %rdx\n"
    // A gated start whose countdown ran through 0 (the gate word is -1; a gated start sets no
    // arguments, the paths to the real helper and to a look set them): write gate_rearm back;
    // unless that is 0 (every start comes here), look at it as a poll that ran out.
    "  movq %fs:96(%rdx), %rcx\n"
    "  testq %rcx, %rcx\n"
    "  je 4f\n"
    "  cmpl $-1, (%rcx)\n"
    "  jne 4f\n"
    "  movl %fs:104(%rdx), %r8d\n"
    "  movl %r8d, (%rcx)\n"
    "  testl %r8d, %r8d\n"
    "  je 6f\n"
    "  movl $1, %fs:108(%rdx)\n"
    "  jmp 1f\n"
    // Every gated start comes here (gate_rearm 0): only a gated start decrements the gate, so this
    // is a block start of this engine (counting, the start-bit test is skipped), and no exit is
    // requested (the -1 was the gate's own, now 0).
    "6:\n"
    "  cmpl $0, %fs:24(%rdx)\n"
    "  jne 1f\n"
    "  subq $1, %fs:16(%rdx)\n"
    "  js 1f\n"
    "  cmpl $0, %fs:28(%rdx)\n"
    "  je 7f\n"
    "  movq (%rsp), %rax\n"
    "  movl $1, %esi\n"  // gated: after counting, return at once (the look and real-helper paths set esi again)
    "  jmp 8f\n"
    "7:\n"
    "  ret\n"
    // Any other call: an access call (the wrong phase) goes to the real helper with its own
    // arguments; a block start (not gated, or gated with an exit requested) as before the gate.
    "4:\n"
    "  movq (%rsp), %rax\n"
    "  subq %fs:(%rdx), %rax\n"
    "  testq %fs:8(%rdx), %rax\n"
    "  jne __real_helper_check_exit_request_arm\n"
    "  xorl %esi, %esi\n"  // a block start (a gated one with an exit requested sets no arguments)
    "  cmpl $0, %fs:24(%rdx)\n"
    "  jne 1f\n"
    "  cmpl $0, %fs:28(%rdx)\n"
    "  jne 2f\n"
    "  subq $1, %fs:16(%rdx)\n"
    "  js 1f\n"
    "  jmp 5f\n"
    // Counting (fast_count): the poll; the start bit of the return address's 64-byte line; the
    // TranslationBlock before it pointing back; then icount += tb->icount below the limit.
    "2:\n"
    "  subq $1, %fs:16(%rdx)\n"
    "  js 1f\n"
    "  movq (%rsp), %rax\n"
    "  movq %rax, %rcx\n"
    "  shrq $6, %rcx\n"
    "  movq %rcx, %r8\n"
    "  shrq $6, %r8\n"
    "  andl $0x3ffff, %r8d\n"
    "  movq %fs:40(%rdx), %r9\n"
    "  movq (%r9,%r8,8), %r9\n"
    "  btq %rcx, %r9\n"
    "  jnc 1f\n"
    "8:\n"
    "  movq %rax, %rcx\n"
    "  subq %fs:48(%rdx), %rcx\n"
    "  movq %rax, %r8\n"
    "  subq %fs:56(%rdx), %r8\n"
    "  cmpq 24(%rcx), %r8\n"
    "  jne 1f\n"
    "  movzwl 14(%rcx), %r8d\n"
    "  movq %fs:32(%rdx), %r9\n"
    "  movq (%r9), %r10\n"
    "  leaq (%r10,%r8), %r11\n"
    "  cmpq 8(%r9), %r11\n"
    "  jae 1f\n"
    "  movq %r11, (%r9)\n"
    "  movq %r10, 16(%r9)\n"
    "  movq %rcx, 24(%r9)\n"
    "  testl %esi, %esi\n"
    "  jne 7b\n"
    "  jmp 5f\n"
    // Look at it: the helper's arguments (the running engine's uc, which every call passes, and
    // 0), cmemu_block_start(return address, uc) with them kept on the stack (16-byte aligned for
    // the call), then the real helper with them.
    "1:\n"
    "  movq %fs:80(%rdx), %rax\n"
    "  testq %rax, %rax\n"
    "  je 3f\n"
    "  movq %rax, %rdi\n"
    "  xorl %esi, %esi\n"
    "3:\n"
    "  pushq %rdi\n"
    "  pushq %rsi\n"
    "  subq $8, %rsp\n"
    "  movq 16(%rsp), %rsi\n"
    "  movq 24(%rsp), %rdi\n"
    "  call cmemu_block_start\n"
    "  addq $8, %rsp\n"
    "  popq %rsi\n"
    "  popq %rdi\n"
    "  jmp __real_helper_check_exit_request_arm\n"
    // Nothing to look at: the real helper would only test the engine's icount_decr (an exit is
    // requested when it is negative), so test it here and return; else the real helper, with its
    // arguments set.
    "5:\n"
    "  movq %fs:96(%rdx), %rcx\n"
    "  testq %rcx, %rcx\n"
    "  je 9f\n"
    "  cmpl $0, (%rcx)\n"
    "  jl 9f\n"
    "  ret\n"
    "9:\n"
    "  movq %fs:80(%rdx), %rax\n"
    "  testq %rax, %rax\n"
    "  je __real_helper_check_exit_request_arm\n"
    "  movq %rax, %rdi\n"
    "  xorl %esi, %esi\n"
    "  jmp __real_helper_check_exit_request_arm\n"
    ".size __wrap_helper_check_exit_request_arm, .-__wrap_helper_check_exit_request_arm\n");

int32_t* cmemu_attention_word() { return &cmemu_tls.attention; }

__attribute__((visibility("hidden"))) bool __wrap_unicorn_fill_tlb_arm(void* cs, uint64_t address, int size, int rw, int mmu_idx,
                                                                     bool probe, uintptr_t retaddr) {
  const uintptr_t prev = cmemu_tls.fill_ra;
  const int32_t prevIdx = cmemu_tls.fill_idx;
  cmemu_tls.fill_ra = retaddr;
  cmemu_tls.fill_idx = mmu_idx;
  const bool r = __real_unicorn_fill_tlb_arm(cs, address, size, rw, mmu_idx, probe, retaddr);
  cmemu_tls.fill_ra = prev;
  cmemu_tls.fill_idx = prevIdx;
  return r;
}

// Called from the wrapper with the translated block's return address; the wrapper then jumps to
// the real helper, whose GETPC() is that return address again (stops are exact).
__attribute__((visibility("hidden"))) void cmemu_block_start(uintptr_t ra, void* uc) {
  cmemu::NativeCpu* c = static_cast<cmemu::NativeCpu*>(cmemu_tls.cpu);
  if (c != nullptr && cmemu_tls.uc == uc) c->atExitCheck(ra);
  cmemu_tls.gate_expired = 0;  // if atExitCheck did not take it (not a verified start)
}

__attribute__((visibility("hidden"))) void* __wrap_tb_gen_code_arm(void* cpu, uint32_t pc, uint32_t cs_base, uint32_t flags,
                                                                  int cflags) {
  void* tb = __real_tb_gen_code_arm(cpu, pc, cs_base, flags, cflags);
  cmemu::NativeCpu* c = static_cast<cmemu::NativeCpu*>(cmemu_tls.cpu);
  if (tb != nullptr && c != nullptr && c->ucCpuHandle() == cpu) {
    c->onNewBlock(tb);
    if (__builtin_expect(c->tracing(), 0)) c->traceNewBlock(tb);
  } else if (tb != nullptr && c != nullptr) {
    c->phaseFallback();  // a block nobody checked: look at every call from now on
  }
  return tb;
}

__attribute__((visibility("hidden"))) void __wrap_tcg_region_reset_all_arm(void* tcg_ctx) {
  if (cmemu::t_captureCtx != nullptr) {
    *cmemu::t_captureCtx = tcg_ctx;
    cmemu::t_captureCtx = nullptr;
  }
  __real_tcg_region_reset_all_arm(tcg_ctx);
  cmemu::NativeCpu::onRegionReset(tcg_ctx);
}
}
