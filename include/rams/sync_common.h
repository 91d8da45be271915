/* SPDX-License-Identifier: MIT */
// What every rams synchronization object (Mutex, CondVar, RwLock, Semaphore,
// Barrier) shares: the header at the front of its shared-memory layout, the
// outcome of an acquisition that may find a dead holder, and the process-wide
// spin/park tuning. The objects live inside segment memory, hold no pointers,
// are trivially copyable and standard-layout, and are built only on
// WaitWord/WakeWord (wait.h), so they work unchanged on every backend.
//
// Owners are identified by a 30-bit id stored in the object: the thread's id
// (gettid(), in its PID namespace) in the low 22 bits and an 8-bit tag of the
// thread's incarnation (start time and program) in the high 8 bits. A waiter
// that has parked for a bounded slice checks whether the owner still lives
// (/proc/<pid>/task/<tid>/stat when /proc can be believed: present, not a
// zombie, not exiting, same tag; else kill(tid, 0) and a pidfd). "Cannot
// tell" never counts as dead. The id is only meaningful inside one PID
// namespace on one boot of one host, so every object records that domain when
// it is initialized and refuses acquisitions from another one (EXDEV). An
// object initialized inside a remotely mapped segment records the mapping's
// domain instead, and its owner ids name the host: (host index << 22) | tid,
// the index handed out by the segment's home, whose lease on that host's
// connection says when its owners are dead. See docs/sync.md.
//
// Thread safety: SetSyncTuning/GetSyncTuning are safe from any thread; the
// types here are plain values.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace rams {

// Layout version of every sync object; bumped when any layout changes.
inline constexpr uint16_t kSyncLayoutVersion = 1;

// The first 16 bytes of every sync object in shared memory.
struct SyncHeader {
  uint32_t magic = 0;     // per type, e.g. "RMTX" for Mutex
  uint16_t version = 0;   // kSyncLayoutVersion
  uint16_t reserved = 0;  // must be zero
  uint64_t domain = 0;    // boot and PID namespace (or remote mapping) of the owner ids
};
static_assert(sizeof(SyncHeader) == 16);
static_assert(offsetof(SyncHeader, domain) == 8);
static_assert(std::is_trivially_copyable_v<SyncHeader> && std::is_standard_layout_v<SyncHeader>);

// Every shared word is a plain uint32_t accessed as std::atomic<uint32_t>.
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
              alignof(std::atomic<uint32_t>) == alignof(uint32_t));

// How an acquisition went when it succeeded. Every acquiring call returns an
// error Status exactly when it did NOT acquire.
enum class Acquired : uint32_t {
  kClean = 0,       // the previous holder released normally
  kOwnerDied = 1,   // a holder died while holding it; the protected state may
                    // be inconsistent (Mutex: call MarkConsistent() or the
                    // mutex becomes not recoverable at Unlock)
  kReaderDied = 2,  // RwLock only: a reader died holding it; it was released
                    // (readers do not modify, so the state is consistent)
};

// Process-wide spin/park policy. A blocked caller first spins
// `spin_iterations` times (a CPU pause each, a few ns), then parks on the
// word in slices starting at `first_slice` and doubling up to `max_slice`;
// after each slice it checks whether the holder died. max_slice bounds how
// long a death stays unnoticed.
struct SyncTuning {
  uint32_t spin_iterations = 100;
  std::chrono::nanoseconds first_slice = std::chrono::microseconds(500);
  std::chrono::nanoseconds max_slice = std::chrono::milliseconds(100);
};

// Defaults come from SyncTuning{}, with spin_iterations overridden by the
// environment variable RAMS_SYNC_SPIN when set. REQUIRES: 0 < first_slice <=
// max_slice <= 1 s, spin_iterations <= 1,000,000.
void SetSyncTuning(const SyncTuning& tuning);
SyncTuning GetSyncTuning();

// now + timeout on the steady clock, saturating at time_point::max() instead
// of overflowing (a timeout of INT64_MAX ns means "about forever"); a
// negative timeout counts as zero.
inline std::chrono::steady_clock::time_point DeadlineAfter(std::chrono::nanoseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point now = Clock::now();
  if (timeout <= std::chrono::nanoseconds(0)) return now;
  if (timeout >= Clock::time_point::max() - now) return Clock::time_point::max();
  return now + std::chrono::duration_cast<Clock::duration>(timeout);
}

}  // namespace rams

RAMS_API_END
