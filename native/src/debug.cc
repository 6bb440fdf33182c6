// Debugger support for NativeCpu: single-step mode and watchpoints (see cpu.h, "Debugger support").
#include "cpu.h"
#include "cpu_internal.h"
#include "watcher.h"
#include "thumb.h"

#include <unicorn/arm.h>

namespace cmemu {

// Called before every instruction while step mode is on. The first instruction of a run executes;
// the second stops the run before it executes (the code hook is followed by an exit check).
void NativeCpu::HookStep(uc_engine* uc, uint64_t, uint32_t, void* ud) {
  auto* c = static_cast<NativeCpu*>(ud);
  if (!c->stepSeen_) {
    c->stepSeen_ = true;
    return;
  }
  if (c->stepStop_ || c->bpStop_ || c->rare_.f.divStop || c->rare_.f.alignFired) return;
  c->stepStop_ = true;
  stopEngine(uc);
}

// Called by Run() before a run in step mode.
void NativeCpu::armStepExit() {
  if (stepHook_ == 0) return;
  const uint32_t pc = readPc() & ~1u;
  uint32_t xpsr = 0;
  uc_reg_read(uc_, UC_ARM_REG_XPSR, &xpsr);
  const uint32_t it = ((xpsr >> 25) & 3u) | ((xpsr >> 8) & 0xFCu);
  uint16_t h = 0;
  if (!readHalf(pc, &h)) return;
  const bool itInsn = (h & 0xFF00u) == 0xBF00u && (h & 0xFu) != 0;
  if (it == 0 && !itInsn) return;
  uint64_t exit = pc + (thumb::is32(h) ? 4u : 2u);
  if (uc_ctl_set_exits(uc_, &exit, 1) != UC_ERR_OK) return;
  // Code already translated past that address carries no exit: drop it.
  uc_ctl_remove_cache(uc_, pc, exit + 2);
  stepExit_ = static_cast<uint32_t>(exit);
  stepExitSet_ = true;
}

// Called by Run() after uc_emu_start: reaching the exit is the end of the step.
void NativeCpu::disarmStepExit(uint32_t pc) {
  if (!stepExitSet_) return;
  stepExitSet_ = false;
  uc_ctl_set_exits(uc_, nullptr, 0);
  uc_ctl_remove_cache(uc_, stepExit_ - 4, static_cast<uint64_t>(stepExit_) + 2);
  if ((pc & ~1u) == stepExit_ && !bpStop_ && !rare_.f.divStop && !rare_.f.alignFired && !watchStop_) stepStop_ = true;
}

void NativeCpu::SetStepMode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  if (running_) throw Napi::Error::New(env, "setStepMode() during run()");
  const bool on = info[0].ToBoolean().Value();
  watchSuppress_ = info.Length() > 1 && info[1].ToBoolean().Value();
  if (on == (stepHook_ != 0)) return;
  if (on) {
    uc_hook h;
    checkUc(env, uc_hook_add(uc_, &h, UC_HOOK_CODE, reinterpret_cast<void*>(&NativeCpu::HookStep), this, 1, 0),
            "uc_hook_add(CODE, step)");
    stepHook_ = h;
  } else {
    uc_hook_del(uc_, stepHook_);
    stepHook_ = 0;
    flushDeletedHooks();
  }
  // Code hooks are compiled into the translated blocks: retranslate with or without the call.
  uc_ctl_flush_tb(uc_);
}

// Called before a watched access (PC and ITSTATE synced to the accessing instruction).
void NativeCpu::HookWatch(uc_engine* uc, uc_mem_type type, uint64_t address, int size, int64_t, void* ud) {
  auto* c = static_cast<NativeCpu*>(ud);
  if (c->watchSuppress_ || c->watchStop_ || c->bpStop_ || c->stepStop_ || c->rare_.f.divStop || c->rare_.f.alignFired) return;
  const uint32_t a = static_cast<uint32_t>(address);
  const int kind = type == UC_MEM_WRITE ? 1 : 2;
  // Report the first watched byte the access touches.
  uint32_t hit = a;
  for (const Watch& w : c->watches_) {
    if (!(w.kind & kind)) continue;
    const uint64_t lo = w.addr, hi = static_cast<uint64_t>(w.addr) + w.len;
    const uint64_t alo = a, ahi = static_cast<uint64_t>(a) + static_cast<uint32_t>(size);
    if (alo < hi && lo < ahi) {
      hit = static_cast<uint32_t>(alo > lo ? alo : lo);
      break;
    }
  }
  c->watchStop_ = true;
  c->watchAddr_ = hit;
  c->watchSize_ = static_cast<uint32_t>(size);
  c->watchKind_ = kind;
  c->watchPc_ = c->readPc() & ~1u;
  const Mapping* m = c->findMapping(a);
  c->watchMmio_ = m == nullptr || m->mmio;
  if (c->watchMmio_) {
    // A device access must not be repeated: stop at the next block instead.
    c->stopBits_.fetch_or(kStopRequested);
    c->wake();
  } else {
    stopEngine(uc);  // takes effect at the exit check after this access (outside IT blocks)
  }
}

void NativeCpu::SetWatchpoints(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  if (running_) throw Napi::Error::New(env, "setWatchpoints() during run()");
  for (const Watch& w : watches_) uc_hook_del(uc_, w.hook);
  const bool had = !watches_.empty();
  watches_.clear();
  if (had) flushDeletedHooks();
  const Napi::Array list = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    const Napi::Object o = list.Get(i).As<Napi::Object>();
    const uint32_t addr = toU32(o.Get("address"));
    uint32_t len = toU32(o.Get("length"));
    const int kind = static_cast<int>(toU32(o.Get("kind"))) & 3;
    if (len == 0 || kind == 0) throw Napi::RangeError::New(env, "setWatchpoints: length and kind must be non-zero");
    if (static_cast<uint64_t>(addr) + len > 0x100000000ull) len = static_cast<uint32_t>(0x100000000ull - addr);
    int types = 0;
    if (kind & 1) types |= UC_HOOK_MEM_WRITE;
    if (kind & 2) types |= UC_HOOK_MEM_READ;
    uc_hook h;
    checkUc(env,
            uc_hook_add(uc_, &h, types, reinterpret_cast<void*>(&NativeCpu::HookWatch), this, static_cast<uint64_t>(addr),
                        static_cast<uint64_t>(addr) + len - 1),
            "uc_hook_add(MEM, watchpoint)");
    watches_.push_back(Watch{addr, len, kind, h});
  }
  // Whether a load or store calls memory hooks is decided when it is translated.
  if (had || !watches_.empty()) uc_ctl_flush_tb(uc_);
}

// The last watchpoint hit: the address, the access, the accessing instruction, and whether the
// run stopped with PC still at it (RAM: the access is done, the rest of the instruction is not).
Napi::Value NativeCpu::WatchInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("address", Napi::Number::New(env, watchAddr_));
  o.Set("size", Napi::Number::New(env, watchSize_));
  o.Set("write", Napi::Boolean::New(env, watchKind_ == 1));
  o.Set("pc", Napi::Number::New(env, watchPc_));
  o.Set("mmio", Napi::Boolean::New(env, watchMmio_));
  return o;
}

}  // namespace cmemu
