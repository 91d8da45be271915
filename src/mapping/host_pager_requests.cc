// SPDX-License-Identifier: MIT
// The host pager's answers to local processes (OPEN, REGISTER, FLUSH) and its
// reading of their userfaultfds (host_pager.h). A process is hostile: a bad
// message closes its connection, nothing it sends is trusted.
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "mapping/host_pager.h"

namespace rams::mapping {
namespace {

constexpr int kMaxFaultsPerRead = 32;
// Distinct names waiting for the provider at once; more OPENs get EAGAIN.
constexpr size_t kMaxOpensInFlight = 64;

// Whether `cred` may map a segment with `access` (as file permissions).
bool Allowed(const ucred& cred, const SegmentAccess& access, bool write) {
  if (cred.uid == 0) return true;
  uint32_t bits = access.mode & 07;
  if (cred.uid == access.owner_uid) {
    bits = (access.mode >> 6) & 07;
  } else if (cred.gid == access.owner_gid) {
    bits = (access.mode >> 3) & 07;
  }
  return (bits & 04) != 0 && (!write || (bits & 02) != 0);
}

bool IsUserfaultfd(int fd) {
  char link[64] = {};
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(path.c_str(), link, sizeof(link) - 1);
  return n > 0 && std::string_view(link, n) == "anon_inode:[userfaultfd]";
}

bool ValidHeader(const PagerRequest& req) {
  return req.magic == kPagerMagic && req.version == kPagerVersion;
}

}  // namespace

void HostPager::OnSocket(const std::shared_ptr<Conn>& conn) {
  PagerRequest req;
  sys::UniqueFd fd;
  if (!ReceiveMessage(conn->sock.get(), &req, sizeof(req), &fd).ok() || !ValidHeader(req)) {
    Close(conn);
    return;
  }
  PagerReply reply{};
  reply.magic = kPagerMagic;
  sys::UniqueFd send_fd;
  Status s;
  switch (static_cast<PagerOp>(req.op)) {
    case PagerOp::kOpen:
      if (!HandleOpen(conn, req, &reply, &send_fd, &s)) return;  // OnOpened answers
      break;
    case PagerOp::kRegister:
      s = HandleRegister(conn, req, std::move(fd));
      break;
    case PagerOp::kFlush: {
      if (!conn->segment) {
        s = Error(EINVAL, "FLUSH before OPEN");
        break;
      }
      // The write-back waits on the network: a worker answers.
      Post(workers_, [conn, reply]() mutable {
        Status flushed = conn->segment->Flush();
        reply.error = (flushed.ok() ? CheckLoss(*conn) : flushed).code();
        SendMessage(conn->sock.get(), &reply, sizeof(reply), -1).IgnoreError();
      });
      return;
    }
    case PagerOp::kCheck:
      s = conn->segment ? CheckLoss(*conn) : Error(EINVAL, "CHECK before OPEN");
      break;
    default:
      s = Error(EINVAL, "unknown pager request");
  }
  Answer(conn, reply, s, send_fd.get());
}

void HostPager::Answer(const std::shared_ptr<Conn>& conn, PagerReply reply, const Status& status,
                       int send_fd) {
  reply.error = status.code();
  if (!SendMessage(conn->sock.get(), &reply, sizeof(reply), send_fd).ok() ||
      (!status.ok() && status.code() == EINVAL)) {
    Close(conn);  // a broken peer: disconnected
  }
}

bool HostPager::HandleOpen(const std::shared_ptr<Conn>& conn, const PagerRequest& req,
                           PagerReply* reply, sys::UniqueFd* send_fd, Status* status) {
  if (conn->segment || conn->opening) {
    *status = Error(EINVAL, "second OPEN");
    return true;
  }
  char name[kPagerNameBytes + 1] = {};
  std::memcpy(name, req.name, kPagerNameBytes);
  if (std::strlen(name) == kPagerNameBytes) {
    *status = Error(EINVAL, "OPEN: name not terminated");
    return true;
  }
  conn->open_name = name;
  conn->open_write = (req.flags & kOpenWrite) != 0;
  conn->open_domain = req.domain;
  std::shared_ptr<PagerSegment> seg = Find(name);
  // A segment whose source was lost (its home restarted or went away) is
  // opened again for new mappings; without a provider it stays served, and
  // its faults fail at once.
  if ((!seg || seg->lost()) && options_.provider) {
    *status = StartProvide(conn);
    return !status->ok();
  }
  return ContinueOpen(conn, std::move(seg), reply, send_fd, status);
}

Status HostPager::HoldOpen(const std::shared_ptr<Conn>& conn) {
  if (conn->opening) return Status();
  RAMS_RETURN_IF_ERROR(sys::SysCall("epoll_ctl DEL", [&] {
    return epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn->sock.get(), nullptr);
  }));
  conn->opening = true;
  return Status();
}

void HostPager::SignalOpened() {
  uint64_t one = 1;
  if (write(opened_.get(), &one, sizeof(one)) != sizeof(one)) std::abort();
}

bool HostPager::ContinueOpen(const std::shared_ptr<Conn>& conn, std::shared_ptr<PagerSegment> seg,
                             PagerReply* reply, sys::UniqueFd* send_fd, Status* status) {
  *status = CheckOpen(*conn, seg.get());
  if (!status->ok()) return true;
  if (conn->open_domain == 0) {
    // Without a domain the mapping still works, and its sync objects stay
    // single-host.
    *status = FinishOpen(*conn, std::move(seg), Error(EOPNOTSUPP, "no owner domain asked for"),
                         reply, send_fd);
    return true;
  }
  // The owner index may be a round trip to the home (MAP_OWNER), which a
  // stalled home stretches to its timeout: never on the leading thread.
  *status = HoldOpen(conn);
  if (!status->ok()) return true;
  Post(openers_, [this, conn, seg = std::move(seg)] {
    Result<OwnerIndex> owner = seg->Owner(conn->open_domain);
    {
      std::lock_guard lock(opened_mu_);
      owned_list_.push_back(Owned{conn, seg, std::move(owner)});
    }
    SignalOpened();
  });
  return false;
}

Status HostPager::StartProvide(const std::shared_ptr<Conn>& conn) {
  auto it = opening_.find(conn->open_name);
  if (it == opening_.end() && opening_.size() >= kMaxOpensInFlight) {
    return Error(EAGAIN, "map " + conn->open_name + ": too many segments being opened");
  }
  // Nothing more is read from this process until its OPEN is answered.
  RAMS_RETURN_IF_ERROR(HoldOpen(conn));
  if (it != opening_.end()) {
    it->second.push_back(conn);  // the provider call in flight answers it too
    return Status();
  }
  opening_[conn->open_name].push_back(conn);
  Post(openers_, [this, name = conn->open_name] {
    Result<ProvidedSegment> provided = options_.provider(name);
    {
      std::lock_guard lock(opened_mu_);
      opened_list_.push_back(Opened{name, std::move(provided)});
    }
    SignalOpened();
  });
  return Status();
}

void HostPager::OnOpened() {
  uint64_t count = 0;
  if (read(opened_.get(), &count, sizeof(count)) < 0) return;  // EAGAIN: drained already
  std::deque<Opened> done;
  std::deque<Owned> owned;
  {
    std::lock_guard lock(opened_mu_);
    done.swap(opened_list_);
    owned.swap(owned_list_);
  }
  // Answers `conn`'s OPEN and reads its socket again.
  auto answer = [this](const std::shared_ptr<Conn>& conn, const PagerReply& reply,
                       const Status& s, const sys::UniqueFd& send_fd) {
    conn->opening = false;
    if (!Watch(epoll_.get(), conn->sock.get()).ok()) {
      Close(conn);
      return;
    }
    Answer(conn, reply, s, send_fd.get());
  };
  for (Opened& o : done) {
    auto node = opening_.extract(o.name);
    if (node.empty()) continue;
    Result<std::shared_ptr<PagerSegment>> seg =
        o.provided.ok() ? Adopt(o.name, std::move(*o.provided))
                        : Result<std::shared_ptr<PagerSegment>>(o.provided.status());
    for (const std::shared_ptr<Conn>& conn : node.mapped()) {
      PagerReply reply{};
      reply.magic = kPagerMagic;
      sys::UniqueFd send_fd;
      Status s = seg.status();
      if (seg.ok() && !ContinueOpen(conn, *seg, &reply, &send_fd, &s)) continue;  // owner next
      answer(conn, reply, s, send_fd);
    }
  }
  for (Owned& o : owned) {
    PagerReply reply{};
    reply.magic = kPagerMagic;
    sys::UniqueFd send_fd;
    Status s = FinishOpen(*o.conn, std::move(o.segment), o.owner, &reply, &send_fd);
    answer(o.conn, reply, s, send_fd);
  }
}

Status HostPager::CheckLoss(Conn& conn) {
  uint64_t notices = 0;
  RAMS_RETURN_IF_ERROR(conn.segment->Check(&notices));
  if (conn.loss_seen.exchange(notices) < notices) {
    return Error(EOWNERDEAD, "pages of " + conn.segment->name() + " were lost");
  }
  return Status();
}

Status HostPager::CheckOpen(const Conn& conn, const PagerSegment* seg) const {
  const std::string& name = conn.open_name;
  if (!seg) return Error(ENOENT, "map " + name);
  if (conn.open_write && seg->read_only()) {
    return Error(EROFS, "map " + name + " for writing: read-only export");
  }
  // userfaultfd needs a mapping that may become writable, so every mapper
  // holds a read-write descriptor of the host's one copy: mapping a writable
  // export therefore needs write permission even for a read-only mapping.
  if (!Allowed(conn.cred, seg->access(), !seg->read_only())) {
    return Error(EACCES, "map " + name + ": refused by the segment's mode");
  }
  return Status();
}

Status HostPager::FinishOpen(Conn& conn, std::shared_ptr<PagerSegment> seg,
                             const Result<OwnerIndex>& owner, PagerReply* reply,
                             sys::UniqueFd* send_fd) {
  const std::string& name = conn.open_name;
  const bool write = conn.open_write;
  // The owner domain: without one (a home or page source that has none)
  // the mapping still works, and its sync objects stay single-host.
  if (owner.ok()) {
    reply->owner_domain = owner->domain;
    reply->owner_index = owner->host_index;
  } else if (owner.code() != EOPNOTSUPP) {
    return Status(owner.code(), std::string("map ") + name + ": owner index: " +
                                    owner.status().message());
  }
  RAMS_ASSIGN_OR_RETURN(int fd, sys::SysCallValue("dup memfd", [&] {
    return fcntl(seg->memfd(), F_DUPFD_CLOEXEC, 0);
  }));
  send_fd->Reset(fd);
  reply->size_bytes = seg->size_bytes();
  reply->read_only = write ? 0 : 1;
  reply->write_protect = seg->write_protect() ? 1 : 0;
  reply->uffd_features = UFFD_FEATURE_MISSING_SHMEM |
                         (features_.thread_id ? UFFD_FEATURE_THREAD_ID : 0) |
                         (reply->write_protect ? UFFD_FEATURE_WP_HUGETLBFS_SHMEM : 0);
  uint64_t notices = 0;
  seg->Check(&notices).IgnoreError();  // a lost one fails its faults instead
  conn.loss_seen = notices;            // losses before this mapping are not its own
  conn.segment = std::move(seg);
  conn.writable = write;
  return Status();
}

Status HostPager::HandleRegister(const std::shared_ptr<Conn>& conn, const PagerRequest& req,
                                 sys::UniqueFd fd) {
  if (!conn->segment || conn->client) return Error(EINVAL, "REGISTER out of order");
  if (!fd.valid() || !IsUserfaultfd(fd.get())) return Error(EINVAL, "REGISTER: not a userfaultfd");
  if (req.len != conn->segment->size_bytes() || req.addr % kPageBytes != 0) {
    return Error(EINVAL, "REGISTER: range is not the whole mapping");
  }
  auto client = std::make_shared<PagerClient>();
  client->uffd = std::move(fd);
  client->base = req.addr;
  client->pid = conn->cred.pid;
  // Write-protecting the range in the process's mm proves it is registered.
  RAMS_RETURN_IF_ERROR(conn->segment->AddClient(client));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = client->uffd.get();
  Status s = sys::SysCall("epoll_ctl ADD uffd", [&] {
    return epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, client->uffd.get(), &ev);
  });
  if (!s.ok()) {
    conn->segment->RemoveClient(client.get());
    return s;
  }
  conn->client = client;
  conns_[client->uffd.get()] = conn;
  return Status();
}

void HostPager::OnUffd(const std::shared_ptr<Conn>& conn,
                       std::vector<std::function<void()>>* fetches) {
  uffd_msg msgs[kMaxFaultsPerRead];
  ssize_t n = read(conn->client->uffd.get(), msgs, sizeof(msgs));
  if (n <= 0) return;  // EAGAIN: another wake already took them
  for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(uffd_msg); ++i) {
    const uffd_msg& m = msgs[i];
    if (m.event != UFFD_EVENT_PAGEFAULT) continue;
    const bool write =
        (m.arg.pagefault.flags & (UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP)) != 0;
    const uint64_t addr = m.arg.pagefault.address & ~(kPageBytes - 1);
    std::shared_ptr<PagerSegment> seg = conn->segment;
    if (seg->OnFault(conn->client, addr, write, m.arg.pagefault.feat.ptid)) {
      const uint64_t page = (addr - conn->client->base) / kPageBytes;
      fetches->push_back([seg, page] { seg->FetchPage(page); });
    }
  }
}

void HostPager::Close(const std::shared_ptr<Conn>& conn) {
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn->sock.get(), nullptr);
  conns_.erase(conn->sock.get());
  if (conn->client) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn->client->uffd.get(), nullptr);
    conns_.erase(conn->client->uffd.get());
    conn->segment->RemoveClient(conn->client.get());
  }
}

}  // namespace rams::mapping
