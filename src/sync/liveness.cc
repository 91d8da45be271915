// SPDX-License-Identifier: MIT
// CheckOwner (owner.h): is the thread behind an owner id still the one that
// took the object? /proc when it can be believed, else kill(0) and pidfd.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

#include "sync/alive.h"
#include "sync/check.h"
#include "sync/owner.h"
#include "sync/proc_stat.h"
#include "sys/sys.h"

namespace rams::internal {
namespace {

constexpr unsigned kPidfdThread = O_EXCL;  // PIDFD_THREAD (Linux 6.9)
std::atomic<bool> g_thread_pidfd_refused{false};

// The stat file of the last owner this thread checked, kept open: a
// contended TryLock then costs one pread instead of open+read+close. The
// descriptor is re-identified before use, since the program may have closed
// it (closefrom) and reused the number.
struct StatFileCache {
  uint32_t tid = 0;
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;

  StatFileCache() = default;
  StatFileCache(const StatFileCache&) = delete;
  StatFileCache& operator=(const StatFileCache&) = delete;

  void Keep(uint32_t for_tid, int new_fd, const struct stat& st) {
    tid = for_tid;
    fd = new_fd;
    dev = st.st_dev;
    ino = st.st_ino;
  }
  bool Ours() const {
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
  }
  void Drop() {
    if (Ours()) close(fd);
    fd = -1;
    tid = 0;
  }
  ~StatFileCache() { Drop(); }
};
thread_local StatFileCache t_stat_file;

// The last "alive" verdict of this thread, kept while the owner's alive word
// (alive.h) still holds the value it had before the verdict: any death or
// exec of the owner changes that word, so a contended TryLock repeats a
// load instead of reading /proc. Only "alive" is cached (the safe
// direction); it is re-verified at least every kVerdictNs in any case (a
// tid reused and re-registered between two looks would restore the value).
struct AliveVerdict {
  uint32_t id = 0;
  const std::atomic<uint32_t>* alive = nullptr;
  uint32_t seen = 0;
  int64_t until_ns = 0;
};
thread_local AliveVerdict t_verdict;
constexpr int64_t kVerdictNs = 10'000'000;

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no system call
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// A kept descriptor names the task that had `tid` when it was opened: a
// read through it that fails may only mean that task died and the tid now
// belongs to another one, so only a fresh open can say "gone".
StatRead ReadOwnerStat(uint32_t tid, StatFields* f) {
  StatFileCache& c = t_stat_file;
  if (c.tid == tid && c.Ours() && ReadStat(c.fd, f) == StatRead::kOk) {
    return StatRead::kOk;  // still that task, so the tid was not reused
  }
  c.Drop();
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/task/%u/stat", tid, tid);
  int fd = sys::RetryEintr([&] { return open(path, O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return errno == ENOENT || errno == ESRCH ? StatRead::kGone : StatRead::kUnknown;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return StatRead::kUnknown;
  }
  c.Keep(tid, fd, st);
  StatRead r = ReadStat(c.fd, f);
  if (r != StatRead::kOk) c.Drop();
  return r;
}

// A pidfd says whether a task has exited even while its id is still taken
// (a zombie). Thread pidfds need 6.9; before, only a process leader has one.
Liveness PidfdCheck(uint32_t tid) {
  int fd = -1;
  if (!g_thread_pidfd_refused.load(std::memory_order_relaxed)) {  // a hint only
    fd = static_cast<int>(syscall(SYS_pidfd_open, tid, kPidfdThread));
    if (fd < 0 && errno == EINVAL) g_thread_pidfd_refused.store(true, std::memory_order_relaxed);
  }
  if (fd < 0) fd = static_cast<int>(syscall(SYS_pidfd_open, tid, 0));
  if (fd < 0) return errno == ESRCH ? Liveness::kDead : Liveness::kUnknown;
  pollfd p{fd, POLLIN, 0};
  int n = poll(&p, 1, 0);
  close(fd);
  if (n == 1 && (p.revents & POLLIN) != 0) return Liveness::kDead;
  return n == 0 ? Liveness::kAlive : Liveness::kUnknown;
}

// Cannot be fooled by a foreign or restricted /proc: the tid is looked up
// in our own PID namespace (the object's domain, checked by the callers).
// It cannot tell a reused tid from the owner: that only delays recovery.
Liveness FallbackCheck(uint32_t tid) {
  if (kill(static_cast<pid_t>(tid), 0) != 0) {
    if (errno == ESRCH) return Liveness::kDead;
    if (errno != EPERM) return Liveness::kUnknown;
  }
  return PidfdCheck(tid);
}

}  // namespace

Liveness LivenessFromStat(uint32_t id, const StatFields& f) {
  if (f.state == 'Z' || f.state == 'X' || f.state == 'x') return Liveness::kDead;
  if ((f.flags & kPfExiting) != 0) return Liveness::kDead;  // never runs user code again
  // The tag is checkable when the owner could compute one and we may see
  // its stack address (ptrace read access; else the kernel shows 0).
  if (OwnerTag(id) == 0 || f.start_stack == 0) return Liveness::kAlive;
  int64_t offset = 0;
  if (BootOffsetTicks(&offset) != kYes) return Liveness::kAlive;
  uint32_t now = MakeOwnerId(OwnerTid(id), f.start_time - offset, f.start_stack);
  return now == (id & kOwnerIdMask) ? Liveness::kAlive : Liveness::kDead;
}

bool ProcTrusted() { return ProcTrust() == kYes; }

namespace {

Liveness UncachedCheck(uint32_t id) {
  const uint32_t tid = OwnerTid(id);
  if (ProcTrust() != kYes) return FallbackCheck(tid);
  StatFields f;
  switch (ReadOwnerStat(tid, &f)) {
    case StatRead::kGone: return Liveness::kDead;
    case StatRead::kOk: return LivenessFromStat(id, f);
    case StatRead::kUnknown: break;
  }
  return FallbackCheck(tid);
}

}  // namespace

Liveness CheckOwner(uint32_t id) {
  RAMS_SYNC_CHECK(id != 0, "liveness of owner 0");
  id &= kOwnerIdMask;
  const uint32_t tid = OwnerTid(id);
  // Tid 0 names no thread (kill(0) would mean our process group): whoever
  // wrote such an owner into shared memory, nobody holds the object.
  if (tid == 0) return Liveness::kDead;
  AliveVerdict& v = t_verdict;
  // Relaxed: the alive word is compared, not used to order other data.
  if (v.id == id && v.alive->load(std::memory_order_relaxed) == v.seen &&
      MonotonicNs() < v.until_ns) {
    return Liveness::kAlive;
  }
  v.id = 0;
  // Read before the check, so that a death during it changes the word.
  const std::atomic<uint32_t>* alive = AliveWordOf(tid);
  const uint32_t seen = alive != nullptr ? alive->load(std::memory_order_relaxed) : 0;
  Liveness l = UncachedCheck(id);
  if (l == Liveness::kAlive && alive != nullptr) {
    v = AliveVerdict{id, alive, seen, MonotonicNs() + kVerdictNs};
  }
  return l;
}

}  // namespace rams::internal
