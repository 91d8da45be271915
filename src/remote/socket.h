/* SPDX-License-Identifier: MIT */
// The client's socket layer: what Connection needs from the operating
// system's TCP sockets, behind one interface with one implementation per
// platform (socket_posix.cc: Linux; socket_win.cc: Winsock, for the Windows
// client). Errors come back as Status with the platform's errno codes
// (Winsock's WSAE* codes are translated to them).
//
// Thread safety: the functions keep no state (on Windows the first call
// starts Winsock once, thread-safely). One socket may be sent on by one
// thread while another receives on it, as Connection does.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#ifndef _WIN32
#include <sys/uio.h>
#endif

#include "rams/status.h"

namespace rams::remote_internal::net {

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;

#ifdef _WIN32
using SocketHandle = uintptr_t;  // SOCKET
inline constexpr SocketHandle kNoSocket = ~uintptr_t{0};  // INVALID_SOCKET
// One piece of a gathered send, laid out as POSIX's iovec.
struct IoVec {
  void* iov_base;
  size_t iov_len;
};
#else
using SocketHandle = int;
inline constexpr SocketHandle kNoSocket = -1;
using IoVec = ::iovec;
#endif

// Resolves `host` and connects to its first address that answers before
// `deadline`; the socket returned is blocking, with TCP_NODELAY, keep-alive
// probes (a vanished peer is noticed in about 20 s), a 256 KiB send buffer
// and a send timeout of `send_timeout` (a send that cannot progress that
// long fails with ETIMEDOUT). EHOSTUNREACH when the name does not resolve.
Result<SocketHandle> Connect(const std::string& host, uint16_t port, Deadline deadline,
                             std::chrono::milliseconds send_timeout);

// Sends from `iov` in one gathered call; returns how many bytes went (at
// least one). ETIMEDOUT when the send timeout passed with nothing sent.
Result<size_t> SendSome(SocketHandle s, std::span<const IoVec> iov);

// Receives what has arrived, without waiting: 0 when nothing has;
// ECONNRESET ("connection closed") at the peer's orderly close.
Result<size_t> ReceiveNow(SocketHandle s, std::span<std::byte> into);

// Waits until the socket has bytes (or the peer's close) to receive: true;
// false when `deadline` passed first (or a signal interrupted the wait).
Result<bool> WaitReadable(SocketHandle s, Deadline deadline);

// A wake-up for a thread in WaitReadableOrWoken (a passive reader asked to
// yield): an eventfd on Linux; none on Windows (MakeWake gives kNoWake, and
// a waiter is then only woken by bytes or its deadline).
using WakeHandle = int;
inline constexpr WakeHandle kNoWake = -1;
WakeHandle MakeWake();  // kNoWake when none can be made
void Wake(WakeHandle w);
void DrainWake(WakeHandle w);
void CloseWake(WakeHandle w);
// As WaitReadable, and also returns (false, *woken set) once `w` is woken.
Result<bool> WaitReadableOrWoken(SocketHandle s, WakeHandle w, Deadline deadline, bool* woken);

// Ends both directions (a blocked receiver returns); the socket stays open.
void Shutdown(SocketHandle s);
void Close(SocketHandle s);

// Whether the connected socket's peer has a loopback address (127/8, ::1,
// or ::ffff:127/104); false when that cannot be told.
bool PeerIsLoopback(SocketHandle s);

}  // namespace rams::remote_internal::net
