/* SPDX-License-Identifier: MIT */
// rams::Barrier: a process-shared, reusable barrier for a fixed number of
// parties, in segment memory. Each generation completes when `parties` Wait
// calls have arrived; exactly one of them (the last) is told it was last.
//
// Robustness: members register (Join, or their first Wait) under their owner
// id (sync_common.h). Waiters park in slices and, when a slice runs out,
// check that every member lives; when one died the barrier is BROKEN: every
// waiter, and every later Wait, fails with EPIPE until Reset(). A Wait whose
// timeout passes breaks it too (the others get EPIPE, the caller
// ETIMEDOUT), as nothing can tell a slow party from a lost one. Join before
// the first round so that a member dying before its first arrival is noticed.
// Members are threads; a member that is done should Leave().
//
// Layout (304 bytes): SyncHeader, parties, the state word (futex: bit 31
// broken, bits 8..30 generation, bits 0..7 arrivals), waiters (a hint), why
// it broke, reserved words (zero), then kMaxParties member slots.
//
// Trust: every field is re-validated where it is used (parties is read once
// per call and bounded by kMaxParties), so a peer that scribbles the object
// gets errors (EINVAL, EPIPE) or a wedged barrier, never a crash or an
// access outside the 304 bytes.
//
// Thread safety: every member may be called concurrently from any thread of
// any process mapping the object, except Reset (see there).
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <atomic>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "rams/backend.h"
#include "rams/status.h"
#include "rams/sync_common.h"

namespace rams {

class Barrier {
 public:
  static constexpr uint32_t kMagic = 0x52414252;  // "RBAR"
  static constexpr uint32_t kMaxParties = 64;

  // Construct in place once. REQUIRES: 1 <= parties <= kMaxParties.
  explicit Barrier(uint32_t parties);
  // EINVAL when `at` is not an initialized Barrier of this layout version,
  // EXDEV when it belongs to another PID namespace.
  static Result<Barrier*> Attach(void* at);

  // Registers the calling thread as a member (idempotent). EBUSY when
  // `parties` members have joined, EXDEV.
  Status Join();
  // Unregisters the calling thread (no-op when not a member).
  void Leave();

  // Arrives and waits for the generation to complete. Returns true for the
  // last arrival, false for the others. Errors: EPIPE (broken: a member died
  // or timed out), ETIMEDOUT (this caller timed out; the barrier is now
  // broken), EBUSY/EXDEV from joining.
  Result<bool> Wait(Timeout timeout = std::nullopt);
  // Wait that also gives up once `*cancel` is set (seen within one parking
  // slice): the caller is then a lost member, so the barrier breaks as on a
  // member's death (the others get EPIPE) and the caller gets ECANCELED. For
  // a proxy (ramsd's sync agent) whose client went away.
  Result<bool> Wait(Timeout timeout, const std::atomic<bool>* cancel);

  // Clears a broken state, the arrivals and the slots of dead members, and
  // starts a new generation. REQUIRES: nobody is inside Wait.
  void Reset();

  bool Broken() const;
  // Completed generations (modulo 2^23).
  uint32_t Generation() const;
  // As stored in shared memory (a peer may have changed it).
  uint32_t parties() const;

 private:
  enum class Broke { kNow, kAlready, kGenerationDone };
  // Sets the broken bit unless `generation` has completed (the bit then
  // stays clear for the next one) or it is set already.
  RAMS_HIDDEN Broke BreakGeneration(uint32_t generation, uint32_t reason);
  RAMS_HIDDEN bool ReapDeadMembers(uint32_t self, uint32_t parties, uint32_t generation);
  // Exported by earlier releases, kept for the soname (docs/abi.md); the
  // library no longer calls them.
  void Break(uint32_t reason);
  bool ReapDeadMembers(uint32_t self, uint32_t parties);
  Result<uint32_t> Parties(std::string_view what) const;
  Status BrokenError() const;

  SyncHeader header_;
  uint32_t parties_ = 0;
  uint32_t state_ = 0;
  uint32_t waiters_ = 0;
  uint32_t broken_reason_ = 0;  // 0, kMemberDied or kTimedOut (barrier.cc)
  uint32_t reserved_[4] = {};   // must be zero
  uint32_t members_[kMaxParties] = {};  // owner ids; 0 = free
};

static_assert(sizeof(Barrier) == 48 + 4 * Barrier::kMaxParties);
static_assert(std::is_trivially_copyable_v<Barrier> && std::is_standard_layout_v<Barrier>);

}  // namespace rams

RAMS_API_END
