// POSIX plumbing for the ivshmem server protocol: see posix.h and src/native/posix.ts (the
// contract). Every fd made here is close-on-exec; sockets are non-blocking; nothing here blocks
// except pollFds, which exists to block.
#include "posix.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace cmemu {
namespace {

constexpr long kTmpfsMagic = 0x01021994;
constexpr long kHugetlbfsMagic = 0x958458f6;
// The kernel passes at most SCM_MAX_FD (253) fds in one message.
constexpr size_t kMaxFdsPerMsg = 253;

// An Error whose message names the call and the errno text, with `code` ("ENOENT") and `errno`.
Napi::Error errnoError(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

int fdArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": fd expected");
  return info[i].As<Napi::Number>().Int32Value();
}

std::string strArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": string expected");
  return info[i].As<Napi::String>().Utf8Value();
}

double sizeArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": size expected");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<int64_t>(d)))
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": bad size");
  return d;
}

bool fillSockaddr(const std::string& path, struct sockaddr_un* sun) {
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sun->sun_path) return false;
  memcpy(sun->sun_path, path.data(), path.size());
  return true;
}

// --- UNIX stream sockets ----------------------------------------------------------------------

// unixConnect(path): a connected, non-blocking stream socket. A local connect completes at once
// or fails: ENOENT, ECONNREFUSED, EAGAIN when the listener's backlog is full. The socket is
// non-blocking before connect: a blocking connect to a listener that never accepts (a stuck or
// hostile server, or one whose backlog is momentarily full) waited forever.
Napi::Value UnixConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = strArg(info, 0, "unixConnect");
  struct sockaddr_un sun;
  if (!fillSockaddr(path, &sun)) throw Napi::RangeError::New(env, "unixConnect: socket path empty or too long: " + path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw errnoError(env, "socket", errno);
  int r;
  do r = connect(fd, reinterpret_cast<struct sockaddr*>(&sun), sizeof sun);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    const int err = errno;
    close(fd);
    throw errnoError(env, "connect " + path, err);
  }
  return Napi::Number::New(env, fd);
}

// unixListen(path, backlog): a non-blocking listening socket whose file has mode 0600 from the
// start (on Linux bind() takes the mode from the socket inode, which fchmod sets; the chmod after
// bind covers other kernels). Fails with EADDRINUSE if the path exists.
Napi::Value UnixListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = strArg(info, 0, "unixListen");
  const int backlog = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 16;
  struct sockaddr_un sun;
  if (!fillSockaddr(path, &sun)) throw Napi::RangeError::New(env, "unixListen: socket path empty or too long: " + path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw errnoError(env, "socket", errno);
  fchmod(fd, 0600);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sun), sizeof sun) < 0) {
    const int err = errno;
    close(fd);
    throw errnoError(env, "bind " + path, err);
  }
  if (chmod(path.c_str(), 0600) < 0 || listen(fd, backlog) < 0) {
    const int err = errno;
    close(fd);
    unlink(path.c_str());
    throw errnoError(env, "listen " + path, err);
  }
  return Napi::Number::New(env, fd);
}

// unixAccept(listenFd): a new non-blocking connection, or -1 when none is pending (or it died
// before we took it). Throws on resource exhaustion (EMFILE, ENFILE, ENOMEM...).
Napi::Value UnixAccept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int lfd = fdArg(info, 0, "unixAccept");
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return Napi::Number::New(env, fd);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EPROTO) return Napi::Number::New(env, -1);
    throw errnoError(env, "accept", errno);
  }
}

// socketPair(): two connected non-blocking stream sockets (tests, in-process links).
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) throw errnoError(env, "socketpair", errno);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, sv[0]));
  a.Set(1u, Napi::Number::New(env, sv[1]));
  return a;
}

// recvChunk(fd, maxBytes): one non-blocking recvmsg of at most maxBytes (1..4096) with every
// SCM_RIGHTS fd that came along (received close-on-exec). Returns
// { data: Buffer, fds: number[], eof, again, truncated, error? }. Reading no further than the end
// of the current protocol message keeps each fd attributed to the message it was sent with.
Napi::Value RecvChunk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = fdArg(info, 0, "recvChunk");
  int max = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 8;
  if (max < 1 || max > 4096) throw Napi::RangeError::New(env, "recvChunk: maxBytes must be 1..4096");
  uint8_t buf[4096];
  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * kMaxFdsPerMsg)];
  } ctrl;
  struct iovec iov = {buf, static_cast<size_t>(max)};
  struct msghdr msg;
  ssize_t n;
  do {
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl.bytes;
    msg.msg_controllen = sizeof ctrl.bytes;
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  const int err = n < 0 ? errno : 0;

  Napi::Object out = Napi::Object::New(env);
  Napi::Array fds = Napi::Array::New(env);
  uint32_t nfds = 0;
  if (n >= 0) {
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int passed;
        memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
        fds.Set(nfds++, Napi::Number::New(env, passed));
      }
    }
  }
  out.Set("data", Napi::Buffer<uint8_t>::Copy(env, buf, n > 0 ? static_cast<size_t>(n) : 0));
  out.Set("fds", fds);
  out.Set("eof", Napi::Boolean::New(env, n == 0));
  out.Set("again", Napi::Boolean::New(env, n < 0 && (err == EAGAIN || err == EWOULDBLOCK)));
  out.Set("truncated", Napi::Boolean::New(env, n >= 0 && (msg.msg_flags & MSG_CTRUNC) != 0));
  if (n < 0 && err != EAGAIN && err != EWOULDBLOCK) out.Set("error", Napi::String::New(env, strerror(err)));
  return out;
}

// sendMsg(fd, value, passFd = -1): one 8-byte little-endian signed value, with passFd as
// SCM_RIGHTS when >= 0; never blocks, never raises SIGPIPE. Returns the bytes sent (8: an 8-byte
// send on a UNIX stream socket is all or nothing) or -errno (-EAGAIN when the peer is slow).
// One non-blocking sendmsg of `len` bytes with `nfds` fds (SCM_RIGHTS), retried on EINTR: the
// bytes sent, or -errno.
ssize_t sendWithFds(int fd, const void* data, size_t len, const int* fds, size_t nfds) {
  struct iovec iov = {const_cast<void*>(data), len};
  std::vector<char> ctrl(CMSG_SPACE(sizeof(int) * (nfds ? nfds : 1)), 0);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds != 0) {
    msg.msg_control = ctrl.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n >= 0 ? n : -errno;
}

Napi::Value SendMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = fdArg(info, 0, "sendMsg");
  int64_t v;
  if (info.Length() > 1 && info[1].IsBigInt()) {
    bool lossless;
    v = info[1].As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(env, "sendMsg: value out of int64 range");
  } else if (info.Length() > 1 && info[1].IsNumber()) {
    v = info[1].As<Napi::Number>().Int64Value();
  } else {
    throw Napi::TypeError::New(env, "sendMsg: value expected");
  }
  const int passFd = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
  uint8_t bytes[8];
  for (int i = 0; i < 8; i++) bytes[i] = static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i));
  return Napi::Number::New(env, static_cast<double>(sendWithFds(fd, bytes, sizeof bytes, &passFd, passFd >= 0 ? 1 : 0)));
}

// sendRaw(fd, bytes, fds = []): one non-blocking sendmsg of arbitrary bytes with any fds (test
// tool: a hostile server that splits messages, or passes several fds of any kind). Returns the
// bytes sent or -errno.
Napi::Value SendRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = fdArg(info, 0, "sendRaw");
  if (info.Length() < 2 || !info[1].IsTypedArray()) throw Napi::TypeError::New(env, "sendRaw: Uint8Array expected");
  Napi::Uint8Array data = info[1].As<Napi::Uint8Array>();
  std::vector<int> fds;
  if (info.Length() > 2 && info[2].IsArray()) {
    Napi::Array a = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length() && i < kMaxFdsPerMsg; i++) fds.push_back(a.Get(i).As<Napi::Number>().Int32Value());
  }
  return Napi::Number::New(env, static_cast<double>(sendWithFds(fd, data.Data(), data.ByteLength(), fds.data(), fds.size())));
}

// prepareEventFd(fd): null if `fd` is an eventfd (then made non-blocking: a write to a full
// counter must fail with EAGAIN, never block), else what it is (a peer's doorbell fd from the
// server must be an eventfd: a pipe or a blocking fd would let the server hang us).
Napi::Value PrepareEventFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = fdArg(info, 0, "prepareEventFd");
  struct stat st;
  if (fstat(fd, &st) < 0) return Napi::String::New(env, std::string("an fd fstat refuses (") + strerror(errno) + ")");
  char target[PATH_MAX];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t tn = readlink(link.c_str(), target, sizeof target - 1);
  const std::string what = tn > 0 ? std::string(target, static_cast<size_t>(tn)) : "?";
  if (what != "anon_inode:[eventfd]") return Napi::String::New(env, what);
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || ((fl & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) return Napi::String::New(env, std::string("an eventfd that cannot be made non-blocking (") + strerror(errno) + ")");
  return env.Null();
}

// dupFd(fd): a close-on-exec duplicate (e.g. to queue an fd for a later send while its owner may close it).
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = fcntl(fdArg(info, 0, "dupFd"), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw errnoError(env, "dup", errno);
  return Napi::Number::New(env, fd);
}

// --- shared-memory objects --------------------------------------------------------------------

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "cmemu";
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw errnoError(env, "memfd_create", errno);
  return Napi::Number::New(env, fd);
}

// shmOpen(name, create, exclusive): shm_open(O_RDWR [| O_CREAT [| O_EXCL]], 0600).
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = strArg(info, 0, "shmOpen");
  const bool create = info.Length() > 1 && info[1].ToBoolean();
  const bool excl = info.Length() > 2 && info[2].ToBoolean();
  int fd = shm_open(name.c_str(), O_RDWR | (create ? O_CREAT : 0) | (excl ? O_EXCL : 0), 0600);
  if (fd < 0) throw errnoError(env, "shm_open " + name, errno);
  return Napi::Number::New(env, fd);
}

Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  const std::string name = strArg(info, 0, "shmUnlink");
  return Napi::Boolean::New(info.Env(), shm_unlink(name.c_str()) == 0);
}

// openUnlinkedIn(dir): a new file DIR/ivshmem.XXXXXX (0600), unlinked at once, as QEMU's server -m.
Napi::Value OpenUnlinkedIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string tmpl = strArg(info, 0, "openUnlinkedIn") + "/ivshmem.XXXXXX";
  std::vector<char> path(tmpl.begin(), tmpl.end());
  path.push_back('\0');
  int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) throw errnoError(env, "mkstemp " + tmpl, errno);
  unlink(path.data());
  return Napi::Number::New(env, fd);
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = fdArg(info, 0, "ftruncate");
  const double size = sizeArg(info, 1, "ftruncate");
  int r;
  do r = ftruncate(fd, static_cast<off_t>(size));
  while (r < 0 && errno == EINTR);
  if (r < 0) throw errnoError(env, "ftruncate", errno);
  return env.Undefined();
}

// fdInfo(fd): { kind: 'memfd' | 'shm' | 'file' | 'other', size, detail }. Only regular files
// (memfd and shm_open objects are regular tmpfs/hugetlbfs files) can back shared memory.
Napi::Value FdInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = fdArg(info, 0, "fdInfo");
  struct stat st;
  if (fstat(fd, &st) < 0) throw errnoError(env, "fstat", errno);
  Napi::Object out = Napi::Object::New(env);
  std::string kind, detail;
  char target[PATH_MAX];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t tn = readlink(link.c_str(), target, sizeof target - 1);
  detail = tn > 0 ? std::string(target, static_cast<size_t>(tn)) : "";
  if (!S_ISREG(st.st_mode)) {
    kind = "other";
    const char* what = S_ISSOCK(st.st_mode)  ? "a socket"
                       : S_ISFIFO(st.st_mode) ? "a pipe"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISDIR(st.st_mode)  ? "a directory"
                                              : "an anonymous inode";
    detail = std::string(what) + (detail.empty() ? "" : " (" + detail + ")");
  } else if (detail.rfind("/memfd:", 0) == 0) {
    kind = "memfd";
  } else {
    struct statfs sf;
    const bool tmp = fstatfs(fd, &sf) == 0 && (static_cast<long>(sf.f_type) == kTmpfsMagic || static_cast<long>(sf.f_type) == kHugetlbfsMagic);
    kind = tmp ? "shm" : "file";
  }
  out.Set("kind", Napi::String::New(env, kind));
  out.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  out.Set("detail", Napi::String::New(env, detail));
  return out;
}

// --- MAP_SHARED mappings as external ArrayBuffers ---------------------------------------------

// SIGBUS recovery for guarded mappings. Anyone who can write the shared-memory object can shrink
// it (`truncate -s 0 /dev/shm/NAME`); every access past its new end then raises SIGBUS, in the
// emulation thread's JIT code or in JS, which would kill the process (exit 135). For a mapping
// registered with guardShared, the handler below instead replaces the pages from the object's new
// end (rounded up to a page; at most the faulting page) to the end of the mapping with private
// anonymous zero pages (MAP_FIXED: same address, so Unicorn's and JS's pointers stay valid),
// records the event and writes 1 to the guard's eventfd so that the JS side (sharedStatus) reports
// it once. The pages before the new end stay shared. Only async-signal-safe calls (fstat, mmap,
// write) are made in the handler; a SIGBUS at any other address goes to the previous handler (or
// the default action, which ends the process as before).
struct Guard {
  std::atomic<int> state{0};  // 0 free, 1 being set up, 2 active
  uintptr_t addr = 0;
  size_t size = 0;
  int prot = 0;
  int fd = -1;        // our duplicate of the object's fd (for fstat)
  int notifyFd = -1;  // our duplicate of the eventfd to ring
  std::atomic<size_t> privateFrom{SIZE_MAX};  // offset from which the pages are private zeros
  std::atomic<uint32_t> faults{0};            // SIGBUS handled
};
constexpr int kMaxGuards = 256;
Guard gGuards[kMaxGuards];
struct sigaction gOldSigbus;
bool gSigbusInstalled = false;

size_t pageSize() {
  static const size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

// Replace [from, size) of g's mapping with private zero pages, where `from` is the object's size
// rounded up to a page, and at most `limit` (the faulting page; SIZE_MAX: no limit). Returns the
// new privateFrom (SIZE_MAX: nothing to do), or 0 with errno set when mmap failed. Signal-safe.
size_t shrinkGuard(Guard* g, size_t limit, bool* failed) {
  *failed = false;
  struct stat st;
  size_t from = g->size;
  if (fstat(g->fd, &st) == 0) {
    const size_t ps = pageSize();
    const size_t objSize = st.st_size < 0 ? 0 : static_cast<size_t>(st.st_size);
    from = objSize >= g->size ? g->size : (objSize + ps - 1) / ps * ps;
  } else {
    from = 0;
  }
  if (from > limit) from = limit;
  if (from >= g->size) return SIZE_MAX;
  const size_t prev = g->privateFrom.load();
  if (from >= prev) return prev;  // already replaced
  void* p = mmap(reinterpret_cast<void*>(g->addr + from), prev == SIZE_MAX ? g->size - from : prev - from, g->prot,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) {
    *failed = true;
    return prev;
  }
  g->privateFrom.store(from);
  return from;
}

void onSigbus(int sig, siginfo_t* si, void* uctx) {
  const int savedErrno = errno;
  const uintptr_t a = reinterpret_cast<uintptr_t>(si->si_addr);
  for (int i = 0; i < kMaxGuards; i++) {
    Guard* g = &gGuards[i];
    if (g->state.load(std::memory_order_acquire) != 2 || a < g->addr || a >= g->addr + g->size) continue;
    bool failed;
    const size_t faultPage = (a - g->addr) / pageSize() * pageSize();
    shrinkGuard(g, faultPage, &failed);
    if (failed) break;  // cannot repair: the default action
    g->faults.fetch_add(1);
    const uint64_t one = 1;
    ssize_t w = write(g->notifyFd, &one, sizeof one);
    (void)w;
    errno = savedErrno;
    return;  // the access is retried on the zero page
  }
  errno = savedErrno;
  if (gOldSigbus.sa_flags & SA_SIGINFO) {
    if (gOldSigbus.sa_sigaction) {
      gOldSigbus.sa_sigaction(sig, si, uctx);
      return;
    }
  } else if (gOldSigbus.sa_handler != SIG_DFL && gOldSigbus.sa_handler != SIG_IGN) {
    gOldSigbus.sa_handler(sig);
    return;
  }
  // Not ours and nobody else's: restore the previous action; the access faults again and ends the process.
  sigaction(SIGBUS, &gOldSigbus, nullptr);
}

struct Mapping {
  void* addr;
  size_t size;
  bool mapped;
  int prot;
  int guard;  // index into gGuards, or -1
};
// Live mappings by address (JS thread only): lets munmapShared find a buffer's mapping.
std::unordered_map<void*, Mapping*> gMappings;

void unguard(Mapping* m) {
  if (m->guard < 0) return;
  Guard* g = &gGuards[m->guard];
  g->state.store(1, std::memory_order_release);
  close(g->fd);
  close(g->notifyFd);
  g->fd = g->notifyFd = -1;
  g->state.store(0, std::memory_order_release);
  m->guard = -1;
}

Mapping* mappingOf(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, std::string(fn) + ": ArrayBuffer expected");
  void* p = info[0].As<Napi::ArrayBuffer>().Data();
  auto it = p ? gMappings.find(p) : gMappings.end();
  return it == gMappings.end() ? nullptr : it->second;
}

Napi::Value MmapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = fdArg(info, 0, "mmapShared");
  const double d = sizeArg(info, 1, "mmapShared");
  const bool writable = info.Length() < 3 || info[2].ToBoolean();
  if (!(d > 0)) throw Napi::RangeError::New(env, "mmapShared: size must be > 0");
  const size_t size = static_cast<size_t>(d);
  const int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* p = mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw errnoError(env, "mmap", errno);
  auto* m = new Mapping{p, size, true, prot, -1};
  gMappings[p] = m;
  return Napi::ArrayBuffer::New(
      env, p, size,
      [](Napi::Env, void*, Mapping* m) {
        if (m->mapped) {
          unguard(m);
          munmap(m->addr, m->size);
          auto it = gMappings.find(m->addr);
          if (it != gMappings.end() && it->second == m) gMappings.erase(it);
        }
        delete m;
      },
      m);
}

// guardShared(buffer, fd, notifyFd): recover from SIGBUS on this mapping (see Guard above). `fd`
// is the object the buffer maps, `notifyFd` an eventfd rung on each repair; both are duplicated
// (the caller may close its own). False if the buffer is not a live mapping or is already guarded.
Napi::Value GuardShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping* m = mappingOf(info, "guardShared");
  const int fd = fdArg(info, 1, "guardShared");
  const int notifyFd = fdArg(info, 2, "guardShared");
  if (m == nullptr || m->guard >= 0) return Napi::Boolean::New(env, false);
  int slot = -1;
  for (int i = 0; i < kMaxGuards && slot < 0; i++) {
    int expect = 0;
    if (gGuards[i].state.compare_exchange_strong(expect, 1)) slot = i;
  }
  if (slot < 0) throw Napi::Error::New(env, "guardShared: too many guarded mappings");
  Guard* g = &gGuards[slot];
  g->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  g->notifyFd = g->fd < 0 ? -1 : fcntl(notifyFd, F_DUPFD_CLOEXEC, 0);
  if (g->fd < 0 || g->notifyFd < 0) {
    const int err = errno;
    if (g->fd >= 0) close(g->fd);
    g->fd = -1;
    g->state.store(0);
    throw errnoError(env, "dup", err);
  }
  g->addr = reinterpret_cast<uintptr_t>(m->addr);
  g->size = m->size;
  g->prot = m->prot;
  g->privateFrom.store(SIZE_MAX);
  g->faults.store(0);
  m->guard = slot;
  if (!gSigbusInstalled) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = onSigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &gOldSigbus) < 0) {
      const int err = errno;
      unguard(m);
      throw errnoError(env, "sigaction SIGBUS", err);
    }
    gSigbusInstalled = true;
  }
  g->state.store(2, std::memory_order_release);
  return Napi::Boolean::New(env, true);
}

// sharedStatus(buffer): { objectSize, privateFrom, faults } of a guarded mapping, after checking
// the object's size now (pages past a shrunk end are replaced at once, before anything touches
// them). privateFrom is -1 while the whole mapping is shared. Null if the buffer is not guarded.
Napi::Value SharedStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping* m = mappingOf(info, "sharedStatus");
  if (m == nullptr || m->guard < 0) return env.Null();
  Guard* g = &gGuards[m->guard];
  bool failed;
  shrinkGuard(g, SIZE_MAX, &failed);
  if (failed) throw errnoError(env, "mmap (replacing truncated shared memory)", errno);
  struct stat st;
  const double objSize = fstat(g->fd, &st) == 0 ? static_cast<double>(st.st_size) : -1;
  const size_t from = g->privateFrom.load();
  Napi::Object out = Napi::Object::New(env);
  out.Set("objectSize", Napi::Number::New(env, objSize));
  out.Set("privateFrom", Napi::Number::New(env, from == SIZE_MAX ? -1 : static_cast<double>(from)));
  out.Set("faults", Napi::Number::New(env, g->faults.load()));
  return out;
}

// unguardShared(buffer): stop guarding (closes the guard's fds; the mapping stays). False if not guarded.
Napi::Value UnguardShared(const Napi::CallbackInfo& info) {
  Mapping* m = mappingOf(info, "unguardShared");
  if (m == nullptr || m->guard < 0) return Napi::Boolean::New(info.Env(), false);
  unguard(m);
  return Napi::Boolean::New(info.Env(), true);
}

// munmapShared(buffer): unmap now and detach the buffer (its byteLength becomes 0, so JS cannot
// touch freed memory). False if the buffer is not a live mapping from mmapShared. The caller
// must know that nothing else (a CPU's mapHostMemory) still uses the memory.
Napi::Value MunmapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping* m = mappingOf(info, "munmapShared");
  if (m == nullptr) return Napi::Boolean::New(env, false);
  gMappings.erase(m->addr);
  info[0].As<Napi::ArrayBuffer>().Detach();
  unguard(m);
  munmap(m->addr, m->size);
  m->mapped = false;  // the finalizer, when it runs, only frees the record
  return Napi::Boolean::New(env, true);
}

// --- blocking poll ----------------------------------------------------------------------------

// pollFds(fds, timeoutNs, events = POLLIN): block until one is ready or the timeout (ns; < 0 =
// forever) passes; returns each fd's revents (POLLIN 1, POLLOUT 4, POLLERR 8, POLLHUP 16, POLLNVAL 32).
Napi::Value PollFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "pollFds: fd array expected");
  Napi::Array arr = info[0].As<Napi::Array>();
  const double timeoutNs = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  const short events = static_cast<short>(info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : POLLIN);
  std::vector<struct pollfd> pfds(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    pfds[i].fd = arr.Get(i).As<Napi::Number>().Int32Value();
    pfds[i].events = events;
    pfds[i].revents = 0;
  }
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  const int64_t deadline = timeoutNs < 0 ? -1 : (static_cast<int64_t>(now.tv_sec) * 1000000000LL + now.tv_nsec + static_cast<int64_t>(timeoutNs));
  for (;;) {
    struct timespec ts, *tsp = nullptr;
    if (deadline >= 0) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      int64_t left = deadline - (static_cast<int64_t>(now.tv_sec) * 1000000000LL + now.tv_nsec);
      if (left < 0) left = 0;
      ts.tv_sec = left / 1000000000LL;
      ts.tv_nsec = left % 1000000000LL;
      tsp = &ts;
    }
    int r = ppoll(pfds.data(), pfds.size(), tsp, nullptr);
    if (r >= 0) break;
    if (errno != EINTR) throw errnoError(env, "ppoll", errno);
  }
  Napi::Array out = Napi::Array::New(env, pfds.size());
  for (uint32_t i = 0; i < pfds.size(); i++) out.Set(i, Napi::Number::New(env, pfds[i].revents));
  return out;
}

// --- readiness callbacks on Node's event loop -------------------------------------------------

// FdWatch(fd, cb): a uv_poll handle on Node's own loop. start(events) with 1 = readable,
// 2 = writable calls cb(events, status) on the JS thread (events: 1 readable, 2 writable,
// 4 disconnect; status < 0 is a libuv error). The JS object is kept alive while started.
class FdWatch : public Napi::ObjectWrap<FdWatch> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "FdWatch",
                       {
                           InstanceMethod<&FdWatch::Start>("start"),
                           InstanceMethod<&FdWatch::Stop>("stop"),
                           InstanceMethod<&FdWatch::Close>("close"),
                           InstanceMethod<&FdWatch::SetRef>("ref"),
                           InstanceMethod<&FdWatch::SetUnref>("unref"),
                       });
  }

  explicit FdWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatch>(info) {
    Napi::Env env = info.Env();
    fd_ = fdArg(info, 0, "FdWatch");
    if (info.Length() < 2 || !info[1].IsFunction()) throw Napi::TypeError::New(env, "FdWatch: callback expected");
    cb_ = Napi::Persistent(info[1].As<Napi::Function>());
    ctx_ = std::make_unique<Napi::AsyncContext>(env, "cmemu:FdWatch");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) throw Napi::Error::New(env, "FdWatch: no event loop");
    handle_ = new Handle{};
    handle_->owner = this;
    const int r = uv_poll_init(loop, &handle_->poll, fd_);
    if (r < 0) {
      delete handle_;
      handle_ = nullptr;
      throw Napi::Error::New(env, std::string("FdWatch: uv_poll_init: ") + uv_strerror(r));
    }
    handle_->poll.data = handle_;
  }

  ~FdWatch() override { closeHandle(); }

 private:
  struct Handle {
    uv_poll_t poll;
    FdWatch* owner;
  };

  static void OnPoll(uv_poll_t* p, int status, int events) {
    Handle* h = static_cast<Handle*>(p->data);
    FdWatch* self = h->owner;
    if (self == nullptr) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    const int ev = ((events & UV_READABLE) ? 1 : 0) | ((events & UV_WRITABLE) ? 2 : 0) | ((events & UV_DISCONNECT) ? 4 : 0);
    try {
      self->cb_.MakeCallback(self->Value(), {Napi::Number::New(env, ev), Napi::Number::New(env, status)}, *self->ctx_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  void closeHandle() {
    if (handle_ == nullptr) return;
    handle_->owner = nullptr;
    uv_poll_stop(&handle_->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_->poll), [](uv_handle_t* h) { delete static_cast<Handle*>(h->data); });
    handle_ = nullptr;
  }

  void pin(bool on) {
    if (on && !pinned_) Ref();
    if (!on && pinned_) Unref();
    pinned_ = on;
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (handle_ == nullptr) throw Napi::Error::New(env, "FdWatch: closed");
    const int want = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
    const int uvev = ((want & 1) ? UV_READABLE : 0) | ((want & 2) ? UV_WRITABLE : 0);
    if (uvev == 0) {
      uv_poll_stop(&handle_->poll);
      pin(false);
      return env.Undefined();
    }
    const int r = uv_poll_start(&handle_->poll, uvev, OnPoll);
    if (r < 0) throw Napi::Error::New(env, std::string("FdWatch: uv_poll_start: ") + uv_strerror(r));
    pin(true);
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_poll_stop(&handle_->poll);
    pin(false);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    closeHandle();
    pin(false);
    return info.Env().Undefined();
  }

  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
    return info.Env().Undefined();
  }

  Napi::Value SetUnref(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
    return info.Env().Undefined();
  }

  int fd_ = -1;
  Napi::FunctionReference cb_;
  std::unique_ptr<Napi::AsyncContext> ctx_;
  Handle* handle_ = nullptr;
  bool pinned_ = false;
};

}  // namespace

void RegisterPosix(Napi::Env env, Napi::Object exports) {
  const struct {
    const char* name;
    Napi::Value (*fn)(const Napi::CallbackInfo&);
  } fns[] = {
      {"unixConnect", UnixConnect},   {"unixListen", UnixListen},       {"unixAccept", UnixAccept},
      {"socketPair", SocketPair},     {"recvChunk", RecvChunk},         {"sendMsg", SendMsg},
      {"memfdCreate", MemfdCreate},   {"shmOpen", ShmOpen},             {"shmUnlink", ShmUnlink},
      {"openUnlinkedIn", OpenUnlinkedIn}, {"ftruncate", Ftruncate},     {"fdInfo", FdInfo},
      {"dupFd", DupFd}, {"sendRaw", SendRaw}, {"prepareEventFd", PrepareEventFd},             {"mmapShared", MmapShared},     {"munmapShared", MunmapShared}, {"guardShared", GuardShared}, {"sharedStatus", SharedStatus}, {"unguardShared", UnguardShared},   {"pollFds", PollFds},
  };
  for (const auto& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
  exports.Set("FdWatch", FdWatch::Init(env));
}

}  // namespace cmemu
