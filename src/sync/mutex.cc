// SPDX-License-Identifier: MIT
// The robust Mutex. The word's transitions (every one a CAS or an atomic
// read-modify-write, so a peer's concurrent write can only make one fail):
//   free (0)        -> owner            Lock/TryLock, CAS (acquire)
//   owner           -> owner|waiters    a waiter before it parks (relaxed)
//   owner[|waiters] -> 0                Unlock, CAS (release); wakes one
//   dead owner      -> self|waiters|died TakeFromDead, CAS (acquire)
//   self|died       -> self             MarkConsistent
//   self|died       -> not recoverable  Unlock without MarkConsistent, CAS
//                                       (release); wakes all
// Every acquire names as its partner "the release CAS of Unlock": the fast
// CAS in mutex.h or the one in UnlockSlow.
#include "rams/mutex.h"

#include <cerrno>
#include <climits>
#include <new>

#include "rams/wait.h"
#include "sync/alive.h"
#include "sync/check.h"
#include "sync/owner.h"
#include "sync/park.h"

namespace rams {
namespace {

constexpr uint32_t kWaiters = 1u << 30;
constexpr uint32_t kOwnerDiedBit = 1u << 31;
constexpr uint32_t kNotRecoverableWord = kOwnerDiedBit;
constexpr uint32_t kMaxBackoff = 64;  // pauses between two looks while spinning
// A word a peer keeps rewriting must not keep an unlocker or reaper looping.
constexpr uint32_t kMaxCasAttempts = 1000;

bool IsNotRecoverable(uint32_t w) {
  return (w & internal::kOwnerIdMask) == 0 && (w & kOwnerDiedBit) != 0;
}

Status NotRecoverableError() {
  return Error(ENOTRECOVERABLE, "lock mutex: a holder died and the state was not made consistent");
}

}  // namespace

using internal::AsAtomic;

Mutex::Mutex() : header_(internal::MakeHeader(kMagic, this)) {}

Result<Mutex*> Mutex::Attach(void* at) {
  RAMS_SYNC_CHECK(reinterpret_cast<uintptr_t>(at) % 8 == 0, "Mutex::Attach: misaligned");
  auto* mu = std::launder(reinterpret_cast<Mutex*>(at));
  RAMS_RETURN_IF_ERROR(internal::CheckHeader(mu->header_, kMagic, "attach mutex"));
  for (uint32_t r : mu->reserved_) {
    if (r != 0) return Error(EINVAL, "attach mutex: reserved field not zero");
  }
  return mu;
}

Result<Acquired> Mutex::TryLock() {
  RAMS_ASSIGN_OR_RETURN(const internal::Owners owners, internal::Owners::Of(header_, "trylock mutex"));
  const uint32_t self = owners.self();
  // Relaxed: only a guess for the CAS below, which is the acquire.
  uint32_t w = AsAtomic(word_).load(std::memory_order_relaxed);
  for (;;) {
    if (w == 0) {
      // Acquire pairs with the release CAS of Unlock.
      if (AsAtomic(word_).compare_exchange_weak(w, self, std::memory_order_acquire,
                                                std::memory_order_relaxed)) {
        return Acquired::kClean;
      }
      continue;
    }
    if (IsNotRecoverable(w)) return NotRecoverableError();
    if ((w & internal::kOwnerIdMask) == self) return Error(EBUSY, "trylock mutex: held by caller");
    if (TakeFromDead(self)) return Acquired::kOwnerDied;
    return Error(EBUSY, "trylock mutex");
  }
}

Result<Acquired> Mutex::LockSlow(Timeout timeout) {
  RAMS_ASSIGN_OR_RETURN(const internal::Owners owners, internal::Owners::Of(header_, "lock mutex"));
  const uint32_t self = owners.self();
  const SyncTuning tuning = owners.Tuning();
  std::atomic<uint32_t>& word = AsAtomic(word_);
  // Spin with exponential backoff: re-reading the word at once would keep
  // its cache line bouncing between the holder's core and ours.
  uint32_t backoff = 1;
  for (uint32_t spent = 0; spent < tuning.spin_iterations; spent += backoff) {
    for (uint32_t i = 0; i < backoff; ++i) internal::CpuRelax();
    if (backoff < kMaxBackoff) backoff *= 2;
    uint32_t w = word.load(std::memory_order_relaxed);  // a guess for the CAS
    if (w == 0) {
      // Acquire pairs with the release CAS of Unlock.
      if (word.compare_exchange_strong(w, self, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return Acquired::kClean;
      }
    } else if (IsNotRecoverable(w)) {
      return NotRecoverableError();
    }
  }
  internal::Deadline deadline(timeout);
  std::chrono::nanoseconds slice = tuning.first_slice;
  uint32_t watched_owner = 0;
  for (;;) {
    uint32_t w = word.load(std::memory_order_relaxed);  // a guess for the CASes
    if (w == 0) {
      // We may have been one of several waiters: keep the waiters bit so that
      // our Unlock wakes the next. Acquire pairs with the release CAS of Unlock.
      if (word.compare_exchange_weak(w, self | kWaiters, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        return Acquired::kClean;
      }
      continue;
    }
    if (IsNotRecoverable(w)) return NotRecoverableError();
    uint32_t owner = w & internal::kOwnerIdMask;
    if (owner == self) return Error(EDEADLK, "lock mutex: already held by the calling thread");
    if ((w & kWaiters) == 0) {
      // Relaxed: the bit orders no data; the holder's Unlock CAS reads it
      // from the same word (modification order), and the futex wait below
      // re-checks the word in the kernel.
      if (!word.compare_exchange_weak(w, w | kWaiters, std::memory_order_relaxed)) continue;
      w |= kWaiters;
    }
    if (owner != watched_owner) {
      watched_owner = owner;
      slice = tuning.first_slice;
    }
    // Parks until woken, the slice runs out, or the owner's alive word
    // reports its death (alive.h); the latter two lead to a liveness check,
    // so a parked waiter checks at most once per slice plus once per notice.
    // An owner on another host has no alive word here, and its release
    // wakes nobody on this host: the slice is the wake-up (capped short).
    const std::chrono::nanoseconds wait = deadline.Clip(slice);
    internal::Park park = internal::Park::kRanOut;
    if (wait <= std::chrono::nanoseconds(0)) {
      park = internal::Park::kRanOut;
    } else if (owners.remote()) {
      park = internal::ParkSlice(word_, w, wait, deadline) ? internal::Park::kRanOut
                                                           : internal::Park::kWoken;
    } else {
      park = internal::ParkWatchingOwner(&word, w, owner, wait);
    }
    if (park == internal::Park::kWoken) continue;
    if (TakeFromDead(self)) return Acquired::kOwnerDied;
    if (deadline.Expired()) return Error(ETIMEDOUT, "lock mutex");
    // After a notice the owner may still look alive for a moment (an exec
    // in progress): look again soon.
    slice = park == internal::Park::kOwnerNotice ? tuning.first_slice
                                                 : internal::NextSlice(slice, tuning);
  }
}

bool Mutex::TakeFromDead(uint32_t self) {
  std::atomic<uint32_t>& word = AsAtomic(word_);
  uint32_t w = word.load(std::memory_order_relaxed);  // a guess for the CAS
  uint32_t owner = w & internal::kOwnerIdMask;
  if (owner == 0 || owner == self) return false;
  // The caller resolved the same header: this only fails if the mapping
  // went away meanwhile, and then nothing is known to be dead.
  Result<internal::Owners> owners = internal::Owners::Of(header_, "lock mutex");
  if (!owners.ok() || owners->self() != self || owners->Alive(owner)) return false;
  // The owner is dead; only a change of owner can make the CAS fail for good.
  // Others may be parked: set the waiters bit so that our Unlock wakes one.
  // Acquire pairs with the release CAS of the Unlock before the dead owner's
  // Lock (the dead owner released nothing: its writes are what they are,
  // which kOwnerDied tells the caller).
  for (uint32_t attempt = 0; attempt < kMaxCasAttempts && (w & internal::kOwnerIdMask) == owner;
       ++attempt) {
    if (word.compare_exchange_weak(w, self | kWaiters | kOwnerDiedBit, std::memory_order_acquire,
                                   std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

Status Mutex::UnlockSlow() {
  std::atomic<uint32_t>& word = AsAtomic(word_);
  RAMS_ASSIGN_OR_RETURN(const internal::Owners owners, internal::Owners::Of(header_, "unlock mutex"));
  const uint32_t self = owners.self();
  uint32_t w = word.load(std::memory_order_relaxed);  // a guess for the CAS
  for (uint32_t attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    if ((w & internal::kOwnerIdMask) != self) {
      return Error(EPERM, "unlock mutex: not held by the calling thread");
    }
    const bool died = (w & kOwnerDiedBit) != 0;
    // Release pairs with the acquire CAS of the next locker (Lock, TryLock,
    // LockSlow, TakeFromDead) and with NotRecoverable()'s acquire load.
    if (word.compare_exchange_weak(w, died ? kNotRecoverableWord : 0, std::memory_order_release,
                                   std::memory_order_relaxed)) {
      if (died) {
        WakeWord(&word, INT_MAX);
      } else if ((w & kWaiters) != 0) {
        WakeWord(&word, 1);
      }
      return Status();
    }
  }
  return Error(EAGAIN, "unlock mutex: the lock word keeps changing under the holder");
}

void Mutex::UnlockOrDie() {
  Status s = UnlockSlow();
  RAMS_SYNC_CHECK(s.ok(), "Mutex::Unlock by a thread not holding it");
}

Status Mutex::CheckedMarkConsistent() {
  std::atomic<uint32_t>& word = AsAtomic(word_);
  RAMS_ASSIGN_OR_RETURN(const internal::Owners owners,
                        internal::Owners::Of(header_, "mark mutex consistent"));
  const uint32_t self = owners.self();
  // Relaxed: we hold it (checked here), so only we may clear the bit.
  uint32_t w = word.load(std::memory_order_relaxed);
  if ((w & internal::kOwnerIdMask) != self || (w & kOwnerDiedBit) == 0) {
    return Error(EINVAL, "mark mutex consistent: not held after an owner death");
  }
  // Relaxed: the bit publishes no data; UnlockSlow reads it back in this
  // thread, and a peer's concurrent write only changes what that CAS sees.
  word.fetch_and(~kOwnerDiedBit, std::memory_order_relaxed);
  return Status();
}

void Mutex::MarkConsistent() {
  Status s = CheckedMarkConsistent();
  RAMS_SYNC_CHECK(s.ok(), "Mutex::MarkConsistent without holding it after an owner death");
}

bool Mutex::HeldByCaller() const {
  // Relaxed: only this thread stores its own id into the word.
  uint32_t w = AsAtomic(word_).load(std::memory_order_relaxed);
  uint32_t self = internal::Owners::SelfOrZero(header_);
  return self != 0 && (w & internal::kOwnerIdMask) == self;
}

bool Mutex::NotRecoverable() const {
  // Acquire pairs with the release CAS in UnlockSlow that made it so.
  return IsNotRecoverable(AsAtomic(word_).load(std::memory_order_acquire));
}

}  // namespace rams
