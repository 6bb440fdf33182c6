// NativeCpu: the memory map (host RAM, MMIO windows, unmapped-load hooks), guest memory access
// from JS, the MMIO trampoline to the JS handlers (with the clock poll), and the TLB-fill hook.
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

// Unicorn keeps a RAM page "not dirty" (every store takes the slow path, ~10x slower) while any
// memory hook's range covers it (uc_mem_hook_installed in notdirty_write). So the READ_UNMAPPED
// hook, which gives the exact address and size of a bad load, is installed only over the
// address ranges not backed by RAM. Stores and fetches never need hooks: the TLB hook refuses
// them on unmapped (and, for stores, read-only) pages.
void NativeCpu::rebuildUnmappedHooks() {
  for (uc_hook h : unmappedHooks_) uc_hook_del(uc_, h);
  unmappedHooks_.clear();
  std::vector<std::pair<uint64_t, uint64_t>> ram;  // [lo, hi)
  for (const Mapping& m : mappings_) {
    if (!m.mmio) ram.emplace_back(m.addr, static_cast<uint64_t>(m.addr) + m.size);
  }
  std::sort(ram.begin(), ram.end());
  uint64_t cur = 0;
  auto addGap = [&](uint64_t lo, uint64_t hi) {  // [lo, hi)
    if (hi <= lo) return;
    uc_hook h;
    uc_err err = uc_hook_add(uc_, &h, UC_HOOK_MEM_READ_UNMAPPED,
                             reinterpret_cast<void*>(&NativeCpu::HookMemInvalid), this, lo, hi - 1);
    if (err == UC_ERR_OK) unmappedHooks_.push_back(h);
  };
  for (const auto& r : ram) {
    addGap(cur, r.first);
    cur = std::max(cur, r.second);
  }
  addGap(cur, 0x100000000ull);
  flushDeletedHooks();
}

// uc_hook_del only marks a hook; it stays in Unicorn's lists (and still counts for
// uc_mem_hook_installed) until the outermost uc_emu_start returns. An empty start that fails
// its first fetch (0xFFFFFFFE is execute-never) purges them now. PC is preserved.
void NativeCpu::flushDeletedHooks() {
  uint32_t pc = readPc();
  uc_emu_start(uc_, 0xFFFFFFFFu, 0, 0, 0);
  pc |= 1;
  uc_reg_write(uc_, UC_ARM_REG_PC, &pc);
  tlbRefused_ = false;
  tlbRefusedBy_ = Refusal::Bus;
}

// QEMU sizes each MMU index's TLB (256 entries at first) from its use, but only when the TLB is
// flushed (tlb_mmu_resize_locked: doubled when over 70 % of it was used since the last flush), and
// an M-profile guest with a fixed memory map seldom causes a flush. A working set of more pages
// than entries then thrashes for good: two pages a multiple of 256 KiB apart (1 KiB pages) share
// an entry, and every access that alternates between them takes Unicorn's slow path
// (bench_loop's memcpy between buffers 1 MiB apart: 135 000 TLB fills, half the run time). So a
// run start or a poll (every kDeadlinePollBlocks block starts) that finds kTlbGrowFills fills since
// the last flush flushes it (QEMU flushes from helpers too: generated code reloads the table at
// every access), which lets QEMU grow it; a working set that fits stops causing fills, and the
// flushes stop with them. Fill counts and polls are guest-determined in icount runs (they stay
// deterministic); the TLB's size is not guest-visible.
void NativeCpu::growTlbIfThrashing() {
  if (!growTlb_ || tlbFills_ - fillsAtFlush_ < kTlbGrowFills) return;
  fillsAtFlush_ = tlbFills_;
  tlbGrowFlushes_++;
  uc_ctl_flush_tlb(uc_);
}

// ---------------------------------------------------------------------------------------------
// Memory

const NativeCpu::Mapping* NativeCpu::findMapping(uint32_t addr) const {
  if (lastMapping_ < mappings_.size()) {
    const Mapping& m = mappings_[lastMapping_];
    if (addr - m.addr < m.size) return &m;
  }
  for (size_t i = 0; i < mappings_.size(); i++) {
    const Mapping& m = mappings_[i];
    if (addr - m.addr < m.size) {
      lastMapping_ = i;
      return &m;
    }
  }
  return nullptr;
}

void NativeCpu::clearExec(uint32_t addr, uint32_t size) {
  for (uint64_t a = addr; a < static_cast<uint64_t>(addr) + size; a += kPageSize) {
    uint32_t p = static_cast<uint32_t>(a >> kPageBits);
    execBits_[p >> 6] &= ~(1ull << (p & 63));
  }
}

void NativeCpu::MapHostMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  if (running_) throw Napi::Error::New(env, "mapHostMemory during run()");
  const uint32_t address = toU32(info[0]);
  Napi::ArrayBuffer buf = info[1].As<Napi::ArrayBuffer>();
  const double offD = info[2].As<Napi::Number>().DoubleValue();
  const double sizeD = info[3].As<Napi::Number>().DoubleValue();
  const bool writable = info[4].ToBoolean().Value();
  if (offD < 0 || sizeD <= 0 || offD + sizeD > static_cast<double>(buf.ByteLength()))
    throw Napi::RangeError::New(env, "mapHostMemory: offset/size outside the buffer");
  if (static_cast<double>(address) + sizeD > 4294967296.0)
    throw Napi::RangeError::New(env, "mapHostMemory: mapping beyond 4 GiB");
  if ((address & (kPageSize - 1)) || (static_cast<uint64_t>(sizeD) & (kPageSize - 1)))
    throw Napi::RangeError::New(env, "mapHostMemory: address and size must be 1 KiB aligned");
  uint8_t* ptr = static_cast<uint8_t*>(buf.Data()) + static_cast<size_t>(offD);
  const size_t size = static_cast<size_t>(sizeD);
  const uint32_t perms = UC_PROT_READ | UC_PROT_EXEC | (writable ? UC_PROT_WRITE : 0);
  checkUc(env, uc_mem_map_ptr(uc_, address, size, perms, ptr), "uc_mem_map_ptr");
  auto ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(buf.As<Napi::Object>()));
  mappings_.push_back(Mapping{address, static_cast<uint32_t>(size), false, writable, ref, 0, 0, ptr});
  clearExec(address, static_cast<uint32_t>(size));
  rebuildUnmappedHooks();
}

void NativeCpu::MapMmio(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  if (running_) throw Napi::Error::New(env, "mapMmio during run()");
  const uint32_t address = toU32(info[0]);
  const uint32_t size = toU32(info[1]);
  const uint32_t region = toU32(info[2]);
  if ((address & (kPageSize - 1)) || (size & (kPageSize - 1)) || size == 0)
    throw Napi::RangeError::New(env, "mapMmio: address and size must be 1 KiB aligned");
  auto r = std::make_unique<MmioRegion>(MmioRegion{this, region});
  checkUc(env, uc_mmio_map(uc_, address, size, &NativeCpu::MmioReadCb, r.get(), &NativeCpu::MmioWriteCb, r.get()),
          "uc_mmio_map");
  mappings_.push_back(Mapping{address, size, true, true, nullptr, region, address});
  mmioRegions_.push_back(std::move(r));
  clearExec(address, size);
}

void NativeCpu::Unmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  if (running_) throw Napi::Error::New(env, "unmap during run()");
  const uint32_t address = toU32(info[0]);
  const uint32_t size = toU32(info[1]);
  checkUc(env, uc_mem_unmap(uc_, address, size), "uc_mem_unmap");
  const uint64_t lo = address, hi = static_cast<uint64_t>(address) + size;
  std::vector<Mapping> next;
  for (Mapping& m : mappings_) {
    const uint64_t mlo = m.addr, mhi = static_cast<uint64_t>(m.addr) + m.size;
    if (mhi <= lo || mlo >= hi) {
      next.push_back(m);
      continue;
    }
    if (mlo < lo)
      next.push_back(Mapping{m.addr, static_cast<uint32_t>(lo - mlo), m.mmio, m.writable, m.buffer, m.region, m.mmioBase,
                             m.host});
    if (mhi > hi)
      next.push_back(Mapping{static_cast<uint32_t>(hi), static_cast<uint32_t>(mhi - hi), m.mmio, m.writable, m.buffer,
                             m.region, m.mmioBase, m.host != nullptr ? m.host + (hi - mlo) : nullptr});
  }
  mappings_.swap(next);
  lastMapping_ = 0;
  clearExec(address, size);
  rebuildUnmappedHooks();
}

Napi::Value NativeCpu::MemRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  const uint32_t address = toU32(info[0]);
  const uint32_t length = toU32(info[1]);
  Napi::Uint8Array out = Napi::Uint8Array::New(env, length);
  if (length) checkUc(env, uc_mem_read(uc_, address, out.Data(), length), "uc_mem_read");
  return out;
}

// memReadInto(address, out): out.byteLength bytes into a caller's Uint8Array (exception entry reads
// the vector and the frame this way, without a new buffer per read).
void NativeCpu::MemReadInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  const uint32_t address = toU32(info[0]);
  Napi::Uint8Array out = info[1].As<Napi::Uint8Array>();
  if (out.ByteLength()) checkUc(env, uc_mem_read(uc_, address, out.Data(), out.ByteLength()), "uc_mem_read");
}

void NativeCpu::MemWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  const uint32_t address = toU32(info[0]);
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  const uint8_t* p = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  if (ta.ByteLength()) checkUc(env, uc_mem_write(uc_, address, p, ta.ByteLength()), "uc_mem_write");
}

void NativeCpu::InvalidateCode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  const uint32_t address = toU32(info[0]);
  const uint32_t size = toU32(info[1]);
  if (size == 0) return;
  uint64_t end = static_cast<uint64_t>(address) + size;
  // Instruction counts come from the translated blocks themselves: nothing else to forget.
  checkUc(env, uc_ctl_remove_cache(uc_, static_cast<uint64_t>(address), end), "uc_ctl_remove_cache");
}

// ---------------------------------------------------------------------------------------------
// MMIO: JS handlers, called synchronously on the JS thread from inside run().

// Raw N-API on this path (about 1/4 cheaper than the C++ wrappers with their exception
// plumbing); a JS exception is picked up with napi_get_and_clear_last_exception.
uint64_t NativeCpu::MmioReadCb(uc_engine*, uint64_t offset, unsigned size, void* ud) {
  auto* r = static_cast<MmioRegion*>(ud);
  NativeCpu* c = r->cpu;
  const uintptr_t ra = c->takeIoRa();
  c->mmioCalls_++;
  if (c->haveError_ || c->rare_.f.alignFired || c->mmioRead_.IsEmpty()) return 0;  // rare_.f.alignFired: undone anyway
  // Account a host stall before the handler reads the clock (stolenNs() is live), so that the
  // guest's time never has to stand still later to take it back.
  if (c->deadlineNs_ != 0) c->pollClock(monotonicNowNs());
  napi_env env = c->env_;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  napi_value fn, recv, argv[3], result;
  napi_get_reference_value(env, static_cast<napi_ref>(c->mmioRead_), &fn);
  napi_get_undefined(env, &recv);
  napi_create_uint32(env, r->region, &argv[0]);
  napi_create_uint32(env, static_cast<uint32_t>(offset), &argv[1]);
  napi_create_uint32(env, size, &argv[2]);
  uint64_t out = 0;
  if (napi_call_function(env, recv, fn, 3, argv, &result) == napi_ok) {
    double d = 0;
    if (napi_get_value_double(env, result, &d) != napi_ok) {
      napi_value num;
      if (napi_coerce_to_number(env, result, &num) == napi_ok) napi_get_value_double(env, num, &d);
    }
    if (std::isfinite(d)) out = static_cast<uint32_t>(static_cast<int64_t>(d));
  }
  const bool threw = c->takeJsException();
  napi_close_handle_scope(env, scope);
  if (threw) c->unwindToAccess(ra);
  c->pollDeadline();
  return out;
}

void NativeCpu::MmioWriteCb(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* ud) {
  auto* r = static_cast<MmioRegion*>(ud);
  NativeCpu* c = r->cpu;
  const uintptr_t ra = c->takeIoRa();
  c->mmioCalls_++;
  if (c->haveError_ || c->rare_.f.alignFired || c->mmioWrite_.IsEmpty()) return;  // rare_.f.alignFired: undone anyway
  if (c->deadlineNs_ != 0) c->pollClock(monotonicNowNs());  // as in MmioReadCb
  napi_env env = c->env_;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[4], result;
  napi_get_reference_value(env, static_cast<napi_ref>(c->mmioWrite_), &fn);
  napi_get_undefined(env, &recv);
  napi_create_uint32(env, r->region, &argv[0]);
  napi_create_uint32(env, static_cast<uint32_t>(offset), &argv[1]);
  napi_create_uint32(env, size, &argv[2]);
  napi_create_uint32(env, static_cast<uint32_t>(value), &argv[3]);
  napi_call_function(env, recv, fn, 4, argv, &result);
  const bool threw = c->takeJsException();
  napi_close_handle_scope(env, scope);
  if (threw) c->unwindToAccess(ra);
  c->pollDeadline();
}

// JS handlers can be slow: after each one, check the host deadline (the stop itself happens at
// the next block boundary).
// A gap between two polls longer than this is a host stall, not guest execution: 1024 blocks
// (the poll interval) take tens of microseconds.
static constexpr int64_t kStallNs = 200000;

bool NativeCpu::pollClock(int64_t now) {
  if (lastPollNs_ != 0 && now - lastPollNs_ > kStallNs) runStolenNs_ += now - lastPollNs_ - kStallNs;
  lastPollNs_ = now;
  return deadlineNs_ != 0 && now - runStolenNs_ >= deadlineNs_;
}

void NativeCpu::pollDeadline() {
  if (deadlineNs_ != 0 && pollClock(monotonicNowNs())) {
    stopBits_.fetch_or(kStopDeadline);
    wake();
  }
}

// If the JS handler threw, keep the exception for run() to rethrow and stop the engine. The
// value may be a primitive (`throw 'x'`), which N-API cannot reference directly: it is kept in
// a holder object. Only raw N-API here: no C++ exception may cross Unicorn's C frames.
bool NativeCpu::takeJsException() {
  bool pending = false;
  napi_is_exception_pending(env_, &pending);
  if (!pending) return false;
  napi_value e;
  napi_get_and_clear_last_exception(env_, &e);
  if (pendingErrorRef_ == nullptr) {
    napi_value holder;
    if (napi_create_object(env_, &holder) == napi_ok && napi_set_named_property(env_, holder, "error", e) == napi_ok)
      napi_create_reference(env_, holder, 1, &pendingErrorRef_);
    haveError_ = true;
  }
  if (uc_ != nullptr) stopEngine(uc_);
  return true;
}

// The host return address of the guest access that called this MMIO callback (io_readx and
// io_writex leave it in cpu->mem_io_pc), or 0. It is cleared as it is taken, so a callback that
// does not come from generated code (uc_mem_read/uc_mem_write of a device, also from inside a
// handler) finds 0.
uintptr_t NativeCpu::takeIoRa() {
  uintptr_t* p = memIoPc();
  if (p == nullptr) return 0;
  const uintptr_t ra = *p;
  *p = 0;
  return ra;
}

// cpu->mem_io_pc, when the CPUState layout is the checked one.
uintptr_t* NativeCpu::memIoPc() const {
  return shadowPrecise_ ? reinterpret_cast<uintptr_t*>(static_cast<char*>(ucCpu_) + kCpuMemIoPcOff) : nullptr;
}

// Stop at the instruction whose access is in progress (host return address `ra`), before the
// access completes, as a refused TLB fill does: cpu_restore_state puts PC and ITSTATE back to the
// instruction and cpu_loop_exit leaves the TB (the stop requested first then ends the run). For a
// device handler that threw (the exit check after the access would do it, but blocks without
// hooks have none: exit_check.cc) and a refused shadow-window access (shadowUnwind). The callers'
// frames are plain C and raw N-API, with no handle scope open. Returns if it cannot (no address,
// not in a run), leaving the stop to the next exit check; `count` counts the unwinds made.
void NativeCpu::unwindToAccess(uintptr_t ra, uint64_t* count) {
  if (ra == 0 || !running_ || !cpu_restore_state_arm(ucCpu_, ra, true)) return;
  if (count != nullptr) ++*count;
  cpu_loop_exit_arm(ucCpu_);
}

void NativeCpu::clearPendingError() {
  if (pendingErrorRef_ != nullptr) napi_delete_reference(env_, pendingErrorRef_);
  pendingErrorRef_ = nullptr;
  haveError_ = false;
}

void NativeCpu::SetMmioHandlers(const Napi::CallbackInfo& info) {
  mmioRead_.Reset();
  mmioWrite_.Reset();
  if (info[0].IsFunction()) mmioRead_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (info[1].IsFunction()) mmioWrite_ = Napi::Persistent(info[1].As<Napi::Function>());
}

// ---------------------------------------------------------------------------------------------
// Hooks

bool NativeCpu::HookTlbFill(uc_engine*, uint64_t vaddr, uc_mem_type type, uc_tlb_entry* e, void* ud) {
  auto* c = static_cast<NativeCpu*>(ud);
  c->tlbFills_++;
  if (fillMmuIdx() >= kLiteralMmuIdxBase) c->literalFills_++;
  const uint32_t page = static_cast<uint32_t>(vaddr) & kPageMask;
  const uint32_t pn = page >> kPageBits;
  uint64_t& word = c->execBits_[pn >> 6];
  const uint64_t bit = 1ull << (pn & 63);
  const Mapping* m = c->findMapping(page);
  e->paddr = page;  // identity
  auto refuse = [c, type, page](Refusal by) {
    c->tlbRefused_ = true;
    c->tlbRefusedType_ = type;
    c->tlbRefusedPage_ = page;
    c->tlbRefusedBy_ = by;
    return false;  // Unicorn raises UC_ERR_EXCEPTION at once (precise)
  };
  // An access of an instruction ARMv7-M leaves UNDEFINED (align_check.cc): never an entry.
  if (fillMmuIdx() == kUndefMmuIdx) return refuse(Refusal::Undefined);
  // The MPU (PMSAv7, ARMv7-M B3.5). QEMU keeps one TLB per MMU index, and the index encodes the
  // privilege, so an entry filled here serves only the privilege read here. The PPB is never
  // subject to the MPU. `mpuProt` stays RWX when the MPU does not apply.
  bool priv = true, mixed = false;
  uint32_t mpuProt = kProtR | kProtW | kProtX;
  const bool ppb = isPpb(page);
  if (c->mpuOn() && !ppb) {
    bool negPri = false;
    c->readPrivilege(&priv, &negPri);
    // A guest CPSID f / MSR FAULTMASK inside the run (HFNMIENA clear): entries filled before it
    // follow the other rule; drop them now (the opposite change is watched by the block hook).
    if (!(c->mpuCtrl_ & 2) && negPri != c->mpuTlbNegPri_) c->mpuNegPriChanged(negPri);
    if (c->mpuApplies(negPri)) {
      if (c->mpuUniform(page)) {
        mpuProt = c->mpuProt(page, priv);
      } else {
        mixed = true;
        mpuProt = 0;
      }
    }
  }
  if (type == UC_MEM_FETCH) {
    if (mixed) {
      // A page that a region cuts: check the fetch address itself (PC is the fetch target when it
      // lies in this page) and grant EXEC alone, so that data accesses to the page refill through
      // the shadow window. Blocks that start or run on into other parts of the page are checked
      // by the block hook (splitFetchStop).
      const uint32_t pc = c->readPc() & ~1u;
      const uint32_t at = (pc & kPageMask) == page ? pc : page;
      if (!(c->mpuProt(at, priv) & kProtX)) return refuse(Refusal::Mpu);
      // Blocks on this page are checked by the block hook from now on (splitFetchStop).
      if (std::find(c->splitCodePages_.begin(), c->splitCodePages_.end(), page) == c->splitCodePages_.end())
        c->splitCodePages_.push_back(page);
      c->rare_.f.split = true;
      c->wake();
    } else if (!(mpuProt & kProtX)) {
      return refuse(Refusal::Mpu);
    }
    if (isExecuteNever(page) || m == nullptr || m->mmio) return refuse(Refusal::Bus);
    word |= bit;
    if (!ppb) c->noteTlbPage(page);
    if (mixed) {
      e->perms = UC_PROT_EXEC;
      return true;
    }
    uint32_t perms = UC_PROT_EXEC;
    if (mpuProt & kProtR) perms |= UC_PROT_READ;
    if ((mpuProt & kProtW) && m->writable) perms |= UC_PROT_WRITE;
    e->perms = static_cast<uc_prot>(perms);
    return true;
  }
  // Data. Loads are allowed everywhere: on unmapped pages the READ_UNMAPPED hook reports the
  // exact address and Unicorn unwinds precisely. Stores get WRITE only on writable RAM and MMIO:
  // a store to read-only RAM would otherwise go straight to host memory on the fast path, and a
  // store to unmapped memory is reported by Unicorn only at the end of an IT block. Refusing the
  // fill unwinds precisely in every case (classify() decodes the store for its address).
  if (ppb) {
    // The Private Peripheral Bus is privileged-only: an unprivileged access is a precise BusFault
    // (ARMv7-M B3.1). QEMU keeps one TLB per MMU index (privileged and unprivileged differ), so
    // deciding here by the current privilege is sound: this entry serves only this privilege.
    int ids[2] = {UC_ARM_REG_CONTROL, UC_ARM_REG_IPSR};
    uint32_t v[2] = {0, 0};
    void* ptrs[2] = {&v[0], &v[1]};
    uc_reg_read_batch(c->uc_, ids, ptrs, 2);
    // An unprivileged store to STIR with CCR.USERSETMPEND is refused here too (a TLB entry covers
    // the whole 1 KiB page, SCB and MPU registers included); Run() performs it (emulateStirStore).
    // Refusals are never cached, so nothing depends on USERSETMPEND's value at fill time.
    if ((v[0] & 1) && (v[1] & 0x1FF) == 0) return refuse(Refusal::Bus);
  }
  if (mixed) {
    // Every data access to this page goes through the shadow window of this privilege, where
    // ShadowReadCb/ShadowWriteCb check the exact bytes against the MPU (and the bus).
    e->paddr = kShadowBase[priv ? 1 : 0] + page;
    e->perms = static_cast<uc_prot>(UC_PROT_READ | UC_PROT_WRITE);
    c->noteTlbPage(page);
    c->noteStateRestored();
    return true;
  }
  if (type == UC_MEM_READ && !(mpuProt & kProtR)) return refuse(Refusal::Mpu);
  if (type == UC_MEM_WRITE && !(mpuProt & kProtW)) return refuse(Refusal::Mpu);
  uint32_t perms = 0;
  if (mpuProt & kProtR) perms |= UC_PROT_READ;
  if ((mpuProt & kProtW) && m != nullptr && (m->mmio || m->writable)) perms |= UC_PROT_WRITE;
  if ((word & bit) && (mpuProt & kProtX)) perms |= UC_PROT_EXEC;
  if (type == UC_MEM_WRITE && !(perms & UC_PROT_WRITE)) return refuse(Refusal::Bus);
  e->perms = static_cast<uc_prot>(perms);
  if (!ppb) c->noteTlbPage(page);
  // Unicorn rolled the CPU state back to this access before calling us (ITSTATE included): if it
  // is inside an IT block, the rest of the block may leave ITSTATE stale. Repair it at the next
  // block boundary.
  c->noteStateRestored();
  return true;
}

bool NativeCpu::HookMemInvalid(uc_engine*, uc_mem_type type, uint64_t address, int size, int64_t, void* ud) {
  auto* c = static_cast<NativeCpu*>(ud);
  if (!c->memFaultValid_) {
    c->memFaultValid_ = true;
    c->memFaultAddr_ = static_cast<uint32_t>(address);
    c->memFaultSize_ = static_cast<uint32_t>(size);
    switch (type) {
      case UC_MEM_WRITE_UNMAPPED:
      case UC_MEM_WRITE_PROT:
        c->memFaultAccess_ = Access::Write;
        break;
      case UC_MEM_FETCH_UNMAPPED:
      case UC_MEM_FETCH_PROT:
        c->memFaultAccess_ = Access::Fetch;
        break;
      default:
        c->memFaultAccess_ = Access::Read;
        break;
    }
  }
  return false;
}
}  // namespace cmemu
