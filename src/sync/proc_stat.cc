// SPDX-License-Identifier: MIT
#include "sync/proc_stat.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>

#include "sys/sys.h"

namespace rams::internal {

constinit ProcessState g_before_init{};  // all zero: every cache misses
constinit std::atomic<ProcessIdentity*> g_process_identity{&g_before_init.identity};

namespace {

constexpr int64_t kNsPerTick = 10'000'000;  // USER_HZ is 100 on Linux

// Regular (inherited) memory: a child's first epoch is larger than any its
// parent had at the fork.
std::atomic<uint32_t> g_epoch_source{0};
std::once_flag g_page_once;
bool g_wipe_on_fork = false;  // written once under g_page_once

// Whether MADV_WIPEONFORK really marked `page`. A kernel that applies it
// refuses it on a shared mapping (EINVAL), and so does one that does not
// know it; an emulator that ignores advice (qemu-user answers 0 to every
// madvise) accepts both, and its children would inherit the page.
bool MarkWipeOnFork(void* page) {
  if (madvise(page, sizeof(ProcessState), MADV_WIPEONFORK) != 0) return false;
  void* shared = mmap(nullptr, sizeof(ProcessState), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return false;  // cannot tell: also clear it at fork
  const bool refused = madvise(shared, sizeof(ProcessState), MADV_WIPEONFORK) != 0;
  munmap(shared, sizeof(ProcessState));
  return refused;
}

void CreatePage() {
  void* page = mmap(nullptr, sizeof(ProcessState), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return;  // stays on g_before_init: always the slow path
  g_wipe_on_fork = MarkWipeOnFork(page);
  if (!g_wipe_on_fork) {
    // Before 4.14, or advice ignored: fork() still clears it; _Fork and raw
    // clone cannot be seen.
    pthread_atfork(nullptr, nullptr, [] {
      auto* p = reinterpret_cast<ProcessState*>(g_process_identity.load());
      memset(static_cast<void*>(p), 0, sizeof *p);
    });
  }
  // Release pairs with the acquire loads in sync_identity.h and Process().
  g_process_identity.store(&static_cast<ProcessState*>(page)->identity, std::memory_order_release);
}

// Reads a small /proc file into buf (NUL-terminated); -1 with errno.
ssize_t ReadSmallFile(const char* path, char* buf, size_t size) {
  int fd = sys::RetryEintr([&] { return open(path, O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return -1;
  ssize_t n = sys::RetryEintr([&] { return pread(fd, buf, size - 1, 0); });
  int err = errno;
  close(fd);
  errno = err;
  if (n >= 0) buf[n] = '\0';
  return n;
}

// Whether the topmost mount on /proc is a procfs without hidepid.
Finding MountAllowsEveryPid() {
  FILE* f = fopen("/proc/self/mountinfo", "re");
  if (f == nullptr) return Transient(errno) ? kNotKnown : kNo;
  Finding found = kNo;  // no /proc mount at all
  char* line = nullptr;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    // "id parent maj:min root mountpoint opts [tags...] - fstype source superopts"
    char mountpoint[16];
    if (sscanf(line, "%*s %*s %*s %*s %15s", mountpoint) != 1) continue;
    if (strcmp(mountpoint, "/proc") != 0) continue;
    const char* sep = strstr(line, " - ");
    if (sep == nullptr) continue;
    char fstype[16] = {}, superopts[512] = {};
    if (sscanf(sep + 3, "%15s %*s %511s", fstype, superopts) < 1) continue;
    const char* hidepid = strstr(superopts, "hidepid=");
    bool hidden = hidepid != nullptr && strncmp(hidepid + 8, "0", 1) != 0 &&
                  strncmp(hidepid + 8, "off", 3) != 0;
    found = strcmp(fstype, "proc") == 0 && !hidden ? kYes : kNo;  // the last one is on top
  }
  free(line);
  fclose(f);
  return found;
}

Finding ProbeProc() {
  struct statfs fs;
  if (statfs("/proc", &fs) != 0) return Transient(errno) ? kNotKnown : kNo;
  if (fs.f_type != kProcSuperMagic) return kNo;
  // /proc/thread-self names the caller as the procfs's PID namespace sees
  // it: equal to our own pid and tid only when it is our namespace's.
  char link[64], want[64];
  ssize_t n = readlink("/proc/thread-self", link, sizeof link - 1);
  if (n < 0) return Transient(errno) ? kNotKnown : kNo;
  link[n] = '\0';
  snprintf(want, sizeof want, "%d/task/%d", getpid(), gettid());
  if (strcmp(link, want) != 0) return kNo;
  return MountAllowsEveryPid();
}

// Parses "boottime <sec> <nsec>" out of /proc/self/timens_offsets.
Finding ParseBootOffset(const char* text, int64_t* ticks) {
  const char* line = strstr(text, "boottime");
  long long sec = 0, nsec = 0;
  if (line == nullptr || sscanf(line, "boottime %lld %lld", &sec, &nsec) != 2) return kNo;
  if (nsec % kNsPerTick != 0) return kNo;  // the kernel's rounding would differ per reader
  *ticks = sec * (1'000'000'000 / kNsPerTick) + nsec / kNsPerTick;
  return kYes;
}

Finding ProbeBootOffset(int64_t* ticks) {
  *ticks = 0;
  struct stat active, children;
  if (stat("/proc/self/ns/time", &active) != 0) {
    // No time namespaces in this kernel (or no /proc, then there are no
    // start times to correct either).
    return Transient(errno) ? kNotKnown : (errno == ENOENT ? kYes : kNo);
  }
  if (stat("/proc/self/ns/time_for_children", &children) != 0) {
    return Transient(errno) ? kNotKnown : kNo;
  }
  // timens_offsets describes the namespace of our future children.
  if (active.st_ino != children.st_ino || active.st_dev != children.st_dev) return kNo;
  char buf[256];
  if (ReadSmallFile("/proc/self/timens_offsets", buf, sizeof buf) < 0) {
    return Transient(errno) ? kNotKnown : kNo;
  }
  return ParseBootOffset(buf, ticks);
}

}  // namespace

ProcessState& Process() {
  std::call_once(g_page_once, CreatePage);
  // Acquire pairs with the release store in CreatePage.
  return *reinterpret_cast<ProcessState*>(g_process_identity.load(std::memory_order_acquire));
}

bool WipeOnForkHonored() {
  Process();
  return g_wipe_on_fork;  // written under g_page_once, which Process() waited for
}

uint32_t ProcessEpoch() {
  ProcessState& p = Process();
  // Relaxed: the epoch is a name, published with the thread's own cache.
  uint32_t epoch = p.identity.epoch.load(std::memory_order_relaxed);
  if (epoch != 0) return epoch;
  uint32_t fresh = g_epoch_source.fetch_add(1, std::memory_order_relaxed) + 1;
  // Relaxed: only uniqueness matters (one modification order per atomic).
  if (fresh == 0) fresh = g_epoch_source.fetch_add(1, std::memory_order_relaxed) + 1;
  // Racing threads agree on the first stored value.
  p.identity.epoch.compare_exchange_strong(epoch, fresh, std::memory_order_relaxed);
  return epoch != 0 ? epoch : fresh;
}

StatRead ReadStat(int fd, StatFields* out) {
  char buf[1024];
  ssize_t n = sys::RetryEintr([&] { return pread(fd, buf, sizeof buf - 1, 0); });
  if (n < 0) return errno == ESRCH ? StatRead::kGone : StatRead::kUnknown;
  if (n == 0) return StatRead::kGone;  // the task exited between open and read
  buf[n] = '\0';
  // The command name (field 2) may hold spaces and ')': the fields after it
  // start after the last ')'.
  const char* p = strrchr(buf, ')');
  if (p == nullptr || p[1] != ' ') return StatRead::kUnknown;
  p += 2;
  out->state = *p;
  // Fields 3.. separated by single spaces; field k starts after k-3 spaces.
  uint64_t field[29] = {};
  for (int k = 4; k <= 28; ++k) {
    p = strchr(p, ' ');
    if (p == nullptr) return StatRead::kUnknown;
    ++p;
    field[k] = strtoull(p, nullptr, 10);  // negative fields (nice) parse as huge: unused
  }
  out->flags = static_cast<uint32_t>(field[9]);
  out->start_time = field[22];
  out->start_stack = field[28];
  return StatRead::kOk;
}

Finding BootOffsetTicks(int64_t* ticks) {
  ProcessState& p = Process();
  // Acquire pairs with the release store of the finding below.
  Finding known = static_cast<Finding>(p.offset_known.load(std::memory_order_acquire));
  if (known != kNotKnown) {
    *ticks = p.boot_offset_ticks.load(std::memory_order_relaxed);  // published by offset_known
    return known;
  }
  known = ProbeBootOffset(ticks);
  if (known == kNotKnown) return kNotKnown;
  // Relaxed: published by the release store of the finding, which pairs
  // with the acquire load at the top.
  p.boot_offset_ticks.store(*ticks, std::memory_order_relaxed);
  p.offset_known.store(known, std::memory_order_release);
  return known;
}

Finding ProcTrust() {
  ProcessState& p = Process();
  // Relaxed: the finding is the whole message.
  auto known = static_cast<Finding>(p.proc_trust.load(std::memory_order_relaxed));
  if (known != kNotKnown) return known;
  known = ProbeProc();
  // Relaxed: as the load above; racing probes store the same finding.
  if (known != kNotKnown) p.proc_trust.store(known, std::memory_order_relaxed);
  return known;
}

}  // namespace rams::internal
