/* SPDX-License-Identifier: MIT */
// Readiness and state notices to a service manager (systemd's sd_notify
// protocol): a datagram of "KEY=VALUE" lines sent to the AF_UNIX socket named
// by $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). Without
// $NOTIFY_SOCKET every call does nothing, so ramsd runs the same by hand.
//
// Thread safety: stateless; safe from any thread.
#pragma once

#include <string_view>

#include "rams/status.h"

namespace ramsd {

// Sends `state` (e.g. "READY=1\nSTATUS=listening") when a manager asked for
// notices. An error names what failed; callers log it and go on.
rams::Status NotifyServiceManager(std::string_view state);

}  // namespace ramsd
