/* SPDX-License-Identifier: MIT */
// Helpers every sync object uses to block: the word accessor, deadlines,
// bounded spinning and sliced parking, and the header checks.
//
// Thread safety: Deadline is a plain value for one caller; the rest is
// stateless or reads the process-wide tuning atomically.
#pragma once

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string_view>

#include "rams/backend.h"
#include "rams/status.h"
#include "rams/sync_common.h"
#include "cpu_relax.h"
#include "sync/alive.h"
#include "sync/owner.h"
#include "sync/owner_domain.h"

namespace rams::internal {

// The tuning in effect (sync_common.h), cheap to call.
SyncTuning CurrentTuning();

// A point on the steady clock derived from a Timeout (nullopt: never).
class Deadline {
 public:
  explicit Deadline(Timeout timeout);
  bool never() const { return never_; }
  // Whether the timeout was zero (a try: no spinning, no parking).
  bool zero() const { return zero_; }
  bool Expired() const;
  // How long to park: `slice`, or less when the deadline comes first.
  std::chrono::nanoseconds Clip(std::chrono::nanoseconds slice) const;

 private:
  bool never_;
  bool zero_;
  std::chrono::steady_clock::time_point at_;
};

// The next, doubled slice, bounded by the tuning's max_slice.
std::chrono::nanoseconds NextSlice(std::chrono::nanoseconds slice, const SyncTuning& tuning);

// Parks on `word` while it equals `expected`, for at most `slice` (clipped to
// the deadline). Returns true when the slice ran out (rather than a wake-up,
// a changed word or a signal).
bool ParkSlice(const uint32_t& word, uint32_t expected, std::chrono::nanoseconds slice,
               const Deadline& deadline);
// Sleeps `wait` (signals do not shorten it).
void SleepFor(std::chrono::nanoseconds wait);

// Blocks until `attempt` finishes. attempt() returns nullopt while blocked,
// else the Status to return. Spins first (not for a zero deadline), then
// parks on `word` in slices, counting itself in `waiters` so that releasers
// know to wake; `word` must change (and be woken) whenever attempt's answer
// may change. After a slice runs out calls reap(), which looks for dead
// holders and returns true when it released something. ETIMEDOUT when the
// deadline passes.
// `watch()`, read before each park, names the one holder whose death the
// waiter is waiting on (0: none or several, e.g. readers): the park then
// also ends at that holder's death notice (alive.h, ParkWatchingOwner), and
// reap() runs at once rather than at the end of the slice. It must return 0
// for an owner on another host (Owners::remote()): its alive word is not here.
// `tuning` is the object's (TuningFor, Owners::Tuning).
template <class Attempt, class Reap, class Watch>
Status BlockOn(const SyncTuning& tuning, uint32_t& word, uint32_t& waiters,
               const Deadline& deadline, Attempt attempt, Reap reap, Watch watch) {
  if (!deadline.zero()) {
    for (uint32_t i = 0; i < tuning.spin_iterations; ++i) {
      if (std::optional<Status> done = attempt()) return *std::move(done);
      CpuRelax();
    }
  }
  std::chrono::nanoseconds slice = tuning.first_slice;
  uint32_t watched = 0;
  for (;;) {
    // seq_cst: the increment comes before our read of `word` and attempt's
    // reads; a releaser changes its state, then `word`, then reads waiters.
    // Either it sees us counted, or we see its change.
    AsAtomic(waiters).fetch_add(1);
    uint32_t seen = AsAtomic(word).load();
    std::optional<Status> done = attempt();
    bool ran_out = false;
    bool notice = false;
    if (!done) {
      const uint32_t owner = watch();
      if (owner != watched) {
        watched = owner;
        slice = tuning.first_slice;  // a new holder: its own slices
      }
      const std::chrono::nanoseconds wait = deadline.Clip(slice);
      if (owner == 0 || wait <= std::chrono::nanoseconds(0)) {
        ran_out = ParkSlice(word, seen, slice, deadline);
      } else {
        const Park park = ParkWatchingOwner(&AsAtomic(word), seen, owner, wait);
        ran_out = park != Park::kWoken;
        notice = park == Park::kOwnerNotice;
      }
    }
    AsAtomic(waiters).fetch_sub(1);
    if (done) return *std::move(done);
    if (!ran_out) continue;
    if (reap()) continue;
    if (deadline.Expired()) return Error(ETIMEDOUT, "wait");
    // After a notice the holder may still look alive for a moment (an exec
    // in progress): look again soon.
    slice = notice ? tuning.first_slice : NextSlice(slice, tuning);
  }
}

template <class Attempt, class Reap>
Status BlockOn(const SyncTuning& tuning, uint32_t& word, uint32_t& waiters,
               const Deadline& deadline, Attempt attempt, Reap reap) {
  return BlockOn(tuning, word, waiters, deadline, attempt, reap, [] { return uint32_t{0}; });
}

// Bumps `word` and wakes every parked waiter if `waiters` says there may be
// some (the releasing side of BlockOn).
void BumpAndWakeAll(uint32_t& word, const uint32_t& waiters);

// Fills a header for the object at `self`: the domain of the remote mapping
// holding it (owner_domain.h), else this process's domain.
SyncHeader MakeHeader(uint32_t magic, const void* self);
// EINVAL when `header` is not an initialized object of `magic` and this
// layout version; `what` names the object for the message.
Status CheckHeader(const SyncHeader& header, uint32_t magic, std::string_view what);
// EXDEV when the caller's domain differs from the object's (owner ids would
// be meaningless), the errno (e.g. EMFILE) when ours cannot be determined
// now; ok otherwise.
Status DomainError(uint64_t object_domain, uint64_t self, std::string_view what);
// The registered remote mapping of `header`'s domain: the one holding the
// object first (a process may map a segment twice with the same domain, a
// mapping lost with an earlier directory and a new one, with different host
// indexes), else any.
std::optional<OwnerDomain> RemoteDomainOf(const SyncHeader& header);
// Objects in a remote mapping have that mapping's domain: ok when this
// process has the mapping registered.
inline Status CheckDomain(const SyncHeader& header, std::string_view what) {
  uint64_t self = SelfDomain();
  if (self != 0 && header.domain == self) [[likely]] return Status();
  if (FindOwnerDomain(header.domain)) return Status();
  return DomainError(header.domain, self, what);
}
// The calling thread's owner id, or why it cannot be determined now (the
// first call found no descriptor, say): the caller's operation fails.
Result<uint32_t> SelfOwnerIdOr(std::string_view what);

// The owner ids of one object, as its header's domain selects them: this
// process's (owner.h) or a remote mapping's (owner_domain.h).
class Owners {
 public:
  // CheckDomain's errors, and SelfOwnerIdOr's.
  static Result<Owners> Of(const SyncHeader& header, std::string_view what);
  // The caller's id, 0 when it cannot be determined now or the domain is
  // not ours (for the calls that need no error).
  static uint32_t SelfOrZero(const SyncHeader& header);

  uint32_t self() const { return self_; }
  bool remote() const { return remote_.has_value(); }
  // Only evidence of death takes a holder's place. REQUIRES: id != 0.
  bool Alive(uint32_t id) const {
    return (remote_ ? CheckRemoteOwner(*remote_, id) : CheckOwner(id)) != Liveness::kDead;
  }
  // The tuning to park with: for a remote mapping the slices stop doubling
  // at kRemoteMaxSlice, since a wake-up on another host's copy of the word
  // never reaches this host's futex (docs/remote-mapping.md).
  SyncTuning Tuning() const;

 private:
  friend SyncTuning TuningFor(const SyncHeader& header);
  uint32_t self_ = 0;
  std::optional<OwnerDomain> remote_;
};
inline constexpr std::chrono::nanoseconds kRemoteMaxSlice = std::chrono::milliseconds(2);
// The tuning to park on an object with `header` (Owners::Tuning's rule),
// for the objects without owners.
SyncTuning TuningFor(const SyncHeader& header);

}  // namespace rams::internal
