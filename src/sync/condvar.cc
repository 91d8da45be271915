// SPDX-License-Identifier: MIT
// The sequence-number CondVar (see condvar.h for the robustness argument).
#include "rams/condvar.h"

#include <cerrno>
#include <climits>
#include <new>

#include "rams/wait.h"
#include "sync/check.h"
#include "sync/park.h"

namespace rams {

using internal::AsAtomic;

CondVar::CondVar() : header_(internal::MakeHeader(kMagic, this)) {}

Result<CondVar*> CondVar::Attach(void* at) {
  RAMS_SYNC_CHECK(reinterpret_cast<uintptr_t>(at) % 8 == 0, "CondVar::Attach: misaligned");
  auto* cv = std::launder(reinterpret_cast<CondVar*>(at));
  RAMS_RETURN_IF_ERROR(internal::CheckHeader(cv->header_, kMagic, "attach condvar"));
  for (uint32_t r : cv->reserved_) {
    if (r != 0) return Error(EINVAL, "attach condvar: reserved field not zero");
  }
  return cv;
}

Result<CondWaitResult> CondVar::Wait(Mutex& mu, Timeout timeout) {
  return WaitUntil(mu, DeadlineAfter(timeout.value_or(std::chrono::nanoseconds(0))),
                   !timeout.has_value());
}

Result<CondWaitResult> CondVar::WaitUntil(Mutex& mu,
                                          std::chrono::steady_clock::time_point deadline,
                                          bool forever) {
  if (!mu.HeldByCaller()) return Error(EPERM, "wait on condvar: the mutex is not held by the caller");
  if (deadline == std::chrono::steady_clock::time_point::max()) forever = true;
  // In a remote mapping a Signal on another host wakes nobody here: the
  // slices (capped short there) are the wake-up.
  const SyncTuning tuning = internal::TuningFor(header_);
  std::atomic<uint32_t>& seq = AsAtomic(seq_);
  std::atomic<uint32_t>& waiters = AsAtomic(waiters_);
  // Read under the mutex: a signaler that changes the predicate after our
  // caller checked it does so after our Unlock, so its bump comes after this
  // load (the mutex orders them).
  uint32_t seen = seq.load();
  // Checked: on peer-writable memory the word may have been taken from us
  // since HeldByCaller.
  RAMS_RETURN_IF_ERROR(mu.CheckedUnlock());
  bool woken = false;
  for (uint32_t i = 0; i < tuning.spin_iterations && !woken; ++i) {
    internal::CpuRelax();
    // Relaxed: a hint to stop spinning; the ordering with the signaler comes
    // from re-locking the mutex.
    woken = seq.load(std::memory_order_relaxed) != seen;
  }
  bool timed_out = false;
  if (!woken) {
    // Counted only while parking, so that Signal skips the wake system call
    // for spinners. seq_cst: either a signaler's waiters load sees us, or
    // its bump came first and WaitWord finds seq != seen and returns.
    waiters.fetch_add(1);
    timed_out = Park(seen, deadline, forever, tuning);
    waiters.fetch_sub(1);
  }
  auto relocked = mu.Lock();
  if (!relocked.ok()) return relocked.status();
  return CondWaitResult{timed_out, *relocked};
}

bool CondVar::Park(uint32_t seen, std::chrono::steady_clock::time_point deadline, bool forever,
                   const SyncTuning& tuning) {
  std::atomic<uint32_t>& seq = AsAtomic(seq_);
  for (;;) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (!forever && left <= std::chrono::nanoseconds(0)) {
      // Relaxed: as in the spin above.
      return seq.load(std::memory_order_relaxed) == seen;
    }
    std::chrono::nanoseconds slice = tuning.max_slice;
    if (!forever && left < slice) slice = std::chrono::duration_cast<std::chrono::nanoseconds>(left);
    Status s = WaitWord(&seq, seen, slice);
    // Woken, or seq changed: done. A timed-out slice loops: the next
    // WaitWord returns at once if a signal came whose wake-up went to a
    // waiter that died before returning.
    if (s.ok() || s.code() == EAGAIN) return false;
    // User-mode-only faults on a remote mapping: the futex cannot fault the
    // page in; sleep the slice instead of spinning on the error.
    if (s.code() == EFAULT) internal::SleepFor(slice);
  }
}

void CondVar::Signal() {
  // seq_cst: the bump and the waiters load pair with the waiter's increment
  // before it parks in WaitUntil.
  AsAtomic(seq_).fetch_add(1);
  if (AsAtomic(waiters_).load() != 0) WakeWord(&AsAtomic(seq_), 1);
}

void CondVar::Broadcast() {
  AsAtomic(seq_).fetch_add(1);
  if (AsAtomic(waiters_).load() != 0) WakeWord(&AsAtomic(seq_), INT_MAX);
}

}  // namespace rams
