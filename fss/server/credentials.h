/* SPDX-License-Identifier: MIT */
// Per-thread file-system credentials, so that fssd performs an accepted
// client's operations with the client's own uid, gid and supplementary groups
// and permissions are the kernel's. setfsuid, setfsgid and the raw setgroups
// system call change only the calling thread (glibc's setgroups() changes
// every thread of the process, so it is not used). A thread whose fsuid is
// not 0 also loses the file-system capabilities (CAP_DAC_OVERRIDE,
// CAP_FOWNER, CAP_CHOWN, ...) until it is set back to 0.
//
// Thread safety: every function acts on the calling thread only.
#pragma once

#include <sys/types.h>

#include <vector>

#include "rams/status.h"

namespace rams::fss {

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
};

// This process's effective credentials (call at start, before any switch).
Result<Credentials> ProcessCredentials();

// The peer of a connected Unix socket: SO_PEERCRED and SO_PEERGROUPS.
Result<Credentials> PeerCredentials(int sock);

// Makes the calling thread act as `c` for file-system access from now on,
// and remembers `server` as what ActAsServer switches back to.
// REQUIRES: the process may (CAP_SETUID, CAP_SETGID).
[[nodiscard]] Status ActAsClient(const Credentials& c, const Credentials& server);

// While alive, a thread that acts as a client (ActAsClient) acts as the
// server again: for saves into the checkpoint area. Does nothing on other
// threads. Aborts if the switch back fails (the thread would go on with the
// wrong rights: a bug of ours, not a peer's input).
class ActAsServer {
 public:
  ActAsServer();
  ~ActAsServer();
  ActAsServer(const ActAsServer&) = delete;
  ActAsServer& operator=(const ActAsServer&) = delete;

 private:
  bool switched_ = false;
};

}  // namespace rams::fss
