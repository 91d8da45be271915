/* SPDX-License-Identifier: MIT */
// rams::Mutex: a robust, process-shared mutual-exclusion lock that lives in
// segment memory (or any MAP_SHARED memory).
//
// Robustness: when a holder dies (SIGKILL at any instruction, or a thread
// that exits holding it), the next locker acquires it with
// Acquired::kOwnerDied and must repair the protected state, then call
// MarkConsistent() before Unlock(). Unlocking without doing so makes the
// mutex not recoverable: every later Lock fails with ENOTRECOVERABLE until it
// is initialized again (as with robust pthread mutexes). A death is noticed by
// parked waiters within about SyncTuning::max_slice, by TryLock at once.
//
// Trust: nothing here aborts on a value read from the object. On memory a
// peer can write, use the Checked* forms: a scribbled word gives an error
// (EPERM, EINVAL) or, at worst, a wrong owner, never a crash. Unlock and
// MarkConsistent abort on misuse, for programs whose memory only they write.
//
// Layout (32 bytes): SyncHeader, then the lock word: 0 = free; else the
// owner id (sync_common.h; in a remote mapping it names the host) in bits 0..29, bit 30 = there may be parked
// waiters, bit 31 = the owner acquired it from a dead owner and has not made
// it consistent. Bit 31 with no owner = not recoverable.
//
// Thread safety: every member may be called concurrently from any thread of
// any process mapping the object. The owner is a thread: only the thread that
// acquired it may unlock it or mark it consistent.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <cstdint>
#include <type_traits>

#include "rams/backend.h"
#include "rams/status.h"
#include "rams/sync_common.h"
#include "rams/sync_identity.h"

namespace rams {

class Mutex {
 public:
  static constexpr uint32_t kMagic = 0x58544d52;  // "RMTX" little-endian

  // An unlocked mutex for the calling process's domain. Construct it in place
  // once (new (address) rams::Mutex), before other processes use it.
  Mutex();

  // `at` as an initialized Mutex: EINVAL when it is not one (or of another
  // layout version), EXDEV when it belongs to another PID namespace.
  // REQUIRES: `at` is 8-byte aligned.
  static Result<Mutex*> Attach(void* at);

  // Blocks until acquired or `timeout` passes. Errors (the mutex is NOT held):
  // ETIMEDOUT, ENOTRECOVERABLE, EDEADLK (the caller holds it), EXDEV, and
  // EMFILE-like errors when the caller's identity cannot be read now.
  Result<Acquired> Lock(Timeout timeout = std::nullopt) {
    uint32_t expected = 0;
    const uint32_t self = internal::CachedSelfOwnerId();
    const uint64_t domain = internal::SelfDomain();
    // Acquire pairs with the release CAS of the previous holder's Unlock /
    // CheckedUnlock / UnlockSlow.
    if (self != 0 && domain != 0 && header_.domain == domain &&
        internal::AsAtomic(word_).compare_exchange_strong(expected, self, std::memory_order_acquire,
                                                          std::memory_order_relaxed)) [[likely]] {
      return Acquired::kClean;
    }
    return LockSlow(timeout);
  }
  // Never blocks; EBUSY when a live thread holds it.
  Result<Acquired> TryLock();

  // Releases it. EPERM when the calling thread does not hold it, which on
  // memory a peer can write may be the peer's doing: servers use this form
  // and treat the error as that peer's fault.
  [[nodiscard]] Status CheckedUnlock() {
    if (UnlockFast()) [[likely]] return Status();
    return UnlockSlow();
  }
  // CheckedUnlock for a program that trusts every writer of the memory:
  // REQUIRES: the calling thread holds it (checked; aborts otherwise).
  void Unlock() {
    if (UnlockFast()) [[likely]] return;
    UnlockOrDie();
  }

  // Declares the protected state repaired after kOwnerDied. EINVAL unless the
  // calling thread holds it, acquired with kOwnerDied (as
  // pthread_mutex_consistent).
  [[nodiscard]] Status CheckedMarkConsistent();
  // The same, aborting on misuse. REQUIRES: as above.
  void MarkConsistent();

  // Whether the calling thread holds it.
  bool HeldByCaller() const;
  // Whether it is not recoverable (a holder unlocked it without making it
  // consistent after a death).
  bool NotRecoverable() const;

 private:
  // The uncontended release: one CAS from our id to 0. Only for an object
  // of our own domain: in another (a remote mapping's, docs/sync.md) the
  // same bits may name another host's thread.
  bool UnlockFast() {
    uint32_t expected = internal::CachedSelfOwnerId();
    // Release pairs with the acquire CAS of the next locker. Fails when
    // waiters may be parked, on a death report, or when not the owner.
    return expected != 0 && header_.domain == internal::SelfDomain() &&
           internal::AsAtomic(word_).compare_exchange_strong(
               expected, 0, std::memory_order_release, std::memory_order_relaxed);
  }
  Result<Acquired> LockSlow(Timeout timeout);
  Status UnlockSlow();
  void UnlockOrDie();
  // Takes the mutex over from its owner when that owner is dead.
  bool TakeFromDead(uint32_t self);

  SyncHeader header_;
  uint32_t word_ = 0;
  uint32_t reserved_[3] = {};  // must be zero
};

static_assert(sizeof(Mutex) == 32);
static_assert(std::is_trivially_copyable_v<Mutex> && std::is_standard_layout_v<Mutex>);

// Holds a Mutex for a scope, in a program that trusts every writer of the
// memory (it aborts if the mutex was taken from it). Acquisition errors and
// owner deaths are the caller's: construct it only around a successful Lock.
class MutexHold {
 public:
  explicit MutexHold(Mutex& mu) : mu_(&mu) {}
  MutexHold(const MutexHold&) = delete;
  MutexHold& operator=(const MutexHold&) = delete;
  ~MutexHold() { mu_->Unlock(); }

 private:
  Mutex* mu_;
};

}  // namespace rams

RAMS_API_END
