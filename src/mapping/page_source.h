/* SPDX-License-Identifier: MIT */
// The client side of rams' page-coherence protocol, as the host pager sees it:
// one PageSource per (host, remote segment). Implemented over the wire by
// WirePageSource (src/mapping/wire_page_source.*) and in tests by a fake
// directory. Pages are kPageBytes (4 KiB) whatever the kernel page size.
//
// Thread safety: Get/Put/Drop may be called from several threads at once;
// the sink's callbacks arrive on one thread, in the order the home sent them.
#pragma once
#include <cerrno>
#include <cstdint>
#include <span>
#include <vector>
#include "rams/status.h"

namespace rams::mapping {

inline constexpr uint64_t kPageBytes = 4096;

enum class Access : uint8_t { kRead = 1, kWrite = 2 };

struct Grant {
  uint64_t version = 0;      // the page's version at the home after this grant
  bool data_included = false; // false: upgrade with an unchanged version, keep the local copy
};

struct OwnerIndex {
  uint64_t domain = 0;      // the segment's mapping domain (SyncHeader::domain)
  uint32_t host_index = 0;  // 1..255
};

// A page granted shared ahead of a read miss (read-ahead).
struct AheadGrant {
  uint64_t page = 0;
  uint64_t version = 0;
  std::vector<std::byte> data;  // kPageBytes; empty: this host holds the page exclusively
};

// Bound on the pages one read miss asks for (the protocol's, docs/protocol.md §8).
inline constexpr uint32_t kMaxReadAheadPages = 64;

// Pushes from the home, handled by the host pager. Each returns the bytes
// the home must get back: the page's data when the local copy was dirty
// (written since it was granted exclusively), empty otherwise.
class CoherenceSink {
 public:
  virtual ~CoherenceSink() = default;
  // Drop every local copy of `page` (no local process may read it after return).
  // Fill `dirty_out` (kPageBytes) and set *dirty when the copy was written.
  // `version` is the page's version at the home when it sent the recall: a
  // recall of the copy held here names that copy's version, one sent after
  // a grant to this host names at least the grant's.
  virtual Status Invalidate(uint64_t page, uint64_t version, std::span<std::byte> dirty_out,
                            bool* dirty) = 0;
  // Make `page` read-only everywhere on this host; same dirty rule.
  virtual Status Downgrade(uint64_t page, uint64_t version, std::span<std::byte> dirty_out,
                           bool* dirty) = 0;
  // The home is gone or the session broke: fail every pending and future fault clearly.
  virtual void Lost(Status why) = 0;
  // The home reports that exclusive copies of some of the segment's pages
  // were lost with the host that held them (they fell back to the home's
  // last version): tell the segment's users.
  virtual void PagesLost() = 0;
};

class PageSource {
 public:
  virtual ~PageSource() = default;
  virtual uint64_t SizeBytes() const = 0;
  virtual bool ReadOnly() const = 0;
  // Asks the home for `page` with `access`. `have_version` is the version of
  // the local copy (0: none). Fills `data` (kPageBytes) when the grant
  // includes data. Blocks until granted, refused, or timed out (ETIMEDOUT).
  virtual Result<Grant> Get(uint64_t page, Access access, uint64_t have_version,
                            std::span<std::byte> data) = 0;
  // A read of `page` as Get, asking the home for up to `count - 1` following
  // pages as well (1 <= count <= kMaxReadAheadPages, the range inside the
  // segment). The home grants those it can grant shared at once, each
  // appended to `ahead` in increasing page order; this host is then a sharer
  // of each, whether or not it installs them.
  virtual Result<Grant> GetAhead(uint64_t page, uint32_t count, uint64_t have_version,
                                 std::span<std::byte> data, std::vector<AheadGrant>* ahead) = 0;
  // Writes a dirty page back; the host keeps it (exclusive -> shared).
  virtual Status Put(uint64_t page, std::span<const std::byte> data) = 0;
  // Leaves the sharer set (eviction); `dirty` is the data when written, else empty.
  virtual Status Drop(uint64_t page, std::span<const std::byte> dirty) = 0;
  // Where the home's pushes go. Set once, before the first Get.
  virtual void SetSink(CoherenceSink* sink) = 0;
  // The segment's mapping domain and this host's index in it for processes
  // of PID-namespace domain `local_domain` (docs/remote-mapping.md "Owners
  // across hosts"). EOPNOTSUPP when the home has no owner domains.
  virtual Result<OwnerIndex> Owner(uint64_t local_domain) {
    (void)local_domain;
    return Error(EOPNOTSUPP, "owner domains: not served by this page source");
  }
};

}  // namespace rams::mapping
