// SPDX-License-Identifier: MIT
// WaitWord/WakeWord and the table of mappings whose words belong to a
// backend with its own wait queues.
//
// The table is written under a mutex and read without one: an entry is
// published by storing its base last (release), retired by clearing its base
// first; a reader that sees a base (acquire) sees the len and attachment stored
// before it. Using a word of a mapping while it is being unregistered is a
// programmer error (the memory is about to be unmapped).
//
// fork: a range registered as not inherited (wait_ranges.h) is dropped in a
// fork() child, whose copy of the table would otherwise route its words to
// the parent's attachment.
#include "rams/wait.h"

#include <pthread.h>

#include <cerrno>
#include "sys/local_mutex.h"
#include "wait_ranges.h"

#include "futex.h"
#include "check.h"

namespace rams {
namespace {

constexpr int kMaxRanges = 256;

struct Range {
  std::atomic<uintptr_t> base{0};
  std::atomic<uint64_t> len{0};
  std::atomic<Attachment*> attachment{nullptr};
  bool inherited = true;  // written and read under g_register_mu (or in a fork child)
};

Range g_ranges[kMaxRanges];
std::atomic<int> g_registered{0};
// Serializes writers of the table (readers take no lock: see the top).
sys::LocalMutex g_register_mu;

// Finds the range holding `addr`; nullptr when none.
Range* Find(uintptr_t addr) {
  // Acquire: pairs with the release fetch_add/fetch_sub in Register/Unregister.
  if (g_registered.load(std::memory_order_acquire) == 0) return nullptr;
  for (Range& r : g_ranges) {
    uintptr_t base = r.base.load(std::memory_order_acquire);  // pairs with Register's release store of base
    // Relaxed: ordered after the acquire load of base just above.
    if (base != 0 && addr >= base && addr - base < r.len.load(std::memory_order_relaxed)) {
      return &r;
    }
  }
  return nullptr;
}

}  // namespace

Status WaitWord(const std::atomic<uint32_t>* word, uint32_t expected, Timeout timeout) {
  auto addr = reinterpret_cast<uintptr_t>(word);
  RAMS_CHECK(addr % 4 == 0);  // REQUIRES of WaitWord
  if (Range* r = Find(addr)) {
    // Relaxed: Find's acquire load of base ordered these (the range cannot
    // change while its words are in use).
    uintptr_t base = r->base.load(std::memory_order_relaxed);
    return r->attachment.load(std::memory_order_relaxed)->Wait(addr - base, expected, timeout);
  }
  int err = internal::FutexWait(word, expected, timeout);
  if (err == 0) return Status();
  return Error(err, "wait on word");
}

bool WordHasBackendQueue(const std::atomic<uint32_t>* word) {
  return Find(reinterpret_cast<uintptr_t>(word)) != nullptr;
}

uint32_t WakeWord(const std::atomic<uint32_t>* word, uint32_t count) {
  auto addr = reinterpret_cast<uintptr_t>(word);
  if (Range* r = Find(addr)) {
    // Relaxed: Find's acquire load of base ordered these (the range cannot
    // change while its words are in use).
    uintptr_t base = r->base.load(std::memory_order_relaxed);
    auto woken = r->attachment.load(std::memory_order_relaxed)->Wake(addr - base, count);
    return woken.ok() ? *woken : 0;
  }
  return internal::FutexWake(word, count);
}

namespace {

// The fork() child's copy of the table keeps only the inherited ranges. The
// child is single-threaded here; the mutex was taken by the forking thread
// before the fork (so no other thread was half way through the table) and is
// released in both processes.
void LockTableForFork() NO_THREAD_SAFETY_ANALYSIS { g_register_mu.Lock(); }
void UnlockTableInParent() NO_THREAD_SAFETY_ANALYSIS { g_register_mu.Unlock(); }
void DropRangesNotInheritedInChild() NO_THREAD_SAFETY_ANALYSIS {
  for (Range& r : g_ranges) {
    if (r.base.load(std::memory_order_relaxed) != 0 && !r.inherited) {
      r.base.store(0, std::memory_order_relaxed);
      g_registered.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  g_register_mu.Unlock();
}

Status Register(const void* base, uint64_t len, Attachment* attachment, bool inherited) {
  RAMS_CHECK(base != nullptr && attachment != nullptr);
  [[maybe_unused]] static const int at_fork =
      pthread_atfork(LockTableForFork, UnlockTableInParent, DropRangesNotInheritedInChild);
  sys::LocalMutexLock lock(g_register_mu);
  for (Range& r : g_ranges) {
    // Relaxed: writers are serialized by g_register_mu.
    if (r.base.load(std::memory_order_relaxed) != 0) continue;
    r.inherited = inherited;
    // Relaxed: published by the release store of base below.
    r.len.store(len, std::memory_order_relaxed);
    r.attachment.store(attachment, std::memory_order_relaxed);
    // Release: pairs with Find's acquire load of base.
    r.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    g_registered.fetch_add(1, std::memory_order_release);  // pairs with Find's acquire load of g_registered
    return Status();
  }
  return Error(ENOSPC, "register wait range: all 256 slots in use");
}

}  // namespace

Status RegisterWaitRange(const void* base, uint64_t len, Attachment* attachment) {
  return Register(base, len, attachment, /*inherited=*/true);
}

Status internal::RegisterWaitRangeNotInherited(const void* base, uint64_t len,
                                               Attachment* attachment) {
  return Register(base, len, attachment, /*inherited=*/false);
}

void UnregisterWaitRange(const void* base) {
  sys::LocalMutexLock lock(g_register_mu);
  for (Range& r : g_ranges) {
    // Relaxed: writers are serialized by g_register_mu.
    if (r.base.load(std::memory_order_relaxed) == reinterpret_cast<uintptr_t>(base)) {
      // Release: pairs with Find's acquire loads of base and of g_registered.
      r.base.store(0, std::memory_order_release);
      g_registered.fetch_sub(1, std::memory_order_release);
      return;
    }
  }
  RAMS_CHECK(false && "UnregisterWaitRange of a range that is not registered");
}

}  // namespace rams
