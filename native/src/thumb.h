// Thumb / Thumb-2 decoding helpers used on the native hot path: instruction counting for exact
// virtual time, hint recognition (WFI/WFE/YIELD), and store-address decoding for precise
// faults on read-only memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cmemu {
namespace thumb {

// A first halfword with bits [15:11] of 0b11101, 0b11110 or 0b11111 starts a 32-bit instruction.
inline bool is32(uint16_t h) { return (h >> 11) >= 0x1d; }

inline uint16_t half(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// Number of instructions in `size` bytes of Thumb code starting at `p` (a trailing half of a
// 32-bit instruction still counts as one).
inline uint32_t countInsns(const uint8_t* p, size_t size) {
  uint32_t n = 0;
  size_t i = 0;
  while (i + 1 < size) {
    i += is32(half(p + i)) ? 4 : 2;
    n++;
  }
  return n;
}

enum class Hint { None, Wfi, Wfe, Yield, Sev };

// The hint instruction that ends at `end` (hw holds the 2 halfwords before `end`: hw[0] at
// end-4, hw[1] at end-2). A 32-bit hint is checked first.
inline Hint hintEndingAt(uint16_t hwm4, uint16_t hwm2, bool haveM4) {
  if (haveM4 && hwm4 == 0xF3AF) {
    switch (hwm2) {
      case 0x8001: return Hint::Yield;
      case 0x8002: return Hint::Wfe;
      case 0x8003: return Hint::Wfi;
      case 0x8004: return Hint::Sev;
      default: break;
    }
  }
  switch (hwm2) {
    case 0xBF10: return Hint::Yield;
    case 0xBF20: return Hint::Wfe;
    case 0xBF30: return Hint::Wfi;
    case 0xBF40: return Hint::Sev;
    default: return Hint::None;
  }
}

// Is (hw1, hw2) a UDIV or SDIV (T32)?  UDIV: FBB0 F0F0, SDIV: FB90 F0F0 (Rn in hw1[3:0],
// Rd in hw2[11:8], Rm in hw2[3:0]).
inline bool isDivide(uint16_t hw1, uint16_t hw2) {
  return ((hw1 & 0xFFF0) == 0xFBB0 || (hw1 & 0xFFF0) == 0xFB90) && (hw2 & 0xF0F0) == 0xF0F0;
}

// What a store instruction writes: the lowest address, total bytes and the access size.
struct StoreAccess {
  bool ok = false;
  uint32_t low = 0;     // lowest byte address written
  uint32_t total = 0;   // bytes written in all
  uint32_t size = 0;    // size of each access (1, 2 or 4)
};

inline uint32_t popcount16(uint32_t v) { return static_cast<uint32_t>(__builtin_popcount(v & 0xFFFF)); }

// The addressing modes of a single 32-bit LDR*/STR* (T2/T3/T4 encodings): imm12, imm8 with
// P/U/W (also the unprivileged LDRT/STRT forms), or register shifted left by imm2.
template <typename RegFn>
StoreAccess singleT32(uint16_t hw1, uint16_t hw2, uint32_t base, uint32_t sz, RegFn reg) {
  if (hw1 & 0x80) return {true, base + (hw2 & 0xFFF), sz, sz};      // imm12
  if (hw2 & 0x800) {                                                // imm8 with P/U/W
    const bool p = hw2 & 0x400, u = hw2 & 0x200;
    const uint32_t off = hw2 & 0xFF;
    return {true, p ? (u ? base + off : base - off) : base, sz, sz};
  }
  if ((hw2 & 0xFC0) == 0) return {true, base + (reg(hw2 & 0xF) << ((hw2 >> 4) & 3)), sz, sz};  // register
  return {};
}

// Decode the data address of a Thumb store (ARMv7-M). `reg(n)` returns Rn (n = 0..15; 15 gives
// the instruction's PC value, which stores do not use as a base). Returns ok=false for anything
// that is not a store.
template <typename RegFn>
StoreAccess decodeStore(uint16_t hw1, uint16_t hw2, RegFn reg) {
  StoreAccess a;
  if (!is32(hw1)) {
    const uint32_t rn = (hw1 >> 3) & 7, rm = (hw1 >> 6) & 7;
    if ((hw1 & 0xFE00) == 0x5000) { a = {true, reg(rn) + reg(rm), 4, 4}; }          // STR (reg)
    else if ((hw1 & 0xFE00) == 0x5200) { a = {true, reg(rn) + reg(rm), 2, 2}; }     // STRH (reg)
    else if ((hw1 & 0xFE00) == 0x5400) { a = {true, reg(rn) + reg(rm), 1, 1}; }     // STRB (reg)
    else if ((hw1 & 0xF800) == 0x6000) { a = {true, reg(rn) + (((hw1 >> 6) & 31) << 2), 4, 4}; }  // STR imm5
    else if ((hw1 & 0xF800) == 0x7000) { a = {true, reg(rn) + ((hw1 >> 6) & 31), 1, 1}; }         // STRB imm5
    else if ((hw1 & 0xF800) == 0x8000) { a = {true, reg(rn) + (((hw1 >> 6) & 31) << 1), 2, 2}; }  // STRH imm5
    else if ((hw1 & 0xF800) == 0x9000) { a = {true, reg(13) + ((hw1 & 0xFF) << 2), 4, 4}; }       // STR SP,imm8
    else if ((hw1 & 0xFE00) == 0xB400) {                                                          // PUSH
      const uint32_t n = popcount16(hw1 & 0xFF) + ((hw1 >> 8) & 1);
      a = {true, reg(13) - 4 * n, 4 * n, 4};
    } else if ((hw1 & 0xF800) == 0xC000) {                                                        // STMIA
      const uint32_t n = popcount16(hw1 & 0xFF);
      a = {true, reg((hw1 >> 8) & 7), 4 * n, 4};
    }
    return a;
  }
  const uint32_t rn = hw1 & 0xF;
  if ((hw1 & 0xFFD0) == 0xE880) {                       // STM.W / STMIA.W (T2)
    const uint32_t n = popcount16(hw2);
    a = {true, reg(rn), 4 * n, 4};
  } else if ((hw1 & 0xFFD0) == 0xE900) {                // STMDB / PUSH.W
    const uint32_t n = popcount16(hw2);
    a = {true, reg(rn) - 4 * n, 4 * n, 4};
  } else if ((hw1 & 0xFFF0) == 0xE840) {                // STREX
    a = {true, reg(rn) + ((hw2 & 0xFF) << 2), 4, 4};
  } else if ((hw1 & 0xFFF0) == 0xE8C0 && (hw2 & 0x00E0) == 0x0040) {  // STREXB / STREXH
    const uint32_t sz = (hw2 & 0x10) ? 2 : 1;
    a = {true, reg(rn), sz, sz};
  } else if ((hw1 & 0xFE50) == 0xE840 && (hw1 & 0x0120) != 0) {  // STRD (imm): 1110 100P U1W0
    const bool p = hw1 & 0x100, u = hw1 & 0x80;
    const uint32_t off = (hw2 & 0xFF) << 2;
    const uint32_t base = reg(rn);
    const uint32_t addr = p ? (u ? base + off : base - off) : base;
    a = {true, addr, 8, 4};
  } else if ((hw1 & 0xFF00) == 0xF800 && (hw1 & 0x0010) == 0) {  // STRB/STRH/STR (T2/T3/T4)
    const uint32_t szc = (hw1 >> 5) & 3;   // 0 B, 1 H, 2 W
    if (szc == 3) return a;
    a = singleT32(hw1, hw2, reg(rn), 1u << szc, reg);
  }
  return a;
}

// Decode the data address of a Thumb load (ARMv7-M), as decodeStore does for stores. `pc` is the
// instruction's address (literal loads are PC-relative). ok=false for anything that is not a load.
template <typename RegFn>
StoreAccess decodeLoad(uint16_t hw1, uint16_t hw2, uint32_t pc, RegFn reg) {
  StoreAccess a;
  const uint32_t lit = (pc + 4) & ~3u;
  if (!is32(hw1)) {
    const uint32_t rn = (hw1 >> 3) & 7, rm = (hw1 >> 6) & 7;
    if ((hw1 & 0xFE00) == 0x5800) { a = {true, reg(rn) + reg(rm), 4, 4}; }          // LDR (reg)
    else if ((hw1 & 0xFE00) == 0x5A00) { a = {true, reg(rn) + reg(rm), 2, 2}; }     // LDRH (reg)
    else if ((hw1 & 0xFE00) == 0x5C00) { a = {true, reg(rn) + reg(rm), 1, 1}; }     // LDRB (reg)
    else if ((hw1 & 0xFE00) == 0x5600) { a = {true, reg(rn) + reg(rm), 1, 1}; }     // LDRSB (reg)
    else if ((hw1 & 0xFE00) == 0x5E00) { a = {true, reg(rn) + reg(rm), 2, 2}; }     // LDRSH (reg)
    else if ((hw1 & 0xF800) == 0x6800) { a = {true, reg(rn) + (((hw1 >> 6) & 31) << 2), 4, 4}; }  // LDR imm5
    else if ((hw1 & 0xF800) == 0x7800) { a = {true, reg(rn) + ((hw1 >> 6) & 31), 1, 1}; }         // LDRB imm5
    else if ((hw1 & 0xF800) == 0x8800) { a = {true, reg(rn) + (((hw1 >> 6) & 31) << 1), 2, 2}; }  // LDRH imm5
    else if ((hw1 & 0xF800) == 0x9800) { a = {true, reg(13) + ((hw1 & 0xFF) << 2), 4, 4}; }       // LDR SP,imm8
    else if ((hw1 & 0xF800) == 0x4800) { a = {true, lit + ((hw1 & 0xFF) << 2), 4, 4}; }           // LDR literal
    else if ((hw1 & 0xFE00) == 0xBC00) {                                                          // POP
      const uint32_t n = popcount16(hw1 & 0xFF) + ((hw1 >> 8) & 1);
      a = {true, reg(13), 4 * n, 4};
    } else if ((hw1 & 0xF800) == 0xC800) {                                                        // LDMIA
      const uint32_t n = popcount16(hw1 & 0xFF);
      a = {true, reg((hw1 >> 8) & 7), 4 * n, 4};
    }
    return a;
  }
  const uint32_t rn = hw1 & 0xF;
  if ((hw1 & 0xFFD0) == 0xE890) {                       // LDM.W / POP.W
    a = {true, reg(rn), 4 * popcount16(hw2), 4};
  } else if ((hw1 & 0xFFD0) == 0xE910) {                // LDMDB
    const uint32_t n = popcount16(hw2);
    a = {true, reg(rn) - 4 * n, 4 * n, 4};
  } else if ((hw1 & 0xFFF0) == 0xE850) {                // LDREX
    a = {true, reg(rn) + ((hw2 & 0xFF) << 2), 4, 4};
  } else if ((hw1 & 0xFFF0) == 0xE8D0 && (hw2 & 0x00E0) == 0x0040) {  // LDREXB / LDREXH
    const uint32_t sz = (hw2 & 0x10) ? 2 : 1;
    a = {true, reg(rn), sz, sz};
  } else if ((hw1 & 0xFFF0) == 0xE8D0 && (hw2 & 0xFFE0) == 0xF000) {  // TBB / TBH (reg(15) = PC+4)
    const uint32_t sz = (hw2 & 0x10) ? 2 : 1;
    a = {true, reg(rn) + (reg(hw2 & 0xF) << (sz - 1)), sz, sz};
  } else if ((hw1 & 0xFE50) == 0xE850 && (hw1 & 0x0120) != 0) {  // LDRD (imm / literal)
    const bool p = hw1 & 0x100, u = hw1 & 0x80;
    const uint32_t off = (hw2 & 0xFF) << 2;
    const uint32_t base = rn == 15 ? lit : reg(rn);
    const uint32_t addr = p ? (u ? base + off : base - off) : base;
    a = {true, addr, 8, 4};
  } else if (((hw1 & 0xFF00) == 0xF800 || (hw1 & 0xFF00) == 0xF900) && (hw1 & 0x0010) != 0) {
    // LDR/LDRB/LDRH (T2/T3/T4) and LDRSB/LDRSH; hints (PLD, PLI) have Rt = 15 and no access.
    const uint32_t szc = (hw1 >> 5) & 3;   // 0 B, 1 H, 2 W
    if (szc == 3) return a;
    if (((hw2 >> 12) & 0xF) == 15 && szc != 2) return a;  // PLD/PLI/memory hints
    const uint32_t sz = 1u << szc;
    if (rn == 15) {                                     // literal: U bit in hw1
      const uint32_t off = hw2 & 0xFFF;
      a = {true, (hw1 & 0x80) ? lit + off : lit - off, sz, sz};
      return a;
    }
    a = singleT32(hw1, hw2, reg(rn), sz, reg);
  }
  return a;
}

}  // namespace thumb
}  // namespace cmemu
