// NativeCpu: one Unicorn 2.1 engine opened as a real Cortex-M3 (see src/cpu/native.ts for the
// contract). Everything that touches Unicorn runs on the JS thread; other threads (the watcher)
// only set bits in `stopBits_`, which the native block hook turns into uc_emu_stop.
#pragma once

#include <napi.h>
#include <unicorn/unicorn.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>
#include <poll.h>

#include "thumb.h"
#include "watcher.h"

namespace cmemu {

// Why run() returned. Its TypeScript twin is `Stop` in src/native/cpu.ts; the addon exports this
// list as `stopReasons` and test/native/registers.test.ts checks that both agree.
#define CMEMU_STOP_REASONS(X) \
  X(Limit, 0)                 \
  X(Requested, 1)             \
  X(HostDeadline, 2)          \
  X(External, 3)              \
  X(Interrupt, 4)             \
  X(Wfi, 5)                   \
  X(Wfe, 6)                   \
  X(InvalidInsn, 7)           \
  X(MemFault, 8)              \
  X(FetchFault, 9)            \
  X(DivByZero, 10)            \
  X(HandlerError, 11)         \
  X(EngineError, 12)          \
  X(Unaligned, 13)            \
  X(MpuFault, 14)             \
  X(Breakpoint, 15)           \
  X(Step, 16)                 \
  X(Watchpoint, 17)

enum class Stop : int {
#define CMEMU_STOP_ENUM(name, value) name = value,
  CMEMU_STOP_REASONS(CMEMU_STOP_ENUM)
#undef CMEMU_STOP_ENUM
};

enum class Access : int { Read = 0, Write = 1, Fetch = 2 };

class NativeCpu;

// A zero-filled array from calloc: a large one comes straight from mmap, so pages never written
// are never made resident (the per-page bitmaps below are 512 KiB each, a few words of them used).
template <typename T>
class ZeroArray {
 public:
  ZeroArray() = default;
  ZeroArray(const ZeroArray&) = delete;
  ZeroArray& operator=(const ZeroArray&) = delete;
  ~ZeroArray() { reset(); }
  void assign(size_t n) {
    reset();
    p_ = static_cast<T*>(calloc(n, sizeof(T)));
    if (p_ == nullptr) throw std::bad_alloc();
  }
  void reset() {
    free(p_);
    p_ = nullptr;
  }
  T& operator[](size_t i) { return p_[i]; }
  const T& operator[](size_t i) const { return p_[i]; }

 private:
  T* p_ = nullptr;
};

// Shared between a NativeCpu and its thread-safe function (they can die in either order).
struct TsfnCtx {
  std::mutex mu;
  NativeCpu* owner = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  bool finalized = false;  // node finalized the TSFN (released by us or torn down)
  bool released = false;   // we released it
  std::atomic<bool> pending{false};
};

class NativeCpu : public Napi::ObjectWrap<NativeCpu> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativeCpu(const Napi::CallbackInfo& info);
  ~NativeCpu() override;

 private:
  struct Mapping {
    uint32_t addr;
    uint32_t size;
    bool mmio;
    bool writable;
    std::shared_ptr<Napi::ObjectReference> buffer;  // keeps host memory alive while mapped
    uint32_t region;
    uint32_t mmioBase = 0;  // MMIO: the address uc_mmio_map was given (callback offsets count from it)
    uint8_t* host = nullptr;  // RAM: host memory of `addr`
  };
  struct MmioRegion {
    NativeCpu* cpu;
    uint32_t region;
  };
  // One entry per host return address of Unicorn's exit-check call (see exit_check.cc): the
  // call at a translated block's start (pc even: the block's guest address, size and instruction
  // count, from QEMU's TranslationBlock) or one after a memory access (pc = 1).
  struct CallEntry {
    uintptr_t ra = 0;
    uint32_t pc = 1;
    uint16_t size = 0;
    uint16_t count = 0;
  };
  // Every rare condition the block start must look at, one byte each: the hot path tests the
  // word. Set and cleared where the condition changes.
  union RareFlags {
    struct {
      bool itFix;         // a TLB fill inside an IT block: repair ITSTATE at the next block
      bool alignFired;    // an unaligned access with CCR.UNALIGN_TRP (undone after the run)
      bool alignRebuild;  // CCR.UNALIGN_TRP changed during the run
      bool divStop;       // a divide by zero inside an IT block (stop late)
      bool mpuNegWatch;   // TLB entries filled with the MPU exempted by FAULTMASK
      bool mask;          // the mask watch is armed (maskPrio_ >= 0)
      bool split;         // code pages that an MPU region edge cuts are listed
      bool fetchExit;     // an exit is set before a refused instruction (fetchExitSet_)
    } f;
    uint64_t any;
  };
  static_assert(sizeof(RareFlags) == 8, "one word");
  // A UC_HOOK_CODE bounded to one address (divide sites, breakpoints): nothing else pays for it.
  struct CodeHook {
    uint32_t addr;
    uc_hook hook;
  };
  enum class HookStop { None, Bits, Limit, Mask, Div, ItFix, Align, AlignRebuild, FetchEdge };

  // JS methods
  Napi::Value ReadRegs(const Napi::CallbackInfo& info);
  void WriteRegs(const Napi::CallbackInfo& info);
  void ReadRegsInto(const Napi::CallbackInfo& info);
  Napi::Value Masks(const Napi::CallbackInfo& info);
  void MemReadInto(const Napi::CallbackInfo& info);
  void WriteRegsFrom(const Napi::CallbackInfo& info);
  Napi::Value StopIntno(const Napi::CallbackInfo& info);
  void noteSpin(bool hit);
  void readRegsRaw(Napi::Env env, const int32_t* ids, uint32_t* out, size_t n);
  // As readRegsRaw, with the registers Unicorn hides from unprivileged Thread mode read through a pass in Handler mode.
  void readRegsPrivileged(Napi::Env env, const int32_t* ids, uint32_t* out, size_t n);
  // Exception entry and return, the registers' and memory's half (native/src/exceptions.cc).
  Napi::Value ExcEnter(const Napi::CallbackInfo& info);
  Napi::Value ExcReturn(const Napi::CallbackInfo& info);
  Napi::Value ExcAddress(const Napi::CallbackInfo& info);
  void SetReturnCallback(const Napi::CallbackInfo& info);
  // Offer an exception return (intno 8, PC = EXC_RETURN) to returnFn_: 0 declined, 1 done and
  // carry on, 2 done and stop (-1: it threw; the error is pending as for an MMIO handler).
  int offerReturn(uint32_t pc);
  void writeRegsRaw(Napi::Env env, const int32_t* ids, const uint32_t* vals, size_t n);
  Napi::Value ReadReg(const Napi::CallbackInfo& info);
  void WriteReg(const Napi::CallbackInfo& info);
  void MapHostMemory(const Napi::CallbackInfo& info);
  void MapMmio(const Napi::CallbackInfo& info);
  void Unmap(const Napi::CallbackInfo& info);
  Napi::Value MemRead(const Napi::CallbackInfo& info);
  void MemWrite(const Napi::CallbackInfo& info);
  void SetMmioHandlers(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value StopInfo(const Napi::CallbackInfo& info);
  Napi::Value Icount(const Napi::CallbackInfo& info);
  void SetIcount(const Napi::CallbackInfo& info);
  void RequestStop(const Napi::CallbackInfo& info);
  void SetMaskWatch(const Napi::CallbackInfo& info);
  void SetDivideSites(const Napi::CallbackInfo& info);
  void SetDivideTrap(const Napi::CallbackInfo& info);
  void InvalidateCode(const Napi::CallbackInfo& info);
  void WatchFd(const Napi::CallbackInfo& info);
  void UnwatchFd(const Napi::CallbackInfo& info);
  Napi::Value TakeEvents(const Napi::CallbackInfo& info);
  void SetEventCallback(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value SleepUntil(const Napi::CallbackInfo& info);
  Napi::Value IdleWait(const Napi::CallbackInfo& info);
  void SetMpu(const Napi::CallbackInfo& info);
  void SetHfNmiActive(const Napi::CallbackInfo& info);

  // Unicorn hooks (all on the emulation = JS thread)
  static bool HookTlbFill(uc_engine* uc, uint64_t vaddr, uc_mem_type type, uc_tlb_entry* e, void* ud);
  static void HookIntr(uc_engine* uc, uint32_t intno, void* ud);
  static bool HookInsnInvalid(uc_engine* uc, void* ud);
  static bool HookMemInvalid(uc_engine* uc, uc_mem_type type, uint64_t address, int size, int64_t value, void* ud);
  static void HookDivide(uc_engine* uc, uint64_t address, uint32_t size, void* ud);
  static uint64_t MmioReadCb(uc_engine* uc, uint64_t offset, unsigned size, void* ud);
  static void MmioWriteCb(uc_engine* uc, uint64_t offset, unsigned size, uint64_t value, void* ud);

  // helpers
  void ensureOpen(Napi::Env env) const;
  void checkUc(Napi::Env env, uc_err err, const char* what) const;
  void shutdown();
  void ensureWatcher();
  void notifyFromWatcher();
  void refreshHflags();
  uint32_t readPc();
  bool readHalf(uint32_t addr, uint16_t* out);
  uint32_t countRange(uint32_t addr, uint32_t size);
  bool maskWouldTake();
  const Mapping* findMapping(uint32_t addr) const;
  void clearExec(uint32_t addr, uint32_t size);
  // Replace `hooks` with one bounded code hook per address in `addrs` (bit 0 ignored, duplicates once).
  void setCodeHooks(Napi::Env env, std::vector<CodeHook>& hooks, const Napi::Array& addrs, void* callback);
  void rebuildUnmappedHooks();
  void flushDeletedHooks();
  void fixIcount(uint32_t pc);
  Stop classify(uc_err err, uint32_t pc);
  Stop reasonFromBits(uint32_t bits) const;
  Napi::Value finish(Napi::Env env, Stop reason);
  void growTlbIfThrashing();           // flush a thrashing TLB so that QEMU resizes it (memory.cc)
  uint64_t fillsAtFlush_ = 0, tlbGrowFlushes_ = 0;
  static constexpr uint64_t kTlbGrowFills = 2048;
  bool takeJsException();              // true if a JS exception was pending (now kept, engine stopping)
  uintptr_t takeIoRa();
  uintptr_t* memIoPc() const;
  void unwindToAccess(uintptr_t ra, uint64_t* count = nullptr);
  void pollDeadline();
  void clearPendingError();

  Napi::Env env_;

  // --- Hot: what every block start reads or writes (exit_check.cc), in one cache line (L1 is
  // contended: QEMU's jump cache alone is 32 KiB). ---
  alignas(64) uint64_t icount_ = 0;
  uint64_t limit_ = UINT64_MAX;
  uint64_t blockBefore_ = 0;
  // The wrapper's fast count (exit_check.cc) writes icount_, blockBefore_ and this, the
  // TranslationBlock it counted last (0: blockStart_/blockSize_/blockCount_ are current); the
  // four fields must stay in this order, 8 bytes apart (checked in the constructor).
  uintptr_t blockTb_ = 0;
  RareFlags rare_{};
  CallEntry* hotCalls_ = nullptr;        // calls_.data()
  std::atomic<uint32_t> stopBits_{0};    // written by the watcher too (rarely)
  uint32_t deadlinePoll_ = 1;    // blocks until the next clock poll (or the slow path's next look)
  uint32_t blockStart_ = 0, blockSize_ = 0, blockCount_ = 0;
  bool blockValid_ = false;
  bool tracking_ = false;        // every block start is looked at (counting, UNALIGN_TRP)
  bool fastMode_ = false;        // startBits_ != nullptr
  bool fastCount_ = false;       // this run's block starts are counted by the wrapper (beginEmu)
  bool noFastCount_ = false;     // CMEMU_NO_FAST_COUNT, or the fields above not laid out as it needs
  int32_t* gateWord_ = nullptr;  // block starts are gated on QEMU's icount_decr (exit_check.cc), or not
  int32_t gateDisp_ = 0;         // its displacement from env
  // Read when the engine is made (each can be turned off for comparisons): literal loads in their
  // own TLB (CMEMU_NO_LITERAL_TLB), accesses without exit checks (CMEMU_EXIT_CHECKS), a
  // thrashing TLB flushed to grow (CMEMU_NO_TLB_GROW).
  bool literalTlb_ = true, omitExitChecks_ = true, growTlb_ = true;
  uint64_t gatedBlocks_ = 0;
  intptr_t spTcgv_ = 0;          // SP's TCG global (align_check.cc: writes to SP are masked), or 0
  // --- the next line: block-start lookups that missed the cache of recent starts ---
  alignas(64) uc_engine* uc_ = nullptr;
  // The block start's fast mode: startBits_ has one bit per 64-byte line of host code that starts
  // a block (nullptr: table mode).
  uint64_t* startBits_ = nullptr;
  uintptr_t startPhase_ = 0;             // every start call's return address & 63
  uintptr_t startOff_ = 0;               // its return address - the block's first host byte
  uintptr_t tbOff_ = 0;                  // its return address - the block's TranslationBlock
  // Table mode (fallback): every call probed in calls_, direct-mapped by return address >> 2.
  // Fast mode: the recent verified block starts, by return address >> 8 (blocks lie at least 256
  // bytes apart: a 64-byte aligned TranslationBlock of over 128 bytes, then the code).
  std::vector<CallEntry> calls_;
  // --- end of the hot part ---

  // counting and stopping
  bool running_ = false;
  bool pendingRequest_ = false;
  int64_t deadlineNs_ = 0;       // host deadline of the current run (0 = none)
  HookStop hookStop_ = HookStop::None;
  uint32_t hookStopBits_ = 0;
  std::vector<uint8_t> codeBuf_;

  // The block start (exit_check.cc): Unicorn calls helper_check_exit_request at the start of
  // every translated block; the addon wraps it (-Wl,--wrap) and counts and stops there. No block
  // hook exists, so nothing else runs per block.
  void* tcgCtx_ = nullptr;               // Unicorn's TCGContext (for tcg_tb_lookup)
  std::vector<uint32_t> startWords_;     // the words of startBits_ that have bits set
  bool phaseKnown_ = false;
  // Blocks translated while an exit was set, by TranslationBlock address (both modes).
  std::unordered_map<uintptr_t, CallEntry> exitBlocks_;
  uint64_t newBlocks_ = 0, phaseFallbacks_ = 0;
  bool layoutBad_ = false;               // a TranslationBlock did not look as expected
  bool counting_ = false;                // this run counts instructions (it has a limit)
  bool checkCounts_ = false;             // CMEMU_CHECK_COUNTS: compare QEMU's counts with the decoder's
  uint64_t callMisses_ = 0;
 public:
  // exit_check.cc
  inline void atExitCheck(uintptr_t ra);
  __attribute__((noinline, cold)) void callMiss(uintptr_t ra);
  __attribute__((noinline, cold)) void slowBlockStart(const CallEntry& e, bool due);
  void clearCalls();
  static void onRegionReset(void* tcgCtx);
  void* ucHandle() const { return uc_; }
  void* ucCpuHandle() const { return ucCpu_; }
  void onNewBlock(const void* tb);
  bool accessChecksNeeded() const;     // a memory hook may stop mid-block (exit_check.cc)
  bool exitChecksOmitted() const;      // accesses translated now get no exit check (exit_check.cc)
  int32_t* gateWord() const { return gateWord_; }
  void* tcgContext() const { return tcgCtx_; }
  intptr_t spTcgv() const { return spTcgv_; }
  bool literalTlb() const { return literalTlb_; }
  void lookAtEveryStart();             // attention, and every gated block start calls the wrapper
  void wake();                        // a rare condition or a stop appeared: look at the next block start
  void beginEmu();       // around each uc_emu_start of a run
  void endEmu();
  // The block the wrapper counted last (blockTb_) into blockStart_/blockSize_/blockCount_/
  // blockValid_: every reader of those calls it first (exit_check.cc, beside the TB layout).
  void syncBlock() {
    if (blockTb_ != 0) syncBlockFromTb();
  }
  void syncBlockFromTb();
  // No block is current (a run starts, the state was changed under the engine).
  void forgetBlock() {
    blockValid_ = false;
    blockTb_ = 0;
  }
  bool blockOfFill(uint32_t* start, uint32_t* size);  // the block of the TLB fill in progress
  __attribute__((noinline, cold)) void nonTrackingStart(const CallEntry& e);
  __attribute__((noinline, cold)) bool exitBlock(uintptr_t tb, CallEntry* out);
  void phaseFallback();
  void allocStartBits();
  void freeStartBits();
 private:

  // stop details of the current run
  bool intrStop_ = false;
  uint32_t intno_ = 0;
  // rare_.f.divStop
  uint32_t divAddr_ = 0;
  bool wfeStop_ = false;
  bool memFaultValid_ = false;
  uint32_t memFaultAddr_ = 0, memFaultSize_ = 0;
  Access memFaultAccess_ = Access::Read;
  bool tlbRefused_ = false;
  uc_mem_type tlbRefusedType_ = UC_MEM_READ;
  uint32_t tlbRefusedPage_ = 0;

  // last stop info
  Stop lastReason_ = Stop::Limit;
  uint32_t lastIntno_ = 0, lastAddress_ = 0, lastSize_ = 0;
  Access lastAccess_ = Access::Read;
  bool lastXn_ = false;  // FetchFault: the default memory map's execute-never applied
  int lastUcError_ = 0;
  std::string lastUcErrorText_;

  // memory
  std::vector<Mapping> mappings_;
  std::vector<std::unique_ptr<MmioRegion>> mmioRegions_;
  ZeroArray<uint64_t> execBits_;  // one bit per 1 KiB guest page
  mutable size_t lastMapping_ = 0;
  std::vector<uc_hook> unmappedHooks_;

  // divide trap
  std::vector<CodeHook> divSites_;
  bool divTrap_ = false;

  // CCR.UNALIGN_TRP (see docs/unicorn.md, "Unaligned accesses"): while the trap is on, one
  // UC_HOOK_MEM_READ|WRITE hook over all memory sees every data access (all of them then take the
  // slow path; nothing is installed while it is off). The first unaligned halfword/word access
  // snapshots the CPU (the hook runs with PC and ITSTATE synced to the accessing instruction) and
  // stops; everything after it until the run really stops (the instruction itself, and inside an
  // IT block the rest of the translated block) is undone: RAM writes from an undo log, MMIO
  // suppressed, registers from the snapshot.
  bool alignTrap_ = false;          // what the guest asked for (CCR.UNALIGN_TRP)
  // rare_.f.alignRebuild: asked for during a run, installed at the next block
  uc_hook alignHook_ = 0;
  uc_context* alignCtx_ = nullptr;
  // rare_.f.alignFired
  uint32_t alignPc_ = 0, alignAddr_ = 0, alignSize_ = 0;
  Access alignAccess_ = Access::Read;
  uint32_t alignBlockStart_ = 0;
  uint64_t alignBlockBefore_ = 0;
  std::vector<std::pair<uint32_t, uint8_t>> alignUndo_;  // RAM bytes overwritten since the snapshot
  uint64_t alignHookCalls_ = 0;
  static void HookAlignMem(uc_engine* uc, uc_mem_type type, uint64_t address, int size, int64_t value, void* ud);
  void SetUnalignedTrap(const Napi::CallbackInfo& info);
  void rebuildAlignHook();
  void undoAlignStop();

  // PMSAv7 MPU (see docs/unicorn.md, "The MPU"). Regions are kept in region-number order (the
  // highest-numbered match wins), only the enabled and valid ones. Pages that a region or a
  // subregion boundary cuts ("mixed" pages) get a TLB entry that points into a shadow MMIO window
  // (guest address + kShadowBase[priv]): every data access to them goes through ShadowReadCb /
  // ShadowWriteCb, which check the exact bytes and then access RAM or the device.
  struct MpuRegionN {
    uint32_t start;
    uint64_t end;  // exclusive
    uint32_t rasr;
    uint32_t subShift;
    bool useSrd;
    uint32_t slot;  // the region number
  };
  struct ShadowRegion {
    NativeCpu* cpu;
    bool priv;
  };
  uint32_t mpuCtrl_ = 0;
  std::vector<MpuRegionN> mpuRegions_;
  bool mpuHfNmi_ = false;        // HardFault or NMI active (from JS)
  bool mpuTlbNegPri_ = false;    // the negative-priority state the TLB entries were filled under
  std::unique_ptr<ShadowRegion> shadow_[2];
  bool mpuFaultValid_ = false;   // an MPU refusal in a shadow callback (run stops)
  uint32_t mpuFaultAddr_ = 0, mpuFaultSize_ = 0;
  Access mpuFaultAccess_ = Access::Read;
  bool shadowBusFault_ = false;  // a bus error (unmapped / read-only) seen in a shadow callback
  // Who refused the fill: the bus (unmapped, read-only, the PPB unprivileged), the MPU, or an
  // access of an instruction ARMv7-M leaves UNDEFINED (kUndefMmuIdx, align_check.cc).
  enum class Refusal : uint8_t { Bus, Mpu, Undefined };
  Refusal tlbRefusedBy_ = Refusal::Bus;
  uint64_t shadowCalls_ = 0, mpuFlushes_ = 0, mpuPageFlushes_ = 0, mpuWholeFlushes_ = 0;
  // Per-page TLB invalidation when the MPU changes. A whole-TLB flush lets QEMU 5.0 resize the TLB
  // from its used-entry count, which underflows (tlb_set_page decrements it again for a victim copy
  // of the page it refills; MMIO and shadow entries never hit the victim TLB): the TLB then doubles
  // at every flush up to 2^20 entries, and every translation scans it all (tb_gen_code ->
  // tlb_reset_dirty_by_vaddr). Instead, the pages filled since the last whole flush are recorded
  // and only those an MPU change can affect are dropped, with tlb_flush_page_by_mmuidx (no resize).
  void* ucCpu_ = nullptr;            // Unicorn's CPUState, captured through the tlb_flush wrapper
  std::vector<uint32_t> tlbPages_;   // page numbers (address >> 10) filled since the last whole flush
  ZeroArray<uint64_t> tlbPageBits_;
  bool tlbPagesOverflow_ = false;    // too many to track: the next MPU change flushes everything
  // rare_.f.mpuNegWatch: entries were filled with the MPU exempted by FAULTMASK: watch it
  void noteTlbPage(uint32_t page);
  void mpuInvalidate(const std::vector<std::pair<uint64_t, uint64_t>>* extents);  // nullptr: every page
  void mpuNegPriChanged(bool neg);
  bool mpuOn() const { return (mpuCtrl_ & 1) != 0; }
  bool mpuApplies(bool negPri) const { return mpuOn() && !(negPri && !(mpuCtrl_ & 2)); }
  uint32_t mpuProt(uint32_t addr, bool priv) const;  // 1 read, 2 write, 4 exec
  bool mpuUniform(uint32_t page) const;
  bool mpuAllowsBytes(uint32_t addr, uint32_t size, Access a, bool priv) const;
  void readPrivilege(bool* priv, bool* negPri);
  void mpuSyncNegPri();
  static uint64_t ShadowReadCb(uc_engine* uc, uint64_t offset, unsigned size, void* ud);
  static void ShadowWriteCb(uc_engine* uc, uint64_t offset, unsigned size, uint64_t value, void* ud);
  bool shadowCheck(uint32_t addr, unsigned size, Access a, bool priv, const Mapping** m);
  bool shadowNegPriNow();
  // Fetches on pages a region edge cuts: the TLB's code entry is checked at the fill's fetch
  // address only, so the block hook checks every block that lies on such a page (listed here when
  // its code entry is filled) and stops at the first refused instruction (see splitFetchStop).
  std::vector<uint32_t> splitCodePages_;  // listed: rare_.f.split
  bool fetchExitSet_ = false;     // an exit is set at fetchExit_ for this run (Run() clears it)
  uint32_t fetchExit_ = 0;
  bool splitFetchStop(uint32_t a, uint32_t size);
  void shadowUnwind();            // stop precisely at the instruction of a refused shadow access
  bool shadowPrecise_ = false;    // Unicorn's CPUState layout checked: shadowUnwind can restore state
  uint64_t shadowUnwinds_ = 0;

  // CCR.USERSETMPEND: unprivileged word stores to STIR (0xE000EF00) are allowed. The TLB keeps
  // refusing unprivileged stores to the PPB page (it cannot tell STIR from the SCB/MPU registers
  // beside it), and Run() performs such a refused STR itself when it targets STIR.
  bool userSetMPend_ = false;
  void SetUserSetMPend(const Napi::CallbackInfo& info);
  bool emulateStirStore(uint32_t pc);
  bool decodeAccessAt(uint32_t pc, bool store, thumb::StoreAccess* out);
  static bool isMisaligned(uint32_t addr, uint32_t size);
  bool misalignedAccessAt(uint32_t pc);
  void noteStateRestored();

  // Unicorn 2.1.4 bug workaround (see docs/unicorn.md, "IT state and the TLB-fill hook"): a TLB
  // fill restores the CPU state of the faulting access, including ITSTATE, and if the IT block
  // ends later in the same translated block nothing writes ITSTATE back. A fill inside an IT
  // block therefore stops the run at the next block; Run() recomputes ITSTATE and resumes.
  // rare_.f.itFix: pending
  uint32_t itFixPc_ = 0;        // the access that caused the fill
  uint32_t itFixState_ = 0;     // ITSTATE[7:0] for that instruction
  uint32_t itFixBlockStart_ = 0, itFixBlockSize_ = 0;
  uint64_t itFixes_ = 0;
  bool repairItState(uint32_t pc);

  // Breakpoints (runUntil an address, debuggers): one UC_HOOK_CODE bounded to each address, so no
  // other instruction pays anything. The hook stops the run before the instruction executes (the
  // code hook is followed by an exit check, as for the divide trap); a run that resumes from a
  // breakpoint stop executes that instruction first (bpSkip_).
  std::vector<CodeHook> breakpoints_;
  uint32_t bpSkip_ = 0xFFFFFFFFu;
  uint32_t bpResume_ = 0xFFFFFFFFu;  // where the last run stopped on a breakpoint
  bool bpStop_ = false;
  uint32_t bpAddr_ = 0;
  static void HookBreakpoint(uc_engine* uc, uint64_t address, uint32_t size, void* ud);
  void SetBreakpoints(const Napi::CallbackInfo& info);

  // Debugger support (native/src/debug.cc). Step mode: one code hook over all addresses (installed
  // only while a debugger single-steps; installing or removing it retranslates everything), which
  // stops a run before its second instruction. Watchpoints: one memory hook bounded to each
  // watched range; a hit on RAM stops at the exit check right after the access, PC still at the
  // accessing instruction (the caller completes it with one step while watches are suppressed);
  // a hit on MMIO stops at the next block (never re-executing a device access).
  struct Watch {
    uint32_t addr, len;
    int kind;  // 1 write, 2 read, 3 access
    uc_hook hook;
  };
  std::vector<Watch> watches_;
  bool watchStop_ = false, watchMmio_ = false, watchSuppress_ = false;
  uint32_t watchAddr_ = 0, watchPc_ = 0, watchSize_ = 0;
  int watchKind_ = 0;  // the access that hit: 1 write, 2 read
  uc_hook stepHook_ = 0;
  bool stepSeen_ = false, stepStop_ = false;
  // Unicorn ignores a stop from a code hook inside an IT block, so a step that starts at an IT
  // instruction or inside an IT block also sets an exit at the next sequential instruction
  // (exits are checked while translating, inside IT blocks too).
  bool stepExitSet_ = false;
  uint32_t stepExit_ = 0;
  void armStepExit();
  void disarmStepExit(uint32_t pc);
  static void HookStep(uc_engine* uc, uint64_t address, uint32_t size, void* ud);
  static void HookWatch(uc_engine* uc, uc_mem_type type, uint64_t address, int size, int64_t value, void* ud);
  void SetStepMode(const Napi::CallbackInfo& info);
  // Execution traces (native/src/trace.cc): a block hook only while -d in_asm/exec/cpu is on.
  struct TraceState* trace_ = nullptr;  // owned; closeTrace() frees it
  bool traceExec_ = false;  // -d exec or cpu: every block start is tracked and traced
  void traceBlock(uint32_t pc);
 public:
  void traceNewBlock(const void* tb);  // from the tb_gen_code wrapper, while trace_ is set
  bool tracing() const { return trace_ != nullptr; }
 private:
  void SetTrace(const Napi::CallbackInfo& info);
  void FlushTrace(const Napi::CallbackInfo& info);
  void closeTrace();
  void SetWatchpoints(const Napi::CallbackInfo& info);
  Napi::Value WatchInfo(const Napi::CallbackInfo& info);

  // Host stalls inside a run (preemption, a slow JS handler): a gap between two clock polls
  // longer than kStallNs is not given to the guest (see stolenNs() in src/cpu/native.ts).
  int64_t lastPollNs_ = 0;
  int64_t runStolenNs_ = 0;
  double stolenTotalNs_ = 0;
  bool pollClock(int64_t now);  // true when the host deadline has passed
  Napi::Value StolenNs(const Napi::CallbackInfo& info);

  // precise idle sleep (sleepUntil), woken by watched fds
  std::mutex sleepMu_;
  std::condition_variable sleepCv_;
  bool sleepWake_ = false;
  int idleFd_ = -1;                       // idleWait's wake-up eventfd (written by the watcher thread)
  std::atomic<bool> idleWaiting_{false};
  // idleWait's spin on watched fds, adaptive: a window of kSpinWindow waits that spun, and how many
  // of them the reply came within the spin; a window with fewer than half turns spinning off for
  // kSpinRest waits (a reply that cannot come while we spin, a peer sharing our core, is only
  // delayed by it). idlePfd_: the poll set, reused.
  int spinTries_ = 0, spinHits_ = 0, spinRest_ = 0;
  std::vector<struct pollfd> idlePfd_;

  // mask watch
  int maskPrio_ = -1;
  uint32_t maskPrigroup_ = 0xFF;

  // JS callbacks
  Napi::FunctionReference mmioRead_, mmioWrite_, eventCb_;
  napi_ref pendingErrorRef_ = nullptr;  // holder object {error} of what a JS handler threw
  bool haveError_ = false;

  // watcher and its JS notification
  std::unique_ptr<Watcher> watcher_;
  TsfnCtx* tsfnCtx_ = nullptr;
  bool tsfnRefed_ = false;

  // counters for tests and tuning
  int64_t hookStopNs_ = 0;  // when the block hook last stopped a run on a stop bit
  uint64_t tlbFills_ = 0, mmioCalls_ = 0;
  uint64_t literalFills_ = 0;  // of those, for literal loads (their own MMU index: exit_check.h)

  // setReturnCallback: exception returns handled by JS without ending the run (run.cc).
  Napi::FunctionReference returnFn_;
  uint64_t inlineReturns_ = 0;
  // excEnter's return address, or excReturn's popped PC (excAddress()).
  uint32_t excAddress_ = 0;

  friend void TsfnCallJs(napi_env env, napi_value, void* context, void*);
};

}  // namespace cmemu
