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
// Thread safety: every public member may be called from any thread. One
// pager thread reads the socket and the userfaultfds and never blocks on the
// network or touches registered memory; `fetch_threads` workers run the
// PageSource calls, so a slow page does not stall the others.
#pragma once

#include <sys/socket.h>

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
// Called on the pager thread when a process OPENs an unknown name (ramsd:
// open the remote segment "HOST:PORT/NAME" and wrap it in a WirePageSource).
// ENOENT: no such segment. It blocks the pager thread, so it must be bounded
// by a short timeout.
using SegmentProvider = std::function<Result<ProvidedSegment>(std::string_view name)>;

struct HostPagerOptions {
  std::string socket_path = kDefaultPagerSocket;  // '@' first: abstract namespace
  PagerTuning tuning;
  int fetch_threads = 4;
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

  // Serves `name` from `source` (one source per segment and host).
  Status AddSegment(std::string_view name, std::unique_ptr<PageSource> source,
                    SegmentAccess access);
  // Writes this host's dirty pages of `name` back to the home.
  Status Flush(std::string_view name);
  Result<PagerStats> Stats(std::string_view name) const;
  // Every served segment's counters, by name.
  std::vector<std::pair<std::string, PagerStats>> AllStats() const;

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
  };
  HostPager(HostPagerOptions options, UffdFeatures features, sys::UniqueFd listen,
            sys::UniqueFd epoll, sys::UniqueFd stop);
  std::shared_ptr<PagerSegment> Find(std::string_view name) const;
  void Loop();
  void Accept();
  void OnSocket(const std::shared_ptr<Conn>& conn);
  Status HandleOpen(Conn& conn, const PagerRequest& req, PagerReply* reply,
                    sys::UniqueFd* send_fd);
  Status HandleRegister(const std::shared_ptr<Conn>& conn, const PagerRequest& req,
                        sys::UniqueFd fd);
  void OnUffd(const std::shared_ptr<Conn>& conn);
  void Close(const std::shared_ptr<Conn>& conn);
  void Post(std::function<void()> job);
  void Worker();

  // Constant after construction.
  const HostPagerOptions options_;
  const UffdFeatures features_;
  const sys::UniqueFd listen_;
  const sys::UniqueFd epoll_;
  const sys::UniqueFd stop_;  // eventfd: the loop ends when it is readable

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<PagerSegment>, std::less<>> segments_;  // mu_

  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by jobs_mu_
  bool stopping_ = false;                   // guarded by jobs_mu_

  // Touched only by the pager thread.
  std::map<int, std::shared_ptr<Conn>> conns_;  // by socket and by uffd descriptor

  std::thread loop_;
  std::vector<std::thread> workers_;
};

}  // namespace rams::mapping
