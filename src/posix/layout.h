/* SPDX-License-Identifier: MIT */
// The shared state of a posix-backend segment: the first page of the POSIX
// shm object /dev/shm/rams.<name>, followed by the segment's data. Every
// process that attaches maps it; it holds only offsets and plain values.
//
// Thread safety: `io_mu` (a robust, process-shared mutex) guards the lock
// table and every Read/Write copy, which is what makes each Read and Write
// atomic with respect to the others. `state` and `lock_generation` are
// atomics read without it.
//
// Invariants:
//  1. magic, layout_version, size_bytes, data_offset and created_unix_ns are
//     constant once state == kStateReady.
//  2. A lock entry is live iff (flags & kLockInUse); its other fields are
//     written before that bit is set and not touched after it is cleared.
//  3. lock_generation changes (and waiters are woken) whenever an entry is
//     released.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rams::posix {

inline constexpr uint64_t kMagic = 0x31585350534d4152;  // "RAMSPSX1", little-endian
inline constexpr uint32_t kLayoutVersion = 1;
inline constexpr uint32_t kStateReady = 1;
inline constexpr uint64_t kHeaderBytes = 4096;  // data starts page-aligned
inline constexpr uint32_t kMaxRangeLocks = 48;

inline constexpr uint32_t kLockInUse = 1u << 0;
inline constexpr uint32_t kLockWriteLease = 1u << 1;  // released after writes_left writes

struct LockEntry {
  uint64_t offset;
  uint64_t len;
  uint64_t lock_id;
  uint64_t owner_attachment_id;     // the Attachment that holds it
  uint64_t owner_start_time;  // owner's start time in clock ticks, against pid reuse
  int32_t owner_pid;
  uint32_t writes_left;
  uint32_t flags;
  uint32_t reserved;  // zero
};
static_assert(sizeof(LockEntry) == 56);

struct Header {
  uint64_t magic;
  uint32_t layout_version;
  std::atomic<uint32_t> state;  // kStateReady once initialized
  uint64_t size_bytes;          // data bytes
  uint64_t data_offset;         // = kHeaderBytes
  int64_t created_unix_ns;
  uint32_t lock_capacity;                  // = kMaxRangeLocks
  std::atomic<uint32_t> lock_generation;   // futex word: bumped on every release
  uint64_t next_lock_id;                   // guarded by io_mu
  uint64_t reserved[4];                    // zero
  pthread_mutex_t io_mu;                   // robust, process-shared
  LockEntry locks[kMaxRangeLocks];         // guarded by io_mu
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(offsetof(Header, state) == 12);
static_assert(offsetof(Header, io_mu) == 88);
// pthread_mutex_t is 40 bytes on glibc x86_64 and 48 on aarch64, so `locks`
// starts at a different offset on each: a segment is shared only by the
// processes of one machine, which all use that machine's ABI. What the layout
// needs on every ABI is that the mutex keeps the entries 8-byte aligned and
// that the whole header fits in its page.
static_assert(alignof(pthread_mutex_t) <= 8 && sizeof(pthread_mutex_t) % 8 == 0);
static_assert(offsetof(Header, locks) == offsetof(Header, io_mu) + sizeof(pthread_mutex_t));
static_assert(sizeof(Header) <= kHeaderBytes, "the posix header must fit in its page");

}  // namespace rams::posix
