// Module init: NativeCpu, host memory, clocks, Unicorn's register ids, and small eventfd
// utilities (tests and the ivshmem doorbells use real eventfds; Node has no eventfd API).
#include <errno.h>
#include <napi.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unicorn/unicorn.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "cpu.h"
#include "watcher.h"
#include "posix.h"

namespace cmemu {
namespace {

Napi::Value AllocHostMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d > 0) || d > 1e12) throw Napi::RangeError::New(env, "allocHostMemory: bad size");
  const size_t size = static_cast<size_t>(d);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw Napi::Error::New(env, std::string("allocHostMemory: mmap: ") + strerror(errno));
  return Napi::ArrayBuffer::New(env, p, size, [size](Napi::Env, void* data) { munmap(data, size); });
}

// Give the pages of host memory from allocHostMemory back to the system now (they read as zero
// afterwards); the mapping itself goes when the buffer is collected. For a closed machine's RAM.
void ReleaseHostMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "releaseHostMemory: expects an ArrayBuffer");
  Napi::ArrayBuffer b = info[0].As<Napi::ArrayBuffer>();
  if (b.Data() != nullptr && b.ByteLength() > 0) madvise(b.Data(), b.ByteLength(), MADV_DONTNEED);
}

Napi::Value MonotonicNs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(monotonicNowNs()));
}

Napi::Value UnicornVersion(const Napi::CallbackInfo& info) {
  unsigned int v = uc_version(nullptr, nullptr);
  std::string s = std::to_string((v >> 24) & 0xFF) + "." + std::to_string((v >> 16) & 0xFF) + "." +
                  std::to_string((v >> 8) & 0xFF);
  return Napi::String::New(info.Env(), s);
}

Napi::Object RegisterIds(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  for (int i = 0; i <= 12; i++) o.Set("R" + std::to_string(i), Napi::Number::New(env, UC_ARM_REG_R0 + i));
  struct {
    const char* name;
    int id;
  } const named[] = {
      {"SP", UC_ARM_REG_SP},           {"LR", UC_ARM_REG_LR},
      {"PC", UC_ARM_REG_PC},           {"APSR_NZCV", UC_ARM_REG_APSR_NZCV},
      {"IPSR", UC_ARM_REG_IPSR},       {"MSP", UC_ARM_REG_MSP},
      {"PSP", UC_ARM_REG_PSP},         {"CONTROL", UC_ARM_REG_CONTROL},
      {"IAPSR", UC_ARM_REG_IAPSR},     {"EAPSR", UC_ARM_REG_EAPSR},
      {"XPSR", UC_ARM_REG_XPSR},       {"EPSR", UC_ARM_REG_EPSR},
      {"IEPSR", UC_ARM_REG_IEPSR},     {"PRIMASK", UC_ARM_REG_PRIMASK},
      {"BASEPRI", UC_ARM_REG_BASEPRI}, {"BASEPRI_MAX", UC_ARM_REG_BASEPRI_MAX},
      {"FAULTMASK", UC_ARM_REG_FAULTMASK},
  };
  for (const auto& r : named) o.Set(r.name, Napi::Number::New(env, r.id));
  return o;
}

// The native Stop enum by name (cpu.h): a test checks `Stop` in src/native/cpu.ts against it.
Napi::Object StopReasons(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
#define CMEMU_STOP_EXPORT(name, value) o.Set(#name, Napi::Number::New(env, value));
  CMEMU_STOP_REASONS(CMEMU_STOP_EXPORT)
#undef CMEMU_STOP_EXPORT
  return o;
}

// --- eventfd utilities -----------------------------------------------------------------------

Napi::Value CreateEventFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const unsigned init = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  int fd = eventfd(init, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw Napi::Error::New(env, std::string("eventfd: ") + strerror(errno));
  return Napi::Number::New(env, fd);
}

Napi::Value WriteEventFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  uint64_t v = info.Length() > 1 ? static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue()) : 1;
  if (write(fd, &v, sizeof v) != sizeof v) throw Napi::Error::New(env, std::string("eventfd write: ") + strerror(errno));
  return env.Undefined();
}

// Returns the counter (and resets it), or 0 if it was 0.
Napi::Value ReadEventFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  uint64_t v = 0;
  ssize_t r = read(fd, &v, sizeof v);
  if (r < 0 && errno != EAGAIN) throw Napi::Error::New(env, std::string("eventfd read: ") + strerror(errno));
  return Napi::Number::New(env, r == sizeof v ? static_cast<double>(v) : 0);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

std::atomic<int64_t> gLaterWriteNs{0};

// Test utility: write `value` to eventfd `fd` from a new native thread after `delayNs`, so a
// run() in progress on the JS thread can be stopped by a real cross-thread event.
Napi::Value WriteEventFdLater(const Napi::CallbackInfo& info) {
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const uint64_t v = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
  const int64_t delay = static_cast<int64_t>(info[2].As<Napi::Number>().DoubleValue());
  gLaterWriteNs.store(0);
  std::thread([fd, v, delay] {
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    const int64_t until = monotonicNowNs() + delay;
    struct timespec ts;
    ts.tv_sec = until / 1000000000LL;
    ts.tv_nsec = until % 1000000000LL;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    gLaterWriteNs.store(monotonicNowNs());
    uint64_t val = v;
    ssize_t r = write(fd, &val, sizeof val);
    (void)r;
  }).detach();
  return info.Env().Undefined();
}

Napi::Value LastLaterWriteNs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(gLaterWriteNs.load()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeCpu", NativeCpu::Init(env));
  exports.Set("allocHostMemory", Napi::Function::New(env, AllocHostMemory, "allocHostMemory"));
  exports.Set("releaseHostMemory", Napi::Function::New(env, ReleaseHostMemory, "releaseHostMemory"));
  exports.Set("monotonicNs", Napi::Function::New(env, MonotonicNs, "monotonicNs"));
  exports.Set("unicornVersion", Napi::Function::New(env, UnicornVersion, "unicornVersion"));
  exports.Set("registerIds", RegisterIds(env));
  exports.Set("stopReasons", StopReasons(env));
  exports.Set("createEventFd", Napi::Function::New(env, CreateEventFd, "createEventFd"));
  exports.Set("writeEventFd", Napi::Function::New(env, WriteEventFd, "writeEventFd"));
  exports.Set("readEventFd", Napi::Function::New(env, ReadEventFd, "readEventFd"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("writeEventFdLater", Napi::Function::New(env, WriteEventFdLater, "writeEventFdLater"));
  exports.Set("lastLaterWriteNs", Napi::Function::New(env, LastLaterWriteNs, "lastLaterWriteNs"));
  RegisterPosix(env, exports);  // sockets, fd passing, shared memory, mmap, poll (posix.cc)
  return exports;
}

}  // namespace
}  // namespace cmemu

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return cmemu::Init(env, exports); }

NODE_API_MODULE(cmemu, InitModule)
