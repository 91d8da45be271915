/* SPDX-License-Identifier: MIT */
// rams::Semaphore: a process-shared counting semaphore in segment memory.
//
// Robustness: a semaphore has no owner, so a process that dies after Wait
// and before its Post takes its unit with it, as with POSIX semaphores; the
// count stays as it is (nothing can tell a lost unit from one in use). What
// a death never causes is a hang with units available: a waiter killed
// after a Post woke it takes that wake-up along, and the other waiters
// re-check the count after each parking slice (at most
// SyncTuning::max_slice). Counts cannot exceed kMaxValue (Post: EOVERFLOW).
//
// Layout (32 bytes): SyncHeader, the count (the futex word), the number of
// parked waiters (a hint; a dead waiter leaves it high, which only costs
// needless wake calls), reserved words (zero).
//
// Thread safety: every member may be called concurrently from any thread of
// any process mapping the object.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <cstdint>
#include <type_traits>

#include "rams/backend.h"
#include "rams/status.h"
#include "rams/sync_common.h"

namespace rams {

class Semaphore {
 public:
  static constexpr uint32_t kMagic = 0x4d455352;  // "RSEM"
  static constexpr uint32_t kMaxValue = 0x7fffffff;

  // Construct in place once, before other processes use it.
  // REQUIRES: initial <= kMaxValue.
  explicit Semaphore(uint32_t initial = 0);
  // EINVAL when `at` is not an initialized Semaphore of this layout version.
  static Result<Semaphore*> Attach(void* at);

  // Takes one unit, blocking while there is none. ETIMEDOUT.
  Status Wait(Timeout timeout = std::nullopt);
  // EAGAIN when there is no unit.
  Status TryWait();
  // Returns one unit and wakes a waiter. EOVERFLOW at kMaxValue.
  Status Post();
  // The count now (already stale when it returns).
  uint32_t Value() const;

 private:
  SyncHeader header_;
  uint32_t value_ = 0;
  uint32_t waiters_ = 0;
  uint32_t reserved_[2] = {};  // must be zero
};

static_assert(sizeof(Semaphore) == 32);
static_assert(std::is_trivially_copyable_v<Semaphore> && std::is_standard_layout_v<Semaphore>);

}  // namespace rams

RAMS_API_END
