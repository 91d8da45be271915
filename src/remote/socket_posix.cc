// SPDX-License-Identifier: MIT
// The socket layer on Linux (and POSIX systems with Linux's TCP options).
#include "remote/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "remote/loopback.h"
#include "sys/sys.h"

namespace rams::remote_internal::net {
namespace {

int PollTimeoutMs(Deadline deadline) {
  if (!deadline) return -1;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30));
}

void SetSocketOptions(int fd, std::chrono::milliseconds timeout) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // A peer host that vanishes without a FIN is noticed within about 20 s.
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  int idle = 10, interval = 5, count = 2;
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
  // A bounded send buffer bounds how much bulk data a small request can queue
  // behind in the kernel (docs/protocol.md §6).
  int sndbuf_bytes = 256 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_bytes, sizeof(sndbuf_bytes));
  // A server that stops reading for longer than the timeout fails the send.
  timeval tv{.tv_sec = static_cast<time_t>(timeout.count() / 1000),
             .tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// Connects to one address within `deadline`; returns the blocking socket.
Result<int> ConnectOne(const addrinfo* ai, Deadline deadline) {
  sys::UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
  if (!fd.valid()) return ErrnoError("socket");
  if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
    return ErrnoError("connect");
  }
  pollfd p{.fd = fd.get(), .events = POLLOUT, .revents = 0};
  int n = sys::RetryEintr([&] { return poll(&p, 1, PollTimeoutMs(deadline)); });
  int err = 0;
  socklen_t len = sizeof(err);
  if (n == 0) err = ETIMEDOUT;
  else if (n < 0) err = errno;
  else if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return Error(err, "connect");
  fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  return fd.Release();
}

}  // namespace

Result<SocketHandle> Connect(const std::string& host, uint16_t port, Deadline deadline,
                             std::chrono::milliseconds send_timeout) {
  const std::string port_str = std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &list);
  if (rc != 0) return Error(EHOSTUNREACH, std::string("resolve: ") + gai_strerror(rc));
  Status last = Error(EHOSTUNREACH, "connect");
  int fd = -1;
  for (addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
    Result<int> r = ConnectOne(ai, deadline);
    if (r.ok()) fd = *r;
    else last = r.status();
  }
  freeaddrinfo(list);
  if (fd < 0) return last;
  SetSocketOptions(fd, send_timeout);
  return fd;
}

Result<size_t> SendSome(SocketHandle s, std::span<const IoVec> iov) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov.data());
  msg.msg_iovlen = std::min<size_t>(iov.size(), IOV_MAX);
  ssize_t n = sys::RetryEintr([&] { return sendmsg(s, &msg, MSG_NOSIGNAL); });
  if (n < 0) {
    if (errno == EAGAIN) return Error(ETIMEDOUT, "send timed out");
    return ErrnoError("sendmsg");
  }
  return static_cast<size_t>(n);
}

Result<size_t> ReceiveNow(SocketHandle s, std::span<std::byte> into) {
  ssize_t n = recv(s, into.data(), into.size(), MSG_DONTWAIT);
  if (n == 0) return Error(ECONNRESET, "connection closed");
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return size_t{0};
    return ErrnoError("recv");
  }
  return static_cast<size_t>(n);
}

Result<bool> WaitReadable(SocketHandle s, Deadline deadline) {
  pollfd p{.fd = s, .events = POLLIN, .revents = 0};
  int n = poll(&p, 1, PollTimeoutMs(deadline));
  if (n < 0) {
    if (errno == EINTR) return false;
    return ErrnoError("poll");
  }
  return n > 0;
}

WakeHandle MakeWake() {
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd < 0 ? kNoWake : fd;
}

void Wake(WakeHandle w) {
  const uint64_t one = 1;
  // Non-blocking; a full counter (never, at one per turn) only loses the hint.
  if (w != kNoWake && write(w, &one, sizeof one) != sizeof one) return;
}

void DrainWake(WakeHandle w) {
  uint64_t drained = 0;
  if (w != kNoWake && read(w, &drained, sizeof drained) < 0) return;  // EAGAIN: drained already
}

void CloseWake(WakeHandle w) {
  if (w != kNoWake) close(w);
}

Result<bool> WaitReadableOrWoken(SocketHandle s, WakeHandle w, Deadline deadline, bool* woken) {
  *woken = false;
  if (w == kNoWake) return WaitReadable(s, deadline);
  pollfd p[2] = {{.fd = s, .events = POLLIN, .revents = 0},
                 {.fd = w, .events = POLLIN, .revents = 0}};
  int n = poll(p, 2, PollTimeoutMs(deadline));
  if (n < 0) {
    if (errno == EINTR) return false;
    return ErrnoError("poll");
  }
  if (n > 0 && p[0].revents == 0) *woken = true;
  return p[0].revents != 0;
}

void Shutdown(SocketHandle s) { shutdown(s, SHUT_RDWR); }

void Close(SocketHandle s) { close(s); }

bool PeerIsLoopback(SocketHandle s) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(s, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  return IsLoopbackAddress(ss);
}

}  // namespace rams::remote_internal::net
