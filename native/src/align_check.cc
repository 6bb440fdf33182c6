// Accesses that ARMv7-M always checks for alignment, whatever CCR.UNALIGN_TRP says (ARMv7-M ARM
// A3.2.1): LDM/STM (LDMIA, LDMDB, STMIA, STMDB, PUSH, POP) and LDRD/STRD must be word-aligned,
// LDREX*/STREX* naturally aligned. Unicorn 2.1.4's translator (QEMU 5.0) asks TCG for an
// alignment check (MO_ALIGN) only on ARMv6-M and for the exclusive loads, so a misaligned LDM
// on a Cortex-M3 just ran.
//
// Here the translator is told, instruction by instruction: translator_loop is wrapped
// (-Wl,--wrap=translator_loop_arm) and runs with a copy of the Thumb TranslatorOps whose
// translate_insn first decodes the instruction at db->pc_next; for the classes above it sets a
// flag that the wrapped tcg_gen_qemu_{ld,st}_i{32,64} turn into MO_ALIGN_4 on every access that
// instruction emits. TCG then checks the low address bits in the same compare as the TLB tag
// (the softmmu fast path's mask gains the two bits: no extra host instruction), and a misaligned
// address takes the slow path, whose first test calls arm_cpu_do_unaligned_access: PC and
// ITSTATE are restored to the instruction, nothing of it has run, and the engine raises
// EXCP_DATA_ABORT with an alignment FSR (intno 4), which Run() already turns into
// Stop::Unaligned by decoding the instruction (as for LDREX). An instruction skipped by its IT
// condition branches around its accesses and so never faults.
//
// Aligned code pays nothing at run time; translation pays one 4-byte guest read per instruction.
// The layouts used (TranslatorOps' translate_insn is its 5th pointer, DisasContextBase's pc_next
// is at offset 12 after tb and pc_first) are checked on every block: db->tb must be the block
// and the first pc_next its start; otherwise the check is switched off with one line on stderr.
// STREX is not covered: QEMU compares the address with the monitor's first and fails the store
// without an access (a misaligned LDREX faulted, so the monitor never holds a misaligned address).
//
// The same per-instruction decode makes UNDEFINED what Unicorn's translator performs on a core
// without them: T32 1111 1001 xxx0 (ARMv7-A's Advanced SIMD element and structure loads and
// stores; UNDEFINED on ARMv7-M, where that space is stores with the sign bit set). QEMU 5.0
// decodes them as NEON whenever its FP access check passes, which it does on Unicorn's
// Cortex-M3. Their accesses are given kUndefMmuIdx, an MMU index nothing else uses, whose TLB
// never gets an entry: every execution reaches the TLB-fill hook, which refuses it as an
// undefined instruction (Stop::InvalidInsn, PC at it, nothing done: these instructions write
// registers only after their accesses). One that its IT condition skips does nothing, as in QEMU.
//
// Two speed measures use the same wrappers (docs/unicorn.md, "What generated code no longer pays
// for"): literal loads get their own MMU index (kLiteralMmuIdxBase), and while no memory hook needs
// a mid-block stop every access is emitted with Unicorn's uc->no_exit_request set, so that no exit
// check (a helper call, with TCG's register spills around it) follows it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "cpu.h"
#include "exit_check.h"
#include "thumb.h"

extern "C" {
void __real_translator_loop_arm(const void* ops, void* db, void* cpu, void* tb, int max_insns);
void __real_tcg_gen_qemu_ld_i32_arm(void* s, void* val, void* addr, uintptr_t idx, int memop);
void __real_tcg_gen_qemu_st_i32_arm(void* s, void* val, void* addr, uintptr_t idx, int memop);
void __real_tcg_gen_qemu_ld_i64_arm(void* s, void* val, void* addr, uintptr_t idx, int memop);
void __real_tcg_gen_qemu_st_i64_arm(void* s, void* val, void* addr, uintptr_t idx, int memop);
void check_exit_request_arm(void* tcg_ctx);
void* __real_tcg_global_mem_new_internal_arm(void* s, int type, void* base, intptr_t offset, const char* name);
void tcg_gen_andi_i32_arm(void* s, void* ret, void* arg1, int32_t arg2);
void __real_helper_v7m_msr_arm(void* env, uint32_t maskreg, uint32_t val);
}

namespace cmemu {
namespace {

// QEMU 5.0 include/exec/memop.h: MO_ASHIFT 4, MO_AMASK 7 << 4, MO_ALIGN_4 2 << 4.
constexpr int kMoAmask = 7 << 4, kMoAlign4 = 2 << 4;

using InsnFn = void (*)(void* db, void* cpu);
constexpr int kOpsPointers = 7;            // init_disas_context .. tb_stop, pc_sync
constexpr int kTranslateInsn = 4;          // translate_insn's index
constexpr size_t kDbTb = 0, kDbPcNext = 12; // DisasContextBase: tb, pc_first, pc_next

struct AlignState {
  void* ops[kOpsPointers];
  InsnFn real = nullptr;
  uc_engine* uc = nullptr;
  void* tb = nullptr;
  bool first = false;
  bool force = false;
  bool undef = false;
  bool literal = false;
  bool literalTlb = false;  // the engine gives literal loads their own TLB (NativeCpu::literalTlb_)
  bool* noExit = nullptr;  // the engine's uc->no_exit_request while its accesses need no exit check
  void* tcgCtx = nullptr;  // the translating TCGContext
  intptr_t sp = 0;         // its SP global as a TCGv (0: unknown, SP writes not masked)
  uint64_t flagged = 0;
};
thread_local AlignState t_align;
bool g_alignOff = false;

// Does ARMv7-M check this instruction's word alignment always (A3.2.1)?
bool alwaysAligned(uint16_t hw1, uint16_t hw2) {
  if (!thumb::is32(hw1)) {
    return (hw1 & 0xF000) == 0xC000      // STMIA / LDMIA (T1)
        || (hw1 & 0xFE00) == 0xB400      // PUSH
        || (hw1 & 0xFE00) == 0xBC00;     // POP
  }
  (void)hw2;
  return (hw1 & 0xFFC0) == 0xE880        // STM.W / LDM.W / POP.W (IA)
      || (hw1 & 0xFFC0) == 0xE900        // STMDB / LDMDB / PUSH.W
      || ((hw1 & 0xFE40) == 0xE840 && (hw1 & 0x0120) != 0);  // STRD / LDRD (imm, literal)
}

// T32 1111 1001 xxx0: UNDEFINED on ARMv7-M (A5.3.10: a store encoding with bit 24 set), performed
// by Unicorn's translator as an Advanced SIMD element/structure load or store.
bool undefinedAccess(uint16_t hw1) { return (hw1 & 0xFF10) == 0xF900; }

// LDR, LDRB, LDRH, LDRSB, LDRSH (literal): a load from [PC +/- imm], almost always from the
// constant pool after a function in flash. (LDRD literal is left out: an alignment fault must
// see a real MMU index.)
bool literalLoad(uint16_t hw1) {
  if ((hw1 & 0xF800) == 0x4800) return true;  // LDR (literal) T1
  const uint16_t h = hw1 & 0xFF7F;             // the U bit (7) either way
  return h == 0xF85F || h == 0xF81F || h == 0xF83F || h == 0xF91F || h == 0xF93F;
}

// ARMv7-M's SP[1:0] are always zero (B1.4.1; QEMU's store_reg clears them since 5.1): Unicorn
// 2.1.4 lets `mov sp, r0` with an odd r0 (FreeRTOS's MPS2 demos load a 0x...ffff _estack so) leave
// SP misaligned, and the next PUSH faults. Every instruction that can write SP with an arbitrary
// value gets `and sp, #~3` emitted after it (a no-op when SP is aligned, as it always is): the
// register forms of MOV and ADD to SP, 32-bit data processing with Rd = SP, LDR with Rt = SP.
// ADD/SUB SP, #imm and PUSH/POP keep the alignment themselves.
bool writesSp(uint16_t hw1, uint16_t hw2) {
  if (!thumb::is32(hw1)) return (hw1 & 0xFF87) == 0x4685 || (hw1 & 0xFF87) == 0x4485;
  const bool dp = (hw1 & 0xFA00) == 0xF000 || (hw1 & 0xFA00) == 0xF200 || (hw1 & 0xFE00) == 0xEA00;
  if (dp && ((hw1 & 0xFE00) == 0xEA00 || !(hw2 & 0x8000)) && ((hw2 >> 8) & 0xF) == 13) return true;
  return (hw1 & 0xFF70) == 0xF850 && (hw2 >> 12) == 13;  // LDR.W (immediate, register, literal)
}

// SP's TCG global (named "r13" by arm_translate_init) of each TCGContext, as the TCGv offset;
// each engine looks its own up once (spGlobal, when it is made).
std::mutex g_spMu;
std::vector<std::pair<void*, intptr_t>> g_spGlobals;

void alignTranslateInsn(void* db, void* cpu) {
  AlignState& s = t_align;
  const char* d = static_cast<const char*>(db);
  uint32_t pc;
  std::memcpy(&pc, d + kDbPcNext, 4);
  if (s.first) {
    s.first = false;
    void* tb;
    uint32_t tbPc;
    std::memcpy(&tb, d + kDbTb, sizeof tb);
    std::memcpy(&tbPc, static_cast<const char*>(s.tb), 4);  // TranslationBlock::pc @0
    if (tb != s.tb || pc != tbPc) {
      if (!g_alignOff) fprintf(stderr, "cmemu native: the translator's layout is not the one expected (Unicorn 2.1.4): unaligned LDM/STM/LDRD/STRD will not fault\n");
      g_alignOff = true;
    }
  }
  bool force = false, undef = false, literal = false, sp = false;
  if (!g_alignOff) {
    uint8_t b[4] = {0, 0, 0, 0};
    if (uc_mem_read(s.uc, pc, b, 4) == UC_ERR_OK || uc_mem_read(s.uc, pc, b, 2) == UC_ERR_OK) {
      force = alwaysAligned(thumb::half(b), thumb::half(b + 2));
      undef = undefinedAccess(thumb::half(b));
      literal = s.literalTlb && literalLoad(thumb::half(b));
      sp = s.sp != 0 && writesSp(thumb::half(b), thumb::half(b + 2));
    }
  }
  s.force = force;
  s.undef = undef;
  s.literal = literal;
  if (force) s.flagged++;
  s.real(db, cpu);
  s.force = false;
  s.undef = false;
  s.literal = false;
  if (sp) {
    void* v = reinterpret_cast<void*>(s.sp);
    tcg_gen_andi_i32_arm(s.tcgCtx, v, v, ~3);
  }
}

// Unicorn 2.1.4's check_exit_request (tcg-op.c), which every tcg_gen_qemu_{ld,st}_* calls after
// emitting the access, emits nothing while uc->no_exit_request is set (its IT-block rule). Its
// code starts (after the frame set-up) with `mov tcg_ctx->uc, %reg; cmpb $0, OFF(%reg)`; OFF is
// read from there and must be the offset this build was checked with, or the accesses keep their
// checks.
constexpr uint32_t kUcNoExitRequestOff = 0x7f2;
bool findNoExitRequest() {
  const auto* p = reinterpret_cast<const uint8_t*>(&check_exit_request_arm);
  for (size_t i = 0; i < 48; i++) {
    if (p[i] == 0x80 && (p[i + 1] & 0xF8) == 0xB8 && (p[i + 1] & 7) != 4 && p[i + 6] == 0x00) {
      uint32_t off;
      std::memcpy(&off, p + i + 2, 4);
      return off == kUcNoExitRequestOff;
    }
  }
  return false;
}
const bool g_noExitKnown = findNoExitRequest();

// Around one access's emission: no exit check after it (see NativeCpu::accessChecksNeeded).
struct NoExitCheck {
  bool* flag;
  bool saved = false;
  NoExitCheck() : flag(t_align.noExit) {
    if (flag != nullptr) {
      saved = *flag;
      *flag = true;
    }
  }
  ~NoExitCheck() {
    if (flag != nullptr) *flag = saved;
  }
};

inline int withAlign(int memop) {
  // An UNDEFINED instruction's access asks for no alignment: the TLB refusal must come first.
  if (t_align.undef) return memop & ~kMoAmask;
  return t_align.force && (memop & kMoAmask) == 0 ? memop | kMoAlign4 : memop;
}
inline uintptr_t withIndex(uintptr_t idx) { return t_align.undef ? static_cast<uintptr_t>(kUndefMmuIdx) : idx; }
// A literal load gets its own TLB (see kLiteralMmuIdxBase).
inline uintptr_t withLoadIndex(uintptr_t idx) {
  if (t_align.literal && !t_align.undef && idx < 4) return idx + kLiteralMmuIdxBase;
  return withIndex(idx);
}

}  // namespace

uint64_t alignCheckedInsns() { return t_align.flagged; }
intptr_t spGlobal(void* tcgCtx) {
  std::lock_guard<std::mutex> lock(g_spMu);
  for (const auto& e : g_spGlobals)
    if (e.first == tcgCtx) return e.second;
  return 0;
}
bool accessChecksOmittable() { return g_noExitKnown; }

}  // namespace cmemu

extern "C" {

__attribute__((visibility("hidden"))) void __wrap_translator_loop_arm(const void* ops, void* db, void* cpu, void* tb, int max_insns) {
  using cmemu::t_align;
  auto* c = cmemu::currentCpu();
  if (c == nullptr || c->ucCpuHandle() != cpu || cmemu::g_alignOff) {
    __real_translator_loop_arm(ops, db, cpu, tb, max_insns);
    return;
  }
  // One translation at a time per thread (tb_gen_code is never re-entered), but keep the outer
  // state anyway.
  const cmemu::AlignState saved = t_align;
  std::memcpy(t_align.ops, ops, sizeof t_align.ops);
  t_align.real = reinterpret_cast<cmemu::InsnFn>(t_align.ops[cmemu::kTranslateInsn]);
  t_align.ops[cmemu::kTranslateInsn] = reinterpret_cast<void*>(&cmemu::alignTranslateInsn);
  t_align.uc = static_cast<uc_engine*>(c->ucHandle());
  t_align.tb = tb;
  t_align.first = true;
  t_align.force = false;
  t_align.undef = false;
  t_align.literalTlb = c->literalTlb();
  t_align.tcgCtx = c->tcgContext();
  t_align.sp = c->spTcgv();
  t_align.noExit = c->exitChecksOmitted()
                       ? reinterpret_cast<bool*>(static_cast<char*>(c->ucHandle()) + cmemu::kUcNoExitRequestOff)
                       : nullptr;
  __real_translator_loop_arm(t_align.ops, db, cpu, tb, max_insns);
  const uint64_t flagged = t_align.flagged;
  t_align = saved;
  t_align.flagged = flagged;
}

__attribute__((visibility("hidden"))) void __wrap_tcg_gen_qemu_ld_i32_arm(void* s, void* val, void* addr, uintptr_t idx, int memop) {
  const cmemu::NoExitCheck quiet;
  __real_tcg_gen_qemu_ld_i32_arm(s, val, addr, cmemu::withLoadIndex(idx), cmemu::withAlign(memop));
}
__attribute__((visibility("hidden"))) void __wrap_tcg_gen_qemu_st_i32_arm(void* s, void* val, void* addr, uintptr_t idx, int memop) {
  const cmemu::NoExitCheck quiet;
  __real_tcg_gen_qemu_st_i32_arm(s, val, addr, cmemu::withIndex(idx), cmemu::withAlign(memop));
}
__attribute__((visibility("hidden"))) void __wrap_tcg_gen_qemu_ld_i64_arm(void* s, void* val, void* addr, uintptr_t idx, int memop) {
  const cmemu::NoExitCheck quiet;
  __real_tcg_gen_qemu_ld_i64_arm(s, val, addr, cmemu::withIndex(idx), cmemu::withAlign(memop));
}
__attribute__((visibility("hidden"))) void __wrap_tcg_gen_qemu_st_i64_arm(void* s, void* val, void* addr, uintptr_t idx, int memop) {
  const cmemu::NoExitCheck quiet;
  __real_tcg_gen_qemu_st_i64_arm(s, val, addr, cmemu::withIndex(idx), cmemu::withAlign(memop));
}

__attribute__((visibility("hidden"))) void* __wrap_tcg_global_mem_new_internal_arm(void* s, int type, void* base, intptr_t offset,
                                                                                 const char* name) {
  void* ts = __real_tcg_global_mem_new_internal_arm(s, type, base, offset, name);
  if (ts != nullptr && name != nullptr && std::strcmp(name, "r13") == 0) {
    std::lock_guard<std::mutex> lock(cmemu::g_spMu);
    auto& v = cmemu::g_spGlobals;
    for (auto& e : v)
      if (e.first == s) e.first = nullptr;  // a context made again at the same address
    v.emplace_back(s, static_cast<char*>(ts) - static_cast<char*>(s));
  }
  return ts;
}

// MSR MSP / MSR PSP: the same rule (SP_main and SP_process bits [1:0] are zero).
__attribute__((visibility("hidden"))) void __wrap_helper_v7m_msr_arm(void* env, uint32_t maskreg, uint32_t val) {
  const uint32_t reg = maskreg & 0xFF;
  if (reg == 8 || reg == 9) val &= ~3u;
  __real_helper_v7m_msr_arm(env, maskreg, val);
}
}
