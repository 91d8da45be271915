/* SPDX-License-Identifier: MIT */
// Implementation detail of the sync objects' inline fast paths (mutex.h),
// not an API: the calling thread's owner id and the process's domain (see
// sync_common.h for what they are), cached so that an uncontended lock needs
// no function call and no system call, and the atomic view of a shared
// uint32_t word.
//
// The caches are only trusted while they belong to this process: the
// per-process part lives in a page the kernel zeroes in any child created by
// fork, glibc's _Fork or a raw clone without CLONE_VM (MADV_WIPEONFORK), and
// each thread's cached id carries the epoch of the process that computed it.
// A child therefore recomputes instead of using its parent's id.
//
// Thread safety: the owner-id cache is per thread; the process state is
// published with release stores and read with acquire loads (owner.cc).
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <atomic>
#include <cstdint>

namespace rams::internal {

inline constexpr uint32_t kOwnerIdMask = (1u << 30) - 1;

// The per-process identity cache (owner.cc keeps it in a wipe-on-fork page).
struct ProcessIdentity {
  std::atomic<uint32_t> epoch;   // 0 = not computed in this process
  std::atomic<uint64_t> domain;  // 0 = not computed (or could not be, yet)
};

// Points at the wipe-on-fork page once it exists, before that at a zeroed
// static instance (so every cache misses). Initial-exec TLS: no call to
// __tls_get_addr on the fast path.
extern constinit std::atomic<ProcessIdentity*> g_process_identity;
// (epoch << 32) | owner id; 0 = not computed in this thread.
extern thread_local constinit uint64_t t_self_owner __attribute__((tls_model("initial-exec")));

// Slow paths: compute, cache when the answer is complete, return 0 when it
// cannot be determined now (e.g. EMFILE); errno then says why.
uint32_t ComputeSelfOwnerId();
uint64_t ComputeSelfDomain();

// The calling thread's cached owner id, 0 when not cached for this process.
inline uint32_t CachedSelfOwnerId() {
  uint64_t self = t_self_owner;
  // Acquire pairs with the release store of the page pointer in owner.cc
  // (ProcessPage). Relaxed epoch: it only names the process; only this
  // thread stored t_self_owner, after reading the same epoch.
  uint32_t epoch = g_process_identity.load(std::memory_order_acquire)
                       ->epoch.load(std::memory_order_relaxed);
  return epoch != 0 && static_cast<uint32_t>(self >> 32) == epoch ? static_cast<uint32_t>(self) : 0;
}

// The calling thread's owner id; 0 when it cannot be determined now.
inline uint32_t SelfOwnerId() {
  uint32_t id = CachedSelfOwnerId();
  return id != 0 ? id : ComputeSelfOwnerId();
}

// This process's domain: a hash of the boot id (high 32 bits) and the PID
// namespace inode (low 32 bits), kNoProcDomain where no /proc is mounted;
// 0 when it cannot be determined now.
inline constexpr uint64_t kNoProcDomain = 1;
inline uint64_t SelfDomain() {
  // Acquire pairs with the release store in ComputeSelfDomain.
  uint64_t domain = g_process_identity.load(std::memory_order_acquire)
                        ->domain.load(std::memory_order_acquire);
  return domain != 0 ? domain : ComputeSelfDomain();
}

// A plain uint32_t field of a shared object, accessed atomically. The objects
// store uint32_t (so that they are trivially copyable); std::atomic<uint32_t>
// has the same size, alignment and representation (sync_common.h).
inline std::atomic<uint32_t>& AsAtomic(uint32_t& word) {
  return *reinterpret_cast<std::atomic<uint32_t>*>(&word);
}
inline const std::atomic<uint32_t>& AsAtomic(const uint32_t& word) {
  return *reinterpret_cast<const std::atomic<uint32_t>*>(&word);
}

}  // namespace rams::internal

RAMS_API_END
