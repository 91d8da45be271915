// SPDX-License-Identifier: MIT
// Per-thread credentials through raw system calls.
#include "credentials.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

namespace rams::fss {
namespace {

struct ThreadIdentity {
  Credentials client;
  Credentials server;
};
thread_local std::optional<ThreadIdentity> t_identity;

// setfsuid/setfsgid return the previous id and cannot report failure
// directly: a second call tells whether the first took.
Status SetThread(const Credentials& c) {
  if (::syscall(SYS_setgroups, c.groups.size(), c.groups.data()) != 0) return ErrnoError("setgroups");
  ::syscall(SYS_setfsgid, c.gid);
  if (static_cast<gid_t>(::syscall(SYS_setfsgid, static_cast<gid_t>(-1))) != c.gid) {
    return Error(EPERM, "setfsgid");
  }
  ::syscall(SYS_setfsuid, c.uid);
  if (static_cast<uid_t>(::syscall(SYS_setfsuid, static_cast<uid_t>(-1))) != c.uid) {
    return Error(EPERM, "setfsuid");
  }
  return Status::Ok();
}

}  // namespace

Result<Credentials> ProcessCredentials() {
  Credentials c;
  c.uid = ::geteuid();
  c.gid = ::getegid();
  int n = ::getgroups(0, nullptr);
  if (n < 0) return ErrnoError("getgroups");
  c.groups.resize(static_cast<size_t>(n));
  n = ::getgroups(n, c.groups.data());
  if (n < 0) return ErrnoError("getgroups");
  c.groups.resize(static_cast<size_t>(n));
  return c;
}

Result<Credentials> PeerCredentials(int sock) {
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return ErrnoError("SO_PEERCRED");
  Credentials c;
  c.uid = cred.uid;
  c.gid = cred.gid;
  c.groups.resize(64);
  for (;;) {
    len = static_cast<socklen_t>(c.groups.size() * sizeof(gid_t));
    if (::getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, c.groups.data(), &len) == 0) break;
    if (errno != ERANGE || c.groups.size() >= 65536) return ErrnoError("SO_PEERGROUPS");
    c.groups.resize(len / sizeof(gid_t) + 1);
  }
  c.groups.resize(len / sizeof(gid_t));
  return c;
}

Status ActAsClient(const Credentials& c, const Credentials& server) {
  RAMS_RETURN_IF_ERROR(SetThread(c));
  t_identity = ThreadIdentity{c, server};
  return Status::Ok();
}

ActAsServer::ActAsServer() {
  if (!t_identity) return;
  Status s = SetThread(t_identity->server);
  if (!s.ok()) {
    fprintf(stderr, "fssd: cannot take back the server's credentials: %s\n", s.ToString().c_str());
    abort();
  }
  switched_ = true;
}

ActAsServer::~ActAsServer() {
  if (!switched_) return;
  Status s = SetThread(t_identity->client);
  if (!s.ok()) {
    fprintf(stderr, "fssd: cannot return to the client's credentials: %s\n", s.ToString().c_str());
    abort();
  }
}

}  // namespace rams::fss
