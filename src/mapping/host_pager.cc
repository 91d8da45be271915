// SPDX-License-Identifier: MIT
// The host pager's loop, its local socket and its workers (host_pager.h).
#include "mapping/host_pager.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "mapping/pager_socket.h"

namespace rams::mapping {

namespace {

constexpr int kMaxEventsPerWake = 64;
constexpr size_t kMaxConnections = 4096;  // local processes connected at once
// The monotonic fields of PagerStats (all but resident_pages).
constexpr uint64_t PagerStats::*kCounters[] = {
    &PagerStats::faults,        &PagerStats::fetches,       &PagerStats::upgrades,
    &PagerStats::retries,       &PagerStats::invalidations, &PagerStats::downgrades,
    &PagerStats::evictions,     &PagerStats::write_backs,   &PagerStats::failed_faults,
    &PagerStats::copies_lost,   &PagerStats::loss_notices,  &PagerStats::read_ahead};

}  // namespace

Status HostPager::Watch(int epoll, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return sys::SysCall("epoll_ctl ADD", [&] { return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev); });
}

Result<std::unique_ptr<HostPager>> HostPager::Start(HostPagerOptions options) {
  if (sysconf(_SC_PAGESIZE) != static_cast<long>(kPageBytes)) {
    return Error(ENOTSUP, "host pager: kernel page size is not 4 KiB");
  }
  RAMS_ASSIGN_OR_RETURN(UffdFeatures features, ProbeUffdFeatures());
  RAMS_ASSIGN_OR_RETURN(sys::UniqueFd listen, ListenPager(options.socket_path));
  RAMS_ASSIGN_OR_RETURN(int ep, sys::SysCallValue("epoll_create1", [] {
    return epoll_create1(EPOLL_CLOEXEC);
  }));
  sys::UniqueFd epoll(ep);
  sys::UniqueFd events[2];
  for (sys::UniqueFd& e : events) {
    RAMS_ASSIGN_OR_RETURN(int ev, sys::SysCallValue("eventfd", [] {
      return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }));
    e.Reset(ev);
    RAMS_RETURN_IF_ERROR(Watch(epoll.get(), e.get()));
  }
  RAMS_RETURN_IF_ERROR(Watch(epoll.get(), listen.get()));
  return std::unique_ptr<HostPager>(new HostPager(std::move(options), features, std::move(listen),
                                                  std::move(epoll), std::move(events[0]),
                                                  std::move(events[1])));
}

HostPager::HostPager(HostPagerOptions options, UffdFeatures features, sys::UniqueFd listen,
                     sys::UniqueFd epoll, sys::UniqueFd stop, sys::UniqueFd opened)
    : options_(std::move(options)),
      features_(features),
      listen_(std::move(listen)),
      epoll_(std::move(epoll)),
      stop_(std::move(stop)),
      opened_(std::move(opened)) {
  for (int i = 0; i < std::max(1, options_.fetch_threads) + 1; ++i) {
    workers_.threads.emplace_back([this] { Worker(); });
  }
  for (int i = 0; i < std::max(1, options_.open_threads); ++i) {
    openers_.threads.emplace_back([this] { RunPool(openers_); });
  }
}

HostPager::~HostPager() {
  uint64_t one = 1;
  // The leader sees it (and every later leader: it stays readable).
  if (write(stop_.get(), &one, sizeof(one)) != sizeof(one)) std::abort();
  // The workers end once the leader saw it and their jobs are done.
  for (auto& t : workers_.threads) t.join();
  StopPool(openers_);  // a provider call in flight ends within its own timeout
  conns_.clear();
  if (options_.socket_path[0] != '@') ::unlink(options_.socket_path.c_str());
}

Result<std::shared_ptr<PagerSegment>> HostPager::MakeSegment(std::string_view name,
                                                             std::unique_ptr<PageSource> source,
                                                             SegmentAccess access) const {
  if (name.empty() || name.size() >= kPagerNameBytes) return Error(EINVAL, "segment name");
  if (source->SizeBytes() == 0 || source->SizeBytes() % kPageBytes != 0) {
    return Error(EINVAL, "map " + std::string(name) + ": size is not a multiple of 4 KiB");
  }
  RAMS_ASSIGN_OR_RETURN(int fd, sys::SysCallValue("memfd_create", [&] {
    return memfd_create(("rams-map." + std::string(name)).c_str(), MFD_CLOEXEC);
  }));
  sys::UniqueFd memfd(fd);
  RAMS_RETURN_IF_ERROR(sys::SysCall("ftruncate memfd " + std::string(name), [&] {
    return ftruncate(memfd.get(), static_cast<off_t>(source->SizeBytes()));
  }));
  return std::make_shared<PagerSegment>(std::string(name), std::move(source), access,
                                        options_.tuning, features_, std::move(memfd));
}

Status HostPager::AddSegment(std::string_view name, std::unique_ptr<PageSource> source,
                             SegmentAccess access) {
  RAMS_ASSIGN_OR_RETURN(std::shared_ptr<PagerSegment> seg,
                        MakeSegment(name, std::move(source), access));
  std::lock_guard lock(mu_);
  if (segments_.count(name) != 0) return Error(EEXIST, "map " + std::string(name));
  segments_.emplace(std::string(name), std::move(seg));
  return Status();
}

Result<std::shared_ptr<PagerSegment>> HostPager::Adopt(const std::string& name,
                                                       ProvidedSegment provided) {
  RAMS_ASSIGN_OR_RETURN(std::shared_ptr<PagerSegment> seg,
                        MakeSegment(name, std::move(provided.source), provided.access));
  std::shared_ptr<PagerSegment> replaced;  // destroyed outside mu_
  std::lock_guard lock(mu_);
  auto it = segments_.find(name);
  if (it == segments_.end()) {
    segments_.emplace(name, seg);
    return seg;
  }
  if (!it->second->lost()) return it->second;
  // The old source is lost (its home restarted or went away): processes
  // still mapping it keep it and fail cleanly; new ones get this one.
  replaced = std::exchange(it->second, seg);
  const PagerStats old = replaced->Stats();
  for (uint64_t PagerStats::*f : kCounters) retired_.*f += old.*f;
  return seg;
}

PagerStats HostPager::RetiredStats() const {
  std::lock_guard lock(mu_);
  return retired_;
}

std::shared_ptr<PagerSegment> HostPager::Find(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = segments_.find(name);
  return it == segments_.end() ? nullptr : it->second;
}

Status HostPager::Flush(std::string_view name) {
  auto seg = Find(name);
  if (!seg) return Error(ENOENT, "flush " + std::string(name));
  return seg->Flush();
}

Result<PagerStats> HostPager::Stats(std::string_view name) const {
  auto seg = Find(name);
  if (!seg) return Error(ENOENT, "stats " + std::string(name));
  return seg->Stats();
}

std::vector<std::pair<std::string, PagerStats>> HostPager::AllStats() const {
  std::vector<std::pair<std::string, std::shared_ptr<PagerSegment>>> segments;
  {
    std::lock_guard lock(mu_);
    segments.assign(segments_.begin(), segments_.end());
  }
  std::vector<std::pair<std::string, PagerStats>> out;
  for (const auto& [name, seg] : segments) out.emplace_back(name, seg->Stats());
  return out;
}

void HostPager::Post(Pool& pool, std::function<void()> job) {
  {
    std::lock_guard lock(pool.mu);
    pool.jobs.push_back(std::move(job));
  }
  pool.cv.notify_one();
}

void HostPager::RunPool(Pool& pool) {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(pool.mu);
      pool.cv.wait(lock, [&] { return pool.stopping || !pool.jobs.empty(); });
      if (pool.jobs.empty()) return;
      job = std::move(pool.jobs.front());
      pool.jobs.pop_front();
    }
    job();
  }
}

// Every pager thread: leads when nobody does, else runs the jobs posted
// (fetches, flushes); once stopping, finishes the jobs left and ends.
void HostPager::Worker() {
  Pool& pool = workers_;
  for (;;) {
    std::function<void()> job;
    bool pass_on = false;
    {
      std::unique_lock lock(pool.mu);
      ++pool.idle;
      pool.cv.wait(lock, [&] { return pool.stopping || !pool.jobs.empty() || !pool.leading; });
      --pool.idle;
      if (!pool.jobs.empty()) {
        job = std::move(pool.jobs.front());
        pool.jobs.pop_front();
      } else if (pool.stopping) {
        return;
      } else {
        pool.leading = true;
      }
      // Each notification wakes one thread, for one duty: what this one
      // does not take (another job, or the lead) goes on to the next.
      pass_on = pool.idle > 0 && (!pool.jobs.empty() || !pool.leading);
    }
    if (pass_on) pool.cv.notify_one();
    if (!job) {
      job = Lead();
      {
        std::lock_guard lock(pool.mu);
        pool.leading = false;
      }
      if (!job) {  // stopping: every thread ends (the wait above sees it)
        pool.cv.notify_all();
        continue;
      }
      pool.cv.notify_one();  // an idle thread leads next
    }
    job();
  }
}

void HostPager::StopPool(Pool& pool) {
  {
    std::lock_guard lock(pool.mu);
    pool.stopping = true;
  }
  pool.cv.notify_all();
  for (auto& t : pool.threads) t.join();
}

std::function<void()> HostPager::Lead() {
  epoll_event events[kMaxEventsPerWake];
  std::vector<std::function<void()>> fetches;
  for (;;) {
    int n = epoll_wait(epoll_.get(), events, kMaxEventsPerWake, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) std::abort();  // our own epoll descriptor broke: a programmer error
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_.get()) {
        std::lock_guard lock(workers_.mu);
        workers_.stopping = true;
        // Failed by the segments' end.
        for (auto& f : fetches) workers_.jobs.push_back(std::move(f));
        return nullptr;
      }
      if (fd == opened_.get()) {
        OnOpened();
        continue;
      }
      if (fd == listen_.get()) {
        Accept();
        continue;
      }
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      std::shared_ptr<Conn> conn = it->second;
      if (conn->client && fd == conn->client->uffd.get()) {
        OnUffd(conn, &fetches);
      } else {
        OnSocket(conn);
      }
    }
    if (fetches.empty()) continue;
    std::function<void()> kept;
    {
      std::lock_guard lock(workers_.mu);
      // Keep the last fetch when an idle thread can lead meanwhile; the
      // others (and that one, when nobody is idle) go to the workers.
      if (workers_.idle > 0) {
        kept = std::move(fetches.back());
        fetches.pop_back();
      }
      for (auto& f : fetches) workers_.jobs.push_back(std::move(f));
    }
    // One thread woken per fetch posted (they pass it on, Worker); none when
    // this thread keeps the only one.
    if (!fetches.empty()) workers_.cv.notify_one();
    fetches.clear();
    if (kept) return kept;
  }
}

void HostPager::Accept() {
  for (;;) {
    int fd = accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a transient error: the next wake retries
    auto conn = std::make_shared<Conn>();
    conn->sock.Reset(fd);
    if (conns_.size() >= 2 * kMaxConnections) continue;  // refused (closed)
    socklen_t len = sizeof(conn->cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &conn->cred, &len) != 0 ||
        !Watch(epoll_.get(), fd).ok()) {
      continue;  // cannot tell who it is: refused (closed)
    }
    conns_[fd] = conn;
  }
}

}  // namespace rams::mapping
