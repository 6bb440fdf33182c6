// NativeCpu: the run loop (Run) and stop classification, the exception hooks (interrupt,
// invalid instruction), IT-state repair, the mask watch and instruction counts at a stop.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cpu_internal.h"
#include "exit_check.h"
#include "thumb.h"

namespace cmemu {

uint32_t NativeCpu::countRange(uint32_t addr, uint32_t size) {
  if (size == 0) return 0;
  if (codeBuf_.size() < size) codeBuf_.resize(size);
  if (uc_mem_read(uc_, addr, codeBuf_.data(), size) != UC_ERR_OK) return size / 2;
  return thumb::countInsns(codeBuf_.data(), size);
}

bool NativeCpu::maskWouldTake() {
  // Unprivileged Thread mode cannot change PRIMASK/BASEPRI/FAULTMASK, and Unicorn's MRS helper
  // reads them as 0 there: nothing to watch until the mode changes (which reaches JS anyway).
  int pids[2] = {UC_ARM_REG_CONTROL, UC_ARM_REG_IPSR};
  uint32_t pv[2] = {0, 0};
  void* pptrs[2] = {&pv[0], &pv[1]};
  uc_reg_read_batch(uc_, pids, pptrs, 2);
  if ((pv[0] & 1) && (pv[1] & 0x1FF) == 0) return false;
  int ids[3] = {UC_ARM_REG_PRIMASK, UC_ARM_REG_FAULTMASK, UC_ARM_REG_BASEPRI};
  uint32_t v[3] = {0, 0, 0};
  void* ptrs[3] = {&v[0], &v[1], &v[2]};
  uc_reg_read_batch(uc_, ids, ptrs, 3);
  int boost = 256;
  if (v[2] & 0xFF) boost = std::min<int>(boost, static_cast<int>(v[2] & 0xFF & maskPrigroup_));
  if (v[0] & 1) boost = std::min(boost, 0);
  if (v[1] & 1) boost = std::min(boost, -1);
  return maskPrio_ < boost;
}

void NativeCpu::HookIntr(uc_engine* uc, uint32_t intno, void* ud) {
  auto* c = static_cast<NativeCpu*>(ud);
  if (c->intrStop_) return;
  if (c->rare_.f.alignFired) {  // after an unaligned access (late, IT block): undone, just stop
    stopEngine(uc);
    return;
  }
  c->intrStop_ = true;
  c->intno_ = intno;
  stopEngine(uc);
}

// UDF/undefined encodings, BX to an even address (INVSTATE) and the YIELD/WFE hints (Unicorn
// raises EXCP_YIELD for both) all land here. Hints end their block with PC after them;
// undefined instructions leave PC at themselves, inside the block.
bool NativeCpu::HookInsnInvalid(uc_engine*, void* ud) {
  auto* c = static_cast<NativeCpu*>(ud);
  const uint32_t pc = c->readPc();
  // Which exception it is: QEMU's cpu->exception_index (EXCP_YIELD for the hints, PC after them)
  // when the CPUState layout is the checked one; else the hint must end the counted block.
  bool hint;
  bool haveM4;
  uint16_t m2 = 0, m4 = 0;
  if (c->shadowPrecise_) {
    const int idx = *reinterpret_cast<const int*>(static_cast<const char*>(c->ucCpu_) + kCpuExceptionIndexOff);
    hint = idx == kExcpYield && pc >= 2;
    haveM4 = hint && pc >= 4 && c->readHalf(pc - 4, &m4);
  } else {
    c->syncBlock();
    hint = c->blockValid_ && pc == c->blockStart_ + c->blockSize_ && pc >= c->blockStart_ + 2;
    haveM4 = hint && pc >= c->blockStart_ + 4 && c->readHalf(pc - 4, &m4);
  }
  if (hint) {
    if (c->readHalf(pc - 2, &m2)) {
      thumb::Hint h = thumb::hintEndingAt(m4, m2, haveM4);
      if (h == thumb::Hint::Yield || h == thumb::Hint::Sev) return true;  // transparent
      if (h == thumb::Hint::Wfe) {
        c->wfeStop_ = true;
        return false;
      }
    }
  }
  return false;
}

// Unicorn calls memory hooks (and the TLB-fill hook) after cpu_restore_state: PC and ITSTATE are
// those of the accessing instruction. Inside an IT block that leaves a stale ITSTATE if the block
// ends later in the same translated block (see repairItState): note it for repair.
void NativeCpu::noteStateRestored() {
  if (!running_ || rare_.f.itFix) return;
  uint32_t xpsr = 0;
  uc_reg_read(uc_, UC_ARM_REG_XPSR, &xpsr);
  const uint32_t it = ((xpsr >> 25) & 0x3) | (((xpsr >> 10) & 0x3F) << 2);
  if (it == 0) return;
  // The translated block of the access: from the TLB fill's host return address (fills go
  // through the unicorn_fill_tlb wrapper), else the block being counted.
  uint32_t start = 0, size = 0;
  if (!blockOfFill(&start, &size)) {
    syncBlock();
    if (!blockValid_) return;
    start = blockStart_;
    size = blockSize_;
  }
  rare_.f.itFix = true;
  wake();
  itFixPc_ = readPc();
  itFixState_ = it;
  itFixBlockStart_ = start;
  itFixBlockSize_ = size;
}

// ---------------------------------------------------------------------------------------------
// Running

Stop NativeCpu::reasonFromBits(uint32_t bits) const {
  if (bits & kStopRequested) return Stop::Requested;
  if (bits & kStopExternal) return Stop::External;
  if (bits & kStopDeadline) return Stop::HostDeadline;
  return Stop::Requested;
}

void NativeCpu::fixIcount(uint32_t pc) {
  syncBlock();
  if (!blockValid_ || !tracking_) return;
  if (pc >= blockStart_ && pc < blockStart_ + blockSize_) {
    icount_ = blockBefore_ + countRange(blockStart_, pc - blockStart_);
  } else {
    icount_ = blockBefore_ + (hookStop_ == HookStop::None ? blockCount_ : 0);
  }
}

Stop NativeCpu::classify(uc_err err, uint32_t pc) {
  lastUcError_ = err;
  lastUcErrorText_ = err == UC_ERR_OK ? "" : uc_strerror(err);
  if (haveError_) return Stop::HandlerError;
  if (layoutBad_) {
    lastUcErrorText_ = "a translated block of Unicorn's did not have the layout this addon was built for (Unicorn 2.1.4)";
    return Stop::EngineError;
  }
  if (rare_.f.alignFired) {
    lastAddress_ = alignAddr_;
    lastSize_ = alignSize_;
    lastAccess_ = alignAccess_;
    return Stop::Unaligned;
  }
  if (mpuFaultValid_) {  // refused in a shadow callback (a page the MPU splits)
    lastAddress_ = mpuFaultAddr_;
    lastSize_ = mpuFaultSize_;
    lastAccess_ = mpuFaultAccess_;
    if (alignTrap_ && lastAccess_ != Access::Fetch && isMisaligned(lastAddress_, lastSize_)) return Stop::Unaligned;
    return Stop::MpuFault;
  }
  if (shadowBusFault_) {
    lastAddress_ = memFaultAddr_;
    lastSize_ = memFaultSize_;
    lastAccess_ = memFaultAccess_;
    if (alignTrap_ && isMisaligned(lastAddress_, lastSize_)) return Stop::Unaligned;
    return Stop::MemFault;
  }
  if (rare_.f.divStop) return Stop::DivByZero;
  if (stepStop_) return Stop::Step;
  if (watchStop_) {
    lastAddress_ = watchAddr_;
    lastSize_ = watchSize_;
    lastAccess_ = watchKind_ == 1 ? Access::Write : Access::Read;
    return Stop::Watchpoint;
  }
  if (bpStop_) {
    lastAddress_ = bpAddr_;
    return Stop::Breakpoint;
  }
  if (hookStop_ == HookStop::Bits) return reasonFromBits(hookStopBits_);
  if (hookStop_ == HookStop::Limit) return Stop::Limit;
  if (hookStop_ == HookStop::Mask) return Stop::Requested;
  if (intrStop_) {
    // Unicorn checks alignment only for the exclusives (LDREX*, STREX* with a matching monitor):
    // a misaligned one raises EXCP_DATA_ABORT (intno 4) with PC at it, nothing done. ARMv7-M
    // always faults them (UsageFault UNALIGNED, whatever CCR.UNALIGN_TRP says).
    if (intno_ == 4 && misalignedAccessAt(pc)) return Stop::Unaligned;
    lastIntno_ = intno_;
    return Stop::Interrupt;
  }
  switch (err) {
    case UC_ERR_OK: {
      uint16_t m2 = 0, m4 = 0;
      bool haveM4 = pc >= 4 && readHalf(pc - 4, &m4);
      if (pc >= 2 && readHalf(pc - 2, &m2)) {
        thumb::Hint h = thumb::hintEndingAt(m4, m2, haveM4);
        if (h == thumb::Hint::Wfi) return Stop::Wfi;
      }
      const uint32_t bits = stopBits_.load();
      if (bits) return reasonFromBits(bits);
      lastUcErrorText_ = "uc_emu_start returned without a stop reason";
      return Stop::EngineError;
    }
    case UC_ERR_INSN_INVALID:
      return wfeStop_ ? Stop::Wfe : Stop::InvalidInsn;
    case UC_ERR_READ_UNMAPPED:
    case UC_ERR_WRITE_UNMAPPED:
    case UC_ERR_READ_PROT:
    case UC_ERR_WRITE_PROT:
      if (memFaultValid_) {
        lastAddress_ = memFaultAddr_;
        lastAccess_ = memFaultAccess_;
        lastSize_ = memFaultSize_;
        if (alignTrap_ && isMisaligned(lastAddress_, lastSize_)) return Stop::Unaligned;
      } else {
        lastAccess_ = (err == UC_ERR_WRITE_UNMAPPED || err == UC_ERR_WRITE_PROT) ? Access::Write : Access::Read;
      }
      return Stop::MemFault;
    case UC_ERR_FETCH_UNMAPPED:
    case UC_ERR_FETCH_PROT:
      lastAccess_ = Access::Fetch;
      lastAddress_ = memFaultValid_ ? memFaultAddr_ : pc;
      lastXn_ = isExecuteNever(lastAddress_);
      return Stop::FetchFault;
    case UC_ERR_EXCEPTION:
      // An access of a T32 encoding ARMv7-M leaves UNDEFINED (align_check.cc): PC at it, nothing done.
      if (tlbRefused_ && tlbRefusedBy_ == Refusal::Undefined) return Stop::InvalidInsn;
      if (tlbRefused_ && tlbRefusedType_ == UC_MEM_FETCH) {
        lastAccess_ = Access::Fetch;
        lastAddress_ = (pc & kPageMask) == tlbRefusedPage_ ? pc : tlbRefusedPage_;
        if (tlbRefusedBy_ == Refusal::Mpu) return Stop::MpuFault;
        lastXn_ = isExecuteNever(lastAddress_);
        return Stop::FetchFault;
      }
      if (tlbRefused_ && (tlbRefusedType_ == UC_MEM_WRITE || tlbRefusedType_ == UC_MEM_READ)) {
        // A store to unmapped or read-only memory, or an unprivileged load or store on the PPB;
        // PC is at the instruction. Decode it for the exact address (the TLB hook only sees the
        // page): the first byte accessed inside the refused page.
        const bool store = tlbRefusedType_ == UC_MEM_WRITE;
        lastAccess_ = store ? Access::Write : Access::Read;
        lastAddress_ = tlbRefusedPage_;
        lastSize_ = 4;
        thumb::StoreAccess s;
        if (decodeAccessAt(pc, store, &s)) {
          uint32_t addr = s.low;
          if ((addr & kPageMask) != tlbRefusedPage_ && static_cast<uint64_t>(s.low) < tlbRefusedPage_ &&
              static_cast<uint64_t>(s.low) + s.total > tlbRefusedPage_)
            addr = tlbRefusedPage_;
          lastAddress_ = addr;
          lastSize_ = s.size;
          // An unaligned access faults (UsageFault) before it reaches the bus.
          if (alignTrap_ && isMisaligned(s.low, s.size)) {
            lastAddress_ = s.low;
            return Stop::Unaligned;
          }
        }
        return tlbRefusedBy_ == Refusal::Mpu ? Stop::MpuFault : Stop::MemFault;
      }
      return Stop::EngineError;
    default:
      return Stop::EngineError;
  }
}

Napi::Value NativeCpu::finish(Napi::Env env, Stop reason) {
  lastReason_ = reason;
  if (reason == Stop::Breakpoint) bpResume_ = lastAddress_;
  return Napi::Number::New(env, static_cast<int>(reason));
}

Napi::Value NativeCpu::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  if (running_) throw Napi::Error::New(env, "run() called from inside run()");
  const uint64_t limit = toU64Limit(info[0].As<Napi::Number>().DoubleValue());
  const double dl = info.Length() > 1 ? info[1].As<Napi::Number>().DoubleValue() : 0;
  const int64_t deadline = (std::isfinite(dl) && dl > 0) ? static_cast<int64_t>(dl) : 0;

  // Fresh stop details.
  lastIntno_ = lastAddress_ = lastSize_ = 0;
  lastAccess_ = Access::Read;
  lastXn_ = false;
  lastUcError_ = 0;
  lastUcErrorText_.clear();
  intrStop_ = rare_.f.divStop = rare_.f.alignFired = wfeStop_ = memFaultValid_ = tlbRefused_ = false;
  mpuFaultValid_ = shadowBusFault_ = lastXn_ = false;
  tlbRefusedBy_ = Refusal::Bus;
  bpStop_ = false;
  stepSeen_ = stepStop_ = watchStop_ = watchMmio_ = false;
  bpSkip_ = 0xFFFFFFFFu;
  if (!breakpoints_.empty()) {
    // Resuming from a breakpoint stop: that instruction runs first. A run that starts at a
    // breakpoint for any other reason (an exception entry into a handler with a breakpoint on
    // its first instruction, PC set by a debugger) stops there at once.
    const uint32_t start = readPc() & ~1u;
    if (start == bpResume_)
      for (const CodeHook& b : breakpoints_)
        if (b.addr == start) bpSkip_ = start;
  }
  bpResume_ = 0xFFFFFFFFu;
  alignUndo_.clear();
  hookStop_ = HookStop::None;
  hookStopBits_ = 0;
  forgetBlock();

  // Clear the stop word (the deadline check is disabled first so a stale timer cannot set it
  // again); anything that arrives after this point stops the run at its first block.
  if (watcher_) watcher_->setDeadline(0);
  stopBits_.store(0);
  if (pendingRequest_) {
    pendingRequest_ = false;
    return finish(env, Stop::Requested);
  }
  if (watcher_ && watcher_->hasEvents()) return finish(env, Stop::External);
  if (icount_ >= limit) return finish(env, Stop::Limit);
  if (deadline != 0) {
    if (monotonicNowNs() >= deadline) return finish(env, Stop::HostDeadline);
    // The block hook polls the clock every kDeadlinePollBlocks blocks, after every new block
    // (translation is the slow path) and after every MMIO call: a few us late. The timerfd is
    // only a backstop, kept armed 2-20 ms after the deadline and re-armed lazily: arming or
    // cancelling a near timer costs VM exits here (8-15 us), and its expiry wakes the watcher
    // on this CPU, stalling the emulation thread for tens of us (measured; docs/unicorn.md).
    ensureWatcher();
    watcher_->setDeadline(deadline, deadline + kTimerBackstopLoNs, deadline + kTimerBackstopHiNs,
                          deadline + kTimerBackstopNs);
  }

  if (rare_.f.alignRebuild) rebuildAlignHook();
  mpuSyncNegPri();
  growTlbIfThrashing();
  limit_ = limit;
  deadlineNs_ = deadline;
  lastPollNs_ = deadline != 0 ? monotonicNowNs() : 0;
  runStolenNs_ = 0;
  deadlinePoll_ = kDeadlinePollBlocks;  // the clock if there is a deadline, and the TLB's size
  // Instructions are counted when the run has an instruction limit (icount mode, instruction
  // targets); real-time runs count nothing and pay for nothing per block (exit_check.cc).
  counting_ = limit < (1ull << 53) - 1;  // Number.MAX_SAFE_INTEGER and above: no limit
  running_ = true;
  RunScope scope(this);
  rare_.f.itFix = false;
  uc_err err;
  uint32_t pc;
  // The reason when the engine last stopped for an exception return that JS handled (offerReturn).
  Stop forced = Stop::Limit;
  bool forcedSet = false;
  armStepExit();
  for (;;) {
    const uint32_t pc0 = readPc();
    beginEmu();
    err = uc_emu_start(uc_, pc0 | 1, 0, 0, 0);
    endEmu();
    pc = readPc();
    disarmStepExit(pc);
    if (fetchExitSet_) {
      // The exit before a refused instruction on a split code page (splitFetchStop): drop it and
      // the code translated with it; reaching it is the fetch fault.
      fetchExitSet_ = rare_.f.fetchExit = false;
      uc_ctl_set_exits(uc_, nullptr, 0);
      uc_ctl_remove_cache(uc_, fetchExit_, static_cast<uint64_t>(fetchExit_) + 2);
      if (err == UC_ERR_OK && (pc & ~1u) == fetchExit_ && hookStop_ == HookStop::None && !mpuFaultValid_ &&
          !rare_.f.alignFired && !haveError_ && !shadowBusFault_ && !rare_.f.divStop && !wfeStop_) {
        intrStop_ = false;
        mpuFaultValid_ = true;
        mpuFaultAddr_ = fetchExit_;
        mpuFaultSize_ = 2;
        mpuFaultAccess_ = Access::Fetch;
      }
    }
    if (rare_.f.alignFired || haveError_ || mpuFaultValid_ || shadowBusFault_) break;
    if (hookStop_ == HookStop::ItFix) {
      // Stopped at the block after an in-IT-block TLB fill: repair ITSTATE and carry on.
      repairItState(pc);
    } else if (hookStop_ == HookStop::FetchEdge) {
      // A refused instruction inside the block at pc: retranslate the block so that it ends there.
      uint64_t exit = fetchExit_;
      uc_ctl_set_exits(uc_, &exit, 1);
      uc_ctl_remove_cache(uc_, fetchExit_, static_cast<uint64_t>(fetchExit_) + 2);
      fetchExitSet_ = rare_.f.fetchExit = true;
    } else if (hookStop_ == HookStop::AlignRebuild) {
      // The guest changed CCR.UNALIGN_TRP: (un)install the hook at this block boundary.
      rebuildAlignHook();
    } else if (err == UC_ERR_EXCEPTION && tlbRefused_ && tlbRefusedBy_ == Refusal::Bus && tlbRefusedType_ == UC_MEM_WRITE && userSetMPend_ &&
               tlbRefusedPage_ == 0xE000EC00u && !intrStop_ && !rare_.f.divStop) {
      // An unprivileged store on the SCB page: with CCR.USERSETMPEND a word STR to STIR is allowed.
      fixIcount(pc);
      if (!emulateStirStore(pc)) break;
      if (haveError_) break;
      icount_++;
      forgetBlock();
    } else if (intrStop_ && intno_ == 8 && !returnFn_.IsEmpty()) {
      // An exception return: JS may do it here and let the run carry on (no stop, no run-loop
      // turn). The state is what a stop would leave (ITSTATE repaired, icount exact), and the
      // reason would be Interrupt 8 or nothing more urgent.
      if (rare_.f.itFix) repairItState(pc);
      fixIcount(pc);
      if (classify(err, pc) != Stop::Interrupt || lastIntno_ != 8) break;
      const int r = offerReturn(pc);
      if (r == 0) break;  // declined: an ordinary Interrupt stop
      forgetBlock();
      lastIntno_ = 0;
      if (r < 0) break;  // it threw: HandlerError
      if (r == 2) {
        forced = Stop::Requested;
        forcedSet = true;
        break;
      }
      inlineReturns_++;
      mpuSyncNegPri();
      if (rare_.f.alignRebuild) rebuildAlignHook();
      if (counting_ && icount_ >= limit_) {
        forced = Stop::Limit;
        forcedSet = true;
        break;
      }
      if (deadline != 0 && monotonicNowNs() >= deadline) {
        forced = Stop::HostDeadline;
        forcedSet = true;
        break;
      }
      // Stop requests and watched events that arrived meanwhile stop the next block start.
    } else {
      break;
    }
    hookStop_ = HookStop::None;
    intrStop_ = wfeStop_ = memFaultValid_ = tlbRefused_ = false;
    tlbRefusedBy_ = Refusal::Bus;
  }
  running_ = false;
  if (watcher_) watcher_->setDeadline(0);
  deadlineNs_ = 0;
  stolenTotalNs_ += static_cast<double>(runStolenNs_);
  runStolenNs_ = 0;
  if (rare_.f.alignFired && !haveError_) {
    // Unaligned access with the trap on: back to the state before it (see HookAlignMem).
    undoAlignStop();
    pc = alignPc_;
  } else {
    alignUndo_.clear();
    // Stopped at a block boundary for another reason before the repair: repair now.
    if (rare_.f.itFix) repairItState(pc);
    fixIcount(pc);
  }
  Stop reason = classify(err, pc);
  if (forcedSet && reason == Stop::Interrupt) {
    reason = forced;
    lastIntno_ = 0;
  }
  if (reason == Stop::DivByZero && pc != divAddr_) {
    // Late stop (the divide was in an IT block and ran, giving 0): report it at the divide.
    uint32_t v = divAddr_ | 1;
    uc_reg_write(uc_, UC_ARM_REG_PC, &v);
  }
  // A stop requested during this run but overtaken by another reason is not lost.
  if (reason != Stop::Requested && (stopBits_.load() & kStopRequested)) pendingRequest_ = true;
  if (reason == Stop::HandlerError) {
    lastReason_ = reason;
    napi_value holder = nullptr, e = nullptr;
    if (pendingErrorRef_ != nullptr) napi_get_reference_value(env, pendingErrorRef_, &holder);
    if (holder != nullptr) napi_get_named_property(env, holder, "error", &e);
    clearPendingError();
    if (e == nullptr) throw Napi::Error::New(env, "MMIO handler failed");
    napi_throw(env, e);  // rethrow the very value the handler threw
    return env.Undefined();
  }
  return finish(env, reason);
}

Napi::Value NativeCpu::StopInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("reason", Napi::Number::New(env, static_cast<int>(lastReason_)));
  o.Set("intno", Napi::Number::New(env, lastIntno_));
  o.Set("address", Napi::Number::New(env, lastAddress_));
  o.Set("access", Napi::Number::New(env, static_cast<int>(lastAccess_)));
  o.Set("size", Napi::Number::New(env, lastSize_));
  o.Set("xn", Napi::Boolean::New(env, lastXn_));
  o.Set("ucError", Napi::Number::New(env, lastUcError_));
  o.Set("ucErrorText", Napi::String::New(env, lastUcErrorText_));
  return o;
}

Napi::Value NativeCpu::StopIntno(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), lastIntno_);
}

Napi::Value NativeCpu::Icount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(icount_));
}

void NativeCpu::SetIcount(const Napi::CallbackInfo& info) {
  icount_ = toU64Limit(info[0].As<Napi::Number>().DoubleValue());
}

void NativeCpu::RequestStop(const Napi::CallbackInfo&) {
  if (running_) {
    stopBits_.fetch_or(kStopRequested);
    wake();
  } else {
    pendingRequest_ = true;
  }
}

void NativeCpu::SetMaskWatch(const Napi::CallbackInfo& info) {
  maskPrio_ = info[0].As<Napi::Number>().Int32Value();
  maskPrigroup_ = info.Length() > 1 ? toU32(info[1]) & 0xFF : 0xFF;
  if (maskPrio_ < -1) maskPrio_ = -1;
  rare_.f.mask = maskPrio_ >= 0;
}

// Recompute ITSTATE after the block that did an in-IT-block TLB fill, when execution stopped at
// `pc`. If pc is still inside that block, a later precise stop restored the right state itself.
bool NativeCpu::repairItState(uint32_t pc) {
  rare_.f.itFix = false;
  const uint32_t start = itFixBlockStart_, end = itFixBlockStart_ + itFixBlockSize_;
  if (pc >= start && pc < end) return false;
  if (itFixPc_ < start || itFixPc_ >= end) return false;
  // One ITAdvance per instruction from the faulting one to the end of its block.
  uint32_t n = countRange(itFixPc_, end - itFixPc_);
  uint32_t it = itFixState_;
  while (n-- && it != 0) it = (it & 0x7) == 0 ? 0 : ((it & 0xE0) | ((it << 1) & 0x1F));
  uint32_t xpsr = 0;
  uc_reg_read(uc_, UC_ARM_REG_XPSR, &xpsr);
  xpsr = (xpsr & ~((0x3u << 25) | (0x3Fu << 10))) | ((it & 0x3) << 25) | (((it >> 2) & 0x3F) << 10);
  uc_reg_write(uc_, UC_ARM_REG_XPSR, &xpsr);
  refreshHflags();
  // The block at pc was already looked up with the stale ITSTATE, and QEMU chained it to the
  // previous block's exit before our hook stopped it: drop it (which also unlinks the chain),
  // or later passes would jump straight into code translated for the wrong IT state.
  uc_ctl_remove_cache(uc_, pc & ~1u, (pc & ~1u) + 2);
  itFixes_++;
  return true;
}
}  // namespace cmemu
