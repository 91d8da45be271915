// SPDX-License-Identifier: MIT
// The socket layer on Windows (Winsock 2), for the remote-only client.
// Winsock has no MSG_DONTWAIT, MSG_NOSIGNAL (it raises no SIGPIPE), sendmsg
// or poll on a bare handle: a receive without waiting asks select() first
// (only one thread receives on a connection), a gathered send is WSASend
// over WSABUFs, and keep-alive timing is set with SIO_KEEPALIVE_VALS
// (Windows fixes the probe count at 10).
#include "remote/socket.h"

#include <winsock2.h>
#include <ws2tcpip.h>
#include <mstcpip.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include "remote/loopback.h"

namespace rams::remote_internal::net {
namespace {

// The errno for a Winsock error code.
int ErrnoFromWsa(int wsa) {
  switch (wsa) {
    case WSAEINTR: return EINTR;
    case WSAEBADF: case WSAENOTSOCK: return EBADF;
    case WSAEACCES: return EACCES;
    case WSAEFAULT: return EFAULT;
    case WSAEINVAL: return EINVAL;
    case WSAEMFILE: return EMFILE;
    case WSAEWOULDBLOCK: return EAGAIN;
    case WSAEINPROGRESS: return EINPROGRESS;
    case WSAEALREADY: return EALREADY;
    case WSAEMSGSIZE: return EMSGSIZE;
    case WSAEPROTONOSUPPORT: return EPROTONOSUPPORT;
    case WSAEOPNOTSUPP: return EOPNOTSUPP;
    case WSAEAFNOSUPPORT: return EAFNOSUPPORT;
    case WSAEADDRINUSE: return EADDRINUSE;
    case WSAEADDRNOTAVAIL: return EADDRNOTAVAIL;
    case WSAENETDOWN: return ENETDOWN;
    case WSAENETUNREACH: return ENETUNREACH;
    case WSAENETRESET: return ENETRESET;
    case WSAECONNABORTED: return ECONNABORTED;
    case WSAECONNRESET: return ECONNRESET;
    case WSAENOBUFS: return ENOBUFS;
    case WSAEISCONN: return EISCONN;
    case WSAENOTCONN: case WSAESHUTDOWN: return ENOTCONN;
    case WSAETIMEDOUT: return ETIMEDOUT;
    case WSAECONNREFUSED: return ECONNREFUSED;
    case WSAEHOSTDOWN: case WSAEHOSTUNREACH: return EHOSTUNREACH;
    case WSANOTINITIALISED: case WSASYSNOTREADY: case WSAVERNOTSUPPORTED: return ENODEV;
    default: return EIO;
  }
}

Status WsaError(std::string_view what) { return Error(ErrnoFromWsa(WSAGetLastError()), what); }

// Winsock 2.2 is started at the first connect and stays up for the process.
Status EnsureStarted() {
  static const int started = [] {
    WSADATA data;
    return WSAStartup(MAKEWORD(2, 2), &data);
  }();
  if (started != 0) return Error(ErrnoFromWsa(started), "WSAStartup");
  return Status::Ok();
}

// select()'s timeout for `deadline`; nullptr = for ever.
timeval* SelectTimeout(Deadline deadline, timeval* tv) {
  if (!deadline) return nullptr;
  auto left = std::chrono::ceil<std::chrono::microseconds>(*deadline - Clock::now()).count();
  left = std::clamp<int64_t>(left, 0, int64_t{1} << 40);
  tv->tv_sec = static_cast<long>(left / 1000000);
  tv->tv_usec = static_cast<long>(left % 1000000);
  return tv;
}

void SetSocketOptions(SOCKET s, std::chrono::milliseconds timeout) {
  BOOL one = TRUE;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof(one));
  // A peer host that vanishes without a FIN is noticed: first probe after
  // 10 s idle, then every 5 s.
  tcp_keepalive ka{.onoff = 1, .keepalivetime = 10000, .keepaliveinterval = 5000};
  DWORD returned = 0;
  WSAIoctl(s, SIO_KEEPALIVE_VALS, &ka, sizeof(ka), nullptr, 0, &returned, nullptr, nullptr);
  // A bounded send buffer bounds how much bulk data a small request can queue
  // behind in the kernel (docs/protocol.md §6).
  int sndbuf_bytes = 256 * 1024;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, reinterpret_cast<const char*>(&sndbuf_bytes),
             sizeof(sndbuf_bytes));
  // A server that stops reading for longer than the timeout fails the send.
  DWORD ms = static_cast<DWORD>(std::clamp<int64_t>(timeout.count(), 1, INT32_MAX));
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, reinterpret_cast<const char*>(&ms), sizeof(ms));
}

Result<SOCKET> ConnectOne(const addrinfo* ai, Deadline deadline) {
  SOCKET s = WSASocketW(ai->ai_family, ai->ai_socktype, ai->ai_protocol, nullptr, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return WsaError("socket");
  u_long nonblocking = 1;
  ioctlsocket(s, FIONBIO, &nonblocking);
  Status failed;
  if (connect(s, ai->ai_addr, static_cast<int>(ai->ai_addrlen)) != 0 &&
      WSAGetLastError() != WSAEWOULDBLOCK) {
    failed = WsaError("connect");
  } else {
    fd_set writable, failing;
    FD_ZERO(&writable);
    FD_ZERO(&failing);
    FD_SET(s, &writable);
    FD_SET(s, &failing);
    timeval tv{};
    int n = select(0, nullptr, &writable, &failing, SelectTimeout(deadline, &tv));
    int err = 0;
    int len = sizeof(err);
    if (n == 0) err = ETIMEDOUT;
    else if (n == SOCKET_ERROR) err = ErrnoFromWsa(WSAGetLastError());
    else if (getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len) != 0)
      err = ErrnoFromWsa(WSAGetLastError());
    else if (err != 0) err = ErrnoFromWsa(err);
    else if (FD_ISSET(s, &failing)) err = ECONNREFUSED;
    if (err != 0) failed = Error(err, "connect");
  }
  if (!failed.ok()) {
    closesocket(s);
    return failed;
  }
  nonblocking = 0;
  ioctlsocket(s, FIONBIO, &nonblocking);
  return s;
}

}  // namespace

Result<SocketHandle> Connect(const std::string& host, uint16_t port, Deadline deadline,
                             std::chrono::milliseconds send_timeout) {
  RAMS_RETURN_IF_ERROR(EnsureStarted());
  const std::string port_str = std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &list);
  if (rc != 0) return Error(EHOSTUNREACH, std::string("resolve: ") + gai_strerrorA(rc));
  Status last = Error(EHOSTUNREACH, "connect");
  SOCKET s = INVALID_SOCKET;
  for (addrinfo* ai = list; ai != nullptr && s == INVALID_SOCKET; ai = ai->ai_next) {
    Result<SOCKET> r = ConnectOne(ai, deadline);
    if (r.ok()) s = *r;
    else last = r.status();
  }
  freeaddrinfo(list);
  if (s == INVALID_SOCKET) return last;
  SetSocketOptions(s, send_timeout);
  return static_cast<SocketHandle>(s);
}

Result<size_t> SendSome(SocketHandle s, std::span<const IoVec> iov) {
  // WSABUF holds a 32-bit length: larger pieces go in several sends.
  std::vector<WSABUF> bufs;
  bufs.reserve(std::min<size_t>(iov.size(), 1024));
  for (const IoVec& v : iov) {
    if (bufs.size() == 1024) break;
    bufs.push_back({.len = static_cast<ULONG>(std::min<size_t>(v.iov_len, 1u << 30)),
                    .buf = static_cast<CHAR*>(v.iov_base)});
    if (v.iov_len > (1u << 30)) break;
  }
  DWORD sent = 0;
  if (WSASend(static_cast<SOCKET>(s), bufs.data(), static_cast<DWORD>(bufs.size()), &sent, 0,
              nullptr, nullptr) != 0) {
    return WsaError("WSASend");
  }
  return static_cast<size_t>(sent);
}

Result<size_t> ReceiveNow(SocketHandle s, std::span<std::byte> into) {
  RAMS_ASSIGN_OR_RETURN(bool readable, WaitReadable(s, Clock::now()));
  if (!readable) return size_t{0};
  const int want = static_cast<int>(std::min<size_t>(into.size(), INT32_MAX));
  int n = recv(static_cast<SOCKET>(s), reinterpret_cast<char*>(into.data()), want, 0);
  if (n == 0) return Error(ECONNRESET, "connection closed");
  if (n == SOCKET_ERROR) {
    if (WSAGetLastError() == WSAEWOULDBLOCK || WSAGetLastError() == WSAEINTR) return size_t{0};
    return WsaError("recv");
  }
  return static_cast<size_t>(n);
}

Result<bool> WaitReadable(SocketHandle s, Deadline deadline) {
  fd_set readable;
  FD_ZERO(&readable);
  FD_SET(static_cast<SOCKET>(s), &readable);
  timeval tv{};
  int n = select(0, &readable, nullptr, nullptr, SelectTimeout(deadline, &tv));
  if (n == SOCKET_ERROR) {
    if (WSAGetLastError() == WSAEINTR) return false;
    return WsaError("select");
  }
  return n > 0;
}

// No wake on Windows: a passive reader keeps reading until bytes or its
// deadline (replies still arrive, one thread switch later).
WakeHandle MakeWake() { return kNoWake; }
void Wake(WakeHandle) {}
void DrainWake(WakeHandle) {}
void CloseWake(WakeHandle) {}

Result<bool> WaitReadableOrWoken(SocketHandle s, WakeHandle, Deadline deadline, bool* woken) {
  *woken = false;
  return WaitReadable(s, deadline);
}

void Shutdown(SocketHandle s) { shutdown(static_cast<SOCKET>(s), SD_BOTH); }

void Close(SocketHandle s) { closesocket(static_cast<SOCKET>(s)); }

bool PeerIsLoopback(SocketHandle s) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(static_cast<SOCKET>(s), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  return IsLoopbackAddress(ss);
}

}  // namespace rams::remote_internal::net
