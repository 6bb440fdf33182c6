#include <chrono>
#include "cpu.h"

#include <malloc.h>

#include <unicorn/arm.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include "thumb.h"
#include "exit_check.h"

// Linked with -Wl,--wrap=tlb_flush_arm (binding.gyp): every whole-TLB flush inside Unicorn goes
// through this wrapper, which lets the constructor learn the engine's CPUState (Unicorn has no API
// for it) so that the MPU code can call QEMU's per-page flush (see NativeCpu::mpuInvalidate).
extern "C" {
void __real_tlb_flush_arm(void* cpu);
void tlb_flush_page_by_mmuidx_arm(void* cpu, uint32_t addr, uint16_t idxmap);
// QEMU's precise unwind (what a refused TLB fill does): restore the guest state (PC, ITSTATE) of
// the instruction whose translated code is at host address `host_pc`, then leave the TB.
bool cpu_restore_state_arm(void* cpu, uintptr_t host_pc, bool will_exit);
void cpu_loop_exit_arm(void* cpu) __attribute__((noreturn));
static thread_local void** g_captureCpu = nullptr;
void __wrap_tlb_flush_arm(void* cpu) {
  if (g_captureCpu != nullptr) {
    *g_captureCpu = cpu;
    g_captureCpu = nullptr;
  }
  __real_tlb_flush_arm(cpu);
}
}

namespace cmemu {

namespace {

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
// cpu->exception_index (cpu_loop_exit_noexc stores -1 there) and QEMU's EXCP_YIELD.
constexpr size_t kCpuExceptionIndexOff = 0x81a0;
constexpr int kExcpYield = 0x10004;

inline bool isPpb(uint32_t a) { return a >= 0xE0000000u && a < 0xE0100000u; }

// v7-M default memory map: instruction fetches from these regions are execute-never.
inline bool isExecuteNever(uint32_t a) {
  return (a >= 0x40000000u && a <= 0x5FFFFFFFu) || a >= 0xA0000000u;
}

uint64_t toU64Limit(double v) {
  if (std::isnan(v) || v <= 0) return 0;
  if (!std::isfinite(v) || v >= 18446744073709551615.0) return UINT64_MAX;
  return static_cast<uint64_t>(v);
}

uint32_t toU32(const Napi::Value& v) {
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) return 0;
  return static_cast<uint32_t>(static_cast<int64_t>(d));
}

int regIdFor(uint32_t n) {
  if (n <= 12) return UC_ARM_REG_R0 + static_cast<int>(n);
  if (n == 13) return UC_ARM_REG_SP;
  if (n == 14) return UC_ARM_REG_LR;
  return UC_ARM_REG_PC;
}

bool touchesHflags(int id) {
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

// ---------------------------------------------------------------------------------------------
// TSFN: the watcher thread asks for `onEvent` to run on the JS thread.

void TsfnCallJs(napi_env env, napi_value, void* context, void*) {
  auto* ctx = static_cast<TsfnCtx*>(context);
  if (env == nullptr || ctx == nullptr) return;
  ctx->pending.store(false);
  NativeCpu* cpu = ctx->owner;
  if (cpu == nullptr || cpu->eventCb_.IsEmpty()) return;
  // Raw N-API: an exception thrown by the callback stays pending and node reports it as
  // uncaught, as for any other callback.
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, static_cast<napi_ref>(cpu->eventCb_), &fn) == napi_ok && fn != nullptr) {
    napi_get_undefined(env, &recv);
    napi_call_function(env, recv, fn, 0, nullptr, &result);
  }
  napi_close_handle_scope(env, scope);
}

static void TsfnFinalize(napi_env, void* data, void*) {
  auto* ctx = static_cast<TsfnCtx*>(data);
  bool del;
  {
    std::lock_guard<std::mutex> lock(ctx->mu);
    ctx->finalized = true;
    del = ctx->owner == nullptr;
  }
  if (del) delete ctx;
}

// ---------------------------------------------------------------------------------------------

Napi::Function NativeCpu::Init(Napi::Env env) {
  return DefineClass(env, "NativeCpu",
                     {
                         InstanceMethod("readRegs", &NativeCpu::ReadRegs),
                         InstanceMethod("writeRegs", &NativeCpu::WriteRegs),
                         InstanceMethod("readReg", &NativeCpu::ReadReg),
                         InstanceMethod("writeReg", &NativeCpu::WriteReg),
                         InstanceMethod("mapHostMemory", &NativeCpu::MapHostMemory),
                         InstanceMethod("mapMmio", &NativeCpu::MapMmio),
                         InstanceMethod("unmap", &NativeCpu::Unmap),
                         InstanceMethod("memRead", &NativeCpu::MemRead),
                         InstanceMethod("memWrite", &NativeCpu::MemWrite),
                         InstanceMethod("setMmioHandlers", &NativeCpu::SetMmioHandlers),
                         InstanceMethod("run", &NativeCpu::Run),
                         InstanceMethod("stopInfo", &NativeCpu::StopInfo),
                         InstanceMethod("icount", &NativeCpu::Icount),
                         InstanceMethod("setIcount", &NativeCpu::SetIcount),
                         InstanceMethod("requestStop", &NativeCpu::RequestStop),
                         InstanceMethod("setMaskWatch", &NativeCpu::SetMaskWatch),
                         InstanceMethod("setDivideSites", &NativeCpu::SetDivideSites),
                         InstanceMethod("setBreakpoints", &NativeCpu::SetBreakpoints),
                         InstanceMethod("setDivideTrap", &NativeCpu::SetDivideTrap),
                         InstanceMethod("setUnalignedTrap", &NativeCpu::SetUnalignedTrap),
                         InstanceMethod("setUserSetMPend", &NativeCpu::SetUserSetMPend),
                         InstanceMethod("invalidateCode", &NativeCpu::InvalidateCode),
                         InstanceMethod("watchFd", &NativeCpu::WatchFd),
                         InstanceMethod("unwatchFd", &NativeCpu::UnwatchFd),
                         InstanceMethod("takeEvents", &NativeCpu::TakeEvents),
                         InstanceMethod("setEventCallback", &NativeCpu::SetEventCallback),
                         InstanceMethod("close", &NativeCpu::Close),
                         InstanceMethod("stats", &NativeCpu::Stats),
                         InstanceMethod("sleepUntil", &NativeCpu::SleepUntil),
                         InstanceMethod("idleWait", &NativeCpu::IdleWait),
                         InstanceMethod("stolenNs", &NativeCpu::StolenNs),
                         InstanceMethod("setMpu", &NativeCpu::SetMpu),
                         InstanceMethod("setHfNmiActive", &NativeCpu::SetHfNmiActive),
                     });
}

NativeCpu::NativeCpu(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCpu>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  uc_err err = uc_open(UC_ARCH_ARM, UC_MODE_THUMB, &uc_);
  if (err != UC_ERR_OK) throw Napi::Error::New(env, std::string("uc_open: ") + uc_strerror(err));
  // Must come before anything that initialises the CPU, or Unicorn refuses it (UC_ERR_ARG).
  err = uc_ctl_set_cpu_model(uc_, UC_CPU_ARM_CORTEX_M3);
  if (err != UC_ERR_OK) {
    uc_close(uc_);
    uc_ = nullptr;
    throw Napi::Error::New(env, std::string("uc_ctl_set_cpu_model(CORTEX_M3): ") + uc_strerror(err));
  }
  auto must = [&](uc_err e, const char* what) {
    if (e != UC_ERR_OK) {
      uc_close(uc_);
      uc_ = nullptr;
      throw Napi::Error::New(env, std::string(what) + ": " + uc_strerror(e));
    }
  };
  must(uc_ctl_tlb_mode(uc_, UC_TLB_VIRTUAL), "uc_ctl_tlb_mode(VIRTUAL)");
  // No `until` address: with exits enabled and an empty exit list only hooks stop a run.
  must(uc_ctl_exits_enable(uc_), "uc_ctl_exits_enable");

  execBits_.assign((1u << (32 - kPageBits)) / 64, 0);
  tlbPageBits_.assign((1u << (32 - kPageBits)) / 64, 0);
  // Learn Unicorn's CPUState through the tlb_flush wrapper (a flush of the still empty TLB).
  g_captureCpu = &ucCpu_;
  uc_ctl_flush_tlb(uc_);
  g_captureCpu = nullptr;
  if (ucCpu_ != nullptr) {
    char* cpu = static_cast<char*>(ucCpu_);
    shadowPrecise_ = *reinterpret_cast<void**>(cpu + kCpuEnvPtrOff) == cpu + kCpuEnvOff;
  }
  // Learn Unicorn's TCGContext through the tcg_region_reset_all wrapper (a flush of the still
  // empty code buffer), for the block-start wrapper's TranslationBlock lookups (exit_check.cc).
  tcgCtx_ = captureTcgContext(uc_);
  if (tcgCtx_ == nullptr) {
    uc_close(uc_);
    uc_ = nullptr;
    throw Napi::Error::New(env, "Unicorn's TCG context could not be found (the addon needs the Unicorn 2.1.4 it was built with)");
  }
  calls_.assign(kCallCacheSize, CallEntry{});
  // Fast mode needs the CPUState (tb_gen_code's argument tells this engine's blocks).
  if (ucCpu_ != nullptr) allocStartBits();
  checkCounts_ = getenv("CMEMU_CHECK_COUNTS") != nullptr;
  registerCpu(this);

  uc_hook h;
  must(uc_hook_add(uc_, &h, UC_HOOK_TLB_FILL, reinterpret_cast<void*>(&NativeCpu::HookTlbFill), this, 1, 0),
       "uc_hook_add(TLB_FILL)");
  must(uc_hook_add(uc_, &h, UC_HOOK_INTR, reinterpret_cast<void*>(&NativeCpu::HookIntr), this, 1, 0),
       "uc_hook_add(INTR)");
  must(uc_hook_add(uc_, &h, UC_HOOK_INSN_INVALID, reinterpret_cast<void*>(&NativeCpu::HookInsnInvalid), this, 1, 0),
       "uc_hook_add(INSN_INVALID)");
  // The MPU's shadow windows (nothing points into them until the MPU splits a page).
  for (int priv = 0; priv < 2; priv++) {
    shadow_[priv] = std::make_unique<ShadowRegion>(ShadowRegion{this, priv != 0});
    must(uc_mmio_map(uc_, kShadowBase[priv], kShadowSize, &NativeCpu::ShadowReadCb, shadow_[priv].get(),
                     &NativeCpu::ShadowWriteCb, shadow_[priv].get()),
         "uc_mmio_map(MPU shadow)");
  }
  // Loads from unmapped memory: hooks bounded to the gaps between RAM mappings (see
  // rebuildUnmappedHooks: a hook covering a RAM page keeps every store to it on the slow path).
  rebuildUnmappedHooks();
}

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
  tlbRefused_ = tlbRefusedMpu_ = false;
}

NativeCpu::~NativeCpu() { shutdown(); }

void NativeCpu::shutdown() {
  if (watcher_) {
    watcher_->stop();  // joins: no more TSFN calls after this
    watcher_.reset();
  }
  if (idleFd_ >= 0) {
    close(idleFd_);
    idleFd_ = -1;
  }
  if (tsfnCtx_ != nullptr) {
    bool del;
    napi_threadsafe_function tsfn = nullptr;
    {
      std::lock_guard<std::mutex> lock(tsfnCtx_->mu);
      tsfnCtx_->owner = nullptr;
      del = tsfnCtx_->finalized;
      if (!tsfnCtx_->finalized && !tsfnCtx_->released) {
        tsfnCtx_->released = true;
        tsfn = tsfnCtx_->tsfn;
      }
    }
    if (tsfn != nullptr) napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
    if (del) delete tsfnCtx_;
    tsfnCtx_ = nullptr;
  }
  if (alignCtx_ != nullptr) {
    uc_context_free(alignCtx_);
    alignCtx_ = nullptr;
  }
  alignHook_ = 0;
  if (uc_ != nullptr && getenv("CMEMU_NATIVE_STATS") != nullptr)
    fprintf(stderr, "cmemu native: %llu blocks translated, %llu call-cache misses, start filter %s (%llu fallbacks, phase %u, offset %u)\n",
            static_cast<unsigned long long>(newBlocks_), static_cast<unsigned long long>(callMisses_),
            startBits_ != nullptr ? "on" : "off", static_cast<unsigned long long>(phaseFallbacks_), static_cast<unsigned>(startPhase_),
            static_cast<unsigned>(startOff_));
  if (uc_ != nullptr) {
    uc_close(uc_);  // before the host memory references go away
    uc_ = nullptr;
    // QEMU's teardown frees many small blocks between live ones: give the freed pages back now,
    // or a process that makes and closes many machines keeps them all (measured: ~0.5 MiB each).
    malloc_trim(0);
  }
  mappings_.clear();
  mmioRegions_.clear();
  divSites_.clear();
  unmappedHooks_.clear();
  std::vector<uint64_t>().swap(execBits_);
  std::vector<CallEntry>().swap(calls_);
  freeStartBits();
  unregisterCpu(this);
  std::vector<uint8_t>().swap(codeBuf_);
  // The per-page TLB tracking (512 KiB) and the breakpoints go with the engine, not with the GC.
  std::vector<uint64_t>().swap(tlbPageBits_);
  std::vector<uint32_t>().swap(tlbPages_);
  std::vector<uint32_t>().swap(splitCodePages_);
  breakpoints_.clear();
  mmioRead_.Reset();
  mmioWrite_.Reset();
  eventCb_.Reset();
  clearPendingError();
}

void NativeCpu::ensureOpen(Napi::Env env) const {
  if (uc_ == nullptr) throw Napi::Error::New(env, "NativeCpu is closed");
}

void NativeCpu::checkUc(Napi::Env env, uc_err err, const char* what) const {
  if (err != UC_ERR_OK) throw Napi::Error::New(env, std::string(what) + ": " + uc_strerror(err));
}

void NativeCpu::ensureWatcher() {
  // The TSFN exists before the watcher thread starts and outlives it (see shutdown()).
  if (tsfnCtx_ == nullptr) {
    auto* ctx = new TsfnCtx();
    ctx->owner = this;
    napi_value name;
    napi_create_string_utf8(env_, "cmemu.watcher", NAPI_AUTO_LENGTH, &name);
    napi_status st = napi_create_threadsafe_function(env_, nullptr, nullptr, name, 0, 1, ctx, TsfnFinalize, ctx,
                                                     TsfnCallJs, &ctx->tsfn);
    if (st != napi_ok) {
      delete ctx;
      throw Napi::Error::New(env_, "napi_create_threadsafe_function failed");
    }
    napi_unref_threadsafe_function(env_, ctx->tsfn);  // do not keep the event loop alive by itself
    tsfnRefed_ = false;
    tsfnCtx_ = ctx;
  }
  if (!watcher_) {
    watcher_ = std::make_unique<Watcher>(&stopBits_, cmemu_attention_word(), [this] { notifyFromWatcher(); });
    watcher_->start();
  }
}

// Watcher thread.
void NativeCpu::notifyFromWatcher() {
  {
    std::lock_guard<std::mutex> lock(sleepMu_);
    sleepWake_ = true;
  }
  sleepCv_.notify_all();
  if (idleWaiting_.load() && idleFd_ >= 0) {
    uint64_t one = 1;
    ssize_t r = write(idleFd_, &one, sizeof one);
    (void)r;
  }
  TsfnCtx* ctx = tsfnCtx_;
  if (ctx == nullptr) return;
  if (ctx->pending.exchange(true)) return;  // one queued call is enough
  std::lock_guard<std::mutex> lock(ctx->mu);
  if (ctx->finalized || ctx->released || ctx->tsfn == nullptr) return;
  napi_call_threadsafe_function(ctx->tsfn, nullptr, napi_tsfn_nonblocking);
}

// After IPSR/XPSR/CONTROL (and friends) change, Unicorn keeps stale cached hflags (handler
// mode, privilege): writing APSR_NZCV back rebuilds them.
void NativeCpu::refreshHflags() {
  uint32_t v = 0;
  uc_reg_read(uc_, UC_ARM_REG_APSR_NZCV, &v);
  uc_reg_write(uc_, UC_ARM_REG_APSR_NZCV, &v);
}

uint32_t NativeCpu::readPc() {
  uint32_t pc = 0;
  uc_reg_read(uc_, UC_ARM_REG_PC, &pc);
  return pc;
}

bool NativeCpu::readHalf(uint32_t addr, uint16_t* out) {
  uint8_t b[2];
  if (uc_mem_read(uc_, addr, b, 2) != UC_ERR_OK) return false;
  *out = thumb::half(b);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Registers

Napi::Value NativeCpu::ReadRegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  Napi::Array ids = info[0].As<Napi::Array>();
  const uint32_t n = ids.Length();
  Napi::Array out = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) {
    uint64_t v = 0;
    int id = static_cast<int>(ids.Get(i).As<Napi::Number>().Int32Value());
    checkUc(env, uc_reg_read(uc_, id, &v), "uc_reg_read");
    out.Set(i, Napi::Number::New(env, static_cast<uint32_t>(v)));
  }
  return out;
}

void NativeCpu::WriteRegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  Napi::Array ids = info[0].As<Napi::Array>();
  Napi::Array vals = info[1].As<Napi::Array>();
  const uint32_t n = ids.Length();
  if (vals.Length() != n) throw Napi::TypeError::New(env, "writeRegs: ids and values differ in length");
  bool refresh = false;
  for (uint32_t i = 0; i < n; i++) {
    int id = static_cast<int>(ids.Get(i).As<Napi::Number>().Int32Value());
    uint64_t v = toU32(vals.Get(i));
    if (id == UC_ARM_REG_CPSR) throw Napi::Error::New(env, "writeRegs: CPSR must not be written on M-profile");
    if (id == UC_ARM_REG_PC) v |= 1;  // M-profile is always Thumb (an even PC would clear EPSR.T)
    checkUc(env, uc_reg_write(uc_, id, &v), "uc_reg_write");
    refresh = refresh || touchesHflags(id);
  }
  if (refresh) refreshHflags();
}

Napi::Value NativeCpu::ReadReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  uint64_t v = 0;
  checkUc(env, uc_reg_read(uc_, info[0].As<Napi::Number>().Int32Value(), &v), "uc_reg_read");
  return Napi::Number::New(env, static_cast<uint32_t>(v));
}

void NativeCpu::WriteReg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  int id = info[0].As<Napi::Number>().Int32Value();
  if (id == UC_ARM_REG_CPSR) throw Napi::Error::New(env, "writeReg: CPSR must not be written on M-profile");
  uint64_t v = toU32(info[1]);
  if (id == UC_ARM_REG_PC) v |= 1;  // M-profile is always Thumb (an even PC would clear EPSR.T)
  checkUc(env, uc_reg_write(uc_, id, &v), "uc_reg_write");
  if (touchesHflags(id)) refreshHflags();
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
  c->takeJsException();
  napi_close_handle_scope(env, scope);
  c->pollDeadline();
  return out;
}

void NativeCpu::MmioWriteCb(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* ud) {
  auto* r = static_cast<MmioRegion*>(ud);
  NativeCpu* c = r->cpu;
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
  c->takeJsException();
  napi_close_handle_scope(env, scope);
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
void NativeCpu::takeJsException() {
  bool pending = false;
  napi_is_exception_pending(env_, &pending);
  if (!pending) return;
  napi_value e;
  napi_get_and_clear_last_exception(env_, &e);
  if (pendingErrorRef_ == nullptr) {
    napi_value holder;
    if (napi_create_object(env_, &holder) == napi_ok && napi_set_named_property(env_, holder, "error", e) == napi_ok)
      napi_create_reference(env_, holder, 1, &pendingErrorRef_);
    haveError_ = true;
  }
  if (uc_ != nullptr) uc_emu_stop(uc_);
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
  const uint32_t page = static_cast<uint32_t>(vaddr) & kPageMask;
  const uint32_t pn = page >> kPageBits;
  uint64_t& word = c->execBits_[pn >> 6];
  const uint64_t bit = 1ull << (pn & 63);
  const Mapping* m = c->findMapping(page);
  e->paddr = page;  // identity
  auto refuse = [c, type, page](bool mpu) {
    c->tlbRefused_ = true;
    c->tlbRefusedType_ = type;
    c->tlbRefusedPage_ = page;
    c->tlbRefusedMpu_ = mpu;
    return false;  // Unicorn raises UC_ERR_EXCEPTION at once (precise)
  };
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
      if (!(c->mpuProt(at, priv) & kProtX)) return refuse(true);
      // Blocks on this page are checked by the block hook from now on (splitFetchStop).
      if (std::find(c->splitCodePages_.begin(), c->splitCodePages_.end(), page) == c->splitCodePages_.end())
        c->splitCodePages_.push_back(page);
      c->rare_.f.split = true;
      c->wake();
    } else if (!(mpuProt & kProtX)) {
      return refuse(true);
    }
    if (isExecuteNever(page) || m == nullptr || m->mmio) return refuse(false);
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
    if ((v[0] & 1) && (v[1] & 0x1FF) == 0) return refuse(false);
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
  if (type == UC_MEM_READ && !(mpuProt & kProtR)) return refuse(true);
  if (type == UC_MEM_WRITE && !(mpuProt & kProtW)) return refuse(true);
  uint32_t perms = 0;
  if (mpuProt & kProtR) perms |= UC_PROT_READ;
  if ((mpuProt & kProtW) && m != nullptr && (m->mmio || m->writable)) perms |= UC_PROT_WRITE;
  if ((word & bit) && (mpuProt & kProtX)) perms |= UC_PROT_EXEC;
  if (type == UC_MEM_WRITE && !(perms & UC_PROT_WRITE)) return refuse(false);
  e->perms = static_cast<uc_prot>(perms);
  if (!ppb) c->noteTlbPage(page);
  // Unicorn rolled the CPU state back to this access before calling us (ITSTATE included): if it
  // is inside an IT block, the rest of the block may leave ITSTATE stale. Repair it at the next
  // block boundary.
  c->noteStateRestored();
  return true;
}

// ---------------------------------------------------------------------------------------------
// The MPU

void NativeCpu::readPrivilege(bool* priv, bool* negPri) {
  int ids[3] = {UC_ARM_REG_CONTROL, UC_ARM_REG_IPSR, UC_ARM_REG_FAULTMASK};
  uint32_t v[3] = {0, 0, 0};
  void* ptrs[3] = {&v[0], &v[1], &v[2]};
  uc_reg_read_batch(uc_, ids, ptrs, 3);
  *priv = !((v[0] & 1) && (v[1] & 0x1FF) == 0);
  // ARMv7-M IsReqExcPriNeg(): HardFault or NMI active, or FAULTMASK set.
  *negPri = mpuHfNmi_ || (v[2] & 1) != 0;
}

// The MPU's answer for one address (1 read, 2 write, 4 exec), as QEMU 7.2's
// get_phys_addr_pmsav7: the highest-numbered enabled region that contains the address and whose
// subregion is not disabled; else the default map for privileged code with PRIVDEFENA; else
// nothing. The system region (0xE0000000 up) is never executable.
uint32_t NativeCpu::mpuProt(uint32_t addr, bool priv) const {
  static constexpr uint8_t kPriv[8] = {0, 7, 7, 7, 0, 5, 5, 5};
  static constexpr uint8_t kUser[8] = {0, 0, 5, 7, 0, 0, 5, 5};
  for (size_t i = mpuRegions_.size(); i-- > 0;) {
    const MpuRegionN& r = mpuRegions_[i];
    if (addr < r.start || addr >= r.end) continue;
    if (r.useSrd && ((r.rasr >> (8 + ((addr - r.start) >> r.subShift))) & 1)) continue;
    const uint32_t ap = (r.rasr >> 24) & 7;
    uint32_t p = priv ? kPriv[ap] : kUser[ap];
    if ((r.rasr & (1u << 28)) || addr >= 0xE0000000u) p &= ~kProtX;
    return p;
  }
  return (priv && (mpuCtrl_ & 4)) ? (kProtR | kProtW | kProtX) : 0;
}

// Whether every byte of the 1 KiB page gets the same answer: no region edge and no subregion
// edge with differing SRD bits inside it.
bool NativeCpu::mpuUniform(uint32_t page) const {
  const uint64_t lo = page, hi = static_cast<uint64_t>(page) + kPageSize;
  for (const MpuRegionN& r : mpuRegions_) {
    if (r.start >= hi || r.end <= lo) continue;
    if (r.start > lo || r.end < hi) return false;
    if (r.useSrd && r.subShift < kPageBits) {
      const uint32_t first = static_cast<uint32_t>((lo - r.start) >> r.subShift);
      const uint32_t n = kPageSize >> r.subShift;
      const uint32_t mask = (1u << n) - 1;
      const uint32_t bits = (r.rasr >> (8 + first)) & mask;
      if (bits != 0 && bits != mask) return false;
    }
  }
  return true;
}

bool NativeCpu::mpuAllowsBytes(uint32_t addr, uint32_t size, Access a, bool priv) const {
  const uint32_t need = a == Access::Write ? kProtW : a == Access::Fetch ? kProtX : kProtR;
  for (uint32_t i = 0; i < size; i++) {
    if (!(mpuProt(addr + i, priv) & need)) return false;
  }
  return true;
}

// Exception entry and return (JS) change whether HardFault/NMI is active; FAULTMASK changes with
// them. QEMU 7.2 keys its TLB on that too (ARM_MMU_IDX_M_NEGPRI); Unicorn's index does not see our
// NVIC, so the TLB is flushed when the state changes while it matters (MPU on, HFNMIENA clear).
void NativeCpu::mpuSyncNegPri() {
  if (!mpuOn() || (mpuCtrl_ & 2)) return;
  uint32_t fm = 0;
  uc_reg_read(uc_, UC_ARM_REG_FAULTMASK, &fm);
  const bool neg = mpuHfNmi_ || (fm & 1) != 0;
  if (neg == mpuTlbNegPri_) return;
  mpuNegPriChanged(neg);
}

void NativeCpu::mpuNegPriChanged(bool neg) {
  mpuTlbNegPri_ = neg;
  // While entries follow the exemption, a guest CPSIE f / MSR FAULTMASK (which ends the translated
  // block) must be seen at the next block; HardFault/NMI state changes only between runs.
  rare_.f.mpuNegWatch = neg && !mpuHfNmi_;
  wake();
  mpuInvalidate(nullptr);
}

void NativeCpu::noteTlbPage(uint32_t page) {
  const uint32_t pn = page >> kPageBits;
  uint64_t& w = tlbPageBits_[pn >> 6];
  const uint64_t bit = 1ull << (pn & 63);
  if (w & bit) return;
  if (tlbPages_.size() >= 8192) {  // far more than firmware touches: give up tracking
    tlbPagesOverflow_ = true;
    return;
  }
  w |= bit;
  tlbPages_.push_back(pn);
}

// Drop the TLB entries (every MMU index, victim TLB included) of the recorded pages that overlap
// one of `extents` ([lo, hi) guest ranges), or of all of them. QEMU's per-page flush does not
// resize the TLB. Safe from MMIO handlers, the TLB-fill hook and the block hook (it only marks
// entries invalid and clears the jump cache of the page).
void NativeCpu::mpuInvalidate(const std::vector<std::pair<uint64_t, uint64_t>>* extents) {
  mpuFlushes_++;
  // A listed page that no longer needs the check only costs one lookup per block there; the list
  // is refilled by the code fills that follow.
  if (extents == nullptr) {
    splitCodePages_.clear();
    rare_.f.split = false;
  }
  if (ucCpu_ == nullptr || tlbPagesOverflow_) {
    mpuWholeFlushes_++;
    uc_ctl_flush_tlb(uc_);
    for (uint32_t pn : tlbPages_) tlbPageBits_[pn >> 6] = 0;
    tlbPages_.clear();
    tlbPagesOverflow_ = false;
    return;
  }
  size_t keep = 0;
  for (uint32_t pn : tlbPages_) {
    const uint64_t lo = static_cast<uint64_t>(pn) << kPageBits, hi = lo + kPageSize;
    bool hit = extents == nullptr;
    if (!hit) {
      for (const auto& x : *extents) {
        if (x.first < hi && x.second > lo) {
          hit = true;
          break;
        }
      }
    }
    if (hit) {
      tlb_flush_page_by_mmuidx_arm(ucCpu_, static_cast<uint32_t>(lo), 0xFFFF);
      tlbPageBits_[pn >> 6] &= ~(1ull << (pn & 63));
      mpuPageFlushes_++;
    } else {
      tlbPages_[keep++] = pn;
    }
  }
  tlbPages_.resize(keep);
}

// setMpu(ctrl, rbar[], rasr[]): the MPU registers as programmed (region n = index n). Safe from an
// MMIO handler (the guest writing MPU_CTRL/RBAR/RASR): the TLB is flushed at once, as QEMU does.
void NativeCpu::SetMpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  const uint32_t ctrl = toU32(info[0]) & 7;
  // Uint32Arrays (the device's own registers, no copy: this runs on every MPU register write) or
  // plain arrays.
  uint32_t rbarV[16] = {0}, rasrV[16] = {0};
  uint32_t n = 16;
  for (int k = 0; k < 2; k++) {
    uint32_t* dst = k == 0 ? rbarV : rasrV;
    Napi::Value v = info[1 + k];
    uint32_t len = 0;
    if (v.IsTypedArray()) {
      Napi::Uint32Array ta = v.As<Napi::Uint32Array>();
      len = std::min<uint32_t>(static_cast<uint32_t>(ta.ElementLength()), 16);
      for (uint32_t i = 0; i < len; i++) dst[i] = ta[i];
    } else {
      Napi::Array arr = v.As<Napi::Array>();
      len = std::min<uint32_t>(arr.Length(), 16);
      for (uint32_t i = 0; i < len; i++) dst[i] = toU32(arr.Get(i));
    }
    n = std::min(n, len);
  }
  std::vector<MpuRegionN> regions;
  regions.reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t v = rasrV[i];
    const uint32_t base = rbarV[i] & ~0x1Fu;
    if (!(v & 1)) continue;
    const uint32_t field = (v >> 1) & 0x1F;
    if (field == 0) continue;  // SIZE 0 is reserved (QEMU logs and ignores the region)
    const uint32_t bits = field + 1;
    const uint64_t size = 1ull << bits;
    if (base & (size - 1)) continue;  // base not aligned to the size: ignored, as QEMU does
    regions.push_back(
        MpuRegionN{base, static_cast<uint64_t>(base) + size, v, bits >= 8 ? bits - 3 : 0, bits >= 8, i});
  }
  auto sameRegion = [](const MpuRegionN& a, const MpuRegionN& b) {
    return a.start == b.start && a.end == b.end && a.rasr == b.rasr && a.slot == b.slot;
  };
  const bool was = mpuOn();
  const uint32_t oldCtrl = mpuCtrl_;
  bool same = ctrl == mpuCtrl_ && regions.size() == mpuRegions_.size();
  for (size_t i = 0; same && i < regions.size(); i++) same = sameRegion(regions[i], mpuRegions_[i]);
  if (same || (!was && !(ctrl & 1))) {  // no entry can have changed
    mpuCtrl_ = ctrl;
    mpuRegions_.swap(regions);
    return;
  }
  // Only pages inside a region that appeared, went or changed can get another answer (the
  // highest-numbered region that holds an address decides, and mpuUniform looks only at the regions
  // that overlap the page); a CTRL change can change every page.
  std::vector<std::pair<uint64_t, uint64_t>> changed;
  if (ctrl == oldCtrl) {
    for (const MpuRegionN& r : regions) {
      bool found = false;
      for (const MpuRegionN& o : mpuRegions_) found = found || sameRegion(r, o);
      if (!found) changed.emplace_back(r.start, r.end);
    }
    for (const MpuRegionN& o : mpuRegions_) {
      bool found = false;
      for (const MpuRegionN& r : regions) found = found || sameRegion(r, o);
      if (!found) changed.emplace_back(o.start, o.end);
    }
  }
  mpuCtrl_ = ctrl;
  mpuRegions_.swap(regions);
  uint32_t fm = 0;
  uc_reg_read(uc_, UC_ARM_REG_FAULTMASK, &fm);
  mpuTlbNegPri_ = mpuHfNmi_ || (fm & 1) != 0;
  rare_.f.mpuNegWatch = mpuOn() && !(mpuCtrl_ & 2) && mpuTlbNegPri_ && !mpuHfNmi_;
  mpuInvalidate(ctrl == oldCtrl ? &changed : nullptr);
}

void NativeCpu::SetHfNmiActive(const Napi::CallbackInfo& info) {
  mpuHfNmi_ = info[0].ToBoolean().Value();
  if (!running_) mpuSyncNegPri();
}

// The checks of one access through a shadow window. Returns false (and stops the run) when the
// MPU refuses it or nothing can take it (unmapped, or a store to read-only memory).
// A refusal on a page the MPU splits, HFNMIENA clear: if the guest set FAULTMASK in this run (CPSID f
// or MSR), the MPU does not apply any more. Drop the entries filled under the other rule; allow.
bool NativeCpu::shadowNegPriNow() {
  uint32_t fm = 0;
  uc_reg_read(uc_, UC_ARM_REG_FAULTMASK, &fm);
  if (!(fm & 1) && !mpuHfNmi_) return false;
  mpuNegPriChanged(true);
  return true;
}

bool NativeCpu::shadowCheck(uint32_t addr, unsigned size, Access a, bool priv, const Mapping** m) {
  shadowCalls_++;
  if (mpuFaultValid_ || shadowBusFault_ || haveError_ || rare_.f.alignFired) return false;  // undone / stopping
  if (!mpuAllowsBytes(addr, size, a, priv) && !(!(mpuCtrl_ & 2) && !mpuTlbNegPri_ && shadowNegPriNow())) {
    mpuFaultValid_ = true;
    mpuFaultAddr_ = addr;
    for (uint32_t i = 0; i < size; i++) {  // the first refused byte
      if (!mpuAllowsBytes(addr + i, 1, a, priv)) {
        mpuFaultAddr_ = addr + i;
        break;
      }
    }
    mpuFaultSize_ = size;
    mpuFaultAccess_ = a;
    shadowUnwind();
    return false;
  }
  *m = findMapping(addr);
  if (*m == nullptr || (a == Access::Write && !(*m)->mmio && !(*m)->writable)) {
    shadowBusFault_ = true;
    memFaultValid_ = true;
    memFaultAddr_ = addr;
    memFaultSize_ = size;
    memFaultAccess_ = a;
    shadowUnwind();
    return false;
  }
  return true;
}

// A refused access in a shadow callback: stop at the accessing instruction. The callback runs
// inside the TB with PC at the block start and ITSTATE not restored, and Unicorn emits no exit
// checks inside IT blocks (a plain uc_emu_stop would let the rest of an IT block run). So unwind
// as a refused TLB fill does: io_readx/io_writex left the TB's host return address in
// cpu->mem_io_pc; cpu_restore_state puts PC and ITSTATE back to the instruction, and
// cpu_loop_exit leaves the TB before the access is done (the stop request set first ends the run
// there). Nothing of this frame or its callers needs unwinding (plain C and trivial C++ frames).
// Without a usable layout or return address it falls back to the exit check after the access.
void NativeCpu::shadowUnwind() {
  uc_emu_stop(uc_);
  if (!shadowPrecise_) return;
  const uintptr_t ra = *reinterpret_cast<uintptr_t*>(static_cast<char*>(ucCpu_) + kCpuMemIoPcOff);
  if (ra == 0 || !cpu_restore_state_arm(ucCpu_, ra, true)) return;
  shadowUnwinds_++;
  cpu_loop_exit_arm(ucCpu_);
}

uint64_t NativeCpu::ShadowReadCb(uc_engine*, uint64_t offset, unsigned size, void* ud) {
  auto* r = static_cast<ShadowRegion*>(ud);
  NativeCpu* c = r->cpu;
  const uint32_t addr = static_cast<uint32_t>(offset);
  const Mapping* m = nullptr;
  if (!c->shadowCheck(addr, size, Access::Read, r->priv, &m)) return 0;
  if (m->mmio) {
    for (auto& mr : c->mmioRegions_)
      if (mr->region == m->region) return MmioReadCb(c->uc_, addr - m->mmioBase, size, mr.get());
    return 0;
  }
  uint64_t v = 0;
  std::memcpy(&v, m->host + (addr - m->addr), std::min<unsigned>(size, 8));  // little-endian host
  return v;
}

void NativeCpu::ShadowWriteCb(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* ud) {
  auto* r = static_cast<ShadowRegion*>(ud);
  NativeCpu* c = r->cpu;
  const uint32_t addr = static_cast<uint32_t>(offset);
  const Mapping* m = nullptr;
  if (!c->shadowCheck(addr, size, Access::Write, r->priv, &m)) return;
  if (m->mmio) {
    for (auto& mr : c->mmioRegions_)
      if (mr->region == m->region) MmioWriteCb(c->uc_, addr - m->mmioBase, size, value, mr.get());
    return;
  }
  std::memcpy(m->host + (addr - m->addr), &value, std::min<unsigned>(size, 8));
}

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

// A block that lies (partly) on a page that a region edge cuts, with its code TLB entry filled:
// the fill checked one fetch address, so check the whole block here. The MPU's answer is constant
// over aligned 32-byte granules (the smallest region and subregion). The block hook stops before
// the block runs: a refused first instruction is an MPU fetch fault at once; a refused
// instruction later in the block becomes an exit (Run() retranslates the block, which then ends
// there: Unicorn's exit check is made while translating, so it holds inside IT blocks too, with
// the instruction's ITSTATE written back) and the fault is raised when the run reaches it.
bool NativeCpu::splitFetchStop(uint32_t a, uint32_t size) {
  if (!mpuOn() || size == 0) return false;
  const uint64_t end = static_cast<uint64_t>(a) + size;
  auto listed = [this](uint32_t page) {
    return std::find(splitCodePages_.begin(), splitCodePages_.end(), page) != splitCodePages_.end();
  };
  bool any = false;
  for (uint32_t p : splitCodePages_) any = any || (p < end && static_cast<uint64_t>(p) + kPageSize > a);
  if (!any) return false;
  bool priv = true, negPri = false;
  readPrivilege(&priv, &negPri);
  if (!mpuApplies(negPri)) return false;
  uint64_t bad = UINT64_MAX;
  for (uint64_t g = a & ~31u; g < end; g += 32) {
    if (!listed(static_cast<uint32_t>(g) & kPageMask)) continue;
    if (!(mpuProt(static_cast<uint32_t>(g), priv) & kProtX)) {
      bad = std::max<uint64_t>(g, a);
      break;
    }
  }
  if (bad == UINT64_MAX) return false;
  // The instruction that holds the first refused byte (a 32-bit one may straddle the edge).
  uint32_t x = a;
  for (;;) {
    uint16_t h = 0;
    if (!readHalf(x, &h)) break;
    const uint32_t len = thumb::is32(h) ? 4 : 2;
    if (x + len > bad) break;
    x += len;
  }
  hookStop_ = HookStop::FetchEdge;
  if (x == a) {
    mpuFaultValid_ = true;
    mpuFaultAddr_ = a;
    mpuFaultSize_ = 2;
    mpuFaultAccess_ = Access::Fetch;
  } else {
    fetchExit_ = x;
  }
  uc_emu_stop(uc_);
  return true;
}

void NativeCpu::HookIntr(uc_engine* uc, uint32_t intno, void* ud) {
  auto* c = static_cast<NativeCpu*>(ud);
  if (c->intrStop_) return;
  if (c->rare_.f.alignFired) {  // after an unaligned access (late, IT block): undone, just stop
    uc_emu_stop(uc);
    return;
  }
  c->intrStop_ = true;
  c->intno_ = intno;
  uc_emu_stop(uc);
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
    c->alignBlockStart_ = c->blockStart_;
    c->alignBlockBefore_ = c->blockBefore_;
    c->alignUndo_.clear();
    c->wake();
    uc_emu_stop(uc);
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
  uc_emu_stop(uc);  // the code hook is followed by an exit check: the divide does not run
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
  if (!blockValid_ || !tracking_) return;
  if (pc >= blockStart_ && pc < blockStart_ + blockSize_) {
    icount_ = blockBefore_ + countRange(blockStart_, pc - blockStart_);
  } else {
    icount_ = blockBefore_ + (hookStop_ == HookStop::None ? blockCount_ : 0);
  }
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
      if (tlbRefused_ && tlbRefusedType_ == UC_MEM_FETCH) {
        lastAccess_ = Access::Fetch;
        lastAddress_ = (pc & kPageMask) == tlbRefusedPage_ ? pc : tlbRefusedPage_;
        if (tlbRefusedMpu_) return Stop::MpuFault;
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
        return tlbRefusedMpu_ ? Stop::MpuFault : Stop::MemFault;
      }
      return Stop::EngineError;
    default:
      return Stop::EngineError;
  }
}

Napi::Value NativeCpu::finish(Napi::Env env, Stop reason) {
  lastReason_ = reason;
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
  mpuFaultValid_ = shadowBusFault_ = tlbRefusedMpu_ = lastXn_ = false;
  bpStop_ = false;
  bpSkip_ = 0xFFFFFFFFu;
  if (!breakpoints_.empty()) {
    const uint32_t start = readPc() & ~1u;
    for (const CodeHook& b : breakpoints_)
      if (b.addr == start) bpSkip_ = start;
  }
  alignUndo_.clear();
  hookStop_ = HookStop::None;
  hookStopBits_ = 0;
  blockValid_ = false;

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
  limit_ = limit;
  deadlineNs_ = deadline;
  lastPollNs_ = deadline != 0 ? monotonicNowNs() : 0;
  runStolenNs_ = 0;
  deadlinePoll_ = deadline != 0 ? kDeadlinePollBlocks : kNoPollBlocks;
  // Instructions are counted when the run has an instruction limit (icount mode, instruction
  // targets); real-time runs count nothing and pay for nothing per block (exit_check.cc).
  counting_ = limit < (1ull << 53) - 1;  // Number.MAX_SAFE_INTEGER and above: no limit
  running_ = true;
  RunScope scope(this);
  rare_.f.itFix = false;
  uc_err err;
  uint32_t pc;
  for (;;) {
    const uint32_t pc0 = readPc();
    beginEmu(deadline != 0);
    err = uc_emu_start(uc_, pc0 | 1, 0, 0, 0);
    endEmu();
    pc = readPc();
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
    } else if (err == UC_ERR_EXCEPTION && tlbRefused_ && tlbRefusedType_ == UC_MEM_WRITE && userSetMPend_ &&
               tlbRefusedPage_ == 0xE000EC00u && !intrStop_ && !rare_.f.divStop) {
      // An unprivileged store on the SCB page: with CCR.USERSETMPEND a word STR to STIR is allowed.
      fixIcount(pc);
      if (!emulateStirStore(pc)) break;
      if (haveError_) break;
      icount_++;
      blockValid_ = false;
    } else {
      break;
    }
    hookStop_ = HookStop::None;
    intrStop_ = wfeStop_ = memFaultValid_ = tlbRefused_ = tlbRefusedMpu_ = false;
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
  uc_emu_stop(uc);  // followed by an exit check: the instruction does not run
}

// ---------------------------------------------------------------------------------------------
// Watched fds

void NativeCpu::WatchFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const double token = info[1].As<Napi::Number>().DoubleValue();
  ensureWatcher();
  watcher_->watch(fd, token);
  if (!tsfnRefed_ && watcher_->watchedCount() > 0) {
    napi_ref_threadsafe_function(env, tsfnCtx_->tsfn);
    tsfnRefed_ = true;
  }
}

void NativeCpu::UnwatchFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!watcher_) return;
  watcher_->unwatch(info[0].As<Napi::Number>().Int32Value());
  if (tsfnRefed_ && watcher_->watchedCount() == 0 && tsfnCtx_ != nullptr) {
    napi_unref_threadsafe_function(env, tsfnCtx_->tsfn);
    tsfnRefed_ = false;
  }
}

Napi::Value NativeCpu::TakeEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<double> ev;
  if (watcher_) ev = watcher_->takeEvents();
  Napi::Array out = Napi::Array::New(env, ev.size());
  for (size_t i = 0; i < ev.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, ev[i]));
  return out;
}

void NativeCpu::SetEventCallback(const Napi::CallbackInfo& info) {
  eventCb_.Reset();
  if (info[0].IsFunction()) eventCb_ = Napi::Persistent(info[0].As<Napi::Function>());
}

void NativeCpu::Close(const Napi::CallbackInfo& info) {
  if (running_) throw Napi::Error::New(info.Env(), "close() during run()");
  shutdown();
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

// sleepUntil(deadlineNs): block the calling (JS) thread until the CLOCK_MONOTONIC deadline or
// until a watched fd fires, whichever is first. Returns true when woken by an fd. Used by the
// machine for short idle waits, where event-loop timers are a millisecond too coarse.
Napi::Value NativeCpu::SleepUntil(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double dl = info[0].As<Napi::Number>().DoubleValue();
  const int64_t now = monotonicNowNs();
  if (!std::isfinite(dl) || dl <= static_cast<double>(now)) {
    return Napi::Boolean::New(env, watcher_ && watcher_->hasEvents());
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(static_cast<int64_t>(dl) - now);
  std::unique_lock<std::mutex> lock(sleepMu_);
  const bool woke = sleepCv_.wait_until(lock, until, [this] { return sleepWake_ || (watcher_ && watcher_->hasEvents()); });
  sleepWake_ = false;
  return Napi::Boolean::New(env, woke);
}

// The due time (CLOCK_MONOTONIC ns) of the event loop's next timer, INT64_MAX if none: the root
// of libuv's timer heap (uv_backend_timeout would also say 0 while the loop has idle handles,
// which Node keeps running while immediates are queued, ours included).
static constexpr int64_t kIdleSpinNs = 50000;

static int64_t uvNextTimerNs(uv_loop_t* loop) {
  void* min = loop->timer_heap.min;
  if (min == nullptr) return INT64_MAX;
  const auto* t = reinterpret_cast<const uv_timer_t*>(reinterpret_cast<const char*>(min) - offsetof(uv_timer_t, heap_node));
  return static_cast<int64_t>(t->timeout) * 1000000LL;
}

// idleWait(deadlineNs, afterTurn): the guest sleeps; block the JS thread until the
// CLOCK_MONOTONIC deadline (Infinity: none), until a watched fd fires, or until Node's event loop
// has something to do: one of its fds is ready (its epoll fd, uv_backend_fd, turns readable) or
// its next timer is due. Returns 0 (deadline), 1 (watched fd: takeEvents()), 2 (give the event
// loop a turn). Unless `afterTurn` (the loop just had one), pending loop work (immediates,
// closing handles) also returns 2 at once. Each wait is capped at 50 ms so that watchers started
// since the loop's last turn (registered with its epoll only when it polls) are never starved.
Napi::Value NativeCpu::IdleWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double dl = info[0].As<Napi::Number>().DoubleValue();
  const bool afterTurn = info.Length() > 1 && info[1].ToBoolean().Value();
  if (idleFd_ < 0) {
    idleFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (idleFd_ < 0) throw Napi::Error::New(env, std::string("idleWait: eventfd: ") + strerror(errno));
    // Wake on time: the default 50 us timer slack would dominate short waits.
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) throw Napi::Error::New(env, "idleWait: no event loop");
  const int64_t deadline = std::isfinite(dl) ? static_cast<int64_t>(dl) : INT64_MAX;
  const int64_t uvDue = uvNextTimerNs(loop);
  const bool loopBusy = !afterTurn && uv_backend_timeout(loop) == 0;
  idleWaiting_.store(true);
  if (watcher_) watcher_->suspend();
  int result = -1;
  int64_t spinUntil = 0;
  // The loop gets a turn at least this often (watchers it has not yet registered with its epoll).
  const int64_t capAt = monotonicNowNs() + 50000000LL;
  for (;;) {
    if (watcher_ && watcher_->hasEvents()) { result = 1; break; }
    const int64_t now = monotonicNowNs();
    if (now >= deadline) { result = 0; break; }
    if (loopBusy) { result = 2; break; }
    if (now >= std::min(uvDue, capAt)) { result = 2; break; }
    const int64_t until = std::min(deadline, std::min(uvDue, capAt));
    // The watched fds themselves too: one thread wake-up instead of two (watcher, then us).
    std::vector<int> watched = watcher_ ? watcher_->watchedFds() : std::vector<int>();
    std::vector<struct pollfd> pfd(2 + watched.size());
    pfd[0].fd = idleFd_;
    pfd[0].events = POLLIN;
    pfd[1].fd = uv_backend_fd(loop);
    pfd[1].events = POLLIN;
    for (size_t i = 0; i < watched.size(); i++) {
      pfd[2 + i].fd = watched[i];
      pfd[2 + i].events = POLLIN;
    }
    const int64_t wait = until - now;
    struct timespec ts;
    ts.tv_sec = wait / 1000000000LL;
    ts.tv_nsec = wait % 1000000000LL;
    // With doorbells to watch, spin briefly first (zero-timeout polls): a reply often comes within
    // microseconds, and a blocked thread takes tens of microseconds to wake on a virtual machine
    // whose idle CPUs halt. Costs at most kIdleSpinNs of CPU per idle period.
    int n = 0;
    if (!watched.empty() && spinUntil == 0) spinUntil = now + kIdleSpinNs;
    if (!watched.empty() && monotonicNowNs() < spinUntil) {
      struct timespec zero = {0, 0};
      n = ppoll(pfd.data(), pfd.size(), &zero, nullptr);
      if (n == 0) continue;
    } else {
      n = ppoll(pfd.data(), pfd.size(), &ts, nullptr);
    }
    if (n < 0 && errno != EINTR) {
      idleWaiting_.store(false);
      if (watcher_) watcher_->resume();
      throw Napi::Error::New(env, std::string("idleWait: ppoll: ") + strerror(errno));
    }
    if (n <= 0) continue;
    if (pfd[0].revents & POLLIN) {
      uint64_t v;
      ssize_t r = read(idleFd_, &v, sizeof v);
      (void)r;
    }
    bool fired = false;
    for (size_t i = 0; i < watched.size(); i++) {
      if (pfd[2 + i].revents != 0 && watcher_->drain(watched[i])) fired = true;
    }
    if (fired) { result = 1; break; }
    if (pfd[1].fd >= 0 && (pfd[1].revents & (POLLIN | POLLERR | POLLHUP))) {
      result = (watcher_ && watcher_->hasEvents()) ? 1 : 2;
      break;
    }
  }
  idleWaiting_.store(false);
  if (watcher_) watcher_->resume();
  return Napi::Number::New(env, result);
}

Napi::Value NativeCpu::StolenNs(const Napi::CallbackInfo& info) {
  // Live: the current run's stalls count at once (MMIO handlers read the clock mid-run).
  return Napi::Number::New(info.Env(), stolenTotalNs_ + static_cast<double>(runStolenNs_));
}

Napi::Value NativeCpu::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("tlbFills", Napi::Number::New(env, static_cast<double>(tlbFills_)));
  o.Set("mmioCalls", Napi::Number::New(env, static_cast<double>(mmioCalls_)));
  o.Set("countMisses", Napi::Number::New(env, static_cast<double>(callMisses_)));
  o.Set("newBlocks", Napi::Number::New(env, static_cast<double>(newBlocks_)));
  o.Set("startFilter", Napi::Number::New(env, startBits_ != nullptr ? 1 : 0));
  o.Set("startFilterFallbacks", Napi::Number::New(env, static_cast<double>(phaseFallbacks_)));
  o.Set("itFixes", Napi::Number::New(env, static_cast<double>(itFixes_)));
  o.Set("alignHookCalls", Napi::Number::New(env, static_cast<double>(alignHookCalls_)));
  o.Set("shadowCalls", Napi::Number::New(env, static_cast<double>(shadowCalls_)));
  o.Set("mpuFlushes", Napi::Number::New(env, static_cast<double>(mpuFlushes_)));
  o.Set("mpuPageFlushes", Napi::Number::New(env, static_cast<double>(mpuPageFlushes_)));
  o.Set("shadowUnwinds", Napi::Number::New(env, static_cast<double>(shadowUnwinds_)));
  o.Set("mpuWholeFlushes", Napi::Number::New(env, static_cast<double>(mpuWholeFlushes_)));
  o.Set("hookStopNs", Napi::Number::New(env, static_cast<double>(hookStopNs_)));
  o.Set("watcherFireNs", Napi::Number::New(env, watcher_ ? static_cast<double>(watcher_->lastFireNs()) : 0));
  return o;
}

}  // namespace cmemu
