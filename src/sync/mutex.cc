// The robust Mutex. The word's transitions:
//   free (0)        -> owner            Lock/TryLock, CAS (acquire)
//   owner           -> owner|waiters    a waiter before it parks
//   owner[|waiters] -> 0                Unlock, exchange (release); wakes one
//   dead owner      -> self|waiters|died TakeFromDead, CAS (acquire)
//   self|died       -> self             MarkConsistent
//   self|died       -> not recoverable  Unlock without MarkConsistent; wakes all
#include "rams/mutex.h"

#include <cerrno>
#include <climits>
#include <new>

#include "rams/wait.h"
#include "sync/check.h"
#include "sync/owner.h"
#include "sync/park.h"

namespace rams {
namespace {

constexpr uint32_t kWaiters = 1u << 30;
constexpr uint32_t kOwnerDiedBit = 1u << 31;
constexpr uint32_t kNotRecoverableWord = kOwnerDiedBit;
constexpr uint32_t kMaxBackoff = 64;  // pauses between two looks while spinning

bool IsNotRecoverable(uint32_t w) {
  return (w & internal::kOwnerIdMask) == 0 && (w & kOwnerDiedBit) != 0;
}

Status NotRecoverableError() {
  return Error(ENOTRECOVERABLE, "lock mutex: a holder died and the state was not made consistent");
}

}  // namespace

using internal::AsAtomic;

Mutex::Mutex() : header_(internal::MakeHeader(kMagic)) {}

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
  RAMS_RETURN_IF_ERROR(internal::CheckDomain(header_, "trylock mutex"));
  uint32_t self = internal::SelfOwnerId();
  uint32_t w = AsAtomic(word_).load(std::memory_order_relaxed);
  for (;;) {
    if (w == 0) {
      // Acquire pairs with the release exchange in Unlock.
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
  RAMS_RETURN_IF_ERROR(internal::CheckDomain(header_, "lock mutex"));
  const uint32_t self = internal::SelfOwnerId();
  const SyncTuning tuning = internal::CurrentTuning();
  std::atomic<uint32_t>& word = AsAtomic(word_);
  // Spin with exponential backoff: re-reading the word at once would keep
  // its cache line bouncing between the holder's core and ours.
  uint32_t backoff = 1;
  for (uint32_t spent = 0; spent < tuning.spin_iterations; spent += backoff) {
    for (uint32_t i = 0; i < backoff; ++i) internal::CpuRelax();
    if (backoff < kMaxBackoff) backoff *= 2;
    uint32_t w = word.load(std::memory_order_relaxed);
    if (w == 0) {
      // Acquire pairs with the release exchange in Unlock.
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
    uint32_t w = word.load(std::memory_order_relaxed);
    if (w == 0) {
      // We may have been one of several waiters: keep the waiters bit so that
      // our Unlock wakes the next. Acquire pairs with Unlock's exchange.
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
      if (!word.compare_exchange_weak(w, w | kWaiters, std::memory_order_relaxed)) continue;
      w |= kWaiters;
    }
    if (owner != watched_owner) {
      watched_owner = owner;
      slice = tuning.first_slice;
    }
    if (!internal::ParkSlice(word_, w, slice, deadline)) continue;
    // The slice ran out: the owner may be dead.
    if (TakeFromDead(self)) return Acquired::kOwnerDied;
    if (deadline.Expired()) return Error(ETIMEDOUT, "lock mutex");
    slice = internal::NextSlice(slice, tuning);
  }
}

bool Mutex::TakeFromDead(uint32_t self) {
  std::atomic<uint32_t>& word = AsAtomic(word_);
  uint32_t w = word.load(std::memory_order_relaxed);
  uint32_t owner = w & internal::kOwnerIdMask;
  if (owner == 0 || owner == self || internal::OwnerAlive(owner)) return false;
  // The owner is dead; only a change of owner can make the CAS fail for good.
  // Others may be parked: set the waiters bit so that our Unlock wakes one.
  // Acquire pairs with the dead owner's last release (its Lock's CAS was
  // itself an acquire of the previous release; its writes are what they are).
  while ((w & internal::kOwnerIdMask) == owner) {
    if (word.compare_exchange_weak(w, self | kWaiters | kOwnerDiedBit, std::memory_order_acquire,
                                   std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void Mutex::UnlockSlow() {
  std::atomic<uint32_t>& word = AsAtomic(word_);
  uint32_t self = internal::SelfOwnerId();
  uint32_t w = word.load(std::memory_order_relaxed);
  RAMS_SYNC_CHECK((w & internal::kOwnerIdMask) == self, "Mutex::Unlock by a thread not holding it");
  if ((w & kOwnerDiedBit) != 0) {
    // Release pairs with the acquire load of lockers that see the state.
    word.exchange(kNotRecoverableWord, std::memory_order_release);
    WakeWord(&word, INT_MAX);
    return;
  }
  // Release pairs with the acquire CAS in Lock/TryLock/LockSlow/TakeFromDead.
  uint32_t prev = word.exchange(0, std::memory_order_release);
  if ((prev & kWaiters) != 0) WakeWord(&word, 1);
}

void Mutex::MarkConsistent() {
  std::atomic<uint32_t>& word = AsAtomic(word_);
  uint32_t w = word.load(std::memory_order_relaxed);
  RAMS_SYNC_CHECK((w & internal::kOwnerIdMask) == internal::SelfOwnerId() &&
                      (w & kOwnerDiedBit) != 0,
                  "Mutex::MarkConsistent without holding it after an owner death");
  word.fetch_and(~kOwnerDiedBit, std::memory_order_relaxed);
}

bool Mutex::HeldByCaller() const {
  uint32_t w = AsAtomic(word_).load(std::memory_order_relaxed);
  return (w & internal::kOwnerIdMask) == internal::SelfOwnerId();
}

bool Mutex::NotRecoverable() const {
  return IsNotRecoverable(AsAtomic(word_).load(std::memory_order_acquire));
}

}  // namespace rams
