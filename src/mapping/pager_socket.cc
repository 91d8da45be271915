// SPDX-License-Identifier: MIT
// The process <-> host pager socket protocol (pager_socket.h).
#include "mapping/pager_socket.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

namespace rams::mapping {
namespace {

constexpr int kMaxFdsPerMessage = 4;

Result<sockaddr_un> MakeAddress(std::string_view path, socklen_t* len) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Error(EINVAL, "pager socket path " + std::string(path));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  return addr;
}

}  // namespace

Status SendMessage(int sock, const void* msg, size_t len, int fd) {
  iovec iov{const_cast<void*>(msg), len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (fd >= 0) {
    mh.msg_control = control;
    mh.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  RAMS_ASSIGN_OR_RETURN(ssize_t sent, sys::SysCallValue("sendmsg to pager socket", [&] {
    return sendmsg(sock, &mh, MSG_NOSIGNAL);
  }));
  if (static_cast<size_t>(sent) != len) return Error(EPROTO, "sendmsg to pager socket: short");
  return Status();
}

Status ReceiveMessage(int sock, void* msg, size_t len, sys::UniqueFd* fd_out) {
  iovec iov{msg, len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof(control);
  RAMS_ASSIGN_OR_RETURN(ssize_t got, sys::SysCallValue("recvmsg from pager socket", [&] {
    return recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  }));
  // Every descriptor that came is owned (and closed unless it is the one).
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (!fd_out->valid()) fd_out->Reset(fd); else ::close(fd);
    }
  }
  if (got == 0) return Error(ECONNRESET, "pager socket closed");
  if (static_cast<size_t>(got) != len || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    return Error(EPROTO, "pager socket: message of the wrong size");
  }
  return Status();
}

Result<sys::UniqueFd> ConnectPager(std::string_view path) {
  socklen_t len = 0;
  RAMS_ASSIGN_OR_RETURN(sockaddr_un addr, MakeAddress(path, &len));
  RAMS_ASSIGN_OR_RETURN(int fd, sys::SysCallValue("socket", [] {
    return socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  }));
  sys::UniqueFd sock(fd);
  RAMS_RETURN_IF_ERROR(sys::SysCall("connect to host pager " + std::string(path), [&] {
    return connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), len);
  }));
  return sock;
}

Result<sys::UniqueFd> ListenPager(std::string_view path) {
  socklen_t len = 0;
  RAMS_ASSIGN_OR_RETURN(sockaddr_un addr, MakeAddress(path, &len));
  RAMS_ASSIGN_OR_RETURN(int fd, sys::SysCallValue("socket", [] {
    return socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  }));
  sys::UniqueFd sock(fd);
  if (path[0] != '@') ::unlink(std::string(path).c_str());
  RAMS_RETURN_IF_ERROR(sys::SysCall("bind host pager socket " + std::string(path), [&] {
    return bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), len);
  }));
  RAMS_RETURN_IF_ERROR(sys::SysCall("listen", [&] { return listen(sock.get(), 64); }));
  return sock;
}

}  // namespace rams::mapping
