/* SPDX-License-Identifier: MIT */
// rams::CondVar: a process-shared condition variable in segment memory, used
// with a rams::Mutex. It is a sequence number: Signal/Broadcast bump it and
// wake, a waiter spins briefly (SyncTuning::spin_iterations), then parks while
// it still holds the value read under the mutex, so no wake-up between the
// caller's predicate check and its sleep is lost.
//
// Robustness: signalers never wait for waiters, so a dead waiter cannot block
// them. A waiter killed after a Signal woke it takes that wake-up with it; the
// other waiters re-check the sequence after each parking slice (at most
// SyncTuning::max_slice) and return, so nobody sleeps through a signal.
// A signaler that dies before signaling strands only waiters without a
// timeout. Re-acquiring the mutex reports a dead mutex holder (kOwnerDied).
// Waits may return spuriously; callers loop on their predicate (or use the
// predicate overload).
//
// Layout (32 bytes): SyncHeader, the sequence word, the number of parked
// waiters (a hint that lets Signal skip the wake syscall; a dead waiter leaves it too
// high, which only costs needless wakes), reserved words (zero).
//
// Thread safety: every member may be called concurrently from any thread of
// any process mapping the object.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <chrono>
#include <cstdint>
#include <type_traits>

#include "rams/backend.h"
#include "rams/mutex.h"
#include "rams/status.h"
#include "rams/sync_common.h"

namespace rams {

// A wait's outcome when the mutex was re-acquired.
struct CondWaitResult {
  bool timed_out = false;             // the timeout passed (predicate still false)
  Acquired lock = Acquired::kClean;   // how the mutex was re-acquired
};

class CondVar {
 public:
  static constexpr uint32_t kMagic = 0x56444352;  // "RCDV"

  // Construct in place once, before other processes use it.
  CondVar();
  // EINVAL when `at` is not an initialized CondVar of this layout version.
  static Result<CondVar*> Attach(void* at);

  // Atomically releases `mu` and waits for a signal, the timeout or a
  // spurious wake-up, then re-acquires `mu` (without a time limit, like
  // pthread_cond_timedwait). On an error Status `mu` is NOT held
  // (ENOTRECOVERABLE from re-locking; EPERM when the calling thread does not
  // hold mu, which a peer writing the mutex word can cause).
  Result<CondWaitResult> Wait(Mutex& mu, Timeout timeout = std::nullopt);

  // Waits until pred() holds (evaluated with mu held) or the timeout passes.
  // Returns at once with lock == kOwnerDied when re-locking met a dead
  // holder, so that the caller repairs the state before trusting pred.
  template <class Predicate>
  Result<CondWaitResult> Wait(Mutex& mu, Timeout timeout, Predicate pred);

  // Wakes one waiter / all waiters. The caller normally holds the mutex, or
  // changed the predicate's state under it before signaling.
  void Signal();
  void Broadcast();

 private:
  Result<CondWaitResult> WaitUntil(Mutex& mu, std::chrono::steady_clock::time_point deadline,
                                   bool forever);
  // Parks until seq moves past `seen` or the deadline; true when timed out.
  bool Park(uint32_t seen, std::chrono::steady_clock::time_point deadline, bool forever,
            const SyncTuning& tuning);

  SyncHeader header_;
  uint32_t seq_ = 0;
  uint32_t waiters_ = 0;       // threads inside Wait (over-counts after a waiter's death)
  uint32_t reserved_[2] = {};  // must be zero
};

static_assert(sizeof(CondVar) == 32);
static_assert(std::is_trivially_copyable_v<CondVar> && std::is_standard_layout_v<CondVar>);

template <class Predicate>
Result<CondWaitResult> CondVar::Wait(Mutex& mu, Timeout timeout, Predicate pred) {
  auto deadline = DeadlineAfter(timeout.value_or(std::chrono::nanoseconds(0)));
  while (!pred()) {
    auto r = WaitUntil(mu, deadline, !timeout.has_value());
    if (!r.ok()) return r;
    if (r->lock != Acquired::kClean) return r;
    if (r->timed_out) return CondWaitResult{!pred(), Acquired::kClean};
  }
  return CondWaitResult{};
}

}  // namespace rams

RAMS_API_END
