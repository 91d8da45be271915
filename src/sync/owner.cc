// SPDX-License-Identifier: MIT
// The calling thread's owner id and the process's domain (owner.h,
// sync_identity.h): computed from /proc, cached only when complete.
#include "sync/owner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "sync/alive.h"
#include "sync/check.h"
#include "sync/proc_stat.h"
#include "sys/sys.h"

namespace rams::internal {

constinit thread_local uint64_t t_self_owner __attribute__((tls_model("initial-exec"))) = 0;

namespace {

// The calling thread's incarnation tag: 0 (unverifiable) when /proc cannot
// show our own stat, -1 (with errno) when it cannot now.
int64_t SelfTag(uint32_t tid) {
  // thread-self resolves to the caller in any procfs, ours or a parent PID
  // namespace's, and qemu-user does not fake it.
  sys::UniqueFd fd(sys::RetryEintr([] { return open("/proc/thread-self/stat", O_RDONLY | O_CLOEXEC); }));
  if (!fd.valid()) return Transient(errno) ? -1 : 0;
  StatFields f;
  if (ReadStat(fd.get(), &f) != StatRead::kOk) return Transient(errno) ? -1 : 0;
  int64_t offset = 0;
  Finding known = BootOffsetTicks(&offset);
  if (known == kNotKnown) return -1;
  if (known == kNo || f.start_stack == 0) return 0;
  return OwnerTag(MakeOwnerId(tid, f.start_time - offset, f.start_stack));
}

uint32_t HashBootId() {
  sys::UniqueFd fd(sys::RetryEintr(
      [] { return open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC); }));
  if (!fd.valid()) return 0;
  char buf[64];
  ssize_t n = sys::RetryEintr([&] { return read(fd.get(), buf, sizeof buf); });
  uint32_t hash = 2166136261u;  // FNV-1a
  for (ssize_t i = 0; i < n; ++i) hash = (hash ^ static_cast<uint8_t>(buf[i])) * 16777619u;
  return n > 0 ? hash : 0;
}

}  // namespace

uint32_t MakeOwnerId(uint32_t tid, uint64_t start_time, uint64_t start_stack) {
  RAMS_SYNC_CHECK(tid != 0 && tid <= kOwnerTidMask, "thread id out of the 22-bit range");
  // Fibonacci hashing: neighbouring values get unrelated tags.
  uint64_t h = (start_time * 0x9E3779B97F4A7C15ull) ^ (start_stack * 0xC2B2AE3D27D4EB4Full);
  uint32_t tag = static_cast<uint32_t>((h * 0x9E3779B97F4A7C15ull) >> 56);
  if (tag == 0) tag = 1;  // 0 is "unverifiable"
  return tid | (tag << kOwnerTagShift);
}

uint32_t ComputeSelfOwnerId() {
  uint32_t epoch = ProcessEpoch();
  auto tid = static_cast<uint32_t>(gettid());
  int64_t tag = SelfTag(tid);
  if (tag < 0) return 0;  // never cache a partial identity
  uint32_t id = tid | (static_cast<uint32_t>(tag) << kOwnerTagShift);
  t_self_owner = (static_cast<uint64_t>(epoch) << 32) | id;
  RegisterSelfAlive();  // so that our death wakes our waiters at once
  return id;
}

uint64_t ComputeSelfDomain() {
  ProcessState& p = Process();
  struct statfs fs;
  uint64_t domain = 0;
  if (statfs("/proc", &fs) != 0 || fs.f_type != kProcSuperMagic) {
    if (Transient(errno)) return 0;
    domain = kNoProcDomain;
  } else {
    struct stat ns = {};
    if (stat("/proc/self/ns/pid", &ns) != 0 && Transient(errno)) return 0;
    errno = 0;
    uint64_t boot = HashBootId();
    if (boot == 0 && Transient(errno)) return 0;
    domain = (boot << 32) | static_cast<uint32_t>(ns.st_ino);
  }
  // Release pairs with the acquire load in SelfDomain (sync_identity.h).
  p.identity.domain.store(domain, std::memory_order_release);
  return domain;
}

}  // namespace rams::internal
