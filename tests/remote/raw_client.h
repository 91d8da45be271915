/* SPDX-License-Identifier: MIT */
// RawClient: a test peer that speaks ramsd's protocol frame by frame over a
// loopback socket, to send what the client library never would (bad frames,
// reused request ids, half-closes) and read exactly what comes back.
//
// Thread safety: one thread per RawClient.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <span>
#include <utility>

#include "wire/messages.h"

namespace rams::test {

namespace wire = rams::wire;

// A raw protocol peer.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  }
  // Speaks over `fd`, an accepted connection (a test playing the server); owns it.
  struct Adopt {};
  RawClient(Adopt, int fd) : fd_(fd) {}
  ~RawClient() { close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  int fd() const { return fd_; }

  void SendBytes(std::span<const std::byte> bytes) {
    EXPECT_EQ(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  void Send(wire::Opcode op, uint64_t id, std::span<const std::byte> body) {
    SendBytes(wire::EncodeFrame({.opcode = static_cast<uint8_t>(op), .request_id = id}, body));
  }
  template <class T>
  void SendMsg(wire::Opcode op, uint64_t id, const T& msg) {
    wire::Bytes body;
    msg.EncodeTo(&body);
    Send(op, id, body);
  }
  // A frame with every header field chosen (replies: flags = kFlagReply).
  template <class T>
  void SendFrame(const wire::FrameHeader& header, const T& msg) {
    wire::Bytes body;
    msg.EncodeTo(&body);
    SendBytes(wire::EncodeFrame(header, body));
  }
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

  // The next frame, or nullopt when the server closed the connection.
  std::optional<std::pair<wire::FrameHeader, wire::Bytes>> Receive() {
    wire::HeaderBytes hb;
    if (!ReadExactly(hb)) return std::nullopt;
    auto h = wire::DecodeHeader(hb, wire::kMaxBodyBytes);
    EXPECT_TRUE(h.ok());
    if (!h.ok()) return std::nullopt;
    wire::Bytes body(h->body_bytes);
    if (!ReadExactly(body)) return std::nullopt;
    return std::make_pair(*h, std::move(body));
  }
  // The status of the next reply (-1 when the connection closed instead).
  int NextStatus() {
    auto f = Receive();
    return f ? static_cast<int>(f->first.status) : -1;
  }
  // True when the server closed the connection (after any queued frames).
  bool ClosedByServer() {
    for (int i = 0; i < 16; ++i) {
      if (!Receive()) return true;
    }
    return false;
  }
  // HELLO on a server without a key.
  void Hello() {
    SendMsg(wire::Opcode::kHello, 1, wire::HelloRequest{.features = wire::kAllFeatures});
    auto f = Receive();
    ASSERT_TRUE(f.has_value());
    ASSERT_EQ(f->first.status, 0u);
  }

 private:
  bool ReadExactly(std::span<std::byte> out) {
    size_t got = 0;
    while (got < out.size()) {
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 5000) != 1) {
        ADD_FAILURE() << "no answer from ramsd within 5 s";
        return false;
      }
      ssize_t n = recv(fd_, out.data() + got, out.size() - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }
  int fd_;
};

// A listening loopback socket on a kernel-chosen port.
inline int ListenLoopback(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// The whole answer of ramsd's HTTP endpoint on `port` to GET `path`.
inline std::string HttpResponse(uint16_t port, const std::string& path) {
  RawClient c(port);
  const std::string req = "GET " + path + " HTTP/1.0\r\n\r\n";
  c.SendBytes(std::as_bytes(std::span(req.data(), req.size())));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(c.fd(), buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// The value of the unlabelled metric `name` in a /metrics page (UINT64_MAX: absent).
inline uint64_t MetricValue(const std::string& page, const std::string& name) {
  const size_t at = page.find("\n" + name + " ");
  if (at == std::string::npos) return UINT64_MAX;
  return std::stoull(page.substr(at + name.size() + 2));
}

// The value of metric `name` scraped from ramsd's /metrics at `http_port`.
inline uint64_t ScrapeMetric(uint16_t http_port, const std::string& name) {
  return MetricValue(HttpResponse(http_port, "/metrics"), name);
}

}  // namespace rams::test
