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

Status Watch(int epoll, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return sys::SysCall("epoll_ctl ADD", [&] { return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev); });
}

}  // namespace

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
  RAMS_ASSIGN_OR_RETURN(int ev, sys::SysCallValue("eventfd", [] {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }));
  sys::UniqueFd stop(ev);
  RAMS_RETURN_IF_ERROR(Watch(epoll.get(), listen.get()));
  RAMS_RETURN_IF_ERROR(Watch(epoll.get(), stop.get()));
  return std::unique_ptr<HostPager>(new HostPager(std::move(options), features, std::move(listen),
                                                  std::move(epoll), std::move(stop)));
}

HostPager::HostPager(HostPagerOptions options, UffdFeatures features, sys::UniqueFd listen,
                     sys::UniqueFd epoll, sys::UniqueFd stop)
    : options_(std::move(options)),
      features_(features),
      listen_(std::move(listen)),
      epoll_(std::move(epoll)),
      stop_(std::move(stop)) {
  loop_ = std::thread([this] { Loop(); });
  for (int i = 0; i < std::max(1, options_.fetch_threads); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
}

HostPager::~HostPager() {
  uint64_t one = 1;
  if (write(stop_.get(), &one, sizeof(one)) != sizeof(one)) std::abort();
  loop_.join();
  {
    std::lock_guard lock(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  for (auto& w : workers_) w.join();
  conns_.clear();
  if (options_.socket_path[0] != '@') ::unlink(options_.socket_path.c_str());
}

Status HostPager::AddSegment(std::string_view name, std::unique_ptr<PageSource> source,
                             SegmentAccess access) {
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
  std::lock_guard lock(mu_);
  if (segments_.count(name) != 0) return Error(EEXIST, "map " + std::string(name));
  segments_.emplace(std::string(name),
                    std::make_shared<PagerSegment>(std::string(name), std::move(source), access,
                                                   options_.tuning, features_, std::move(memfd)));
  return Status();
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

void HostPager::Post(std::function<void()> job) {
  {
    std::lock_guard lock(jobs_mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
}

void HostPager::Worker() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(jobs_mu_);
      jobs_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

void HostPager::Loop() {
  epoll_event events[kMaxEventsPerWake];
  for (;;) {
    int n = epoll_wait(epoll_.get(), events, kMaxEventsPerWake, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) std::abort();  // our own epoll descriptor broke: a programmer error
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_.get()) return;
      if (fd == listen_.get()) {
        Accept();
        continue;
      }
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      std::shared_ptr<Conn> conn = it->second;
      if (conn->client && fd == conn->client->uffd.get()) {
        OnUffd(conn);
      } else {
        OnSocket(conn);
      }
    }
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
