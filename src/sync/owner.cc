#include "sync/owner.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "sync/check.h"
#include "sys/sys.h"

namespace rams::internal {

constinit thread_local uint32_t t_self_owner_id __attribute__((tls_model("initial-exec"))) = 0;
constinit std::atomic<uint64_t> g_self_domain{kUnknownDomain};

namespace {

std::once_flag g_atfork_once;

// A forked child starts with the forking thread's caches: forget them. The
// child may also be in a new PID namespace (unshare(CLONE_NEWPID) + fork).
void ForgetAfterFork() {
  t_self_owner_id = 0;
  g_self_domain.store(kUnknownDomain, std::memory_order_relaxed);
}

enum class StatRead { kOk, kGone, kUnknown };

// Reads state (field 3) and start time (field 22) of /proc/<tid>/stat.
StatRead ReadThreadStat(uint32_t tid, char* state, uint64_t* start_time) {
  char path[48];
  snprintf(path, sizeof path, "/proc/%u/stat", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ESRCH ? StatRead::kGone : StatRead::kUnknown;
  char buf[1024];
  ssize_t n = sys::RetryEintr([&] { return read(fd, buf, sizeof buf - 1); });
  int read_errno = errno;
  close(fd);
  if (n < 0) return read_errno == ESRCH ? StatRead::kGone : StatRead::kUnknown;
  if (n == 0) return StatRead::kGone;  // the task exited between open and read
  buf[n] = '\0';
  // The command name (field 2) may hold spaces and ')': fields after it start
  // after the last ')'.
  const char* p = strrchr(buf, ')');
  if (p == nullptr) return StatRead::kUnknown;
  unsigned long long start = 0;
  int got = sscanf(p + 1,
                   " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                   state, &start);
  if (got != 2) return StatRead::kUnknown;
  *start_time = start;
  return StatRead::kOk;
}

uint32_t StartTag(uint64_t start_time) {
  // Fibonacci hashing: neighbouring start times get unrelated tags.
  return static_cast<uint32_t>((start_time * 0x9E3779B97F4A7C15ull) >> 56);
}

uint64_t ComputeDomain() {
  uint64_t domain = 0;
  struct stat st;
  if (stat("/proc/self/ns/pid", &st) == 0) domain |= static_cast<uint32_t>(st.st_ino);
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    uint32_t hash = 2166136261u;  // FNV-1a
    for (ssize_t i = 0; i < n; ++i) hash = (hash ^ static_cast<uint8_t>(buf[i])) * 16777619u;
    if (n > 0) domain |= static_cast<uint64_t>(hash) << 32;
  }
  return domain;
}

}  // namespace

uint32_t MakeOwnerId(uint32_t tid, uint64_t start_time) {
  RAMS_SYNC_CHECK(tid != 0 && tid <= kOwnerTidMask, "thread id out of the 22-bit range");
  return tid | (StartTag(start_time) << 22);
}

uint32_t ComputeSelfOwnerId() {
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, ForgetAfterFork); });
  auto tid = static_cast<uint32_t>(gettid());
  char state = 0;
  uint64_t start = 0;
  if (ReadThreadStat(tid, &state, &start) != StatRead::kOk) start = 0;
  uint32_t id = MakeOwnerId(tid, start);
  t_self_owner_id = id;
  return id;
}

bool OwnerAlive(uint32_t id) {
  RAMS_SYNC_CHECK(id != 0, "liveness of owner 0");
  uint32_t tid = OwnerTid(id);
  char state = 0;
  uint64_t start = 0;
  switch (ReadThreadStat(tid, &state, &start)) {
    case StatRead::kGone:
      return false;
    case StatRead::kOk:
      if (state == 'Z' || state == 'X' || state == 'x') return false;
      return MakeOwnerId(tid, start) == (id & kOwnerIdMask);
    case StatRead::kUnknown:
      break;
  }
  return !(kill(static_cast<pid_t>(tid), 0) != 0 && errno == ESRCH);
}

uint64_t ComputeSelfDomain() {
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, ForgetAfterFork); });
  uint64_t domain = ComputeDomain();
  // Relaxed: racing threads compute and store the same value.
  g_self_domain.store(domain, std::memory_order_relaxed);
  return domain;
}

}  // namespace rams::internal
