// WaitWord/WakeWord and the table of mappings whose words belong to a
// backend with its own wait queues.
//
// The table is written under a mutex and read without one: an entry is
// published by storing its base last (release), retired by clearing its base
// first; a reader that sees a base (acquire) sees the len and attachment stored
// before it. Using a word of a mapping while it is being unregistered is a
// programmer error (the memory is about to be unmapped).
#include "rams/wait.h"

#include <cassert>
#include <cerrno>
#include <mutex>

#include "futex.h"

namespace rams {
namespace {

constexpr int kMaxRanges = 256;

struct Range {
  std::atomic<uintptr_t> base{0};
  std::atomic<uint64_t> len{0};
  std::atomic<Attachment*> attachment{nullptr};
};

Range g_ranges[kMaxRanges];
std::atomic<int> g_registered{0};
std::mutex g_register_mu;

// Finds the range holding `addr`; nullptr when none.
Range* Find(uintptr_t addr) {
  if (g_registered.load(std::memory_order_acquire) == 0) return nullptr;
  for (Range& r : g_ranges) {
    uintptr_t base = r.base.load(std::memory_order_acquire);  // pairs with Register's store
    if (base != 0 && addr >= base && addr - base < r.len.load(std::memory_order_relaxed)) {
      return &r;
    }
  }
  return nullptr;
}

}  // namespace

Status WaitWord(const std::atomic<uint32_t>* word, uint32_t expected, Timeout timeout) {
  auto addr = reinterpret_cast<uintptr_t>(word);
  assert(addr % 4 == 0);
  if (Range* r = Find(addr)) {
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
    uintptr_t base = r->base.load(std::memory_order_relaxed);
    auto woken = r->attachment.load(std::memory_order_relaxed)->Wake(addr - base, count);
    return woken.ok() ? *woken : 0;
  }
  return internal::FutexWake(word, count);
}

Status RegisterWaitRange(const void* base, uint64_t len, Attachment* attachment) {
  assert(base != nullptr && attachment != nullptr);
  std::lock_guard lock(g_register_mu);
  for (Range& r : g_ranges) {
    if (r.base.load(std::memory_order_relaxed) != 0) continue;
    r.len.store(len, std::memory_order_relaxed);
    r.attachment.store(attachment, std::memory_order_relaxed);
    r.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);  // pairs with Find
    g_registered.fetch_add(1, std::memory_order_release);  // pairs with Find's first load
    return Status();
  }
  return Error(ENOSPC, "register wait range: all 256 slots in use");
}

void UnregisterWaitRange(const void* base) {
  std::lock_guard lock(g_register_mu);
  for (Range& r : g_ranges) {
    if (r.base.load(std::memory_order_relaxed) == reinterpret_cast<uintptr_t>(base)) {
      r.base.store(0, std::memory_order_release);
      g_registered.fetch_sub(1, std::memory_order_release);
      return;
    }
  }
  assert(false && "UnregisterWaitRange of a range that is not registered");
}

}  // namespace rams
