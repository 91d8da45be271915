// SPDX-License-Identifier: MIT
#include "sync/park.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <time.h>

#include "rams/wait.h"
#include "sync/check.h"
#include "sync/owner.h"

namespace rams::internal {
namespace {

using std::chrono::nanoseconds;

// The tuning, as three independent atomics: a reader may see a mix of an old
// and a new tuning for one call, which is harmless (each value is valid).
std::atomic<uint32_t> g_spin_iterations{SyncTuning{}.spin_iterations};
std::atomic<int64_t> g_first_slice_ns{SyncTuning{}.first_slice.count()};
std::atomic<int64_t> g_max_slice_ns{SyncTuning{}.max_slice.count()};
std::once_flag g_env_once;

void ReadEnvironment() {
  const char* spin = getenv("RAMS_SYNC_SPIN");
  if (spin == nullptr || *spin == '\0') return;
  char* end = nullptr;
  unsigned long value = strtoul(spin, &end, 10);
  if (*end == '\0' && value <= 1'000'000) {
    // Relaxed: each tuning value stands alone (see above).
    g_spin_iterations.store(static_cast<uint32_t>(value), std::memory_order_relaxed);
  }
}

}  // namespace

SyncTuning CurrentTuning() {
  std::call_once(g_env_once, ReadEnvironment);
  SyncTuning t;
  // Relaxed: each value stands alone; SetSyncTuning's stores are the partners.
  t.spin_iterations = g_spin_iterations.load(std::memory_order_relaxed);
  t.first_slice = nanoseconds(g_first_slice_ns.load(std::memory_order_relaxed));
  t.max_slice = nanoseconds(g_max_slice_ns.load(std::memory_order_relaxed));
  return t;
}

Deadline::Deadline(Timeout timeout)
    : never_(!timeout.has_value()), zero_(timeout && *timeout <= nanoseconds(0)) {
  if (!timeout) return;
  at_ = DeadlineAfter(*timeout);
  never_ = at_ == std::chrono::steady_clock::time_point::max();
}

bool Deadline::Expired() const {
  return !never_ && std::chrono::steady_clock::now() >= at_;
}

nanoseconds Deadline::Clip(nanoseconds slice) const {
  if (never_) return slice;
  auto left = std::chrono::duration_cast<nanoseconds>(at_ - std::chrono::steady_clock::now());
  if (left < nanoseconds(0)) left = nanoseconds(0);
  return left < slice ? left : slice;
}

nanoseconds NextSlice(nanoseconds slice, const SyncTuning& tuning) {
  nanoseconds next = slice * 2;
  return next < tuning.max_slice ? next : tuning.max_slice;
}

bool ParkSlice(const uint32_t& word, uint32_t expected, nanoseconds slice,
               const Deadline& deadline) {
  nanoseconds wait = deadline.Clip(slice);
  if (wait <= nanoseconds(0)) return true;
  Status s = WaitWord(&AsAtomic(word), expected, wait);
  if (s.code() == EFAULT) {
    // A remote mapping with user-mode-only faults: the kernel's futex cannot
    // fault the page in. Sleep the slice instead of spinning on the error.
    SleepFor(wait);
    return true;
  }
  return s.code() == ETIMEDOUT;
}

void SleepFor(nanoseconds wait) {
  timespec ts{.tv_sec = static_cast<time_t>(wait.count() / 1'000'000'000),
              .tv_nsec = static_cast<long>(wait.count() % 1'000'000'000)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

std::optional<OwnerDomain> RemoteDomainOf(const SyncHeader& header) {
  std::optional<OwnerDomain> at = OwnerDomainAt(&header);
  if (at && at->domain == header.domain) return at;
  return FindOwnerDomain(header.domain);
}

Result<Owners> Owners::Of(const SyncHeader& header, std::string_view what) {
  Owners o;
  const uint64_t local = SelfDomain();
  if (local == 0 || header.domain != local) {
    o.remote_ = RemoteDomainOf(header);
    if (!o.remote_) return DomainError(header.domain, local, what);
  }
  RAMS_ASSIGN_OR_RETURN(const uint32_t id, SelfOwnerIdOr(what));
  o.self_ = o.remote_ ? MakeRemoteOwnerId(o.remote_->host_index, OwnerTid(id)) : id;
  return o;
}

uint32_t Owners::SelfOrZero(const SyncHeader& header) {
  Result<Owners> o = Of(header, "");
  return o.ok() ? o->self() : 0;
}

SyncTuning Owners::Tuning() const {
  SyncTuning t = CurrentTuning();
  if (remote_ && t.max_slice > kRemoteMaxSlice) {
    t.max_slice = kRemoteMaxSlice;
    if (t.first_slice > t.max_slice) t.first_slice = t.max_slice;
  }
  return t;
}

SyncTuning TuningFor(const SyncHeader& header) {
  Owners o;
  if (header.domain != SelfDomain()) o.remote_ = RemoteDomainOf(header);
  return o.Tuning();
}

void BumpAndWakeAll(uint32_t& word, const uint32_t& waiters) {
  // seq_cst: pairs with BlockOn's waiters increment and word load.
  AsAtomic(word).fetch_add(1);
  if (AsAtomic(waiters).load() != 0) WakeWord(&AsAtomic(word), INT_MAX);
}

SyncHeader MakeHeader(uint32_t magic, const void* self) {
  SyncHeader h;
  h.magic = magic;
  h.version = kSyncLayoutVersion;
  std::optional<OwnerDomain> remote = OwnerDomainAt(self);
  h.domain = remote ? remote->domain : SelfDomain();
  return h;
}

Status CheckHeader(const SyncHeader& header, uint32_t magic, std::string_view what) {
  if (header.magic != magic) return Error(EINVAL, std::string(what) + ": bad magic (not initialized?)");
  if (header.version != kSyncLayoutVersion || header.reserved != 0) {
    return Error(EINVAL, std::string(what) + ": layout version " + std::to_string(header.version) +
                             ", this library has " + std::to_string(kSyncLayoutVersion));
  }
  return CheckDomain(header, what);
}

Result<uint32_t> SelfOwnerIdOr(std::string_view what) {
  uint32_t self = SelfOwnerId();
  if (self != 0) [[likely]] return self;
  int err = errno != 0 ? errno : EAGAIN;
  return Error(err, std::string(what) + ": cannot read the calling thread's identity from /proc now");
}

Status DomainError(uint64_t object_domain, uint64_t self, std::string_view what) {
  if (self == 0) {
    int err = errno != 0 ? errno : EAGAIN;
    return Error(err, std::string(what) + ": cannot determine this process's PID namespace now");
  }
  if (object_domain == 0) {
    return Error(EXDEV, std::string(what) +
                            ": initialized when its domain could not be determined; initialize "
                            "it again");
  }
  return Error(EXDEV, std::string(what) +
                          ": object belongs to another PID namespace or boot; owner ids would be "
                          "meaningless here");
}

[[noreturn]] void SyncCheckFailed(const char* condition, const char* message, const char* file,
                                  int line) {
  fprintf(stderr, "%s:%d: rams sync check failed: %s (%s)\n", file, line, message, condition);
  abort();
}

}  // namespace rams::internal

namespace rams {

void SetSyncTuning(const SyncTuning& tuning) {
  RAMS_SYNC_CHECK(tuning.first_slice > std::chrono::nanoseconds(0) &&
                      tuning.first_slice <= tuning.max_slice &&
                      tuning.max_slice <= std::chrono::seconds(1) &&
                      tuning.spin_iterations <= 1'000'000,
                  "SyncTuning out of range");
  internal::CurrentTuning();  // the environment must not override this later
  // Relaxed: pairs with CurrentTuning's loads; each value stands alone.
  internal::g_spin_iterations.store(tuning.spin_iterations, std::memory_order_relaxed);
  internal::g_first_slice_ns.store(tuning.first_slice.count(), std::memory_order_relaxed);
  internal::g_max_slice_ns.store(tuning.max_slice.count(), std::memory_order_relaxed);
}

SyncTuning GetSyncTuning() { return internal::CurrentTuning(); }

}  // namespace rams
