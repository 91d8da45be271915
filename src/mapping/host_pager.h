/* SPDX-License-Identifier: MIT */
// HostPager: the user-space pager of one host for remotely mapped segments.
// ramsd embeds one on every host (tests run it in-process); local processes
// find it at a Unix socket (ramsd's --pager-socket, by default
// /run/rams/pager.sock; MappedSegment::Open connects there) and hand it their
// userfaultfd over SCM_RIGHTS after mapping the host's memfd for the segment.
// The pager then serves every local process's faults from one cached copy
// per host: MISSING faults are filled with UFFDIO_COPY from a PageSource
// grant, writes to shared pages come as write-protect faults and take the
// page exclusively, the home's invalidations punch the page out of the memfd
// (every mapping at once) and downgrades write-protect it in every process.
// A process of another user is refused unless the segment's mode lets it in
// (SO_PEERCRED, as file permissions; root passes). docs/host-pager.md has
// the full rules (timeouts, SIGBUS, fork, non-root, the 6.1 fallbacks).
//
// Thread safety: every public member may be called from any thread. The
// pager's `fetch_threads + 1` threads take turns (leader/follower): one at a
// time leads, reading the socket and the userfaultfds, and never blocks on
// the network or touches registered memory; the others run the PageSource
// calls, so a slow page does not stall the others. A leader that read a
// fault needing a fetch hands the lead to an idle thread and fetches that
// page itself, so that the thread woken by the fault is the one that asks
// the home and wakes the faulting thread (no hand-off to a worker between).
// `open_threads` openers run the SegmentProvider and the owner-index
// questions (PagerSegment::Owner, a round trip to the home), so a process
// naming an unreachable or stalled home stalls only its own OPEN (and others
// of the same name), never the faults of other segments.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mapping/page_source.h"
#include "mapping/pager_segment.h"
#include "mapping/pager_socket.h"
#include "mapping/uffd.h"
#include "rams/status.h"
#include "sys/sys.h"

namespace rams::mapping {

inline constexpr char kDefaultPagerSocket[] = "/run/rams/pager.sock";

// What a provider answers for a segment the pager does not serve yet.
struct ProvidedSegment {
  std::unique_ptr<PageSource> source;
  SegmentAccess access;
};
// Called on an opener thread when a process OPENs a name the pager does not
// serve, or serves from a lost source (ramsd: open the remote segment
// "HOST:PORT/NAME" and wrap it in a WirePageSource). ENOENT: no such
// segment. It may block (it is bounded by its own timeout); calls for
// different names may run at once.
using SegmentProvider = std::function<Result<ProvidedSegment>(std::string_view name)>;

struct HostPagerOptions {
  std::string socket_path = kDefaultPagerSocket;  // '@' first: abstract namespace
  PagerTuning tuning;
  int fetch_threads = 4;
  int open_threads = 2;      // provider calls in flight at once
  SegmentProvider provider;  // empty: only segments added with AddSegment
};

class HostPager {
 public:
  // ENOTSUP when the kernel page size is not 4 KiB or userfaultfd cannot
  // serve shmem; EPERM when this process may not use userfaultfd.
  static Result<std::unique_ptr<HostPager>> Start(HostPagerOptions options);
  // Stops serving. Processes still mapping a segment lose it cleanly
  // (SIGBUS/SIGSEGV on access, never zeros).
  ~HostPager();

  // Serves `name` from `source` (one source per segment and host). EEXIST
  // when `name` is served already (lost or not).
  Status AddSegment(std::string_view name, std::unique_ptr<PageSource> source,
                    SegmentAccess access);
  // Writes this host's dirty pages of `name` back to the home.
  Status Flush(std::string_view name);
  Result<PagerStats> Stats(std::string_view name) const;
  // Every served segment's counters, by name.
  std::vector<std::pair<std::string, PagerStats>> AllStats() const;
  // The counters of segments replaced after their source was lost, summed
  // as they were at the replacement (resident_pages 0), so that totals over
  // AllStats and these never go down.
  PagerStats RetiredStats() const;

  const UffdFeatures& features() const { return features_; }
  const std::string& socket_path() const { return options_.socket_path; }

 private:
  // One local process's connection: its socket, credentials, and after
  // REGISTER its mapping (whose uffd the loop watches too).
  struct Conn {
    sys::UniqueFd sock;
    ucred cred{};
    std::shared_ptr<PagerSegment> segment;
    bool writable = false;
    std::shared_ptr<PagerClient> client;
    // An OPEN waiting for the provider: the socket is not read meanwhile.
    bool opening = false;
    std::string open_name;
    bool open_write = false;
    uint64_t open_domain = 0;  // the caller's PID-namespace domain (0: none)
    // The segment's loss notices this process was told of (CHECK, FLUSH);
    // exchanged by the leading thread and the FLUSH workers.
    std::atomic<uint64_t> loss_seen{0};
  };
  // Jobs and the threads that run them (the fetch workers, the openers).
  struct Pool {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> jobs;  // guarded by mu
    bool stopping = false;                   // guarded by mu
    // workers_ only: some thread leads; threads waiting for a job. Guarded by mu.
    bool leading = false;
    int idle = 0;
    std::vector<std::thread> threads;
  };
  // A provider's answer, handed from an opener to the leading thread.
  struct Opened {
    std::string name;
    Result<ProvidedSegment> provided;
  };
  // An owner index asked for one connection's OPEN, handed the same way.
  struct Owned {
    std::shared_ptr<Conn> conn;
    std::shared_ptr<PagerSegment> segment;
    Result<OwnerIndex> owner;
  };
  HostPager(HostPagerOptions options, UffdFeatures features, sys::UniqueFd listen,
            sys::UniqueFd epoll, sys::UniqueFd stop, sys::UniqueFd opened);
  std::shared_ptr<PagerSegment> Find(std::string_view name) const;
  Result<std::shared_ptr<PagerSegment>> MakeSegment(std::string_view name,
                                                    std::unique_ptr<PageSource> source,
                                                    SegmentAccess access) const;
  // Serves a provider's segment unless a live one of that name is served
  // already (which is then kept); a lost one is replaced.
  Result<std::shared_ptr<PagerSegment>> Adopt(const std::string& name, ProvidedSegment provided);
  // One turn as the leader: handles events until a fault needs a fetch
  // that this thread may keep (an idle thread can lead meanwhile), or the
  // pager stops (nullptr). REQUIRES: this thread leads.
  std::function<void()> Lead();
  // A fetch thread: leads when nobody does, else runs workers_' jobs.
  void Worker();
  void Accept();
  void OnSocket(const std::shared_ptr<Conn>& conn);
  // OPEN: answered at once, or (false) left to the provider on an opener.
  bool HandleOpen(const std::shared_ptr<Conn>& conn, const PagerRequest& req, PagerReply* reply,
                  sys::UniqueFd* send_fd, Status* status);
  Status StartProvide(const std::shared_ptr<Conn>& conn);
  // Takes `conn`'s socket out of the loop until its OPEN is answered.
  Status HoldOpen(const std::shared_ptr<Conn>& conn);
  // Wakes the leading thread for an opener's answer (opened_list_, owned_list_).
  void SignalOpened();
  void OnOpened();
  // EOWNERDEAD once per loss notice, or the lost session's error.
  static Status CheckLoss(Conn& conn);
  // OPEN of `seg` once it is served: the access checks, then the owner
  // index on an opener when the process asked for one (false: OnOpened
  // answers), else FinishOpen now.
  bool ContinueOpen(const std::shared_ptr<Conn>& conn, std::shared_ptr<PagerSegment> seg,
                    PagerReply* reply, sys::UniqueFd* send_fd, Status* status);
  Status CheckOpen(const Conn& conn, const PagerSegment* seg) const;
  // Hands the memfd and the owner index (`owner`, EOPNOTSUPP: none) over.
  Status FinishOpen(Conn& conn, std::shared_ptr<PagerSegment> seg,
                    const Result<OwnerIndex>& owner, PagerReply* reply, sys::UniqueFd* send_fd);
  // Sends `reply` with `status`; a broken peer (EINVAL, or the send failed)
  // is disconnected.
  void Answer(const std::shared_ptr<Conn>& conn, PagerReply reply, const Status& status,
              int send_fd);
  Status HandleRegister(const std::shared_ptr<Conn>& conn, const PagerRequest& req,
                        sys::UniqueFd fd);
  // Appends the fetches the faults need to `fetches`.
  void OnUffd(const std::shared_ptr<Conn>& conn, std::vector<std::function<void()>>* fetches);
  void Close(const std::shared_ptr<Conn>& conn);
  static Status Watch(int epoll, int fd);  // EPOLLIN, data.fd = fd
  static void Post(Pool& pool, std::function<void()> job);
  static void RunPool(Pool& pool);
  static void StopPool(Pool& pool);

  // Constant after construction.
  const HostPagerOptions options_;
  const UffdFeatures features_;
  const sys::UniqueFd listen_;
  const sys::UniqueFd epoll_;
  const sys::UniqueFd stop_;    // eventfd: the loop ends when it is readable
  const sys::UniqueFd opened_;  // eventfd: a provider answered (opened_list_)

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<PagerSegment>, std::less<>> segments_;  // mu_
  PagerStats retired_;                                                          // mu_

  std::mutex opened_mu_;
  std::deque<Opened> opened_list_;  // guarded by opened_mu_
  std::deque<Owned> owned_list_;    // guarded by opened_mu_

  // Touched only by the leading thread (the hand-over goes through workers_.mu).
  std::map<int, std::shared_ptr<Conn>> conns_;  // by socket and by uffd descriptor
  // Names being provided, with the connections waiting for each.
  std::map<std::string, std::vector<std::shared_ptr<Conn>>, std::less<>> opening_;

  Pool workers_;  // FetchPage, FLUSH; its threads also take turns leading (Worker)
  Pool openers_;  // SegmentProvider calls, PagerSegment::Owner calls
};

}  // namespace rams::mapping
