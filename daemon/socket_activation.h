/* SPDX-License-Identifier: MIT */
// Socket activation: the listening sockets a service manager passes to ramsd
// (systemd's sd_listen_fds protocol, without libsystemd). LISTEN_PID names
// the process they are for, LISTEN_FDS how many there are from fd 3 on, and
// LISTEN_FDNAMES (optional, colon-separated) their names: the one named
// "http" is the HTTP endpoint, the other the protocol's listener. Without
// names, fd 3 is the protocol's listener and fd 4, if passed, the HTTP one.
// Each must be a listening IPv4 or IPv6 TCP socket.
//
// Thread safety: call once, at start-up, before other threads exist (it reads
// and unsets the environment).
#pragma once

#include "rams/status.h"

namespace ramsd {

struct InheritedSockets {
  int listen_fd = -1;  // -1: none passed (ramsd binds --listen)
  int http_fd = -1;    // -1: none passed (ramsd binds --http, if given)
};

// The sockets passed to this process, made close-on-exec; the LISTEN_*
// variables are unset so that children do not take them for theirs. None
// when LISTEN_PID is unset or another process's. EINVAL naming the fd for a
// socket ramsd cannot serve on, or for more sockets than it uses.
rams::Result<InheritedSockets> TakeInheritedSockets();

}  // namespace ramsd
