// SPDX-License-Identifier: MIT
// The robust RwLock. Readers and the writer meet Dekker-style: a reader
// claims a slot, then looks at the writer word; a writer claims the writer
// word, then looks at the slots (all seq_cst), so at least one sees the
// other. Every release bumps epoch_ and wakes, which is what BlockOn parks on.
#include "rams/rwlock.h"

#include <cerrno>
#include <new>

#include "sync/check.h"
#include "sync/owner.h"
#include "sync/park.h"

namespace rams {
namespace {

constexpr uint32_t kActive = 1u << 30;     // in writer_: the readers have drained
constexpr uint32_t kWriterDied = 1u << 0;  // in died_
constexpr uint32_t kReaderDied = 1u << 1;

uint32_t FirstSlot(uint32_t self) { return (self * 2654435761u) % RwLock::kReaderSlots; }

// The writer (in `writer`, RwLock::writer_) whose death a waiter can be told
// of early (alive.h): the exclusive holder, or a writer waiting for readers
// to drain, which keeps new readers out as much. Readers are many: their
// deaths are still found when a slice runs out.
uint32_t WriterToWatch(uint32_t& writer, const internal::Owners& owners) {
  if (owners.remote()) return 0;  // another host's threads have no alive word here
  // Relaxed: a hint for the park; futex_waitv re-reads the words it waits on.
  uint32_t id = internal::AsAtomic(writer).load(std::memory_order_relaxed) & internal::kOwnerIdMask;
  return id == owners.self() ? 0 : id;
}

}  // namespace

using internal::AsAtomic;

RwLock::RwLock() : header_(internal::MakeHeader(kMagic, this)) {}

Result<RwLock*> RwLock::Attach(void* at) {
  RAMS_SYNC_CHECK(reinterpret_cast<uintptr_t>(at) % 8 == 0, "RwLock::Attach: misaligned");
  auto* rw = std::launder(reinterpret_cast<RwLock*>(at));
  RAMS_RETURN_IF_ERROR(internal::CheckHeader(rw->header_, kMagic, "attach rwlock"));
  for (uint32_t r : rw->reserved_) {
    if (r != 0) return Error(EINVAL, "attach rwlock: reserved field not zero");
  }
  return rw;
}

Acquired RwLock::TakeReport(bool exclusive) {
  std::atomic<uint32_t>& died = AsAtomic(died_);
  // Relaxed: a fast look; a report is taken by the seq_cst exchange or
  // fetch_and below, and we already hold the lock (acquired seq_cst).
  if (died.load(std::memory_order_relaxed) == 0) [[likely]] return Acquired::kClean;
  if (exclusive) {
    // The exclusive holder repairs: the report ends with it.
    uint32_t d = died.exchange(0);
    if ((d & kWriterDied) != 0) return Acquired::kOwnerDied;
    return (d & kReaderDied) != 0 ? Acquired::kReaderDied : Acquired::kClean;
  }
  // Readers cannot repair: a writer's death stays reported until a writer
  // takes it. A reader's death (harmless) is told once.
  if ((died.load() & kWriterDied) != 0) return Acquired::kOwnerDied;
  uint32_t d = died.fetch_and(~kReaderDied);
  return (d & kReaderDied) != 0 ? Acquired::kReaderDied : Acquired::kClean;
}

void RwLock::Notify() { internal::BumpAndWakeAll(epoch_, waiters_); }

std::optional<Status> RwLock::TryAcquireShared(uint32_t self) {
  if (AsAtomic(writer_).load() != 0) return std::nullopt;
  uint32_t first = FirstSlot(self);
  for (uint32_t i = 0; i < kReaderSlots; ++i) {
    uint32_t& slot = readers_[(first + i) % kReaderSlots];
    uint32_t expected = 0;
    // Relaxed: a guess; the seq_cst CAS below decides.
    if (AsAtomic(slot).load(std::memory_order_relaxed) != 0) continue;
    // seq_cst: the slot claim precedes our second look at writer_; pairs
    // with ClaimWriter's CAS and Readers' loads.
    if (!AsAtomic(slot).compare_exchange_strong(expected, self)) continue;
    if (AsAtomic(writer_).load() == 0) return Status();
    AsAtomic(slot).store(0);  // a writer came first: back off
    Notify();                 // it may be waiting for this slot
    return std::nullopt;
  }
  return std::nullopt;  // every slot taken
}

Result<Acquired> RwLock::LockShared(Timeout timeout) {
  RAMS_ASSIGN_OR_RETURN(const internal::Owners owners,
                        internal::Owners::Of(header_, "lock rwlock shared"));
  const uint32_t self = owners.self();
  // Relaxed: only this thread stores its own id into writer_.
  if ((AsAtomic(writer_).load(std::memory_order_relaxed) & internal::kOwnerIdMask) == self) {
    return Error(EDEADLK, "lock rwlock shared: the calling thread holds it exclusively");
  }
  internal::Deadline deadline(timeout);
  Status s = internal::BlockOn(
      owners.Tuning(), epoch_, waiters_, deadline, [&] { return TryAcquireShared(self); },
      [&] { return ReapDeadWriter(self) || ReapDeadReaders(); }, [&] { return WriterToWatch(writer_, owners); });
  if (!s.ok()) {
    if (s.code() == ETIMEDOUT && deadline.zero()) return Error(EBUSY, "trylock rwlock shared");
    return Error(s.code(), "lock rwlock shared");
  }
  return TakeReport(/*exclusive=*/false);
}

Result<Acquired> RwLock::TryLockShared() { return LockShared(std::chrono::nanoseconds(0)); }

Status RwLock::CheckedUnlockShared() {
  uint32_t self = internal::Owners::SelfOrZero(header_);
  uint32_t first = FirstSlot(self);
  for (uint32_t i = 0; self != 0 && i < kReaderSlots; ++i) {
    uint32_t& slot = readers_[(first + i) % kReaderSlots];
    uint32_t expected = self;
    // seq_cst: pairs with Readers' loads; orders our reads before a
    // writer's writes. A CAS, so that a slot a peer rewrote stays theirs.
    if (AsAtomic(slot).compare_exchange_strong(expected, 0)) {
      Notify();
      return Status();
    }
  }
  return Error(EPERM, "unlock rwlock shared: not held shared by the calling thread");
}

void RwLock::UnlockShared() {
  Status s = CheckedUnlockShared();
  RAMS_SYNC_CHECK(s.ok(), "RwLock::UnlockShared by a thread not holding it shared");
}

bool RwLock::ClaimWriter(uint32_t self) {
  uint32_t expected = 0;
  // seq_cst: pairs with TryAcquireShared's slot claim and writer_ loads.
  return AsAtomic(writer_).compare_exchange_strong(expected, self);
}

RwLock::ReaderState RwLock::Readers(uint32_t self) {
  ReaderState state = ReaderState::kNone;
  for (uint32_t& slot : readers_) {
    // seq_cst: pairs with TryAcquireShared's slot claim (see the top).
    uint32_t id = AsAtomic(slot).load();
    if (id == self) return ReaderState::kCaller;
    if (id != 0) state = ReaderState::kOthers;
  }
  return state;
}

Result<Acquired> RwLock::Lock(Timeout timeout) {
  RAMS_ASSIGN_OR_RETURN(const internal::Owners owners, internal::Owners::Of(header_, "lock rwlock"));
  const uint32_t self = owners.self();
  // Relaxed: only this thread stores its own id into writer_.
  if ((AsAtomic(writer_).load(std::memory_order_relaxed) & internal::kOwnerIdMask) == self) {
    return Error(EDEADLK, "lock rwlock: the calling thread holds it exclusively");
  }
  internal::Deadline deadline(timeout);
  auto claim = [&]() -> std::optional<Status> {
    if (ClaimWriter(self)) return Status();
    return std::nullopt;
  };
  Status s = internal::BlockOn(owners.Tuning(), epoch_, waiters_, deadline, claim,
                               [&] { return ReapDeadWriter(self); }, [&] { return WriterToWatch(writer_, owners); });
  if (s.ok()) {
    // Readers that came before us drain; new ones back off.
    auto drained = [&]() -> std::optional<Status> {
      switch (Readers(self)) {
        case ReaderState::kNone: return Status();
        case ReaderState::kOthers: return std::nullopt;
        case ReaderState::kCaller: return Error(EDEADLK, "the calling thread holds it shared");
      }
      return std::nullopt;
    };
    s = internal::BlockOn(owners.Tuning(), epoch_, waiters_, deadline, drained, [&] { return ReapDeadReaders(); });
    if (!s.ok()) {
      AsAtomic(writer_).store(0);  // give up: let the readers in again
      Notify();
    }
  }
  if (!s.ok()) {
    if (s.code() == ETIMEDOUT && deadline.zero()) return Error(EBUSY, "trylock rwlock");
    return Error(s.code(), "lock rwlock");
  }
  // Relaxed: only we change writer_ now, and readers only test it for
  // non-zero, which ClaimWriter's seq_cst CAS already published.
  AsAtomic(writer_).store(self | kActive, std::memory_order_relaxed);
  return TakeReport(/*exclusive=*/true);
}

Result<Acquired> RwLock::TryLock() { return Lock(std::chrono::nanoseconds(0)); }

Status RwLock::CheckedUnlock() {
  uint32_t self = internal::Owners::SelfOrZero(header_);
  uint32_t expected = self | kActive;
  // seq_cst: our writes happen-before a reader that sees writer_ == 0 (pairs
  // with TryAcquireShared's loads). A CAS: a word a peer rewrote is not ours.
  if (self == 0 || !AsAtomic(writer_).compare_exchange_strong(expected, 0)) {
    return Error(EPERM, "unlock rwlock: not held exclusively by the calling thread");
  }
  Notify();
  return Status();
}

void RwLock::Unlock() {
  Status s = CheckedUnlock();
  RAMS_SYNC_CHECK(s.ok(), "RwLock::Unlock by a thread not holding it exclusively");
}

// A reaper first takes the dead holder's place (CAS to its own id), then
// records the death, then releases: so exactly one reaper records each death,
// and nobody can acquire between the release and the record. A reaper that
// dies in between is itself a dead holder, reaped the same way.
bool RwLock::ReapDeadWriter(uint32_t self) {
  uint32_t w = AsAtomic(writer_).load();
  uint32_t owner = w & internal::kOwnerIdMask;
  if (owner == 0 || owner == self) return false;
  Result<internal::Owners> owners = internal::Owners::Of(header_, "lock rwlock");
  if (!owners.ok() || owners->Alive(owner)) return false;  // nothing known dead
  if (!AsAtomic(writer_).compare_exchange_strong(w, self | (w & kActive))) return false;
  if ((w & kActive) != 0) AsAtomic(died_).fetch_or(kWriterDied);
  AsAtomic(writer_).store(0);
  Notify();
  return true;
}

bool RwLock::ReapDeadReaders() {
  Result<internal::Owners> owners = internal::Owners::Of(header_, "lock rwlock");
  if (!owners.ok()) return false;  // nothing is known to be dead
  const uint32_t self = owners->self();
  bool reaped = false;
  for (uint32_t& slot : readers_) {
    uint32_t id = AsAtomic(slot).load();
    if (id == 0 || id == self || owners->Alive(id)) continue;
    if (!AsAtomic(slot).compare_exchange_strong(id, self)) continue;
    AsAtomic(died_).fetch_or(kReaderDied);
    AsAtomic(slot).store(0);
    reaped = true;
  }
  if (reaped) Notify();
  return reaped;
}

}  // namespace rams
