// NativeCpu: the idle wait (sleepUntil, idleWait against the event loop) and the watched fds.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cpu_internal.h"
#include "exit_check.h"
#include "thumb.h"
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>

namespace cmemu {

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
static int64_t idleSpinNs() {
  static const int64_t v = [] {
    const char* e = getenv("CMEMU_IDLE_SPIN_NS");
    return e ? static_cast<int64_t>(atoll(e)) : 50000LL;
  }();
  return v;
}

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
  bool spinning = false;
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
    const std::vector<int> watched = watcher_ ? watcher_->watchedFds() : std::vector<int>();
    std::vector<struct pollfd>& pfd = idlePfd_;
    pfd.resize(2 + watched.size());
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
    // whose idle CPUs halt. Costs at most idleSpinNs() of CPU per idle period, and only while it
    // pays: when the peer shares our core (a loaded machine) the reply cannot come while we spin.
    int n = 0;
    if (!watched.empty() && spinUntil == 0) {
      spinUntil = now;
      if (spinRest_ > 0) {
        spinRest_--;
      } else {
        spinUntil = now + idleSpinNs();
        spinning = spinUntil > now;
      }
    }
    if (spinning && monotonicNowNs() < spinUntil) {
      struct timespec zero = {0, 0};
      n = ppoll(pfd.data(), pfd.size(), &zero, nullptr);
      if (n == 0) continue;
    } else {
      if (spinning) noteSpin(false);
      spinning = false;
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
    if (fired) {
      if (spinning) noteSpin(true);
      result = 1;
      break;
    }
    if (pfd[1].fd >= 0 && (pfd[1].revents & (POLLIN | POLLERR | POLLHUP))) {
      result = (watcher_ && watcher_->hasEvents()) ? 1 : 2;
      break;
    }
  }
  idleWaiting_.store(false);
  if (watcher_) watcher_->resume();
  return Napi::Number::New(env, result);
}

void NativeCpu::noteSpin(bool hit) {
  constexpr int kSpinWindow = 16, kSpinRest = 256;
  spinHits_ += hit ? 1 : 0;
  if (++spinTries_ < kSpinWindow) return;
  if (spinHits_ * 2 < spinTries_) spinRest_ = kSpinRest;
  spinTries_ = spinHits_ = 0;
}

Napi::Value NativeCpu::StolenNs(const Napi::CallbackInfo& info) {
  // Live: the current run's stalls count at once (MMIO handlers read the clock mid-run).
  return Napi::Number::New(info.Env(), stolenTotalNs_ + static_cast<double>(runStolenNs_));
}
}  // namespace cmemu
