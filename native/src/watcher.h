// The per-CPU watcher thread: one epoll set over a wake eventfd, a CLOCK_MONOTONIC timerfd (the
// host deadline of the current run) and the fds the JS side asked to watch (eventfds). It never
// touches Unicorn: it only sets bits in the CPU's atomic stop word, which the native block hook
// on the emulation thread turns into uc_emu_stop (the only safe way to stop a running engine).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "exit_check.h"

// The calling thread's attention word (exit_check.cc): non-zero makes its engine look at the next
// block start. The watcher sets its engine thread's word after setting a stop bit.
extern "C" int32_t* cmemu_attention_word();


namespace cmemu {

// Bits of the stop word shared by the emulation thread, the watcher thread and JS.
enum StopBits : uint32_t {
  kStopRequested = 1u << 0,  // requestStop()
  kStopDeadline = 1u << 1,   // the host deadline passed
  kStopExternal = 1u << 2,   // a watched fd fired
};

int64_t monotonicNowNs();

class Watcher {
 public:
  // `stopBits` outlives the watcher; `notify` is called on the watcher thread after an fd fired.
  Watcher(std::atomic<uint32_t>* stopBits, int32_t* attention, int32_t* gate, std::function<void()> notify);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Starts the thread. Throws std::runtime_error if a syscall fails.
  void start();
  // Stops and joins the thread, closes its fds. Idempotent.
  void stop();

  void watch(int fd, double token);
  void unwatch(int fd);
  size_t watchedCount();

  // Absolute CLOCK_MONOTONIC deadline for the current run (0 = none): when the timerfd fires
  // at or after it the watcher sets kStopDeadline. The timerfd is (re)armed for `armAt` only if
  // its current expiry is outside [armLo, armHi] (timer syscalls are expensive in a VM).
  // setDeadline(0, ...) only disables the check (no syscall).
  void setDeadline(int64_t ns, int64_t armLo = 0, int64_t armHi = 0, int64_t armAt = 0);

  std::vector<double> takeEvents();
  // The watched fds (for a caller that polls them itself, e.g. the CPU's idle wait).
  std::vector<int> watchedFds();
  // Drain a watched fd that another thread found readable and record its token, exactly as the
  // watcher thread does (it then finds the fd empty). Returns true if an event was recorded.
  bool drain(int fd);
  // While another thread polls the watched fds itself (the CPU's idle wait), take them out of the
  // watcher's epoll set so that a write wakes one thread, not two; resume() puts them back (a fd
  // that became readable meanwhile is reported at once: epoll is level-triggered).
  void suspend();
  void resume();
  // CLOCK_MONOTONIC time at which the watcher last set a stop bit (for latency measurements).
  int64_t lastFireNs() const { return lastFireNs_.load(); }
  bool hasEvents();

 private:
  void loop();

  std::atomic<uint32_t>* stopBits_;
  int32_t* attention_;  // the engine thread's cmemu_tls.attention
  int32_t* gate_;       // the engine's block-start gate word (exit_check.cc), or nullptr
  void attend() {
    __atomic_store_n(attention_, 1, __ATOMIC_SEQ_CST);
    // Its low half to 0: the next gated block start calls the wrapper, which sees attention.
    storeGateLow(gate_, 0);
  }
  std::function<void()> notify_;
  std::thread thread_;
  int epfd_ = -1;
  int wakefd_ = -1;
  int timerfd_ = -1;
  std::atomic<bool> quit_{false};
  std::atomic<int64_t> deadline_{0};
  int64_t armed_ = 0;  // what the timerfd is armed for (JS thread only)
  std::atomic<bool> expired_{false};

  std::mutex mu_;                               // guards fds_ and events_
  std::unordered_map<int, double> fds_;
  std::vector<double> events_;
  std::atomic<bool> haveEvents_{false};
  bool suspended_ = false;  // guarded by mu_
  std::atomic<int64_t> lastFireNs_{0};
};

}  // namespace cmemu
