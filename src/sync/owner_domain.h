/* SPDX-License-Identifier: MIT */
// Owner domains of remote mappings: the owner ids of a sync object that lives
// in a remotely mapped segment name a host, not just a thread
// (docs/sync.md "Owner identity across hosts", docs/remote-mapping.md
// "Owners across hosts").
//
// Such an object's header carries the segment's *mapping domain* (a value
// its home hands out, new at every ramsd start) instead of a PID namespace's
// domain. Its owner ids are (host index << 22) | thread id: the host index
// (1..255) comes from a per-segment table the home keeps, one entry per host
// and PID namespace that maps the segment; the thread id is in that PID
// namespace. A mapping registers its address range here with its domain, the
// caller's host index and how to ask the home about the other hosts:
//  - an owner of our own index is checked locally (the thread id only: no
//    incarnation tag fits beside the index; a reused tid looks alive, which
//    errs on the safe side);
//  - an owner of another index is dead when the home reports that index's
//    host gone (its connection ended or was cut off), or, its host being
//    live, when that host's pager reports the thread gone (a process that
//    died on a host whose pager lives on); anything else, including a home
//    that cannot be reached, is "cannot tell".
//
// Thread safety: the table is written under a mutex and read without one,
// as wait.cc's; using a word of a mapping while it is being unregistered is
// a programmer error (the memory is about to be unmapped).
#pragma once

#include <cstdint>
#include <optional>

#include "rams/status.h"
#include "sync/owner.h"

namespace rams::internal {

inline constexpr uint32_t kMaxHostIndex = 255;  // 8 bits beside the 22-bit thread id
inline constexpr uint32_t kOwnerHostShift = 22;

inline uint32_t OwnerHostIndex(uint32_t id) { return (id & kOwnerIdMask) >> kOwnerHostShift; }
inline uint32_t MakeRemoteOwnerId(uint32_t host_index, uint32_t tid) {
  return (host_index << kOwnerHostShift) | (tid & kOwnerTidMask);
}

// What the home says about the hosts of one mapping domain.
class HostLiveness {
 public:
  virtual ~HostLiveness() = default;
  // kDead only when the home reports host `index` gone; kUnknown when it
  // cannot be asked now. Called from any thread, after a parking slice.
  virtual Liveness CheckHost(uint32_t index) = 0;
  // Thread `tid` of live host `index`, as that host's pager sees it (the
  // home asks it): kDead only when the pager says so.
  virtual Liveness CheckThread(uint32_t index, uint32_t tid) {
    (void)index;
    (void)tid;
    return Liveness::kUnknown;
  }
};

struct OwnerDomain {
  uint64_t domain = 0;      // the mapping domain (SyncHeader::domain)
  uint32_t host_index = 0;  // the caller's index in it, 1..kMaxHostIndex
  HostLiveness* liveness = nullptr;
};

// Registers [base, base + len) as memory of `d`'s mapping. ENOSPC when 64
// mappings are registered. REQUIRES: d.domain not a local domain value
// (0 or kNoProcDomain), 1 <= d.host_index <= kMaxHostIndex, d.liveness
// outlives the registration.
Status RegisterOwnerDomain(const void* base, uint64_t len, const OwnerDomain& d);
void UnregisterOwnerDomain(const void* base);

// The domain of the mapping holding `addr` (an object being constructed).
std::optional<OwnerDomain> OwnerDomainAt(const void* addr);
// A registered mapping of domain `domain` (an object being used).
std::optional<OwnerDomain> FindOwnerDomain(uint64_t domain);

// Liveness of owner `id` of domain `d` (see the top). REQUIRES: id != 0.
Liveness CheckRemoteOwner(const OwnerDomain& d, uint32_t id);

}  // namespace rams::internal
