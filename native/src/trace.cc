// QEMU-style execution traces (-d in_asm, exec, cpu), written straight to the log through a large
// stdio buffer (no JS per block): in_asm from the translator (the tb_gen_code wrapper), exec and
// cpu from the block start (exit_check.cc), which looks at every block only while one is on. The
// disassembly is Debian's Capstone (libcapstone.a, linked in), in the mode and layout QEMU 7.2
// prints for an M-profile core.
#include <capstone/capstone.h>
#include <unicorn/arm.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "cpu.h"
#include "cpu_internal.h"

namespace cmemu {
namespace {
// The trace's stdio stream writes through this: every byte, also when the fd is a non-blocking
// pipe (Node makes its stdio pipes non-blocking, and they are shared with our dup of fd 2). With a
// plain fdopen, a full pipe (a slow reader) made write() fail with EAGAIN and stdio dropped the
// buffer: the start of a trace went missing (seen in CI on `-d exec` to stderr).
ssize_t traceWrite(void* cookie, const char* buf, size_t size) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(cookie));
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, buf + done, size - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = {fd, POLLOUT, 0};
      if (poll(&p, 1, -1) < 0 && errno != EINTR) return done > 0 ? static_cast<ssize_t>(done) : -1;
    } else {
      return done > 0 ? static_cast<ssize_t>(done) : -1;
    }
  }
  return static_cast<ssize_t>(done);
}
int traceClose(void* cookie) { return close(static_cast<int>(reinterpret_cast<intptr_t>(cookie))); }
}  // namespace

struct TraceState {
  FILE* out = nullptr;
  bool inAsm = false, exec = false, cpu = false;
  csh cs = 0;
  bool csOpen = false;
  std::vector<uint32_t> symAddr, symSize;
  std::vector<std::string> symName;
  std::vector<char> buf;
};

namespace {

const char* lookupSymbol(const TraceState& t, uint32_t pc) {
  // The symbol whose [addr, addr + size) holds pc (a zero-size symbol: pc itself), as QEMU's lookup_symbol.
  auto it = std::upper_bound(t.symAddr.begin(), t.symAddr.end(), pc);
  while (it != t.symAddr.begin()) {
    --it;
    const size_t i = static_cast<size_t>(it - t.symAddr.begin());
    const uint32_t a = t.symAddr[i], n = t.symSize[i];
    if (pc == a || (n != 0 && pc - a < n)) return t.symName[i].c_str();
    if (pc - a > 0x100000u) break;
  }
  return "";
}

}  // namespace

// -d in_asm: called from the tb_gen_code wrapper (exit_check.cc) for every block Unicorn
// translates, as QEMU prints it: at translation (a re-translated block is shown again), at no
// cost to blocks that run from the cache.
void NativeCpu::traceNewBlock(const void* tbp) {
  TraceState& t = *trace_;
  if (!t.inAsm || !t.csOpen || t.out == nullptr) return;
  const auto* tb = static_cast<const uint8_t*>(tbp);
  uint32_t pc = 0;
  uint16_t size = 0;
  memcpy(&pc, tb + 0, 4);    // TranslationBlock.pc (Unicorn 2.1.4 layout, see exit_check.cc)
  memcpy(&size, tb + 12, 2);  // TranslationBlock.size
  if (size == 0) return;
  uint8_t code[1024];
  const uint32_t n = std::min<uint32_t>(size, sizeof code);
  if (uc_mem_read(uc_, pc, code, n) != UC_ERR_OK) return;
  fprintf(t.out, "----------------\nIN: %s\n", lookupSymbol(t, pc));
  cs_insn* insn = nullptr;
  const size_t count = cs_disasm(t.cs, code, n, pc, 0, &insn);
  uint32_t done = 0;
  for (size_t i = 0; i < count; i++) {
    const cs_insn& in = insn[i];
    fprintf(t.out, "0x%08" PRIx64 ": ", in.address);
    for (uint16_t j = 0; j + 1 < in.size && j < 4; j += 2) fprintf(t.out, " %02x%02x", in.bytes[j + 1], in.bytes[j]);
    if (in.size < 4) fprintf(t.out, "%*s", (4 - in.size) / 2 * 5, "");
    fprintf(t.out, "  %-8s %s\n", in.mnemonic, in.op_str);
    done += in.size;
  }
  if (insn != nullptr) cs_free(insn, count);
  // What Capstone could not decode: the bytes, unnamed.
  for (uint32_t o = done; o + 1 < n; o += 2) fprintf(t.out, "0x%08x:  %02x%02x       .short\n", pc + o, code[o + 1], code[o]);
  fputc('\n', t.out);
}

// -d exec / cpu: called at each block start that goes on to run (exit_check.cc, while traceExec_
// makes every block start tracked), before the block's first instruction.
void NativeCpu::traceBlock(uint32_t pc) {
  TraceState& t = *trace_;
  if (t.out == nullptr) return;
  uc_engine* uc = uc_;
  // exec and cpu lines: formatted by hand into one buffer, one fwrite (fprintf per field was
  // most of the cost with -d cpu).
  char line[512];
  char* p = line;
  auto hex8 = [&p](uint32_t v) {
    static const char digits[] = "0123456789abcdef";
    for (int sh = 28; sh >= 0; sh -= 4) *p++ = digits[(v >> sh) & 0xF];
  };
  auto put = [&p](const char* s) {
    while (*s) *p++ = *s++;
  };
  if (t.exec) {
    put("Trace 0: 0x0000000000000000 [00000000/");
    hex8(pc);
    put("/00000000/00000000] ");
    const char* name = lookupSymbol(t, pc);
    const size_t len = strlen(name);
    fwrite(line, 1, static_cast<size_t>(p - line), t.out);
    fwrite(name, 1, len, t.out);
    fputc('\n', t.out);
    p = line;
  }
  if (t.cpu) {
    static int ids[19] = {UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2,  UC_ARM_REG_R3,  UC_ARM_REG_R4,  UC_ARM_REG_R5,
                          UC_ARM_REG_R6, UC_ARM_REG_R7, UC_ARM_REG_R8,  UC_ARM_REG_R9,  UC_ARM_REG_R10, UC_ARM_REG_R11,
                          UC_ARM_REG_R12, UC_ARM_REG_SP, UC_ARM_REG_LR, UC_ARM_REG_PC, UC_ARM_REG_XPSR, UC_ARM_REG_CONTROL, UC_ARM_REG_PC};
    uint32_t r[19] = {};
    void* ptrs[18];
    for (int i = 0; i < 18; i++) ptrs[i] = &r[i];
    uc_reg_read_batch(uc, ids, ptrs, 18);
    r[15] = pc;  // the block's address is the PC
    const uint32_t xpsr = r[16], control = r[17];
    for (int i = 0; i < 16; i++) {
      *p++ = 'R';
      *p++ = static_cast<char>('0' + i / 10);
      *p++ = static_cast<char>('0' + i % 10);
      *p++ = '=';
      hex8(r[i]);
      *p++ = (i % 4) == 3 ? '\n' : ' ';
    }
    put("XPSR=");
    hex8(xpsr);
    *p++ = ' ';
    *p++ = (xpsr >> 31) & 1 ? 'N' : '-';
    *p++ = (xpsr >> 30) & 1 ? 'Z' : '-';
    *p++ = (xpsr >> 29) & 1 ? 'C' : '-';
    *p++ = (xpsr >> 28) & 1 ? 'V' : '-';
    *p++ = ' ';
    *p++ = (xpsr >> 24) & 1 ? 'T' : 'A';
    *p++ = ' ';
    put((xpsr & 0x1FFu) ? "handler" : (control & 1u) ? "unpriv-thread" : "priv-thread");
    *p++ = '\n';
    fwrite(line, 1, static_cast<size_t>(p - line), t.out);
  }
}

// setTrace({ inAsm, exec, cpu, path }): path null or absent = stderr; the file is appended to.
void NativeCpu::SetTrace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ensureOpen(env);
  if (running_) throw Napi::Error::New(env, "setTrace() during run()");
  const Napi::Object o = info[0].As<Napi::Object>();
  const bool inAsm = o.Get("inAsm").ToBoolean().Value();
  const bool exec = o.Get("exec").ToBoolean().Value();
  const bool cpu = o.Get("cpu").ToBoolean().Value();
  const Napi::Value pv = o.Get("path");
  closeTrace();
  if (!inAsm && !exec && !cpu) return;
  auto t = std::make_unique<TraceState>();
  int fd = -1;
  if (pv.IsString()) {
    const std::string p = pv.As<Napi::String>().Utf8Value();
    fd = open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw Napi::Error::New(env, std::string("cannot open trace file '") + p + "': " + strerror(errno));
  } else {
    fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) throw Napi::Error::New(env, std::string("dup(stderr): ") + strerror(errno));
  }
  cookie_io_functions_t io = {nullptr, &traceWrite, nullptr, &traceClose};
  t->out = fopencookie(reinterpret_cast<void*>(static_cast<intptr_t>(fd)), "a", io);
  if (t->out == nullptr) {
    close(fd);
    throw Napi::Error::New(env, "fdopen for the trace failed");
  }
  t->buf.resize(1 << 20);
  setvbuf(t->out, t->buf.data(), _IOFBF, t->buf.size());
  t->inAsm = inAsm;
  t->exec = exec;
  t->cpu = cpu;
  if (inAsm) {
    t->csOpen = cs_open(CS_ARCH_ARM, static_cast<cs_mode>(CS_MODE_THUMB | CS_MODE_MCLASS), &t->cs) == CS_ERR_OK;
    if (!t->csOpen) throw Napi::Error::New(env, "cs_open(ARM, THUMB|MCLASS) failed");
  }
  if (info.Length() > 1 && info[1].IsArray()) {
    // Symbols: [[address, size, name], ...] sorted by address.
    const Napi::Array syms = info[1].As<Napi::Array>();
    std::vector<std::tuple<uint32_t, uint32_t, std::string>> v;
    for (uint32_t i = 0; i < syms.Length(); i++) {
      const Napi::Array e = syms.Get(i).As<Napi::Array>();
      v.emplace_back(static_cast<uint32_t>(e.Get(0u).As<Napi::Number>().Int64Value()) & ~1u,
                     static_cast<uint32_t>(e.Get(1u).As<Napi::Number>().Int64Value()), e.Get(2u).As<Napi::String>().Utf8Value());
    }
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
    for (auto& [a, n, s] : v) {
      t->symAddr.push_back(a);
      t->symSize.push_back(n);
      t->symName.push_back(std::move(s));
    }
  }
  trace_ = t.release();
  // exec and cpu need every block execution: the block start (exit_check.cc) looks at every block
  // while traceExec_ is set, and traces the ones that go on to run. No hook: a UC_HOOK_BLOCK
  // would put its call before the block-start call that exit_check.cc recognises blocks by.
  traceExec_ = exec || cpu;
  // Blocks translated before are shown by in_asm only once retranslated.
  uc_ctl_flush_tb(uc_);
}

void NativeCpu::FlushTrace(const Napi::CallbackInfo&) {
  if (trace_ && trace_->out) fflush(trace_->out);
}

void NativeCpu::closeTrace() {
  traceExec_ = false;
  if (trace_ != nullptr && uc_ != nullptr) uc_ctl_flush_tb(uc_);
  if (trace_ != nullptr) {
    if (trace_->out) fclose(trace_->out);
    if (trace_->csOpen) cs_close(&trace_->cs);
    delete trace_;
    trace_ = nullptr;
  }
}

}  // namespace cmemu
