// Exception entry and return: the registers' and memory's half, one call each.
//
// The ARMv7-M exception model lives in src/cpu/exceptions.ts (which exception, priorities,
// the NVIC's active and pending state, integrity checks, faults and their escalation). What an
// entry or a return does to the core itself (read the context, push or pop the 8-word frame,
// fetch the vector, switch mode and stack) was a dozen register transfers and three memory
// calls through N-API per exception, most of an interrupt-heavy guest's host time. Here it is
// one call, doing the same transfers in the same order as Cpu.enterHandler / Cpu.returnToMode
// did, and changing no register unless it completes: when a frame word cannot be written or
// read, or the vector cannot be fetched, the call reports it and the JS model takes its own
// (slow) path from the unchanged registers, which writes the same words again and raises the
// architectural fault. With the MPU on the JS path is always used (stacking is checked word by
// word there).
#include "cpu.h"
#include "cpu_internal.h"

namespace cmemu {
namespace {
constexpr uint32_t kXpsrT = 1u << 24;
constexpr uint32_t kXpsrAlign = 1u << 9;  // stacked xPSR bit 9: the frame was realigned
constexpr uint32_t kSpsel = 2u, kNpriv = 1u;

// excEnter flags
constexpr uint32_t kEnterStkAlign = 1;   // CCR.STKALIGN: 8-byte aligned frame
constexpr uint32_t kEnterClearT = 2;     // stack xPSR with T = 0 (a deferred INVSTATE)
constexpr uint32_t kEnterNoStack = 4;    // the frame is already there: no push, LR given
constexpr uint32_t kEnterRetGiven = 8;   // the return address is given (else PC)

// excReturn flags
constexpr uint32_t kRetPsp = 1;
constexpr uint32_t kRetThread = 2;
constexpr uint32_t kRetStkAlign = 4;

inline void putWord(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}
inline uint32_t getWord(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
}  // namespace

// excEnter(exc, vectorAddress, returnAddress, lr, flags) -> the handler's vector (>= 0), or
// -1: a frame word could not be written (a bus error while stacking), -2: the vector could not
// be read. In both failures no register has changed (frame words may have been written).
// Without kEnterNoStack the context is pushed on the stack in use (MSP, or PSP in Thread mode
// with SPSEL), realigned to 8 bytes under STKALIGN with xPSR bit 9 saying so, and LR becomes
// EXC_RETURN for that context; with it, the stack pointers stay and LR is `lr`.
// Then Handler mode: MSP active (SPSEL = 0), nPRIV kept, xPSR = T | exc, PC = the vector.
Napi::Value NativeCpu::ExcEnter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  const uint32_t exc = toU32(info[0]) & 0x1ff;
  const uint32_t vectorAddress = toU32(info[1]);
  const uint32_t retGiven = toU32(info[2]);
  const uint32_t lrGiven = toU32(info[3]);
  const uint32_t flags = toU32(info[4]);
  static const int32_t ids[11] = {UC_ARM_REG_R0,  UC_ARM_REG_R1, UC_ARM_REG_R2,   UC_ARM_REG_R3,  UC_ARM_REG_R12,
                                  UC_ARM_REG_LR,  UC_ARM_REG_PC, UC_ARM_REG_XPSR, UC_ARM_REG_MSP, UC_ARM_REG_PSP,
                                  UC_ARM_REG_CONTROL};
  uint32_t v[11];
  readRegsPrivileged(env, ids, v, 11);
  const uint32_t xpsr = v[7], control = v[10];
  const bool thread = (xpsr & 0x1ff) == 0;
  const uint32_t ret = (flags & kEnterRetGiven) ? retGiven : v[6];
  uint32_t msp = v[8], psp = v[9], lr = lrGiven;
  if (!(flags & kEnterNoStack)) {
    const bool usePsp = thread && (control & kSpsel) != 0;
    const bool forceAlign = (flags & kEnterStkAlign) != 0;
    const uint32_t sp = usePsp ? psp : msp;
    const bool realign = forceAlign && (sp & 4) != 0;
    const uint32_t frame = (sp - 0x20u) & (forceAlign ? ~7u : ~3u);
    uint32_t stackedXpsr = (xpsr & ~kXpsrAlign) | (realign ? kXpsrAlign : 0);
    if (flags & kEnterClearT) stackedXpsr &= ~kXpsrT;
    const uint32_t words[8] = {v[0], v[1], v[2], v[3], v[4], v[5], ret & ~1u, stackedXpsr};
    uint8_t bytes[32];
    for (int i = 0; i < 8; i++) putWord(bytes + 4 * i, words[i]);
    if (uc_mem_write(uc_, frame, bytes, sizeof bytes) != UC_ERR_OK) return Napi::Number::New(env, -1);
    lr = !thread ? 0xfffffff1u : usePsp ? 0xfffffffdu : 0xfffffff9u;
    if (usePsp) psp = frame;
    else msp = frame;
  }
  uint8_t vb[4];
  if (uc_mem_read(uc_, vectorAddress, vb, sizeof vb) != UC_ERR_OK) return Napi::Number::New(env, -2);
  const uint32_t vector = getWord(vb);
  if (thread && (control & kSpsel)) {
    if (control & kNpriv) {
      // Unprivileged code cannot write CONTROL: pass through Handler mode to drop nPRIV first.
      static const int32_t w[3] = {UC_ARM_REG_XPSR, UC_ARM_REG_CONTROL, UC_ARM_REG_XPSR};
      const uint32_t wv[3] = {kXpsrT | exc, control & ~kNpriv, kXpsrT};
      writeRegsRaw(env, w, wv, 3);
    }
    // Thread mode, privileged: clearing SPSEL swaps the banked SPs properly.
    static const int32_t w[1] = {UC_ARM_REG_CONTROL};
    const uint32_t zero = 0;
    writeRegsRaw(env, w, &zero, 1);
  }
  static const int32_t entry[6] = {UC_ARM_REG_XPSR, UC_ARM_REG_MSP, UC_ARM_REG_PSP,
                                   UC_ARM_REG_CONTROL, UC_ARM_REG_LR, UC_ARM_REG_PC};
  const uint32_t ev[6] = {kXpsrT | exc, msp, psp, control & kNpriv, lr, (vector & ~1u) | 1u};
  writeRegsRaw(env, entry, ev, 6);
  excAddress_ = ret;
  return Napi::Number::New(env, static_cast<double>(vector));
}

// excReturn(flags) -> the popped xPSR (>= 0), or -1 when the frame could not be read (no
// register changed). Called in Handler mode once the JS model has checked EXC_RETURN and found
// nothing to tail-chain to: pops r0-r3, r12, lr, pc, xPSR from the stack EXC_RETURN selects,
// steps the stack pointer over the frame (and the realignment word that xPSR bit 9 recorded,
// under STKALIGN), and selects Thread mode (IPSR 0, SPSEL from EXC_RETURN) or stays in Handler
// mode with the popped IPSR; nPRIV is kept. excAddress() then gives the popped PC.
Napi::Value NativeCpu::ExcReturn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  const uint32_t flags = toU32(info[0]);
  const bool usePsp = (flags & kRetPsp) != 0, toThread = (flags & kRetThread) != 0;
  static const int32_t ids[3] = {UC_ARM_REG_MSP, UC_ARM_REG_PSP, UC_ARM_REG_CONTROL};
  uint32_t v[3];
  readRegsPrivileged(env, ids, v, 3);
  const uint32_t msp = v[0], psp = v[1], npriv = v[2] & kNpriv;
  const uint32_t sp = usePsp ? psp : msp;
  uint8_t bytes[32];
  if (uc_mem_read(uc_, sp, bytes, sizeof bytes) != UC_ERR_OK) return Napi::Number::New(env, -1);
  uint32_t f[8];
  for (int i = 0; i < 8; i++) f[i] = getWord(bytes + 4 * i);
  const uint32_t psr = f[7];
  const uint32_t newSp = (sp + 0x20u) | ((psr & kXpsrAlign) && (flags & kRetStkAlign) ? 4u : 0u);
  // The order of Cpu.returnToMode: still in Handler mode, both SPs and nPRIV dropped (so the
  // Thread-mode CONTROL write works); then xPSR and CONTROL (in Thread mode the SPSEL write
  // selects the bank, nPRIV restored in the same write); then the frame.
  static const int32_t w[12] = {UC_ARM_REG_MSP, UC_ARM_REG_PSP, UC_ARM_REG_CONTROL, UC_ARM_REG_XPSR,
                                UC_ARM_REG_CONTROL, UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2,
                                UC_ARM_REG_R3, UC_ARM_REG_R12, UC_ARM_REG_LR, UC_ARM_REG_PC};
  const uint32_t wv[12] = {usePsp ? msp : newSp,
                           usePsp ? newSp : psp,
                           0,
                           toThread ? ((psr & ~0x1ffu) | kXpsrT) : (psr | kXpsrT),
                           toThread ? ((usePsp ? kSpsel : 0u) | npriv) : npriv,
                           f[0], f[1], f[2], f[3], f[4], f[5],
                           (f[6] & ~1u) | 1u};
  writeRegsRaw(env, w, wv, 12);
  excAddress_ = f[6];
  return Napi::Number::New(env, static_cast<double>(psr));
}

// setReturnCallback(fn | null): fn(pc) is offered every exception return (intno 8, PC = EXC_RETURN
// & ~1) during run(), with the engine stopped between two uc_emu_start calls, and answers 0 (not
// done: run() returns Interrupt as before), 1 (done: the run carries on from the new PC, within its
// limit and deadline) or 2 (done: run() returns Requested). A throw ends the run as an MMIO handler's
// does (rethrown by run()). An interrupt-heavy guest returns from tens of thousands of exceptions
// per second: each was a stop, a run-loop turn and a restart.
void NativeCpu::SetReturnCallback(const Napi::CallbackInfo& info) {
  if (running_) throw Napi::Error::New(info.Env(), "setReturnCallback() during run()");
  returnFn_.Reset();
  if (info.Length() > 0 && info[0].IsFunction()) returnFn_ = Napi::Persistent(info[0].As<Napi::Function>());
}

int NativeCpu::offerReturn(uint32_t pc) {
  napi_env env = env_;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  napi_value fn, recv, arg, result;
  napi_get_reference_value(env, static_cast<napi_ref>(returnFn_), &fn);
  napi_get_undefined(env, &recv);
  napi_create_uint32(env, pc, &arg);
  int r = 0;
  if (napi_call_function(env, recv, fn, 1, &arg, &result) == napi_ok) {
    int32_t v = 0;
    if (napi_get_value_int32(env, result, &v) == napi_ok && v >= 0 && v <= 2) r = v;
  }
  takeJsException();
  if (haveError_) r = -1;
  napi_close_handle_scope(env, scope);
  return r;
}

// The last excEnter's return address, or the last excReturn's popped PC (as popped, bit 0 kept).
Napi::Value NativeCpu::ExcAddress(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(excAddress_));
}
}  // namespace cmemu
