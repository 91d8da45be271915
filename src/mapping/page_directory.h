/* SPDX-License-Identifier: MIT */
// The home's page directory of one mapped segment (docs/remote-mapping.md):
// per 4 KiB page its state (home only / shared by a set of hosts / exclusive
// at one host), its version, and its queue of transactions, of which only the
// head is in flight (FIFO waiters). A grant is issued only after every recall
// (INVALIDATE, DOWNGRADE) it needs was acknowledged; a host that does not
// acknowledge before the recall timeout is reported by Expire() so that the
// caller cuts it off (HostGone), after which the others proceed. A host gone
// while exclusive loses its copy: the page falls back to the home's data,
// and the loss is counted and flagged to every other host once.
//
// The directory does no I/O: it reads and writes page data through a
// PageMemory and returns what must be sent as Actions (TakeActions). Host 0
// (kHomeHost) is the home itself (one-sided operations): its "grant" means
// the recalls are done and the home's memory is current.
//
// HostGone and Expire walk every page (O(pages)); an index of the pages with
// holders or recalls in flight is the next step for large segments.
//
// Thread safety: none; one owner (ramsd's event loop) calls every method.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <unordered_map>
#include <vector>

#include "rams/status.h"

namespace rams::mapping {

using HostId = uint64_t;
inline constexpr HostId kHomeHost = 0;
inline constexpr uint64_t kDirectoryPageBytes = 4096;
using DirectoryClock = std::chrono::steady_clock;

// The home's copy of the segment, page by page.
class PageMemory {
 public:
  virtual ~PageMemory() = default;
  virtual void ReadPage(uint64_t page, std::span<std::byte> out) = 0;
  virtual void WritePage(uint64_t page, std::span<const std::byte> data) = 0;
};

enum class PageState : uint8_t { kHome, kShared, kExclusive };
enum class RecallKind : uint8_t { kInvalidate, kDowngrade };

struct PageGrantOut {
  uint64_t page = 0;
  uint64_t version = 0;
  bool data_included = false;
  std::vector<std::byte> data;  // kDirectoryPageBytes when data_included
};

// What the caller must do: send a recall, or answer request `tag` of `host`.
struct DirectoryAction {
  enum class Kind : uint8_t { kRecall, kGrant } kind = Kind::kGrant;
  HostId host = 0;
  // kRecall
  RecallKind recall = RecallKind::kInvalidate;
  uint64_t page = 0;
  uint64_t version = 0;
  // kGrant: the first page first, then read-ahead pages granted at once.
  uint64_t tag = 0;
  std::vector<PageGrantOut> grants;
  bool lost_pages = false;  // kSegmentLostPages for this host
};

struct DirectoryCounters {
  uint64_t faults_served = 0;   // pages granted to hosts
  uint64_t invalidations = 0;
  uint64_t downgrades = 0;
  uint64_t upgrades = 0;        // write grants without data
  uint64_t bounces = 0;         // exclusive grants of a page exclusive elsewhere before
  uint64_t recalls_timed_out = 0;
  uint64_t pages_lost = 0;
};

// A one-sided operation's access to the home's copy of `page`, run by the
// directory at the moment its recalls are done and before the page's next
// transaction starts (so a host's grant queued behind it carries its
// effect). `version` is the page's version after the access (a write has
// already incremented it).
using HomeAccess = std::function<void(uint64_t page, uint64_t version)>;

class PageDirectory {
 public:
  PageDirectory(uint64_t pages, PageMemory* memory, std::chrono::milliseconds recall_timeout);

  // A PAGE_GET of `count` pages (read-ahead: count > 1, reads only) from
  // `first`, or (host kHomeHost, count 1) a one-sided operation's recall.
  // EINVAL: range outside the segment, count 0, a write of several pages,
  // have_version newer than the home's.
  [[nodiscard]] Status Get(HostId host, uint64_t tag, uint64_t first, uint32_t count, bool write,
                           uint64_t have_version, DirectoryClock::time_point now);
  // A one-sided operation on `page` (host kHomeHost): `access` runs once,
  // inside the call that completes its recalls (this one, Acknowledge or
  // HostGone), before the kHomeHost grant action is queued and before the
  // page's next transaction starts. EINVAL: page outside the segment.
  [[nodiscard]] Status HomeGet(uint64_t tag, uint64_t page, bool write, HomeAccess access,
                               DirectoryClock::time_point now);
  // The acknowledgement of a recall of `page` sent to `host`; `dirty` is
  // the data (kDirectoryPageBytes) or empty. EPROTO: no such recall.
  [[nodiscard]] Status Acknowledge(HostId host, uint64_t page, std::span<const std::byte> dirty,
                                   DirectoryClock::time_point now);
  // PAGE_PUT: EPERM unless `host` holds `page` exclusively at `version`.
  [[nodiscard]] Result<uint64_t> Put(HostId host, uint64_t page, uint64_t version,
                                     std::span<const std::byte> data);
  // PAGE_DROP: leaves the holder set; dirty data only from the exclusive
  // holder at `version` (EPERM). Not a holder: no effect. A clean drop from
  // a host whose recall of the page is unacknowledged takes effect after
  // that acknowledgement: the host may have answered it with dirty data
  // that the drop overtook on its way.
  [[nodiscard]] Result<uint64_t> Drop(HostId host, uint64_t page, uint64_t version,
                                      std::span<const std::byte> dirty,
                                      DirectoryClock::time_point now);
  // The host's connection ended (or it was cut off): it leaves every holder
  // set, its queued requests are dropped, its pending acknowledgements count
  // as clean, and pages it held exclusively are lost.
  void HostGone(HostId host, DirectoryClock::time_point now);
  // Hosts whose acknowledgement is overdue; the caller cuts each off and
  // calls HostGone for it.
  std::vector<HostId> Expire(DirectoryClock::time_point now);

  std::vector<DirectoryAction> TakeActions();

  PageState state(uint64_t page) const { return pages_.at(page).state; }
  uint64_t version(uint64_t page) const { return pages_.at(page).version; }
  const std::set<HostId>& holders(uint64_t page) const { return pages_.at(page).holders; }
  const DirectoryCounters& counters() const { return counters_; }

 private:
  struct Request {
    HostId host = 0;
    uint64_t tag = 0;
    uint32_t count = 1;
    bool write = false;
    uint64_t have_version = 0;
    bool cancelled = false;  // the host went away while its request was in flight
    HomeAccess access;       // kHomeHost only: run at the grant
  };
  struct Page {
    PageState state = PageState::kHome;
    uint64_t version = 0;  // of the newest copy (granted or at home)
    std::set<HostId> holders;
    std::deque<Request> queue;          // head in flight
    std::map<HostId, RecallKind> awaiting;  // recalls of the head not yet acknowledged
    // Clean PAGE_DROPs that reached the home before the same host's
    // acknowledgement of a recall of the page: they take effect after it.
    std::set<HostId> drop_at_ack;
    DirectoryClock::time_point deadline{};
    bool home_current = true;  // the home's memory holds the newest data
    bool bounce = false;       // the head takes the page from another exclusive holder
  };

  Status CheckPage(uint64_t page) const;
  void Advance(uint64_t page, DirectoryClock::time_point now);
  bool StartRecalls(uint64_t page, const Request& r, DirectoryClock::time_point now);
  void Grant(uint64_t page, const Request& r);
  // `ahead`: a page granted with another's read (read-ahead).
  PageGrantOut GrantOne(uint64_t page, const Request& r, bool ahead);
  bool CanGrantReadNow(uint64_t page, HostId host) const;
  void Leave(Page& p, HostId host);
  void Lose(Page& p);

  uint64_t page_count_;
  PageMemory* memory_;
  std::chrono::milliseconds recall_timeout_;
  std::vector<Page> pages_;
  std::vector<DirectoryAction> actions_;
  DirectoryCounters counters_;
  uint64_t loss_generation_ = 0;
  std::unordered_map<HostId, uint64_t> loss_seen_;  // generation each host was told of
};

}  // namespace rams::mapping
