/* SPDX-License-Identifier: MIT */
// One remote segment as a host pager serves it: the host's one cached copy
// (a memfd), the state of each page at this host, the local processes that
// map it (their userfaultfds), and the CoherenceSink the home's pushes
// reach. HostPager owns these and feeds them faults; see host_pager.h for
// the whole design and docs/host-pager.md for the rules.
//
// Thread safety: every member may be called from any thread. mu_ guards the
// page table and the client list; it is never held across a PageSource call
// (the source's replies and the home's pushes may need the sink thread,
// which takes mu_). Invariants, under mu_:
//  1. held != kNone  <=>  the page is in the memfd (a lone exception: inside
//     Install/Evict, never visible outside mu_).
//  2. In every client's mm the page is writable only while held == kExclusive
//     (every path away from kExclusive write-protects it everywhere first;
//     without write-protect every such path drops the page, and the copy
//     handed back is its content at the moment the drop unmapped it).
//  3. At most one fetch or one write-back per page is in flight (fetching /
//     writing_back); faults meanwhile wait in `waiters`.
//  4. pushes counts the home's pushes on the page; a grant obtained while it
//     changed is discarded (and dropped at the home when no copy is left)
//     and asked again. A push for a page being fetched with no copy left
//     waits (bounded) for the install: its grant came first.
//  5. ahead_pending pages were absent when one fetch claimed them for its
//     read-ahead window: their read faults wait (in `waiters`) for that
//     fetch, which installs them or fetches them one by one before it ends.
//     A write fault may take such a page meanwhile; the fetch then installs
//     only the pages no push and no install touched since it began.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mapping/page_source.h"
#include "mapping/uffd.h"
#include "rams/status.h"
#include "sys/sys.h"

namespace rams::mapping {

inline constexpr uint32_t kDefaultReadAheadPages = 16;
// The default bound on a segment's resident pages at one host (256 MiB).
inline constexpr uint64_t kDefaultCachePages = uint64_t{1} << 16;
// The largest bound a host pager takes (1 TiB of 4 KiB pages).
inline constexpr uint64_t kMaxCachePages = uint64_t{1} << 28;

// Who may map a segment, checked against a process's SO_PEERCRED.
struct SegmentAccess {
  uint32_t owner_uid = 0;
  uint32_t owner_gid = 0;
  uint32_t mode = 0600;
};

// Counters of one segment at one host (monotonic, except resident_pages).
struct PagerStats {
  uint64_t faults = 0;         // fault events handled
  uint64_t fetches = 0;        // grants installed (Get calls that won)
  uint64_t upgrades = 0;       // write-protect faults that took a page exclusively
  uint64_t retries = 0;        // grants discarded because a push overtook them
  uint64_t invalidations = 0;  // Invalidate pushes handled
  uint64_t downgrades = 0;     // Downgrade pushes handled
  uint64_t evictions = 0;      // pages evicted for room
  uint64_t write_backs = 0;    // dirty pages handed back (push, eviction, flush)
  uint64_t failed_faults = 0;  // faults answered with SIGBUS
  uint64_t copies_lost = 0;    // exclusive copies dropped unwritten when the source was lost
  uint64_t loss_notices = 0;   // the home's reports of pages lost with another host
  uint64_t read_ahead = 0;     // pages installed ahead of a sequential read miss
  uint64_t resident_pages = 0;
};

struct PagerTuning {
  // Bound on this segment's resident pages at this host (>= 1): a fetch that
  // needs room evicts the oldest page, writing it back first when dirty.
  uint64_t cache_pages = kDefaultCachePages;
  std::chrono::milliseconds fault_timeout{10000}; // a fault fails (SIGBUS) after this
  std::chrono::microseconds min_hold{200};        // a fresh grant is kept at least this long
  bool write_protect = true;                      // false: never use uffd-wp (the 6.1- path)
  // Pages a sequential read miss asks the home for (the missed one included;
  // 1 = no read-ahead, at most kMaxReadAheadPages). A miss is sequential when
  // it follows the previous miss's page or its read-ahead window.
  uint32_t readahead_pages = kDefaultReadAheadPages;
};

// A local process mapping the segment.
struct PagerClient {
  sys::UniqueFd uffd;
  uint64_t base = 0;   // where it mapped the memfd
  pid_t pid = 0;       // SO_PEERCRED pid, for SIGBUS
  bool dead = false;   // a uffd call failed: it unmapped or exited
  // The last fault that failed (guarded by the segment's mu_): the same
  // thread failing again on the same page made no progress (see FailFault).
  uint32_t failed_tid = 0;
  uint64_t failed_page = ~uint64_t{0};
};

class PagerSegment : public CoherenceSink {
 public:
  PagerSegment(std::string name, std::unique_ptr<PageSource> source, SegmentAccess access,
               PagerTuning tuning, const UffdFeatures& features, sys::UniqueFd memfd);
  ~PagerSegment() override;

  const std::string& name() const { return name_; }
  uint64_t size_bytes() const { return size_bytes_; }
  bool read_only() const { return source_->ReadOnly(); }
  bool write_protect() const { return wp_; }
  const SegmentAccess& access() const { return access_; }
  // Whether the source was lost (Lost): the copy is gone for good.
  bool lost() const;
  // The lost session's error, else Ok with *notices = stats().loss_notices.
  Status Check(uint64_t* notices) const;
  int memfd() const { return memfd_.get(); }

  // Adds a process's mapping; write-protects the whole range in it (which
  // also proves the range is registered with `uffd`).
  Status AddClient(std::shared_ptr<PagerClient> client);
  void RemoveClient(const PagerClient* client);

  // A fault event. Returns true when a fetch must run (FetchPage, by a
  // thread that does not lead); false when it was answered or joined a
  // fetch in flight.
  bool OnFault(const std::shared_ptr<PagerClient>& client, uint64_t addr, bool write,
               uint32_t tid);
  // Gets the page from the home and installs it; wakes or fails the waiters.
  void FetchPage(uint64_t page);

  // The owner index of this host's processes of PID-namespace domain
  // `local_domain` (PageSource::Owner), asked of the home once per domain.
  Result<OwnerIndex> Owner(uint64_t local_domain);

  // Writes every exclusively held page back (exclusive -> shared; without
  // write-protect the page is dropped, inv. 2).
  Status Flush();
  PagerStats Stats() const;

  // CoherenceSink.
  Status Invalidate(uint64_t page, uint64_t version, std::span<std::byte> dirty_out,
                    bool* dirty) override;
  Status Downgrade(uint64_t page, uint64_t version, std::span<std::byte> dirty_out,
                   bool* dirty) override;
  // Drops the host's copy (the memfd is truncated: every access in the
  // processes still mapping it is SIGBUS, never a stale or zero page) and
  // fails every fault from now on.
  void Lost(Status why) override;
  void PagesLost() override;

 private:
  enum class Held : uint8_t { kNone, kShared, kExclusive };
  struct Waiter {
    std::shared_ptr<PagerClient> client;
    uint32_t tid;
    bool write;
  };
  struct Page {
    Held held = Held::kNone;
    bool fetching = false;
    bool writing_back = false;
    bool discarding = false;  // dropping a discarded grant at the home
    Held want = Held::kNone;  // what the fetch in flight asks for
    uint32_t ahead = 1;       // pages the fetch in flight asks for (read-ahead: > 1)
    bool ahead_pending = false;  // a fetch in flight asks for it ahead (inv. 5)
    std::vector<uint64_t> window;  // the pages this fetch claimed ahead (inv. 5)
    uint64_t version = 0;
    uint64_t pushes = 0;
    uint64_t installs = 0;  // grants installed: a page granted ahead and held since is left out
    std::chrono::steady_clock::time_point installed_at;
    std::vector<std::byte> in_flight;  // data of a Put/Drop on its way to the home
    std::vector<Waiter> waiters;
  };
  using Lock = std::unique_lock<std::mutex>;

  uint64_t Addr(const PagerClient& c, uint64_t page) const { return c.base + page * kPageBytes; }
  // Changes whenever a push reaches the page or a grant is installed in it.
  static uint64_t Touches(const Page& p) { return p.pushes + p.installs; }
  void ProtectEverywhere(uint64_t page, bool protect);
  Status ReadLocal(uint64_t page, std::span<std::byte> out);
  Status DropLocal(uint64_t page);
  // Copies an exclusively held page out and drops it, so that no write of a
  // local process is lost (inv. 2): write-protect first, or without
  // write-protect, take the content as the drop unmaps it (see the .cc).
  Status CaptureAndDrop(uint64_t page, std::span<std::byte> out);
  void WakeWaiters(Page& p);
  void FailWaiters(Page& p, const Status& why);
  void FailFault(PagerClient& c, uint32_t tid, uint64_t page);
  bool Install(Lock& lock, uint64_t page, Held want, const Grant& grant,
               std::span<const std::byte> data);
  // Pages to ask for at a miss on `page` needing `need` (read-ahead). REQUIRES: mu_.
  uint32_t ReadAheadFor(uint64_t page, Held need);
  // The pages after `page` that its fetch asks for ahead: the absent ones up
  // to the first held or covered by another fetch, where the range is cut
  // (`ahead`). They are marked ahead_pending. REQUIRES: mu_.
  std::vector<uint64_t> ClaimWindow(uint64_t page);
  // Installs the pages of `window` granted in `ahead` that no push and no
  // install touched since `touches_before` (Touches) was taken (a page taken
  // exclusively, written and evicted meanwhile would come back older), and
  // wakes their waiters;
  // the others are left out (the home may go on counting this host a sharer:
  // its later recall finds no copy and is answered clean). Returns the pages
  // left out that read faults wait for, marked fetching: the caller fetches
  // each. REQUIRES: mu_.
  std::vector<uint64_t> InstallAhead(std::span<const uint64_t> window,
                                     std::span<const uint64_t> touches_before,
                                     std::span<const AheadGrant> ahead);
  // UFFDIO_COPY of `data` into some live mapping (write-protected when `wp`),
  // else into the memfd. REQUIRES: mu_.
  bool CopyIn(uint64_t page, std::span<const std::byte> data, bool wp,
              std::span<Waiter> waiters_first);
  void MakeRoom(Lock& lock, uint64_t page);
  Status HandBack(Lock& lock, uint64_t page, bool drop);
  void WaitMinHold(Lock& lock, const Page& p);
  Status Push(uint64_t page, std::span<std::byte> dirty_out, bool* dirty, bool invalidate);

  // Constant after construction.
  const std::string name_;
  std::unique_ptr<PageSource> source_;  // reset first at destruction: no pushes after
  const SegmentAccess access_;
  const PagerTuning tuning_;
  const uint64_t size_bytes_;
  const uint64_t page_count_;
  const bool wp_;  // uffd write-protect in use (feature present, not read-only)
  const sys::UniqueFd memfd_;

  mutable std::mutex mu_;
  std::condition_variable changed_;                       // a fetch or write-back ended
  std::vector<Page> pages_;                               // guarded by mu_
  std::vector<std::shared_ptr<PagerClient>> clients_;     // guarded by mu_
  std::deque<uint64_t> resident_;                         // FIFO of installs, guarded by mu_
  uint64_t resident_count_ = 0;                           // guarded by mu_
  uint64_t reserved_ = 0;                                 // slots of fetches in flight, mu_
  uint64_t last_miss_ = ~uint64_t{0};                     // read-ahead detection, mu_
  uint64_t window_end_ = 0;                               // mu_
  bool lost_ = false;                                     // guarded by mu_
  Status lost_why_;                                       // guarded by mu_
  PagerStats stats_;                                      // guarded by mu_

  std::mutex owner_mu_;  // serializes Owner's questions to the home
  std::map<uint64_t, OwnerIndex> owners_;  // by local domain, guarded by owner_mu_
};

}  // namespace rams::mapping
