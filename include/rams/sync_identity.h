// Implementation detail of the sync objects' inline fast paths (mutex.h),
// not an API: the calling thread's owner id and process domain (see
// sync_common.h for what they are), cached so that an uncontended lock needs
// no function call, and the atomic view of a shared uint32_t word.
//
// Thread safety: the caches are per thread (owner id) and per process
// (domain), refreshed after fork() by the library.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <atomic>
#include <cstdint>

namespace rams::internal {

inline constexpr uint32_t kOwnerIdMask = (1u << 30) - 1;
inline constexpr uint64_t kUnknownDomain = ~uint64_t{0};

// 0 / kUnknownDomain = not computed yet. Initial-exec TLS: no call to
// __tls_get_addr on the fast path.
extern thread_local constinit uint32_t t_self_owner_id __attribute__((tls_model("initial-exec")));
extern constinit std::atomic<uint64_t> g_self_domain;

uint32_t ComputeSelfOwnerId();
uint64_t ComputeSelfDomain();

// The calling thread's owner id (never 0).
inline uint32_t SelfOwnerId() {
  uint32_t id = t_self_owner_id;
  return id != 0 ? id : ComputeSelfOwnerId();
}

// This process's domain: a hash of the boot id (high 32 bits) and the PID
// namespace inode (low 32 bits); 0 when /proc cannot tell.
inline uint64_t SelfDomain() {
  // Relaxed: a pure function of the process, recomputed after fork.
  uint64_t domain = g_self_domain.load(std::memory_order_relaxed);
  return domain != kUnknownDomain ? domain : ComputeSelfDomain();
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
