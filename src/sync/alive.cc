// SPDX-License-Identifier: MIT
// The alive-word registry and the combined park (alive.h).
#include "sync/alive.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdio>

#include "futex.h"
#include "rams/wait.h"
#include "sync/owner.h"
#include "sync/proc_stat.h"

namespace rams::internal {
namespace {

constexpr uint32_t kSlots = kOwnerTidMask + 1;  // every possible tid
constexpr size_t kSlotBytes = 64;
constexpr size_t kRegistryBytes = size_t{kSlots} * kSlotBytes;  // 256 MiB, sparse
constexpr uint32_t kSlotReady = 0x564c4152;  // "RALV"
constexpr uint32_t kSlotInitializing = 1;
constexpr uint32_t kMaxRegistries = 8;       // users whose threads we wait for

// The futex word glibc keeps at the front of a pthread_mutex_t, and the bits
// the kernel's robust-list walk uses (linux/futex.h).
struct Slot {
  pthread_mutex_t mu;
  uint32_t state;  // 0, kSlotInitializing, kSlotReady
};
static_assert(sizeof(Slot) <= kSlotBytes);
static_assert(offsetof(pthread_mutex_t, __data.__lock) == 0);

std::atomic<uint32_t>& Word(uint32_t& w) { return AsAtomic(w); }
std::atomic<uint32_t>& LockWord(Slot* s) {
  return AsAtomic(*reinterpret_cast<uint32_t*>(&s->mu.__data.__lock));
}

struct Registry {
  std::atomic<bool> claimed{false};       // taken by the one inserter that fills it
  std::atomic<uint32_t> uid{0};
  std::atomic<std::byte*> base{nullptr};  // published last (release)
  bool writable = false;                  // set by that inserter before base
};
Registry g_registries[kMaxRegistries];
std::atomic<bool> g_waitv_missing{false};  // a hint: set once ENOSYS was seen
thread_local uint32_t t_registered_epoch = 0;

// Maps the registry of `uid`: read-write (created if needed) for our own
// effective uid, read-only for others. nullptr when it cannot be trusted.
std::byte* MapRegistry(uint32_t uid, bool own) {
  char name[64];
  snprintf(name, sizeof name, "/rams.alive.%u", uid);
  int fd = shm_open(name, own ? O_RDWR | O_CREAT | O_NOFOLLOW : O_RDONLY | O_NOFOLLOW, 0644);
  if (fd < 0) return nullptr;
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && st.st_uid == uid && (st.st_mode & 022) == 0;
  if (ok && own && (st.st_mode & 0777) != 0644) ok = fchmod(fd, 0644) == 0;  // readable by waiters
  if (ok && own && st.st_size < static_cast<off_t>(kRegistryBytes)) {
    ok = ftruncate(fd, static_cast<off_t>(kRegistryBytes)) == 0;
  } else if (ok && !own) {
    ok = st.st_size == static_cast<off_t>(kRegistryBytes);
  }
  void* p = ok ? mmap(nullptr, kRegistryBytes, own ? PROT_READ | PROT_WRITE : PROT_READ,
                      MAP_SHARED | MAP_NORESERVE, fd, 0)
               : MAP_FAILED;
  close(fd);
  return p == MAP_FAILED ? nullptr : static_cast<std::byte*>(p);
}

// The registry of `uid`, mapped once per process (a mapping survives fork).
std::byte* RegistryOf(uint32_t uid, bool own) {
  for (Registry& r : g_registries) {
    // Acquire pairs with the release store of base below.
    std::byte* base = r.base.load(std::memory_order_acquire);
    if (base != nullptr && r.uid.load(std::memory_order_relaxed) == uid && (r.writable || !own)) {
      return base;
    }
  }
  std::byte* base = MapRegistry(uid, own);
  if (base == nullptr) return nullptr;
  for (Registry& r : g_registries) {
    // An entry is filled by the inserter that claimed it, alone: two that
    // raced on one entry could leave one's uid beside the other's base.
    // A racing inserter of the same uid just takes another entry.
    if (r.claimed.load(std::memory_order_relaxed) ||
        r.claimed.exchange(true, std::memory_order_relaxed)) {
      continue;
    }
    r.uid.store(uid, std::memory_order_relaxed);
    r.writable = own;
    // Release: publishes uid and writable with base.
    r.base.store(base, std::memory_order_release);
    return base;
  }
  return base;  // table full: usable, never unmapped (it may be registered)
}

Slot* SlotOf(std::byte* registry, uint32_t tid) {
  return reinterpret_cast<Slot*>(registry + size_t{tid} * kSlotBytes);
}

bool InitSlot(Slot* s) {
  uint32_t state = 0;
  // Relaxed CAS claims the initialization; the release store below publishes it.
  if (!Word(s->state).compare_exchange_strong(state, kSlotInitializing, std::memory_order_relaxed)) {
    return state == kSlotReady;
  }
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  int r = pthread_mutex_init(&s->mu, &attr);
  pthread_mutexattr_destroy(&attr);
  // Release pairs with the acquire load in RegisterSelfAlive's caller path.
  Word(s->state).store(r == 0 ? kSlotReady : 0, std::memory_order_release);
  return r == 0;
}

// Whether the kernel walks a robust list for the calling thread at its
// death. qemu-user answers ENOSYS to set_robust_list (so glibc registered
// none): an alive mutex there would stay locked by a dead thread, and a
// checker trusting its unchanged word would call the dead thread alive.
// Where it does not, no alive word is trusted either (the registry may hold
// slots that dead threads of such processes left locked). Probed once per
// process: 0 not yet, 1 yes, 2 no.
std::atomic<uint32_t> g_robust_lists{0};
bool KernelWalksOurRobustList() {
  // Relaxed: every thread computes the same answer.
  uint32_t known = g_robust_lists.load(std::memory_order_relaxed);
  if (known == 0) {
    void* head = nullptr;
    size_t len = 0;
    const bool walks = syscall(SYS_get_robust_list, 0, &head, &len) == 0 && head != nullptr;
    known = walks ? 1 : 2;
    g_robust_lists.store(known, std::memory_order_relaxed);
  }
  return known == 1;
}

// The alive slot of `tid` if a live-looking registration names it.
Slot* AliveSlotOf(uint32_t tid) {
  if (!KernelWalksOurRobustList()) return nullptr;
  auto matches = [tid](std::byte* registry) -> Slot* {
    if (registry == nullptr) return nullptr;
    Slot* s = SlotOf(registry, tid);
    // Acquire pairs with InitSlot's release store; the lock word is read
    // again by futex_waitv in the kernel, so its load orders nothing.
    if (Word(s->state).load(std::memory_order_acquire) != kSlotReady) return nullptr;
    uint32_t w = LockWord(s).load(std::memory_order_relaxed);
    return (w & FUTEX_TID_MASK) == tid && (w & FUTEX_OWNER_DIED) == 0 ? s : nullptr;
  };
  if (Slot* s = matches(RegistryOf(geteuid(), /*own=*/false))) return s;
  if (ProcTrust() != kYes) return nullptr;
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/task/%u", tid, tid);
  struct stat st;
  if (stat(path, &st) != 0 || st.st_uid == geteuid()) return nullptr;
  return matches(RegistryOf(st.st_uid, /*own=*/false));
}

}  // namespace

const std::atomic<uint32_t>* AliveWordOf(uint32_t tid) {
  Slot* s = AliveSlotOf(tid);
  return s != nullptr ? &LockWord(s) : nullptr;
}

namespace {

Park PlainPark(const std::atomic<uint32_t>* word, uint32_t expected, std::chrono::nanoseconds wait) {
  Status s = WaitWord(word, expected, wait);
  return s.code() == ETIMEDOUT ? Park::kRanOut : Park::kWoken;
}

}  // namespace

void RegisterSelfAlive() {
  uint32_t epoch = ProcessEpoch();
  if (t_registered_epoch == epoch) return;
  t_registered_epoch = epoch;  // one attempt per thread and process
  if (!KernelWalksOurRobustList()) return;
  std::byte* registry = RegistryOf(geteuid(), /*own=*/true);
  if (registry == nullptr) return;
  Slot* s = SlotOf(registry, static_cast<uint32_t>(gettid()));
  if (!InitSlot(s)) return;
  int r = pthread_mutex_trylock(&s->mu);
  if (r == EOWNERDEAD) r = pthread_mutex_consistent(&s->mu);  // a previous thread of our tid
  if (r != 0) return;  // held by a live thread of our tid in another PID namespace
  // The kernel's robust-list walk wakes a waiter only when FUTEX_WAITERS is
  // set. Relaxed: the kernel reads it at our death; waiters compare values.
  LockWord(s).fetch_or(FUTEX_WAITERS, std::memory_order_relaxed);
}

namespace {
std::atomic<uint64_t> g_notices{0};
}  // namespace

uint64_t OwnerNoticeCount() { return g_notices.load(std::memory_order_relaxed); }

Park ParkWatchingOwner(const std::atomic<uint32_t>* word, uint32_t expected, uint32_t owner_id,
                       std::chrono::nanoseconds wait) {
  // Relaxed: a hint; a stale false only costs one failed syscall.
  if (g_waitv_missing.load(std::memory_order_relaxed) || WordHasBackendQueue(word)) {
    return PlainPark(word, expected, wait);
  }
  Slot* slot = AliveSlotOf(OwnerTid(owner_id));
  if (slot == nullptr) return PlainPark(word, expected, wait);
  std::atomic<uint32_t>& alive = LockWord(slot);
  const uint32_t alive_seen = alive.load(std::memory_order_relaxed);  // re-checked by the kernel
  futex_waitv waiters[2] = {};
  waiters[0] = {expected, reinterpret_cast<uintptr_t>(word), FUTEX_32, 0};
  waiters[1] = {alive_seen, reinterpret_cast<uintptr_t>(&alive), FUTEX_32, 0};
  timespec at;
  clock_gettime(CLOCK_MONOTONIC, &at);
  int64_t ns = at.tv_nsec + wait.count() % 1'000'000'000;
  at.tv_sec += static_cast<time_t>(wait.count() / 1'000'000'000 + ns / 1'000'000'000);
  at.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  long r = syscall(SYS_futex_waitv, waiters, 2, 0, &at, CLOCK_MONOTONIC);
  if (r < 0 && errno == ENOSYS) {
    g_waitv_missing.store(true, std::memory_order_relaxed);  // a hint, as where it is read
    return PlainPark(word, expected, wait);
  }
  if (r < 0 && errno == ETIMEDOUT) return Park::kRanOut;
  // Relaxed: compared only; the liveness check that follows reads /proc.
  if (r == 1 || alive.load(std::memory_order_relaxed) != alive_seen) {
    FutexWake(&alive, INT_MAX);  // the kernel woke only one of us
    g_notices.fetch_add(1, std::memory_order_relaxed);  // a count, ordering nothing
    return Park::kOwnerNotice;
  }
  return Park::kWoken;
}

}  // namespace rams::internal
