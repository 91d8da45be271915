/* SPDX-License-Identifier: MIT */
// The one classification of a socket address as loopback, shared by the
// client's socket layers (net::PeerIsLoopback on Linux and Windows) and by
// ramsd (its keyless-access and --http checks): IPv4 127.0.0.0/8, IPv6 ::1,
// and 127.0.0.0/8 as an IPv4-mapped IPv6 address (::ffff:127.x.y.z).
// Anything else, including an unknown family, is not loopback.
//
// Thread safety: a pure function.
#pragma once

struct sockaddr_storage;

namespace rams::remote_internal::net {

bool IsLoopbackAddress(const sockaddr_storage& address);

}  // namespace rams::remote_internal::net
