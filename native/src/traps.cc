// NativeCpu: traps the engine does not raise itself: CCR.UNALIGN_TRP, divide by zero, STIR
// stores with USERSETMPEND, breakpoints (bounded code hooks), and access decoding for them.
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

// CCR.UNALIGN_TRP: installed over all memory only while the trap is on (every data access then
// takes Unicorn's slow path). Unicorn calls it before the access, only for accesses that really
// happen (an instruction skipped by its IT condition makes none), once per guest access whatever
// its alignment, with PC and ITSTATE synced to the instruction (measured; docs/unicorn.md).
// A uc_emu_stop here takes effect at the exit check right after the access outside IT blocks, and
// only at the next exit check or block inside one; in both cases the access itself happens. So
// the first unaligned access snapshots the CPU, and everything from it to the real stop is undone
// after the run (undoAlignStop): RAM writes from alignUndo_, MMIO callbacks are suppressed.
void NativeCpu::HookAlignMem(uc_engine* uc, uc_mem_type type, uint64_t address, int size, int64_t, void* ud) {
  auto* c = static_cast<NativeCpu*>(ud);
  c->alignHookCalls_++;
  const uint32_t a = static_cast<uint32_t>(address);
  if (!c->rare_.f.alignFired) {
    c->noteStateRestored();
    if (!c->alignTrap_ || c->haveError_ || c->rare_.f.divStop || c->intrStop_) return;
    const bool unaligned = size >= 4 ? (a & 3) != 0 : size == 2 ? (a & 1) != 0 : false;
    if (!unaligned) return;
    if (c->alignCtx_ == nullptr || uc_context_save(uc, c->alignCtx_) != UC_ERR_OK) return;
    c->rare_.f.alignFired = true;
    c->alignPc_ = c->readPc();
    c->alignAddr_ = a;
    c->alignSize_ = static_cast<uint32_t>(size);
    c->alignAccess_ = type == UC_MEM_WRITE ? Access::Write : Access::Read;
    c->syncBlock();
    c->alignBlockStart_ = c->blockStart_;
    c->alignBlockBefore_ = c->blockBefore_;
    c->alignUndo_.clear();
    c->wake();
    stopEngine(uc);
  }
  if (type != UC_MEM_WRITE) return;
  // Keep what this write overwrites in RAM (MMIO writes are suppressed instead).
  for (int i = 0; i < size; i++) {
    const uint32_t b = a + static_cast<uint32_t>(i);
    const Mapping* m = c->findMapping(b);
    uint8_t old = 0;
    if (m == nullptr || m->mmio || !m->writable || uc_mem_read(uc, b, &old, 1) != UC_ERR_OK) continue;
    c->alignUndo_.emplace_back(b, old);
  }
}

// Back to the state before the trapped access: registers (PC and ITSTATE included) from the
// snapshot, RAM bytes from the undo log (newest first), icount up to the trapped instruction.
void NativeCpu::undoAlignStop() {
  uc_context_restore(uc_, alignCtx_);
  for (auto it = alignUndo_.rbegin(); it != alignUndo_.rend(); ++it) uc_mem_write(uc_, it->first, &it->second, 1);
  alignUndo_.clear();
  refreshHflags();
  icount_ = alignBlockBefore_ + countRange(alignBlockStart_, alignPc_ - alignBlockStart_);
  rare_.f.itFix = false;  // the snapshot holds the right ITSTATE
}

void NativeCpu::SetUnalignedTrap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  const bool on = info[0].ToBoolean().Value();
  if (on == alignTrap_ && !rare_.f.alignRebuild) return;
  alignTrap_ = on;
  if (running_) {
    // From an MMIO handler (the guest wrote CCR): the block hook stops at the next block boundary,
    // Run() installs or removes the hook and carries on (an ISB after the CCR write ends the block).
    // Turning it off takes effect at once (the hook ignores accesses).
    rare_.f.alignRebuild = true;
    wake();
    return;
  }
  rebuildAlignHook();
}

void NativeCpu::rebuildAlignHook() {
  rare_.f.alignRebuild = false;
  if (alignTrap_ && alignHook_ == 0) {
    if (alignCtx_ == nullptr && uc_context_alloc(uc_, &alignCtx_) != UC_ERR_OK) alignCtx_ = nullptr;
    uc_hook h;
    if (uc_hook_add(uc_, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(&NativeCpu::HookAlignMem),
                    this, 1, 0) != UC_ERR_OK)
      return;
    alignHook_ = h;
  } else if (!alignTrap_ && alignHook_ != 0) {
    uc_hook_del(uc_, alignHook_);
    alignHook_ = 0;
    flushDeletedHooks();
  } else {
    return;
  }
  // Whether a load/store goes through the helpers that call memory hooks is decided when it is
  // translated (tcg_uc_has_hookmem): retranslate everything, both ways.
  uc_ctl_flush_tb(uc_);
}

void NativeCpu::SetUserSetMPend(const Napi::CallbackInfo& info) { userSetMPend_ = info[0].ToBoolean().Value(); }

// An unprivileged store that the TLB hook refused in the PPB: if CCR.USERSETMPEND is set and it
// is a single-register word STR to STIR, do it here (MMIO write, base writeback, PC and ITSTATE
// advance, one instruction counted). Returns false if it is anything else (a BusFault).
bool NativeCpu::emulateStirStore(uint32_t pc) {
  constexpr uint32_t kStir = 0xE000EF00u;
  uint16_t hw1 = 0, hw2 = 0;
  if (!readHalf(pc, &hw1)) return false;
  const bool wide = thumb::is32(hw1);
  if (wide && !readHalf(pc + 2, &hw2)) return false;
  auto reg = [this](uint32_t n) -> uint32_t {
    uint32_t v = 0;
    uc_reg_read(uc_, regIdFor(n), &v);
    return v;
  };
  uint32_t rt = 16, rn = 16, addr = 0, wbValue = 0;
  bool wb = false;
  if (!wide) {
    if ((hw1 & 0xF800) == 0x6000) { rt = hw1 & 7; rn = (hw1 >> 3) & 7; addr = reg(rn) + (((hw1 >> 6) & 31) << 2); }
    else if ((hw1 & 0xFE00) == 0x5000) { rt = hw1 & 7; rn = (hw1 >> 3) & 7; addr = reg(rn) + reg((hw1 >> 6) & 7); }
    else if ((hw1 & 0xF800) == 0x9000) { rt = (hw1 >> 8) & 7; rn = 13; addr = reg(13) + ((hw1 & 0xFF) << 2); }
    else return false;
  } else {
    rn = hw1 & 0xF;
    rt = hw2 >> 12;
    if (rn == 15 || rt == 15) return false;
    if ((hw1 & 0xFFF0) == 0xF8C0) {                               // STR.W imm12
      addr = reg(rn) + (hw2 & 0xFFF);
    } else if ((hw1 & 0xFFF0) == 0xF840 && (hw2 & 0x800)) {       // STR imm8 (P/U/W), STRT
      const bool p = hw2 & 0x400, u = hw2 & 0x200, w = hw2 & 0x100;
      const uint32_t base = reg(rn), off = hw2 & 0xFF;
      const uint32_t moved = u ? base + off : base - off;
      addr = p ? moved : base;
      wb = w;
      wbValue = moved;
    } else if ((hw1 & 0xFFF0) == 0xF840 && (hw2 & 0xFC0) == 0) {  // STR (register)
      addr = reg(rn) + (reg(hw2 & 0xF) << ((hw2 >> 4) & 3));
    } else {
      return false;
    }
  }
  if (addr != kStir) return false;
  const Mapping* m = findMapping(addr);
  if (m == nullptr || !m->mmio) return false;
  MmioRegion* region = nullptr;
  for (auto& r : mmioRegions_)
    if (r->region == m->region) region = r.get();
  if (region == nullptr) return false;
  MmioWriteCb(uc_, addr - m->mmioBase, 4, reg(rt), region);
  if (haveError_) return true;  // Run() reports HandlerError with PC at the store
  if (wb) {
    uint32_t v = wbValue;
    uc_reg_write(uc_, regIdFor(rn), &v);
  }
  // Advance PC and ITSTATE past the store (it ran: a skipped store makes no access).
  uint32_t xpsr = 0;
  uc_reg_read(uc_, UC_ARM_REG_XPSR, &xpsr);
  uint32_t it = ((xpsr >> 25) & 0x3) | (((xpsr >> 10) & 0x3F) << 2);
  if (it != 0) {
    it = (it & 0x7) == 0 ? 0 : ((it & 0xE0) | ((it << 1) & 0x1F));
    xpsr = (xpsr & ~((0x3u << 25) | (0x3Fu << 10))) | ((it & 0x3) << 25) | (((it >> 2) & 0x3F) << 10);
    uc_reg_write(uc_, UC_ARM_REG_XPSR, &xpsr);
  }
  uint32_t next = (pc + (wide ? 4 : 2)) | 1;
  uc_reg_write(uc_, UC_ARM_REG_PC, &next);
  refreshHflags();
  return true;
}

void NativeCpu::HookDivide(uc_engine* uc, uint64_t address, uint32_t, void* ud) {
  auto* c = static_cast<NativeCpu*>(ud);
  if (!c->divTrap_ || c->rare_.f.divStop || c->rare_.f.alignFired) return;
  uint16_t hw1 = 0, hw2 = 0;
  const uint32_t a = static_cast<uint32_t>(address);
  if (!c->readHalf(a, &hw1) || !c->readHalf(a + 2, &hw2) || !thumb::isDivide(hw1, hw2)) return;
  uint32_t rm = 0;
  uc_reg_read(uc, regIdFor(hw2 & 0xF), &rm);
  if (rm != 0) return;
  c->rare_.f.divStop = true;
  c->wake();
  c->divAddr_ = a;
  stopEngine(uc);  // the code hook is followed by an exit check: the divide does not run
}

// Decode the data access of the load (store = false) or store at `pc` (Thumb, ARMv7-M).
bool NativeCpu::decodeAccessAt(uint32_t pc, bool store, thumb::StoreAccess* out) {
  uint16_t hw1 = 0, hw2 = 0;
  if (!readHalf(pc, &hw1)) return false;
  if (thumb::is32(hw1) && !readHalf(pc + 2, &hw2)) return false;
  auto reg = [this, pc](uint32_t n) -> uint32_t {
    if (n == 15) return pc + 4;  // TBB/TBH [PC, Rm]; literal forms are handled by the decoder
    uint32_t v = 0;
    uc_reg_read(uc_, regIdFor(n), &v);
    return v;
  };
  *out = store ? thumb::decodeStore(hw1, hw2, reg) : thumb::decodeLoad(hw1, hw2, pc, reg);
  return out->ok;
}

// A halfword or word (LDM/STM/LDRD/STRD: each word) access that is not naturally aligned.
bool NativeCpu::isMisaligned(uint32_t addr, uint32_t size) {
  return size >= 4 ? (addr & 3) != 0 : size == 2 ? (addr & 1) != 0 : false;
}

// Is the instruction at pc a load or store whose (first) access is misaligned? Fills the stop info.
bool NativeCpu::misalignedAccessAt(uint32_t pc) {
  thumb::StoreAccess s;
  bool store = false;
  if (!decodeAccessAt(pc, false, &s)) {
    if (!decodeAccessAt(pc, true, &s)) return false;
    store = true;
  }
  if (!isMisaligned(s.low, s.size)) return false;
  lastAddress_ = s.low;
  lastSize_ = s.size;
  lastAccess_ = store ? Access::Write : Access::Read;
  return true;
}

void NativeCpu::setCodeHooks(Napi::Env env, std::vector<CodeHook>& hooks, const Napi::Array& addrs, void* callback) {
  ensureOpen(env);
  if (running_) throw Napi::Error::New(env, "code hooks changed during run()");
  for (const CodeHook& h : hooks) {
    uc_hook_del(uc_, h.hook);
    uc_ctl_remove_cache(uc_, static_cast<uint64_t>(h.addr), static_cast<uint64_t>(h.addr) + 4);
  }
  if (!hooks.empty()) flushDeletedHooks();
  hooks.clear();
  for (uint32_t i = 0; i < addrs.Length(); i++) {
    const uint32_t a = toU32(addrs.Get(i)) & ~1u;
    bool dup = false;
    for (const CodeHook& h : hooks) dup = dup || h.addr == a;
    if (dup) continue;
    uc_hook h;
    checkUc(env, uc_hook_add(uc_, &h, UC_HOOK_CODE, callback, this, static_cast<uint64_t>(a), static_cast<uint64_t>(a)),
            "uc_hook_add(CODE)");
    hooks.push_back(CodeHook{a, h});
    // Code translated before the hook existed carries no call to it.
    uc_ctl_remove_cache(uc_, static_cast<uint64_t>(a), static_cast<uint64_t>(a) + 4);
  }
}

void NativeCpu::SetDivideSites(const Napi::CallbackInfo& info) {
  setCodeHooks(info.Env(), divSites_, info[0].As<Napi::Array>(), reinterpret_cast<void*>(&NativeCpu::HookDivide));
}

void NativeCpu::SetDivideTrap(const Napi::CallbackInfo& info) { divTrap_ = info[0].ToBoolean().Value(); }

void NativeCpu::SetBreakpoints(const Napi::CallbackInfo& info) {
  setCodeHooks(info.Env(), breakpoints_, info[0].As<Napi::Array>(), reinterpret_cast<void*>(&NativeCpu::HookBreakpoint));
}

void NativeCpu::HookBreakpoint(uc_engine* uc, uint64_t address, uint32_t, void* ud) {
  auto* c = static_cast<NativeCpu*>(ud);
  const uint32_t a = static_cast<uint32_t>(address);
  if (a == c->bpSkip_) {  // the run started here: execute it (once)
    c->bpSkip_ = 0xFFFFFFFFu;
    return;
  }
  if (c->bpStop_ || c->rare_.f.divStop || c->rare_.f.alignFired) return;
  c->bpStop_ = true;
  c->bpAddr_ = a;
  stopEngine(uc);  // followed by an exit check: the instruction does not run
}
}  // namespace cmemu
