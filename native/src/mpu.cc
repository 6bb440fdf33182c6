// NativeCpu: the PMSAv7 MPU (region decisions, per-page TLB invalidation, shadow windows for
// pages a region edge splits, fetch checks on split code pages).
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
  stopEngine(uc_);
  const uintptr_t* io = memIoPc();
  if (io != nullptr) unwindToAccess(*io, &shadowUnwinds_);
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
  c->takeIoRa();  // a later callback not from generated code must not find it (memory.cc)
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
  c->takeIoRa();
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
  stopEngine(uc_);
  return true;
}
}  // namespace cmemu
