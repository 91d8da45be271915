/* SPDX-License-Identifier: MIT */
// ramsd's end of the rams.ko control channel (docs/kernel-abi.md, "Remote
// segments"), run with --kernel-channel: ramsd holds /dev/rams's control
// handle and serves the module's remote-backed segments for this host's
// processes. An ATTACH request opens "HOST:PORT/NAME" at its home with a
// WirePageSource (the key of --pager-key-file, or --key-file); READ and
// WRITE requests become PageSource::Get calls whose grants are installed
// with CTL_ANSWER; the home's INVALIDATE and DOWNGRADE pushes are applied in
// the module with CTL_PUSH, which hands the dirty data back; the calls of a
// /dev/rams handle (LOCK, UNLOCK, LOCKED, WAIT, WAKE, and STORE: its write())
// run at the home on a session and home handle of that handle's own, opened
// at its first call and closed at its CLOSE (which ends its leases at the
// home); LOCK and WAIT wait on threads of their own, in slices of at most
// 1 s so that a closed handle or a stopping ramsd ends them; RELEASE (the
// host's last handle closed) hands the exclusive pages back (PAGE_DROP with
// their data) and closes the source. When ramsd exits or dies the module
// fails every waiter and the segments it served die (the module's rule).
//
// Thread safety: Stats and RenderPrometheus from any thread. `workers`
// threads receive and serve the requests: each idle one waits on the
// control handle through an epoll instance of its own (EPOLLEXCLUSIVE), so
// that the module's wake-up for a request wakes one of them, which receives
// the request and serves it itself: no thread hand-off lies between the
// module's request and its service, and no other worker wakes (a slow home
// stalls only the workers waiting on it). A worker that has just answered
// polls the handle first (adaptively by default: the next fault of a
// sequence often comes within microseconds); the sources' recall threads
// push.
// Per segment, mu_ is never held across a PageSource call; a push naming
// a newer version than the copy held here follows a grant the home sent
// first, and waits (bounded) for that grant's install; a grant that such a
// push overtook is discarded (and dropped at the home when no copy is left
// here) and asked again, as the host pager does (src/mapping/pager_segment.h,
// invariant 4), while one overtaken only by pushes of older versions (sent
// before it) is installed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rams/remote.h"
#include "rams/status.h"
#include "sys/adaptive_poll.h"
#include "sys/sys.h"
#include "uapi/rams.h"

namespace ramsd {

struct KernelChannelOptions {
  std::string device = RAMS_DEVICE_PATH;
  std::string key;  // for the homes (empty: loopback homes without a key)
  std::chrono::milliseconds connect_timeout{5000};
  int workers = 8;
  // How a worker that just served a request waits for the next one, and
  // how the sessions to the homes wait for replies (ramsd --poll):
  // rams::kAdaptivePoll, N > 0 polling for N, 0 sleeping at once.
  std::chrono::microseconds busy_poll{rams::kAdaptivePoll};
};

// Monotonic counters, except segments.
struct KernelChannelStats {
  uint64_t requests = 0;       // requests received from the module
  uint64_t attaches = 0;       // remote segments opened for the module
  uint64_t fetches = 0;        // grants installed (READ and WRITE answered with a grant)
  uint64_t upgrades = 0;       // of which write grants that kept the module's copy
  uint64_t retries = 0;        // grants discarded because a push overtook them
  uint64_t invalidations = 0;  // INVALIDATE pushes applied in the module
  uint64_t downgrades = 0;     // DOWNGRADE pushes applied in the module
  uint64_t write_backs = 0;    // dirty pages handed back to homes
  uint64_t failed = 0;         // requests answered with an error
  // READ and WRITE requests asking for less of a page than this host holds
  // (a fault that raced its grant's install: rams.ko asks again only for
  // what its state lacks, so 0; the home would answer without data)
  uint64_t stale_requests = 0;
  uint64_t pages_lost_reports = 0;  // the homes' PagesLost reports (not yet surfaced to users)
  uint64_t calls = 0;          // handles' calls (LOCK..STORE) performed at homes
  uint64_t home_handles = 0;   // handles' home handles open now
  uint64_t segments = 0;       // remote segments served now
};

class KernelChannel {
 public:
  // ENOENT without the module; EBUSY when another process holds the channel;
  // EPERM without CAP_SYS_ADMIN.
  static rams::Result<std::unique_ptr<KernelChannel>> Start(KernelChannelOptions options);
  ~KernelChannel();
  KernelChannel(const KernelChannel&) = delete;
  KernelChannel& operator=(const KernelChannel&) = delete;

  KernelChannelStats Stats() const;
  // ramsd_kernel_* lines for /metrics.
  std::string RenderPrometheus() const;

 private:
  class Remote;
  KernelChannel(KernelChannelOptions options, rams::sys::UniqueFd fd,
                std::vector<rams::sys::UniqueFd> waits);
  // A worker, waiting for requests on its epoll instance `wait_fd`.
  void WorkerLoop(int wait_fd);
  // The next request, waiting at most one poll slice for it; false if none
  // came (or the handle failed, logged). With `poll` (a worker that has
  // just served one) it first polls the handle as options_.busy_poll says.
  bool ReceiveOne(int wait_fd, rams::sys::AdaptivePoll* poll, rams_ctl_request* r);
  void Serve(const rams_ctl_request& r);
  void Attach(const rams_ctl_request& r);
  void Release(const rams_ctl_request& r);
  // LOCK and WAIT that may wait: on a thread of their own (at most kMaxBlocking at once).
  void ServeBlocking(std::shared_ptr<Remote> remote, const rams_ctl_request& r);
  // CTL_ANSWER; false (logged) when the module refused it.
  bool Answer(const rams_ctl_answer& a);
  void AnswerError(uint64_t id, int code);
  std::shared_ptr<Remote> Find(uint64_t segment);

  const KernelChannelOptions options_;
  const rams::sys::UniqueFd fd_;
  const std::vector<rams::sys::UniqueFd> waits_;  // a worker's epoll instance each

  mutable std::mutex mu_;
  std::map<uint64_t, std::shared_ptr<Remote>> remotes_;  // by the module's id, under mu_
  struct Counters {
    std::atomic<uint64_t> requests{0}, attaches{0}, fetches{0}, upgrades{0}, retries{0},
        invalidations{0}, downgrades{0}, write_backs{0}, failed{0}, stale_requests{0},
        pages_lost_reports{0}, calls{0};
    std::atomic<int64_t> home_handles{0};
  };
  Counters counters_;
  std::atomic<bool> stopping_{false};
  std::mutex blocking_mu_;
  std::condition_variable blocking_done_;
  int blocking_ = 0;  // threads of ServeBlocking running, under blocking_mu_
  std::vector<std::thread> workers_;
};

}  // namespace ramsd
