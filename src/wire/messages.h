/* SPDX-License-Identifier: MIT */
// Bodies of the rams wire protocol's messages (docs/protocol.md §4, §5):
// one struct per request, reply and push. Each states its layout once, as the
// field list Fields() (fields.h), which EncodeTo() and the bounded,
// validating Decode() both walk: Decode accepts exactly that layout (reserved
// fields zero, lengths and values within their limits) and answers EINVAL
// otherwise. Variable-length fields (names, data) of requests are views into
// the decoded buffer.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rams/backend.h"
#include "rams/status.h"
#include "wire/fields.h"
#include "wire/frame.h"

namespace rams::wire {

using Nonce = std::array<std::byte, kNonceBytes>;
using Mac = std::array<std::byte, kMacBytes>;

inline constexpr uint32_t kOpenReadOnly = 1u << 0;
inline constexpr uint32_t kMaxExportsInStat = 256;

struct HelloRequest : Message<HelloRequest> {
  static constexpr std::string_view kWhat = "HELLO";
  uint64_t features = 0;
  uint32_t max_body_bytes = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U64(s.features) && f.U32(s.max_body_bytes) && f.Zero32();
  }
};

struct HelloReply : Message<HelloReply> {
  static constexpr std::string_view kWhat = "HELLO reply";
  uint64_t features = 0;
  uint32_t max_body_bytes = 0;
  uint32_t auth_flags = 0;
  Nonce server_nonce{};
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U64(s.features) && f.U32(s.max_body_bytes) && f.U32(s.auth_flags) &&
           f.Array(s.server_nonce);
  }
};

struct AuthRequest : Message<AuthRequest> {
  static constexpr std::string_view kWhat = "AUTH";
  Nonce client_nonce{};
  Mac client_mac{};
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.Array(s.client_nonce) && f.Array(s.client_mac);
  }
};

struct AuthReply : Message<AuthReply> {
  static constexpr std::string_view kWhat = "AUTH reply";
  Mac server_mac{};
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.Array(s.server_mac);
  }
};

struct OpenRequest : Message<OpenRequest> {
  static constexpr std::string_view kWhat = "OPEN";
  uint32_t flags = 0;
  std::string_view name;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.flags) && f.Check((s.flags & ~kOpenReadOnly) == 0) &&
           f.Name16(s.name, kMaxNameBytes);
  }
};

struct OpenReply : Message<OpenReply> {
  static constexpr std::string_view kWhat = "OPEN reply";
  uint32_t handle = 0;
  uint32_t flags = 0;
  uint64_t size_bytes = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.U32(s.flags) && f.U64(s.size_bytes);
  }
};

// CLOSE and STAT: a handle alone.
struct HandleRequest : Message<HandleRequest> {
  static constexpr std::string_view kWhat = "handle";
  uint32_t handle = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.Zero32();
  }
};

struct ReadRequest : Message<ReadRequest> {
  static constexpr std::string_view kWhat = "READ";
  uint32_t handle = 0;
  uint32_t length = 0;
  uint64_t offset = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.U32(s.length) && f.U64(s.offset);
  }
};

struct WriteRequest : Message<WriteRequest> {
  static constexpr std::string_view kWhat = "WRITE";
  uint32_t handle = 0;
  uint64_t offset = 0;
  std::span<const std::byte> data;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.Zero32() && f.U64(s.offset) && f.Rest(s.data);
  }
  // The fixed part only: the data follows it in the same frame.
  void EncodeFixedTo(Bytes* out) const { EncodeFields(*this, out, /*skip_rest=*/true); }
  static constexpr size_t kFixedBytes = 16;
};

struct CasRequest : Message<CasRequest> {
  static constexpr std::string_view kWhat = "CAS";
  uint32_t handle = 0;
  uint64_t offset = 0;
  uint64_t expected = 0;
  uint64_t desired = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.Zero32() && f.U64(s.offset) && f.U64(s.expected) &&
           f.U64(s.desired);
  }
};

struct FetchAddRequest : Message<FetchAddRequest> {
  static constexpr std::string_view kWhat = "FETCH_ADD";
  uint32_t handle = 0;
  uint64_t offset = 0;
  uint64_t addend = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.Zero32() && f.U64(s.offset) && f.U64(s.addend);
  }
};

// CAS, FETCH_ADD (previous value) and LOCK (lock id) replies.
struct U64Reply : Message<U64Reply> {
  static constexpr std::string_view kWhat = "u64 reply";
  uint64_t value = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U64(s.value);
  }
};

struct LockRequest : Message<LockRequest> {
  static constexpr std::string_view kWhat = "LOCK";
  uint32_t handle = 0;
  uint32_t writes = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  int64_t timeout_ns = -1;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.U32(s.writes) && f.U64(s.offset) && f.U64(s.length) &&
           f.I64(s.timeout_ns);
  }
};

struct UnlockRequest : Message<UnlockRequest> {
  static constexpr std::string_view kWhat = "UNLOCK";
  uint32_t handle = 0;
  uint64_t lock_id = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.Zero32() && f.U64(s.lock_id);
  }
};

struct WaitRequest : Message<WaitRequest> {
  static constexpr std::string_view kWhat = "WAIT";
  uint32_t handle = 0;
  uint32_t expected = 0;
  uint64_t offset = 0;
  int64_t timeout_ns = -1;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.U32(s.expected) && f.U64(s.offset) && f.I64(s.timeout_ns);
  }
};

struct WakeRequest : Message<WakeRequest> {
  static constexpr std::string_view kWhat = "WAKE";
  uint32_t handle = 0;
  uint32_t count = 0;
  uint64_t offset = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.U32(s.count) && f.U64(s.offset);
  }
};

// WAKE reply (woken) and WAKEUP push (result errno, 0 = woken).
struct U32Reply : Message<U32Reply> {
  static constexpr std::string_view kWhat = "u32 reply";
  uint32_t value = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.value) && f.Zero32();
  }
};

// Every sync opcode (MUTEX_*, COND_*, BARRIER_*): the object at `offset`;
// `mutex_offset` is COND_WAIT's mutex (zero otherwise); `flags` is
// kSyncTry for MUTEX_LOCK (zero otherwise); timeout_ns < 0: none.
inline constexpr uint32_t kSyncTry = 1u << 0;
struct SyncRequest : Message<SyncRequest> {
  static constexpr std::string_view kWhat = "sync request";
  uint32_t handle = 0;
  uint32_t flags = 0;
  uint64_t offset = 0;
  uint64_t mutex_offset = 0;
  int64_t timeout_ns = -1;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.U32(s.flags) && f.Check((s.flags & ~kSyncTry) == 0) &&
           f.U64(s.offset) && f.U64(s.mutex_offset) && f.I64(s.timeout_ns);
  }
};

// COND_WAIT reply: how the mutex was re-acquired (rams::Acquired) and
// whether the timeout passed (0 or 1).
struct CondWaitReply : Message<CondWaitReply> {
  static constexpr std::string_view kWhat = "COND_WAIT reply";
  uint32_t acquired = 0;
  uint32_t timed_out = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.acquired) && f.Check(s.acquired <= 1) && f.U32(s.timed_out) &&
           f.Check(s.timed_out <= 1);
  }
};

struct SegmentStatReply : Message<SegmentStatReply> {
  static constexpr std::string_view kWhat = "STAT reply";
  uint64_t size_bytes = 0;
  uint32_t mode = 0;
  uint32_t locks_held = 0;
  uint32_t owner_uid = 0;
  uint32_t owner_gid = 0;
  int64_t created_unix_ns = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U64(s.size_bytes) && f.U32(s.mode) && f.U32(s.locks_held) &&
           f.U32(s.owner_uid) && f.U32(s.owner_gid) && f.I64(s.created_unix_ns);
  }
};

struct ExportEntry {
  std::string name;
  bool read_only = false;
  uint64_t size_bytes = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.Bool8(s.read_only) && f.Name8(s.name, kMaxNameBytes) && f.U64(s.size_bytes);
  }
};

struct ServerStatReply : Message<ServerStatReply> {
  static constexpr std::string_view kWhat = "server STAT reply";
  uint64_t uptime_ns = 0;
  uint32_t connections = 0;
  std::vector<ExportEntry> exports;  // at most kMaxExportsInStat
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U64(s.uptime_ns) && f.U32(s.connections) &&
           f.List32(s.exports, kMaxExportsInStat);
  }
};


// MAPPING_STAT reply: a ramsd's remote-mapping counters, as the home of its
// exports (its directories) and as its host's pager (flags bit 0: one runs;
// else those fields are 0). Monotonic except the gauges (segments, hosts,
// pager_segments, resident_pages, epoch).
inline constexpr uint32_t kMappingStatPager = 1u << 0;
struct MappingStatReply : Message<MappingStatReply> {
  static constexpr std::string_view kWhat = "MAPPING_STAT reply";
  uint32_t flags = 0;
  uint64_t epoch = 0;
  uint64_t segments = 0, hosts = 0, pages_granted = 0, invalidations = 0, downgrades = 0,
           upgrades = 0, page_bounces = 0, recalls_timed_out = 0, hosts_cut_off = 0,
           pages_lost = 0;
  uint64_t pager_segments = 0, faults = 0, fetches = 0, read_ahead = 0, pager_upgrades = 0,
           pager_invalidations = 0, pager_downgrades = 0, evictions = 0, write_backs = 0,
           failed_faults = 0, copies_lost = 0, loss_notices = 0, resident_pages = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.flags) && f.Check((s.flags & ~kMappingStatPager) == 0) && f.Zero32() &&
           f.U64(s.epoch) && f.U64(s.segments) && f.U64(s.hosts) && f.U64(s.pages_granted) &&
           f.U64(s.invalidations) && f.U64(s.downgrades) && f.U64(s.upgrades) &&
           f.U64(s.page_bounces) && f.U64(s.recalls_timed_out) && f.U64(s.hosts_cut_off) &&
           f.U64(s.pages_lost) && f.U64(s.pager_segments) && f.U64(s.faults) &&
           f.U64(s.fetches) && f.U64(s.read_ahead) && f.U64(s.pager_upgrades) &&
           f.U64(s.pager_invalidations) && f.U64(s.pager_downgrades) && f.U64(s.evictions) &&
           f.U64(s.write_backs) && f.U64(s.failed_faults) && f.U64(s.copies_lost) &&
           f.U64(s.loss_notices) && f.U64(s.resident_pages);
  }
};

// Remote mapping (docs/protocol.md §8, docs/remote-mapping.md). Pages are
// kPageBytes whatever the kernel's page size; a segment's page n is
// [n * kPageBytes, (n + 1) * kPageBytes) (the last one zero-padded).
inline constexpr uint64_t kPageBytes = 4096;
inline constexpr uint16_t kMaxPagesPerGet = 64;
inline constexpr uint8_t kAccessRead = 1;
inline constexpr uint8_t kAccessWrite = 2;
// PageGrant.flags: the grant carries the page's data (else: an upgrade whose
// version the host already has).
inline constexpr uint32_t kGrantData = 1u << 0;
// PageGetReply.flags: an exclusive copy of some page of this segment was
// lost (its host died or was cut off) since this session last asked.
inline constexpr uint32_t kSegmentLostPages = 1u << 0;
// PageDropRequest.flags and RecallReply.flags: page data follows.
inline constexpr uint32_t kPageDirty = 1u << 0;

// PAGE_GET: `count` pages from `first_page` with `access`; `have_version`
// is the version of the host's copy of first_page (0: none).
struct PageGetRequest : Message<PageGetRequest> {
  static constexpr std::string_view kWhat = "PAGE_GET";
  uint32_t handle = 0;
  uint8_t access = kAccessRead;
  uint16_t count = 1;
  uint64_t first_page = 0;
  uint64_t have_version = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.U8(s.access) &&
           f.Check(s.access == kAccessRead || s.access == kAccessWrite) && f.Zero8() &&
           f.U16(s.count) && f.Check(s.count >= 1 && s.count <= kMaxPagesPerGet) &&
           f.Check(s.access == kAccessRead || s.count == 1) && f.U64(s.first_page) &&
           f.U64(s.have_version);
  }
};
// One page of a PAGE_GET reply: its number, its version after the grant,
// kGrantData, then kPageBytes of data when kGrantData is set.
struct PageGrant {
  uint64_t page = 0;
  uint64_t version = 0;
  uint32_t flags = 0;
  std::span<const std::byte> data;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U64(s.page) && f.U64(s.version) && f.U32(s.flags) &&
           f.Check((s.flags & ~kGrantData) == 0) && f.Zero32() &&
           f.Data(s.data, (s.flags & kGrantData) != 0 ? kPageBytes : 0);
  }
};
struct PageGetReply : Message<PageGetReply> {
  static constexpr std::string_view kWhat = "PAGE_GET reply";
  uint64_t epoch = 0;  // the home's directory epoch (new at every ramsd start)
  uint32_t flags = 0;  // kSegmentLostPages
  std::vector<PageGrant> grants;  // 1..kMaxPagesPerGet, first_page first
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U64(s.epoch) && f.U32(s.flags) && f.Check((s.flags & ~kSegmentLostPages) == 0) &&
           f.List32(s.grants, kMaxPagesPerGet) && f.Check(!s.grants.empty());
  }
};
// PAGE_PUT: write back the exclusive copy of `page`, keeping it shared.
struct PagePutRequest : Message<PagePutRequest> {
  static constexpr std::string_view kWhat = "PAGE_PUT";
  uint32_t handle = 0;
  uint64_t page = 0;
  uint64_t version = 0;  // the version the host was granted
  std::span<const std::byte> data;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.Zero32() && f.U64(s.page) && f.U64(s.version) &&
           f.Data(s.data, kPageBytes);
  }
};
// PAGE_DROP: leave the sharer set of `page`, with the data when dirty.
struct PageDropRequest : Message<PageDropRequest> {
  static constexpr std::string_view kWhat = "PAGE_DROP";
  uint32_t handle = 0;
  uint32_t flags = 0;  // kPageDirty
  uint64_t page = 0;
  uint64_t version = 0;
  std::span<const std::byte> data;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.U32(s.flags) && f.Check((s.flags & ~kPageDirty) == 0) &&
           f.U64(s.page) && f.U64(s.version) &&
           f.Data(s.data, (s.flags & kPageDirty) != 0 ? kPageBytes : 0);
  }
};
// INVALIDATE and DOWNGRADE, sent by the home to a host (docs/protocol.md §8):
// `handle` is the host's own handle of the segment.
struct RecallRequest : Message<RecallRequest> {
  static constexpr std::string_view kWhat = "recall";
  uint32_t handle = 0;
  uint64_t page = 0;
  uint64_t version = 0;  // the version the home granted the host
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.Zero32() && f.U64(s.page) && f.U64(s.version);
  }
};
// The host's acknowledgement: kPageDirty and the data when its copy was written.
struct RecallReply : Message<RecallReply> {
  static constexpr std::string_view kWhat = "recall reply";
  uint32_t flags = 0;
  std::span<const std::byte> data;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.flags) && f.Check((s.flags & ~kPageDirty) == 0) && f.Zero32() &&
           f.Data(s.data, (s.flags & kPageDirty) != 0 ? kPageBytes : 0);
  }
};

// Owners across hosts (docs/protocol.md §8, docs/remote-mapping.md "Owners
// across hosts"). Host indexes are 1..kMaxOwnerHosts; index 0 is the home.
inline constexpr uint32_t kMaxOwnerHosts = 255;
// Host indexes one mapping session may hold per segment (one per PID
// namespace of the host that maps it).
inline constexpr uint32_t kMaxOwnerIndexesPerSession = 16;

// MAP_OWNER: the segment's mapping domain and this host's index in it for
// the processes of PID-namespace domain `local_domain` (never 0).
struct MapOwnerRequest : Message<MapOwnerRequest> {
  static constexpr std::string_view kWhat = "MAP_OWNER";
  uint32_t handle = 0;
  uint64_t local_domain = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.Zero32() && f.U64(s.local_domain) &&
           f.Check(s.local_domain != 0);
  }
};
struct MapOwnerReply : Message<MapOwnerReply> {
  static constexpr std::string_view kWhat = "MAP_OWNER reply";
  uint64_t domain = 0;  // the mapping domain: never 0 or 1
  uint32_t host_index = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U64(s.domain) && f.Check(s.domain > 1) && f.U32(s.host_index) &&
           f.Check(s.host_index >= 1 && s.host_index <= kMaxOwnerHosts) && f.Zero32();
  }
};
// OWNER_ALIVE: whether owner `tid` of host index `host_index` of the
// segment's mapping domain is alive, as that host's pager sees it (the home
// asks it with OWNER_PROBE). Reply: OwnerStateReply.
inline constexpr uint32_t kMaxOwnerTid = (1u << 22) - 1;  // owner ids: 22 bits of thread id
struct OwnerAliveRequest : Message<OwnerAliveRequest> {
  static constexpr std::string_view kWhat = "OWNER_ALIVE";
  uint32_t handle = 0;
  uint32_t host_index = 0;
  uint32_t tid = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.U32(s.host_index) &&
           f.Check(s.host_index >= 1 && s.host_index <= kMaxOwnerHosts) && f.U32(s.tid) &&
           f.Check(s.tid >= 1 && s.tid <= kMaxOwnerTid) && f.Zero32();
  }
};
// OWNER_PROBEs a home keeps outstanding per host session; more OWNER_ALIVEs
// about that host are answered "cannot tell" at once.
inline constexpr uint32_t kMaxProbesPerSession = 256;
// OWNER_PROBE (server -> host): whether thread `tid` of the host's PID
// namespace of domain `local_domain` (the one its MAP_OWNER named) is alive.
struct OwnerProbeRequest : Message<OwnerProbeRequest> {
  static constexpr std::string_view kWhat = "OWNER_PROBE";
  uint32_t handle = 0;
  uint32_t tid = 0;
  uint64_t local_domain = 0;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.handle) && f.U32(s.tid) && f.Check(s.tid >= 1 && s.tid <= kMaxOwnerTid) &&
           f.U64(s.local_domain) && f.Check(s.local_domain != 0);
  }
};
// The reply of both: 0 cannot tell, 1 alive, 2 dead.
inline constexpr uint32_t kOwnerCannotTell = 0;
inline constexpr uint32_t kOwnerAlive = 1;
inline constexpr uint32_t kOwnerDead = 2;
struct OwnerStateReply : Message<OwnerStateReply> {
  static constexpr std::string_view kWhat = "owner state reply";
  uint32_t state = kOwnerCannotTell;
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    return f.U32(s.state) && f.Check(s.state <= kOwnerDead) && f.Zero32();
  }
};
// MAP_HOSTS (request: HandleRequest): which host indexes of the segment's
// mapping domain are live (their connection is open) and which are dead
// (their connection ended or was cut off), as bitmaps of 256 bits, bit i of
// word i / 64 for index i. domain 0: no host maps the segment (nothing known).
struct MapHostsReply : Message<MapHostsReply> {
  static constexpr std::string_view kWhat = "MAP_HOSTS reply";
  uint64_t domain = 0;
  std::array<uint64_t, 4> live{};
  std::array<uint64_t, 4> dead{};
  template <class S, class F>
  static constexpr bool Fields(S& s, F& f) {
    bool ok = f.U64(s.domain);
    for (auto& w : s.live) ok = ok && f.U64(w);
    for (auto& w : s.dead) ok = ok && f.U64(w);
    // Index 0 is the home, never a host; no index is both.
    return ok && f.Check((s.live[0] & 1) == 0 && (s.dead[0] & 1) == 0) &&
           f.Check(((s.live[0] & s.dead[0]) | (s.live[1] & s.dead[1]) | (s.live[2] & s.dead[2]) |
                    (s.live[3] & s.dead[3])) == 0);
  }
};

}  // namespace rams::wire
