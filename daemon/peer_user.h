/* SPDX-License-Identifier: MIT */
// Who is on the other end of a loopback connection, and what a local open by
// that user would be allowed to do. ramsd without a key serves loopback
// peers only, and serves each as the local user who connected: it asks the
// kernel (sock_diag, NETLINK_SOCK_DIAG with INET_DIAG_REQ_V2) for the owner
// of the peer's TCP socket, or, where there is no sock_diag (qemu-user, a
// kernel without INET_DIAG) or it answers ENOENT (also its answer without
// the inet_diag module loaded), reads the owner from this network namespace's
// /proc/self/net/tcp and tcp6; then it checks a segment's owner and mode against
// that user's uid, primary group and supplementary groups as open(2) would.
// A lookup that fails ("cannot tell") yields an error, never "allowed".
//
// Thread safety: the functions keep no state and may be called from any
// thread.
#pragma once

#include <sys/types.h>

#include <string>

#include <asio.hpp>

#include "rams/backend.h"
#include "rams/status.h"

namespace ramsd {

// The uid owning the TCP socket at `peer` connected to `local`, both on
// loopback in this network namespace. ENOENT when the kernel knows no such
// socket (the peer is gone, or lives in another namespace), or the errno of
// the netlink exchange.
[[nodiscard]] rams::Result<uid_t> LoopbackPeerUid(const asio::ip::tcp::endpoint& local,
                                                  const asio::ip::tcp::endpoint& peer);

// The fallback of LoopbackPeerUid: the uid of the socket whose local end is
// `peer` and remote end is `local` in the tables `net_dir`/tcp and
// `net_dir`/tcp6 (the format of /proc/net/tcp). The 4-tuple must match
// exactly, and every line that matches must name the same socket inode, not
// 0 (a TIME_WAIT or orphaned socket has no owner to ask): otherwise "cannot
// tell" (EACCES). ENOENT when no line matches.
[[nodiscard]] rams::Result<uid_t> ProcNetPeerUid(const asio::ip::tcp::endpoint& local,
                                                 const asio::ip::tcp::endpoint& peer,
                                                 const std::string& net_dir = "/proc/self/net");

// OK when `uid` may open a segment with `info`'s owner and mode (read, and
// write unless `read_only`) as a local open would; root may open anything.
// EACCES otherwise, or when the user's groups cannot be read.
[[nodiscard]] rams::Status CheckLocalAccess(uid_t uid, const rams::SegmentInfo& info,
                                            bool read_only);

}  // namespace ramsd
