// SPDX-License-Identifier: MIT
// The counting Semaphore: value_ is both the count and the futex word.
#include "rams/semaphore.h"

#include <cerrno>
#include <new>

#include "rams/wait.h"
#include "sync/check.h"
#include "sync/park.h"

namespace rams {

using internal::AsAtomic;

Semaphore::Semaphore(uint32_t initial) : header_(internal::MakeHeader(kMagic, this)), value_(initial) {
  RAMS_SYNC_CHECK(initial <= kMaxValue, "Semaphore initial value above kMaxValue");
}

Result<Semaphore*> Semaphore::Attach(void* at) {
  RAMS_SYNC_CHECK(reinterpret_cast<uintptr_t>(at) % 8 == 0, "Semaphore::Attach: misaligned");
  auto* sem = std::launder(reinterpret_cast<Semaphore*>(at));
  // No owner ids: any domain may use it.
  if (sem->header_.magic != kMagic || sem->header_.version != kSyncLayoutVersion ||
      sem->header_.reserved != 0 || sem->reserved_[0] != 0 || sem->reserved_[1] != 0) {
    return Error(EINVAL, "attach semaphore: not an initialized semaphore of this layout version");
  }
  return sem;
}

Status Semaphore::Wait(Timeout timeout) {
  std::atomic<uint32_t>& value = AsAtomic(value_);
  auto take = [&]() -> std::optional<Status> {
    uint32_t v = value.load(std::memory_order_relaxed);  // a guess for the CAS
    while (v != 0) {
      // Acquire pairs with the release in Post: what the poster did before
      // Post happens-before what we do after Wait.
      if (value.compare_exchange_weak(v, v - 1, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        return Status();
      }
    }
    return std::nullopt;
  };
  if (take()) return Status();
  internal::Deadline deadline(timeout);
  // No holders to reap: slices only re-check the count (a lost wake-up).
  Status s = internal::BlockOn(internal::TuningFor(header_), value_, waiters_, deadline, take, [] { return false; });
  if (s.code() == ETIMEDOUT) return Error(deadline.zero() ? EAGAIN : ETIMEDOUT, "wait semaphore");
  return s;
}

Status Semaphore::TryWait() { return Wait(std::chrono::nanoseconds(0)); }

Status Semaphore::Post() {
  std::atomic<uint32_t>& value = AsAtomic(value_);
  uint32_t v = value.load(std::memory_order_relaxed);  // a guess for the CAS
  do {
    if (v >= kMaxValue) return Error(EOVERFLOW, "post semaphore");
    // seq_cst (a release at least, pairing with Wait's acquire CAS): also
    // ordered before the waiters load below, pairing with BlockOn.
  } while (!value.compare_exchange_weak(v, v + 1));
  if (AsAtomic(waiters_).load() != 0) WakeWord(&value, 1);
  return Status();
}

uint32_t Semaphore::Value() const {
  // Relaxed: a snapshot for display; it orders nothing.
  return AsAtomic(value_).load(std::memory_order_relaxed);
}

}  // namespace rams
