#include "watcher.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace cmemu {

int64_t monotonicNowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

namespace {
constexpr uint64_t kKindWake = 0;
constexpr uint64_t kKindTimer = 1;
constexpr uint64_t kKindFd = 2;

uint64_t tag(uint64_t kind, int fd) { return (kind << 32) | static_cast<uint32_t>(fd); }

[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string("cmemu watcher: ") + what + ": " + strerror(errno));
}
}  // namespace

Watcher::Watcher(std::atomic<uint32_t>* stopBits, int32_t* attention, int32_t* gate, std::function<void()> notify)
    : stopBits_(stopBits), attention_(attention), gate_(gate), notify_(std::move(notify)) {}

Watcher::~Watcher() { stop(); }

void Watcher::start() {
  if (thread_.joinable()) return;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) fail("epoll_create1");
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) fail("eventfd");
  timerfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timerfd_ < 0) fail("timerfd_create");
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.u64 = tag(kKindWake, wakefd_);
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) fail("epoll_ctl(wake)");
  ev.data.u64 = tag(kKindTimer, timerfd_);
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, timerfd_, &ev) < 0) fail("epoll_ctl(timer)");
  quit_.store(false);
  thread_ = std::thread([this] { loop(); });
}

void Watcher::stop() {
  if (thread_.joinable()) {
    quit_.store(true);
    uint64_t one = 1;
    ssize_t r = write(wakefd_, &one, sizeof one);
    (void)r;
    thread_.join();
  }
  for (int* fd : {&epfd_, &wakefd_, &timerfd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  std::lock_guard<std::mutex> lock(mu_);
  fds_.clear();
}

void Watcher::watch(int fd, double token) {
  start();
  std::lock_guard<std::mutex> lock(mu_);
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.u64 = tag(kKindFd, fd);
  bool known = fds_.count(fd) != 0;
  if (!suspended_ && epoll_ctl(epfd_, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0) fail("epoll_ctl(watch)");
  fds_[fd] = token;
}

void Watcher::unwatch(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  fds_.erase(it);
  if (epfd_ >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

size_t Watcher::watchedCount() {
  std::lock_guard<std::mutex> lock(mu_);
  return fds_.size();
}

void Watcher::setDeadline(int64_t ns, int64_t armLo, int64_t armHi, int64_t armAt) {
  deadline_.store(ns, std::memory_order_seq_cst);
  if (expired_.exchange(false)) armed_ = 0;
  if (ns == 0 || (armed_ >= armLo && armed_ <= armHi)) return;
  start();
  struct itimerspec its {};
  its.it_value.tv_sec = armAt / 1000000000LL;
  its.it_value.tv_nsec = armAt % 1000000000LL;
  if (timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &its, nullptr) < 0) fail("timerfd_settime");
  armed_ = armAt;
}

std::vector<double> Watcher::takeEvents() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<double> out;
  out.swap(events_);
  haveEvents_.store(false);
  return out;
}

bool Watcher::hasEvents() { return haveEvents_.load(); }

std::vector<int> Watcher::watchedFds() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int> out;
  out.reserve(fds_.size());
  for (const auto& kv : fds_) out.push_back(kv.first);
  return out;
}

void Watcher::suspend() {
  std::lock_guard<std::mutex> lock(mu_);
  if (suspended_ || epfd_ < 0) return;
  for (const auto& kv : fds_) epoll_ctl(epfd_, EPOLL_CTL_DEL, kv.first, nullptr);
  suspended_ = true;
}

void Watcher::resume() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!suspended_) return;
  suspended_ = false;
  if (epfd_ < 0) return;
  for (const auto& kv : fds_) {
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.u64 = tag(kKindFd, kv.first);
    epoll_ctl(epfd_, EPOLL_CTL_ADD, kv.first, &ev);
  }
}

bool Watcher::drain(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fds_.find(fd);
  if (it == fds_.end()) return false;
  uint64_t v;
  ssize_t r = read(fd, &v, sizeof v);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return false;
  if (r <= 0 && epfd_ >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  const double token = it->second;
  if (std::find(events_.begin(), events_.end(), token) == events_.end()) events_.push_back(token);
  haveEvents_.store(true);
  stopBits_->fetch_or(kStopExternal);
  attend();
  lastFireNs_.store(monotonicNowNs());
  return true;
}

void Watcher::loop() {
  // Wake up on time: the default 50 us timer slack would dominate the deadline latency.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  struct epoll_event evs[16];
  while (!quit_.load()) {
    int n = epoll_wait(epfd_, evs, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    bool fired = false;
    for (int i = 0; i < n; i++) {
      const uint64_t kind = evs[i].data.u64 >> 32;
      const int fd = static_cast<int>(evs[i].data.u64 & 0xFFFFFFFFu);
      uint64_t v;
      if (kind == kKindWake) {
        ssize_t r = read(fd, &v, sizeof v);
        (void)r;
      } else if (kind == kKindTimer) {
        ssize_t r = read(fd, &v, sizeof v);
        (void)r;
        expired_.store(true);
        const int64_t d = deadline_.load();
        const int64_t now = monotonicNowNs();
        if (d != 0 && now >= d) {
          stopBits_->fetch_or(kStopDeadline);
          attend();
          lastFireNs_.store(now);
        }
      } else {
        // Look up and drain under the lock: once unwatch() returns, this fd is never read again.
        std::lock_guard<std::mutex> lock(mu_);
        auto it = fds_.find(fd);
        if (it == fds_.end()) continue;
        ssize_t r = read(fd, &v, sizeof v);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r <= 0) {
          // EOF or error: stop watching so a dead fd cannot spin the thread; still report it.
          epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
        }
        const double token = it->second;
        if (std::find(events_.begin(), events_.end(), token) == events_.end()) events_.push_back(token);
        haveEvents_.store(true);
        stopBits_->fetch_or(kStopExternal);
        attend();
        lastFireNs_.store(monotonicNowNs());
        fired = true;
      }
    }
    if (fired && notify_) notify_();
  }
}

}  // namespace cmemu
