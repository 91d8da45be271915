/* SPDX-License-Identifier: MIT */
// rams::RwLock: a robust, process-shared reader/writer lock in segment
// memory. Many readers or one writer; a waiting writer keeps new readers out
// (no writer starvation).
//
// Robustness: every reader holds one of kReaderSlots slots named by its owner
// id (sync_common.h), the writer holds the writer word, so a dead holder is
// known by name. Waiters park in slices and, when a slice runs out, release
// the holds of dead readers (a waiting writer) or of a dead writer (anyone
// waiting), and acquirers are told. Acquired::kOwnerDied: a writer died
// holding it, the protected state may be half-written; every acquirer is told
// until the next exclusive acquirer, who is told last and must repair before
// it unlocks (a reader cannot repair under a shared hold). kReaderDied: a
// reader died holding it (the state is intact); told to one acquirer.
//
// More than kReaderSlots simultaneous readers: the extra ones wait for a
// free slot.
//
// Thread safety: every member may be called concurrently from any thread of
// any process mapping the object. Holds belong to threads: the thread that
// acquired releases.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <cstdint>
#include <optional>
#include <type_traits>

#include "rams/backend.h"
#include "rams/status.h"
#include "rams/sync_common.h"

namespace rams {

class RwLock {
 public:
  static constexpr uint32_t kMagic = 0x4b575252;  // "RRWK"
  static constexpr uint32_t kReaderSlots = 64;

  // Construct in place once, before other processes use it.
  RwLock();
  // EINVAL when `at` is not an initialized RwLock of this layout version,
  // EXDEV when it belongs to another PID namespace.
  static Result<RwLock*> Attach(void* at);

  // Exclusive. Errors (not held): ETIMEDOUT, EBUSY (Try), EDEADLK (the
  // calling thread holds it, shared or exclusively), EXDEV.
  Result<Acquired> Lock(Timeout timeout = std::nullopt);
  Result<Acquired> TryLock();
  // EPERM unless the calling thread holds it exclusively (on memory a peer
  // can write, that may be the peer's doing).
  [[nodiscard]] Status CheckedUnlock();
  // REQUIRES: the calling thread holds it exclusively (checked; aborts).
  void Unlock();

  // Shared. Errors (not held): ETIMEDOUT, EBUSY (Try), EDEADLK (the calling
  // thread holds it exclusively), EXDEV.
  Result<Acquired> LockShared(Timeout timeout = std::nullopt);
  Result<Acquired> TryLockShared();
  // EPERM unless the calling thread holds it shared.
  [[nodiscard]] Status CheckedUnlockShared();
  // REQUIRES: the calling thread holds it shared (checked; aborts).
  void UnlockShared();

 private:
  std::optional<Status> TryAcquireShared(uint32_t self);
  bool ClaimWriter(uint32_t self);
  enum class ReaderState { kNone, kOthers, kCaller };
  ReaderState Readers(uint32_t self);
  bool ReapDeadWriter(uint32_t self);
  bool ReapDeadReaders();
  Acquired TakeReport(bool exclusive);
  void Notify();

  SyncHeader header_;
  uint32_t writer_ = 0;   // owner id | kActive once readers drained; 0 = none
  uint32_t epoch_ = 0;    // futex word: bumped by every release
  uint32_t waiters_ = 0;  // parked callers (a hint; dead waiters leave it high)
  uint32_t died_ = 0;     // deaths not yet reported to an acquirer
  uint32_t reserved_[4] = {};  // must be zero
  uint32_t readers_[kReaderSlots] = {};  // owner ids of readers; 0 = free
};

static_assert(sizeof(RwLock) == 48 + 4 * RwLock::kReaderSlots);
static_assert(std::is_trivially_copyable_v<RwLock> && std::is_standard_layout_v<RwLock>);

}  // namespace rams

RAMS_API_END
