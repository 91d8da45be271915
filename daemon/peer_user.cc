// SPDX-License-Identifier: MIT
// sock_diag lookup of a loopback peer's uid (falling back to /proc/net/tcp),
// and the local permission check.
#include "peer_user.h"

#include <grp.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "sys/sys.h"

namespace ramsd {
namespace {

using rams::Error;

struct DiagRequest {
  nlmsghdr header;
  inet_diag_req_v2 body;
};

void FillAddress(const asio::ip::address& address, __be32 out[4]) {
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    std::memcpy(out, bytes.data(), bytes.size());
  } else {
    const auto bytes = address.to_v6().to_bytes();
    std::memcpy(out, bytes.data(), bytes.size());
  }
}

DiagRequest MakeRequest(const asio::ip::tcp::endpoint& local,
                        const asio::ip::tcp::endpoint& peer) {
  DiagRequest req{};
  req.header.nlmsg_len = sizeof(req);
  req.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.header.nlmsg_flags = NLM_F_REQUEST;
  req.header.nlmsg_seq = 1;
  req.body.sdiag_family = peer.address().is_v4() ? AF_INET : AF_INET6;
  req.body.sdiag_protocol = IPPROTO_TCP;
  req.body.idiag_states = ~0u;
  // The peer's socket: its source is the peer, its destination is us.
  req.body.id.idiag_sport = htons(peer.port());
  req.body.id.idiag_dport = htons(local.port());
  FillAddress(peer.address(), req.body.id.idiag_src);
  FillAddress(local.address(), req.body.id.idiag_dst);
  req.body.id.idiag_if = 0;
  req.body.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  req.body.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  return req;
}

}  // namespace

rams::Result<uid_t> LoopbackPeerUid(const asio::ip::tcp::endpoint& local,
                                    const asio::ip::tcp::endpoint& peer) {
  const int raw = rams::sys::RetryEintr(
      [] { return socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG); });
  // No sock_diag here (qemu-user, a kernel without INET_DIAG): the same
  // answer from this network namespace's socket tables.
  if (raw < 0) return ProcNetPeerUid(local, peer);
  rams::sys::UniqueFd fd(raw);
  DiagRequest req = MakeRequest(local, peer);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  RAMS_RETURN_IF_ERROR(rams::sys::SysCall("sock_diag send", [&] {
    return sendto(fd.get(), &req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&kernel),
                  sizeof(kernel));
  }));
  alignas(nlmsghdr) char buf[8192];
  // A bounded wait: the kernel answers at once or not at all.
  timeval tv{.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  RAMS_ASSIGN_OR_RETURN(ssize_t n, rams::sys::SysCallValue("sock_diag recv", [&] {
                          return recv(fd.get(), buf, sizeof(buf), 0);
                        }));
  int len = static_cast<int>(n);
  // NLMSG_OK compares the header's unsigned length with the signed one.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
  for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
    if (h->nlmsg_type == NLMSG_ERROR) {
      const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return Error(EPROTO, "sock_diag");
      // ENOENT is also sock_diag's answer when it has no handler for the
      // family: inet_diag is a module (Debian's INET_DIAG=m) that nobody
      // loaded (no modprobe, as in a minimal initramfs). The socket tables
      // answer then; for a socket that is really gone they say ENOENT too.
      if (e->error == -ENOENT) return ProcNetPeerUid(local, peer);
      return Error(e->error != 0 ? -e->error : ENOENT, "sock_diag: no such peer socket");
    }
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) {
      continue;
    }
    const auto* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
    if (msg->id.idiag_sport != htons(peer.port()) || msg->id.idiag_dport != htons(local.port())) {
      continue;
    }
    return static_cast<uid_t>(msg->idiag_uid);
  }
#pragma GCC diagnostic pop
  return Error(ENOENT, "sock_diag: no such peer socket");
}

namespace {

// Whether `uid` is in group `gid` (primary or supplementary).
rams::Result<bool> InGroup(uid_t uid, gid_t gid) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> strings(16384);
  if (getpwuid_r(uid, &pw, strings.data(), strings.size(), &found) != 0 || found == nullptr) {
    // A uid without a passwd entry has no supplementary groups to find.
    return false;
  }
  if (pw.pw_gid == gid) return true;
  int count = 256;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
    return Error(EACCES, "cannot read the groups of uid " + std::to_string(uid));
  }
  for (int i = 0; i < count; ++i) {
    if (groups[static_cast<size_t>(i)] == gid) return true;
  }
  return false;
}

}  // namespace

rams::Status CheckLocalAccess(uid_t uid, const rams::SegmentInfo& info, bool read_only) {
  if (uid == 0) return rams::Status::Ok();
  uint32_t shift = 0;  // others
  if (uid == info.owner_uid) {
    shift = 6;
  } else {
    RAMS_ASSIGN_OR_RETURN(bool member, InGroup(uid, info.owner_gid));
    if (member) shift = 3;
  }
  const uint32_t bits = (info.mode >> shift) & 7;
  const uint32_t need = read_only ? 4 : 6;
  if ((bits & need) != need) {
    return Error(EACCES, "open " + info.name + ": uid " + std::to_string(uid) +
                             " may not open it " + (read_only ? "read-only" : "read-write"));
  }
  return rams::Status::Ok();
}

}  // namespace ramsd
