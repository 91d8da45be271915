// SPDX-License-Identifier: MIT
// The robust Barrier. state_ changes by CAS only: +1 per arrival, a new
// generation (arrivals 0) on the last one, the broken bit when a member died
// or timed out.
#include "rams/barrier.h"

#include <cerrno>
#include <climits>
#include <new>

#include "rams/wait.h"
#include "sync/check.h"
#include "sync/owner.h"
#include "sync/park.h"

namespace rams {
namespace {

constexpr uint32_t kBrokenBit = 1u << 31;
constexpr uint32_t kArrivalMask = 0xff;
constexpr uint32_t kGenerationShift = 8;
constexpr uint32_t kGenerationMask = (1u << 23) - 1;
constexpr uint32_t kMemberDied = 1;
constexpr uint32_t kTimedOut = 2;

uint32_t GenerationOf(uint32_t state) { return (state >> kGenerationShift) & kGenerationMask; }
uint32_t NextGeneration(uint32_t state) {
  return ((GenerationOf(state) + 1) & kGenerationMask) << kGenerationShift;
}

}  // namespace

using internal::AsAtomic;

Barrier::Barrier(uint32_t parties) : header_(internal::MakeHeader(kMagic, this)), parties_(parties) {
  RAMS_SYNC_CHECK(parties >= 1 && parties <= kMaxParties, "Barrier parties out of range");
}

Result<Barrier*> Barrier::Attach(void* at) {
  RAMS_SYNC_CHECK(reinterpret_cast<uintptr_t>(at) % 8 == 0, "Barrier::Attach: misaligned");
  auto* b = std::launder(reinterpret_cast<Barrier*>(at));
  RAMS_RETURN_IF_ERROR(internal::CheckHeader(b->header_, kMagic, "attach barrier"));
  for (uint32_t r : b->reserved_) {
    if (r != 0) return Error(EINVAL, "attach barrier: reserved field not zero");
  }
  RAMS_RETURN_IF_ERROR(b->Parties("attach barrier").status());
  return b;
}

// parties_ lives in shared memory: read it once per call and bound it, so a
// peer that rewrites it cannot make a loop scan past members_.
Result<uint32_t> Barrier::Parties(std::string_view what) const {
  // Relaxed: constant after construction for honest users; a changed value
  // only has to stay in bounds.
  uint32_t parties = AsAtomic(parties_).load(std::memory_order_relaxed);
  if (parties < 1 || parties > kMaxParties) {
    return Error(EINVAL, std::string(what) + ": parties " + std::to_string(parties) +
                             " not in 1.." + std::to_string(kMaxParties));
  }
  return parties;
}

Status Barrier::Join() {
  RAMS_ASSIGN_OR_RETURN(const internal::Owners owners, internal::Owners::Of(header_, "join barrier"));
  RAMS_ASSIGN_OR_RETURN(const uint32_t parties, Parties("join barrier"));
  const uint32_t self = owners.self();
  uint32_t used = 0;
  for (uint32_t i = 0; i < parties; ++i) {
    // Relaxed: a slot only names its holder; liveness checks need no order.
    uint32_t id = AsAtomic(members_[i]).load(std::memory_order_relaxed);
    if (id == self) return Status();
    used += id != 0;
  }
  if (used < parties) {
    for (uint32_t i = 0; i < parties; ++i) {
      uint32_t expected = 0;
      // Relaxed: as above.
      if (AsAtomic(members_[i]).compare_exchange_strong(expected, self, std::memory_order_relaxed)) {
        return Status();
      }
    }
  }
  return Error(EBUSY, "join barrier: all " + std::to_string(parties) + " members have joined");
}

void Barrier::Leave() {
  uint32_t self = internal::Owners::SelfOrZero(header_);
  if (self == 0) return;  // never joined under an id we could not compute
  for (uint32_t& member : members_) {
    uint32_t expected = self;
    // Relaxed: as in Join.
    if (AsAtomic(member).compare_exchange_strong(expected, 0, std::memory_order_relaxed)) return;
  }
}

Result<bool> Barrier::Wait(Timeout timeout) { return Wait(timeout, nullptr); }

Result<bool> Barrier::Wait(Timeout timeout, const std::atomic<bool>* cancel) {
  RAMS_RETURN_IF_ERROR(Join());
  RAMS_ASSIGN_OR_RETURN(const uint32_t parties, Parties("wait on barrier"));
  std::atomic<uint32_t>& state = AsAtomic(state_);
  uint32_t s = state.load();
  uint32_t generation;
  for (;;) {
    if ((s & kBrokenBit) != 0) return BrokenError();
    if ((s & kArrivalMask) + 1 >= parties) {
      // Last: start the next generation. seq_cst (release at least): the
      // others' work before arriving happens-before ours after, and ours
      // before theirs (pairs with the loads in `passed`).
      if (state.compare_exchange_weak(s, NextGeneration(s))) {
        if (AsAtomic(waiters_).load() != 0) WakeWord(&state, INT_MAX);
        return true;
      }
      continue;
    }
    if (state.compare_exchange_weak(s, s + 1)) {
      generation = GenerationOf(s);
      break;
    }
  }
  const uint32_t self = internal::Owners::SelfOrZero(header_);
  auto passed = [&]() -> std::optional<Status> {
    uint32_t now = state.load();
    if (GenerationOf(now) != generation) return Status();
    if ((now & kBrokenBit) != 0) return BrokenError();
    // Relaxed: the flag carries no data; a late look costs one more slice.
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      return Error(ECANCELED, "wait on barrier: cancelled");
    }
    return std::nullopt;
  };
  internal::Deadline deadline(timeout);
  // Reap only while our generation is open: once it completed, its members
  // may leave and exit before we look (ReapDeadMembers looks again).
  Status st = internal::BlockOn(internal::TuningFor(header_), state_, waiters_, deadline, passed, [&] {
    return GenerationOf(state.load()) == generation && ReapDeadMembers(self, parties, generation);
  });
  if (st.ok()) return false;
  if (st.code() != ECANCELED && st.code() != ETIMEDOUT) return st;
  // Cancelled or timed out: break it unless the generation completed
  // meanwhile (then this wait succeeded after all).
  switch (BreakGeneration(generation, st.code() == ETIMEDOUT ? kTimedOut : kMemberDied)) {
    case Broke::kGenerationDone:
      return false;
    case Broke::kNow:
      return st.code() == ETIMEDOUT ? Error(ETIMEDOUT, "wait on barrier (now broken)") : st;
    case Broke::kAlready:
      break;
  }
  return st.code() == ECANCELED ? st : BrokenError();
}

bool Barrier::ReapDeadMembers(uint32_t self, uint32_t parties, uint32_t generation) {
  Result<internal::Owners> owners = internal::Owners::Of(header_, "wait on barrier");
  if (!owners.ok()) return false;  // nothing is known to be dead
  for (uint32_t i = 0; i < parties; ++i) {
    // Relaxed: as in Join.
    uint32_t id = AsAtomic(members_[i]).load(std::memory_order_relaxed);
    if (id == 0 || id == self || owners->Alive(id)) continue;
    // A member that finished, left and exited between our load and its
    // check is no dead member. seq_cst: its Leave preceded the exit that
    // the check saw.
    if (AsAtomic(members_[i]).load() != id) continue;
    // Nor is one that exited after our generation completed: the scan is
    // slow, and the generation may have completed (and its members gone)
    // since the caller looked. BreakGeneration looks again, atomically.
    BreakGeneration(generation, kMemberDied);
    return true;
  }
  return false;
}

void Barrier::Break(uint32_t reason) {
  // Relaxed: published by the seq_cst fetch_or below; read after seeing the bit.
  AsAtomic(broken_reason_).store(reason, std::memory_order_relaxed);
  AsAtomic(state_).fetch_or(kBrokenBit);
  WakeWord(&AsAtomic(state_), INT_MAX);
}

bool Barrier::ReapDeadMembers(uint32_t self, uint32_t parties) {
  return ReapDeadMembers(self, parties, GenerationOf(AsAtomic(state_).load()));
}

Barrier::Broke Barrier::BreakGeneration(uint32_t generation, uint32_t reason) {
  std::atomic<uint32_t>& state = AsAtomic(state_);
  uint32_t s = state.load();
  for (;;) {
    if (GenerationOf(s) != generation) return Broke::kGenerationDone;
    if ((s & kBrokenBit) != 0) return Broke::kAlready;
    // Relaxed: published by the seq_cst CAS below; read after seeing the bit.
    AsAtomic(broken_reason_).store(reason, std::memory_order_relaxed);
    if (state.compare_exchange_weak(s, s | kBrokenBit)) break;
  }
  WakeWord(&state, INT_MAX);
  return Broke::kNow;
}

Status Barrier::BrokenError() const {
  // Relaxed: read after a seq_cst load saw the broken bit, which was set
  // (seq_cst) after this store in BreakGeneration (or the old Break).
  uint32_t reason = AsAtomic(broken_reason_).load(std::memory_order_relaxed);
  return Error(EPIPE, reason == kTimedOut ? "barrier broken: a member timed out"
                                          : "barrier broken: a member died");
}

void Barrier::Reset() {
  Result<internal::Owners> owners = internal::Owners::Of(header_, "reset barrier");
  for (uint32_t& member : members_) {
    // Relaxed: as in Join.
    uint32_t id = AsAtomic(member).load(std::memory_order_relaxed);
    if (id != 0 && owners.ok() && !owners->Alive(id)) {
      AsAtomic(member).compare_exchange_strong(id, 0, std::memory_order_relaxed);
    }
  }
  // Relaxed: published by the seq_cst store of state_ below.
  AsAtomic(broken_reason_).store(0, std::memory_order_relaxed);
  AsAtomic(state_).store(NextGeneration(AsAtomic(state_).load()));
  WakeWord(&AsAtomic(state_), INT_MAX);
}

bool Barrier::Broken() const { return (AsAtomic(state_).load() & kBrokenBit) != 0; }

uint32_t Barrier::Generation() const { return GenerationOf(AsAtomic(state_).load()); }

uint32_t Barrier::parties() const {
  // Relaxed: see Parties.
  return AsAtomic(parties_).load(std::memory_order_relaxed);
}

}  // namespace rams
