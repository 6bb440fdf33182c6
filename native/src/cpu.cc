// NativeCpu: construction and teardown, the JS method table, registers, statistics.
#include "cpu.h"

#include <malloc.h>

#include <unicorn/arm.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include "thumb.h"
#include "cpu_internal.h"
#include "exit_check.h"

// Linked with -Wl,--wrap=tlb_flush_arm (binding.gyp): every whole-TLB flush inside Unicorn goes
// through this wrapper, which lets the constructor learn the engine's CPUState (Unicorn has no API
// for it) so that the MPU code can call QEMU's per-page flush (see NativeCpu::mpuInvalidate).
extern "C" {
void __real_tlb_flush_arm(void* cpu);
static thread_local void** g_captureCpu = nullptr;
static unsigned long long g_tlbFlushes = 0;
void __wrap_tlb_flush_arm(void* cpu) {
  g_tlbFlushes++;
  if (g_captureCpu != nullptr) {
    *g_captureCpu = cpu;
    g_captureCpu = nullptr;
  }
  __real_tlb_flush_arm(cpu);
}
}

namespace cmemu {

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
                         InstanceMethod("readRegsInto", &NativeCpu::ReadRegsInto),
                         InstanceMethod("masks", &NativeCpu::Masks),
                         InstanceMethod("writeRegsFrom", &NativeCpu::WriteRegsFrom),
                         InstanceMethod("stopIntno", &NativeCpu::StopIntno),
                         InstanceMethod("readReg", &NativeCpu::ReadReg),
                         InstanceMethod("writeReg", &NativeCpu::WriteReg),
                         InstanceMethod("mapHostMemory", &NativeCpu::MapHostMemory),
                         InstanceMethod("mapMmio", &NativeCpu::MapMmio),
                         InstanceMethod("unmap", &NativeCpu::Unmap),
                         InstanceMethod("memRead", &NativeCpu::MemRead),
                         InstanceMethod("memWrite", &NativeCpu::MemWrite),
                         InstanceMethod("memReadInto", &NativeCpu::MemReadInto),
                         InstanceMethod("setMmioHandlers", &NativeCpu::SetMmioHandlers),
                         InstanceMethod("run", &NativeCpu::Run),
                         InstanceMethod("stopInfo", &NativeCpu::StopInfo),
                         InstanceMethod("icount", &NativeCpu::Icount),
                         InstanceMethod("setIcount", &NativeCpu::SetIcount),
                         InstanceMethod("requestStop", &NativeCpu::RequestStop),
                         InstanceMethod("setMaskWatch", &NativeCpu::SetMaskWatch),
                         InstanceMethod("setDivideSites", &NativeCpu::SetDivideSites),
                         InstanceMethod("setBreakpoints", &NativeCpu::SetBreakpoints),
                         InstanceMethod("setStepMode", &NativeCpu::SetStepMode),
                         InstanceMethod("setWatchpoints", &NativeCpu::SetWatchpoints),
                         InstanceMethod("watchInfo", &NativeCpu::WatchInfo),
                         InstanceMethod("setTrace", &NativeCpu::SetTrace),
                         InstanceMethod("flushTrace", &NativeCpu::FlushTrace),
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
                         InstanceMethod("excEnter", &NativeCpu::ExcEnter),
                         InstanceMethod("excReturn", &NativeCpu::ExcReturn),
                         InstanceMethod("excAddress", &NativeCpu::ExcAddress),
                         InstanceMethod("setReturnCallback", &NativeCpu::SetReturnCallback),
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

  execBits_.assign((1u << (32 - kPageBits)) / 64);
  tlbPageBits_.assign((1u << (32 - kPageBits)) / 64);
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
  spTcgv_ = spGlobal(tcgCtx_);
  // Fast mode needs the CPUState (tb_gen_code's argument tells this engine's blocks).
  // CMEMU_BLOCK_START_TABLE=1 forces the table mode (to test it: it must count the same).
  if (ucCpu_ != nullptr && getenv("CMEMU_BLOCK_START_TABLE") == nullptr) allocStartBits();
  // The call table: every call in table mode; the recent block starts in fast mode.
  calls_.assign(kCallCacheSize, CallEntry{});
  hotCalls_ = calls_.data();
  checkCounts_ = getenv("CMEMU_CHECK_COUNTS") != nullptr;
  // The wrapper's fast count writes icount_, reads limit_, writes blockBefore_ and blockTb_ at
  // 0/8/16/24 from &icount_. CMEMU_NO_FAST_COUNT=1 turns it off (every start counted in C++).
  {
    const char* base = reinterpret_cast<const char*>(&icount_);
    noFastCount_ = getenv("CMEMU_NO_FAST_COUNT") != nullptr || reinterpret_cast<const char*>(&limit_) != base + 8 ||
                   reinterpret_cast<const char*>(&blockBefore_) != base + 16 || reinterpret_cast<const char*>(&blockTb_) != base + 24;
  }
  // Gated block starts and skipped access checks (exit_check.cc) need the fast mode's verified
  // starts; CMEMU_NO_GATE=1 turns them off (every start calls the wrapper, as before).
  literalTlb_ = getenv("CMEMU_NO_LITERAL_TLB") == nullptr;
  omitExitChecks_ = getenv("CMEMU_EXIT_CHECKS") == nullptr;
  growTlb_ = getenv("CMEMU_NO_TLB_GROW") == nullptr;
  if (startBits_ != nullptr && shadowPrecise_ && getenv("CMEMU_NO_GATE") == nullptr) {
    // QEMU's icount_decr (CPUNegativeOffsetState, just before env): cpu->icount_decr_ptr points
    // to it, and generated code reaches it from env (%rbp) with an 8-bit displacement.
    char* cpu = static_cast<char*>(ucCpu_);
    const intptr_t disp = static_cast<intptr_t>(kCpuIcountDecrOff) - static_cast<intptr_t>(kCpuEnvOff);
    if (*reinterpret_cast<void**>(cpu + kCpuIcountDecrPtrOff) == cpu + kCpuIcountDecrOff && disp >= -128 && disp < 0) {
      gateWord_ = reinterpret_cast<int32_t*>(cpu + kCpuIcountDecrOff);
      gateDisp_ = static_cast<int32_t>(disp);
    }
  }
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

NativeCpu::~NativeCpu() { shutdown(); }

void NativeCpu::shutdown() {
  closeTrace();
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
    fprintf(stderr, "cmemu native: %llu blocks translated, %llu TLB fills, %llu TLB flushes, %llu call-cache misses, start filter %s (%llu fallbacks, phase %u, offset %u)\n",
            static_cast<unsigned long long>(newBlocks_), static_cast<unsigned long long>(tlbFills_), g_tlbFlushes, static_cast<unsigned long long>(callMisses_),
            startBits_ != nullptr ? "on" : "off", static_cast<unsigned long long>(phaseFallbacks_), static_cast<unsigned>(startPhase_),
            static_cast<unsigned>(startOff_));
  if (uc_ != nullptr && getenv("CMEMU_NATIVE_STATS") != nullptr)
    fprintf(stderr, "cmemu native: gate %s, %llu block starts gated, access checks %s, %llu TLB flushes to resize it\n",
            gateWord_ != nullptr ? "on" : "off", static_cast<unsigned long long>(gatedBlocks_),
            exitChecksOmitted() ? "omitted" : "emitted", static_cast<unsigned long long>(tlbGrowFlushes_));
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
  execBits_.reset();
  std::vector<CallEntry>().swap(calls_);
  hotCalls_ = nullptr;
  freeStartBits();
  unregisterCpu(this);
  std::vector<uint8_t>().swap(codeBuf_);
  // The per-page TLB tracking (512 KiB) and the breakpoints go with the engine, not with the GC.
  tlbPageBits_.reset();
  std::vector<uint32_t>().swap(tlbPages_);
  std::vector<uint32_t>().swap(splitCodePages_);
  breakpoints_.clear();
  mmioRead_.Reset();
  returnFn_.Reset();
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
    watcher_ = std::make_unique<Watcher>(&stopBits_, cmemu_attention_word(), gateWord_, [this] { notifyFromWatcher(); });
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
  std::vector<int32_t> idv(n);
  std::vector<uint32_t> vals(n);
  for (uint32_t i = 0; i < n; i++) idv[i] = ids.Get(i).As<Napi::Number>().Int32Value();
  readRegsRaw(env, idv.data(), vals.data(), n);
  Napi::Array out = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) out.Set(i, Napi::Number::New(env, vals[i]));
  return out;
}

void NativeCpu::WriteRegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  Napi::Array ids = info[0].As<Napi::Array>();
  Napi::Array vals = info[1].As<Napi::Array>();
  const uint32_t n = ids.Length();
  if (vals.Length() != n) throw Napi::TypeError::New(env, "writeRegs: ids and values differ in length");
  std::vector<int32_t> idv(n);
  std::vector<uint32_t> valv(n);
  for (uint32_t i = 0; i < n; i++) {
    idv[i] = ids.Get(i).As<Napi::Number>().Int32Value();
    valv[i] = toU32(vals.Get(i));
  }
  writeRegsRaw(env, idv.data(), valv.data(), n);
}

// The typed-array forms, for exception entry and return (a dozen register transfers per interrupt):
// no JS array element is read or made. ids: Int32Array; values: Uint32Array with at least as many.
namespace {
template <typename T>
T* typedData(napi_env env, napi_value v, napi_typedarray_type want, size_t* len, const char* what) {
  napi_typedarray_type type;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &type, len, &data, nullptr, nullptr) != napi_ok || type != want)
    throw Napi::TypeError::New(env, what);
  return static_cast<T*>(data);
}
}  // namespace

void NativeCpu::writeRegsRaw(Napi::Env env, const int32_t* ids, const uint32_t* vals, size_t n) {
  bool refresh = false;
  for (size_t i = 0; i < n; i++) {
    int id = ids[i];
    uint64_t v = vals[i];
    if (id == UC_ARM_REG_CPSR) throw Napi::Error::New(env, "writeRegs: CPSR must not be written on M-profile");
    if (id == UC_ARM_REG_PC) v |= 1;  // M-profile is always Thumb (an even PC would clear EPSR.T)
    checkUc(env, uc_reg_write(uc_, id, &v), "uc_reg_write");
    refresh = refresh || touchesHflags(id);
  }
  if (refresh) refreshHflags();
}

void NativeCpu::readRegsRaw(Napi::Env env, const int32_t* ids, uint32_t* out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint64_t v = 0;
    checkUc(env, uc_reg_read(uc_, ids[i], &v), "uc_reg_read");
    out[i] = static_cast<uint32_t>(v);
  }
}

// readRegsInto(ids, out, privileged): with `privileged`, registers that Unicorn's MRS helper hides
// from unprivileged Thread mode (MSP, PSP, the masks) are read through a pass in Handler mode with
// nPRIV dropped, then nPRIV is put back; CONTROL is reported as it was. The same writes, in the same
// order, as Cpu.privilegedRead made through writeRegs.
void NativeCpu::ReadRegsInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  size_t n = 0, m = 0;
  const int32_t* ids = typedData<int32_t>(env, info[0], napi_int32_array, &n, "readRegsInto: ids must be an Int32Array");
  uint32_t* out = typedData<uint32_t>(env, info[1], napi_uint32_array, &m, "readRegsInto: out must be a Uint32Array");
  if (m < n) throw Napi::RangeError::New(env, "readRegsInto: out is shorter than ids");
  const bool privileged = info.Length() > 2 && info[2].ToBoolean().Value();
  if (privileged) readRegsPrivileged(env, ids, out, n);
  else readRegsRaw(env, ids, out, n);
}

// masks() -> PRIMASK | FAULTMASK << 1 | BASEPRI << 8 | IPSR << 16, read as readRegsInto's
// privileged pass does: one number, no typed arrays (exception entry and return's priority checks
// read them at every stop and return).
Napi::Value NativeCpu::Masks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  static const int32_t ids[4] = {UC_ARM_REG_PRIMASK, UC_ARM_REG_FAULTMASK, UC_ARM_REG_BASEPRI, UC_ARM_REG_IPSR};
  uint32_t v[4];
  readRegsPrivileged(env, ids, v, 4);
  const uint32_t packed = (v[0] & 1u) | ((v[1] & 1u) << 1) | ((v[2] & 0xffu) << 8) | ((v[3] & 0x1ffu) << 16);
  return Napi::Number::New(env, static_cast<double>(packed));
}

void NativeCpu::readRegsPrivileged(Napi::Env env, const int32_t* ids, uint32_t* out, size_t n) {
  static const int32_t probe[2] = {UC_ARM_REG_XPSR, UC_ARM_REG_CONTROL};
  uint32_t pv[2];
  readRegsRaw(env, probe, pv, 2);
  const uint32_t xpsr = pv[0], control = pv[1];
  if ((xpsr & 0x1ff) != 0 || !(control & 1u)) return readRegsRaw(env, ids, out, n);
  static const int32_t pass[3] = {UC_ARM_REG_XPSR, UC_ARM_REG_CONTROL, UC_ARM_REG_XPSR};
  const uint32_t passVals[3] = {(xpsr & ~0x1ffu) | 1u, control & ~1u, xpsr};
  writeRegsRaw(env, pass, passVals, 3);
  readRegsRaw(env, ids, out, n);
  static const int32_t back[1] = {UC_ARM_REG_CONTROL};
  writeRegsRaw(env, back, &control, 1);
  for (size_t i = 0; i < n; i++)
    if (ids[i] == UC_ARM_REG_CONTROL) out[i] = control;
}

// writeRegsFrom(ids, values): values[i] to ids[i], as writeRegs.
void NativeCpu::WriteRegsFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  size_t n = 0, m = 0;
  const int32_t* ids = typedData<int32_t>(env, info[0], napi_int32_array, &n, "writeRegsFrom: ids must be an Int32Array");
  const uint32_t* vals = typedData<uint32_t>(env, info[1], napi_uint32_array, &m, "writeRegsFrom: values must be a Uint32Array");
  if (m < n) throw Napi::RangeError::New(env, "writeRegsFrom: values is shorter than ids");
  writeRegsRaw(env, ids, vals, n);
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

void NativeCpu::Close(const Napi::CallbackInfo& info) {
  if (running_) throw Napi::Error::New(info.Env(), "close() during run()");
  shutdown();
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
  o.Set("inlineReturns", Napi::Number::New(env, static_cast<double>(inlineReturns_)));
  o.Set("alignHookCalls", Napi::Number::New(env, static_cast<double>(alignHookCalls_)));
  o.Set("shadowCalls", Napi::Number::New(env, static_cast<double>(shadowCalls_)));
  o.Set("mpuFlushes", Napi::Number::New(env, static_cast<double>(mpuFlushes_)));
  o.Set("mpuPageFlushes", Napi::Number::New(env, static_cast<double>(mpuPageFlushes_)));
  o.Set("shadowUnwinds", Napi::Number::New(env, static_cast<double>(shadowUnwinds_)));
  o.Set("mpuWholeFlushes", Napi::Number::New(env, static_cast<double>(mpuWholeFlushes_)));
  o.Set("hookStopNs", Napi::Number::New(env, static_cast<double>(hookStopNs_)));
  o.Set("gatedStarts", Napi::Number::New(env, static_cast<double>(gatedBlocks_)));
  o.Set("exitChecksOmitted", Napi::Number::New(env, exitChecksOmitted() ? 1 : 0));
  o.Set("literalTlbFills", Napi::Number::New(env, static_cast<double>(literalFills_)));
  o.Set("tlbResizeFlushes", Napi::Number::New(env, static_cast<double>(tlbGrowFlushes_)));
  o.Set("watcherFireNs", Napi::Number::New(env, watcher_ ? static_cast<double>(watcher_->lastFireNs()) : 0));
  return o;
}
}  // namespace cmemu
