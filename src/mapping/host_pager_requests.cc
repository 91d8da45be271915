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
      s = conn->segment ? Error(EINVAL, "second OPEN") : HandleOpen(*conn, req, &reply, &send_fd);
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
      Post([conn, reply]() mutable {
        reply.error = conn->segment->Flush().code();
        SendMessage(conn->sock.get(), &reply, sizeof(reply), -1).IgnoreError();
      });
      return;
    }
    default:
      s = Error(EINVAL, "unknown pager request");
  }
  reply.error = s.code();
  if (!SendMessage(conn->sock.get(), &reply, sizeof(reply), send_fd.get()).ok() ||
      (!s.ok() && s.code() == EINVAL)) {
    Close(conn);  // a broken peer: disconnected
  }
}

Status HostPager::HandleOpen(Conn& conn, const PagerRequest& req, PagerReply* reply,
                             sys::UniqueFd* send_fd) {
  char name[kPagerNameBytes + 1] = {};
  std::memcpy(name, req.name, kPagerNameBytes);
  if (std::strlen(name) == kPagerNameBytes) return Error(EINVAL, "OPEN: name not terminated");
  auto seg = Find(name);
  if (!seg && options_.provider) {
    RAMS_ASSIGN_OR_RETURN(ProvidedSegment provided, options_.provider(name));
    Status added = AddSegment(name, std::move(provided.source), provided.access);
    if (!added.ok() && added.code() != EEXIST) return added;
    seg = Find(name);
  }
  if (!seg) return Error(ENOENT, std::string("map ") + name);
  const bool write = (req.flags & kOpenWrite) != 0;
  if (write && seg->read_only()) {
    return Error(EROFS, std::string("map ") + name + " for writing: read-only export");
  }
  // userfaultfd needs a mapping that may become writable, so every mapper
  // holds a read-write descriptor of the host's one copy: mapping a writable
  // export therefore needs write permission even for a read-only mapping.
  if (!Allowed(conn.cred, seg->access(), !seg->read_only())) {
    return Error(EACCES, std::string("map ") + name + ": refused by the segment's mode");
  }
  // The owner domain: without one (a home or page source that has none)
  // the mapping still works, and its sync objects stay single-host.
  if (req.domain != 0) {
    Result<OwnerIndex> owner = seg->Owner(req.domain);
    if (owner.ok()) {
      reply->owner_domain = owner->domain;
      reply->owner_index = owner->host_index;
    } else if (owner.code() != EOPNOTSUPP) {
      return Status(owner.code(), std::string("map ") + name + ": owner index: " +
                                      owner.status().message());
    }
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

void HostPager::OnUffd(const std::shared_ptr<Conn>& conn) {
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
      Post([seg, page] { seg->FetchPage(page); });
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
