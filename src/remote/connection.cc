// SPDX-License-Identifier: MIT
// Client connection: socket setup, handshake, framing and reply matching.
#include "remote/connection.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <climits>

#include "wire/auth.h"
#include "sys/sys.h"
#include "check.h"

namespace rams::remote_internal {
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

Result<std::shared_ptr<Connection>> Connection::Open(std::string_view host, uint16_t port,
                                                     const RemoteOptions& options,
                                                     uint64_t features) {
  if (!options.key.empty()) RAMS_RETURN_IF_ERROR(wire::ValidateKey(options.key));
  const std::string host_str(host), port_str = std::to_string(port);
  const std::string peer = (host_str.find(':') != std::string::npos ? "[" + host_str + "]" : host_str) +
                           ":" + port_str;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = getaddrinfo(host_str.c_str(), port_str.c_str(), &hints, &list);
  if (rc != 0) return Error(EHOSTUNREACH, "resolve " + peer + ": " + gai_strerror(rc));
  const Deadline deadline = Clock::now() + options.timeout;
  Status last = Error(EHOSTUNREACH, "connect " + peer);
  int fd = -1;
  for (addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
    Result<int> r = ConnectOne(ai, deadline);
    if (r.ok()) fd = *r;
    else last = Error(r.code(), "connect " + peer);
  }
  freeaddrinfo(list);
  if (fd < 0) return last;
  SetSocketOptions(fd, options.timeout);
  std::shared_ptr<Connection> conn(new Connection(fd, peer, options));
  RAMS_RETURN_IF_ERROR(conn->Handshake(options.key, features));
  return conn;
}

Connection::Connection(int fd, std::string peer, const RemoteOptions& options)
    : fd_(fd),
      peer_(std::move(peer)),
      timeout_(options.timeout),
      busy_poll_(options.busy_poll),
      rbuf_(wire::kInitialReadBufferBytes) {}

Connection::~Connection() {
  RAMS_CHECK(calls_.empty() || broken_ != 0);
  close(fd_);
}

bool Connection::connected() const {
  sys::LocalMutexLock l(mu_);
  return broken_ == 0;
}

Status Connection::Handshake(const std::string& key, uint64_t features) {
  wire::Bytes body;
  wire::HelloRequest{.features = features, .max_body_bytes = wire::kMaxBodyBytes}
      .EncodeTo(&body);
  Call hello{.opcode = wire::Opcode::kHello};
  RAMS_RETURN_IF_ERROR(RoundTrip(&hello, body));
  RAMS_ASSIGN_OR_RETURN(wire::HelloReply reply, wire::HelloReply::Decode(hello.body));
  if ((reply.features & ~features) != 0) {
    return Error(EPROTO, "connect " + peer_ + ": the server granted features not asked for");
  }
  features_ = reply.features;
  server_max_body_ = std::min(reply.max_body_bytes, wire::kMaxBodyBytes);
  if ((reply.auth_flags & wire::kAuthKeyRequired) == 0) {
    // Holding a key, we accept only a server that proves it knows it: one
    // that skips AUTH could be anybody (and would see our writes).
    if (!key.empty()) {
      return Error(EACCES, "connect " + peer_ +
                               ": the server did not ask for the key, so it cannot prove it has it");
    }
    return Status::Ok();
  }
  if (key.empty()) return Error(EACCES, "connect " + peer_ + ": the server requires a key");
  wire::AuthRequest auth{.client_nonce = wire::RandomNonce()};
  auth.client_mac = wire::ClientMac(key, reply.server_nonce, auth.client_nonce);
  body.clear();
  auth.EncodeTo(&body);
  Call call{.opcode = wire::Opcode::kAuth};
  RAMS_RETURN_IF_ERROR(RoundTrip(&call, body));
  RAMS_ASSIGN_OR_RETURN(wire::AuthReply auth_reply, wire::AuthReply::Decode(call.body));
  if (!wire::MacEqual(auth_reply.server_mac,
                      wire::ServerMac(key, auth.client_nonce, reply.server_nonce))) {
    return Error(EACCES, "connect " + peer_ + ": the server does not know the key");
  }
  return Status::Ok();
}

Status Connection::Start(Call* call, std::span<const std::byte> fixed,
                         std::span<const std::byte> data) {
  const Request request{call, fixed, data};
  return StartMany(std::span(&request, 1));
}

Status Connection::StartMany(std::span<const Request> requests) {
  std::vector<wire::HeaderBytes> headers(requests.size());
  std::vector<iovec> iov;
  iov.reserve(requests.size() * 3);
  {
    sys::LocalMutexLock l(mu_);
    if (broken_ != 0) return Error(ENOTCONN, "send to " + peer_ + " (" + broken_why_ + ")");
    for (size_t i = 0; i < requests.size(); ++i) {
      const Request& r = requests[i];
      const size_t body_bytes = r.fixed.size() + r.data.size();
      if (body_bytes > server_max_body_) {
        for (size_t j = 0; j < i; ++j) calls_.erase(requests[j].call->id);
        return Error(EMSGSIZE, std::string(wire::OpcodeName(static_cast<uint8_t>(r.call->opcode))) +
                                   " to " + peer_ + ": request too large");
      }
      r.call->id = next_id_++;
      calls_[r.call->id] = r.call;
      headers[i] = wire::EncodeHeader({.opcode = static_cast<uint8_t>(r.call->opcode),
                                       .request_id = r.call->id,
                                       .body_bytes = static_cast<uint32_t>(body_bytes)});
      iov.push_back({headers[i].data(), headers[i].size()});
      if (!r.fixed.empty()) iov.push_back({const_cast<std::byte*>(r.fixed.data()), r.fixed.size()});
      if (!r.data.empty()) iov.push_back({const_cast<std::byte*>(r.data.data()), r.data.size()});
    }
  }
  Status sent;
  {
    sys::LocalMutexLock l(send_mu_);
    sent = SendAll(iov);
  }
  if (!sent.ok()) {
    sys::LocalMutexLock l(mu_);
    Break(sent.code(), sent.message());  // completes (and unregisters) every call
  }
  return sent;
}

Status Connection::SendAll(std::vector<iovec>& iov) {
  size_t first = 0;
  while (first < iov.size()) {
    msghdr msg{};
    msg.msg_iov = &iov[first];
    msg.msg_iovlen = std::min<size_t>(iov.size() - first, IOV_MAX);
    ssize_t n = sys::RetryEintr([&] { return sendmsg(fd_, &msg, MSG_NOSIGNAL); });
    if (n < 0) {
      if (errno == EAGAIN) return Error(ETIMEDOUT, "send to " + peer_);
      return ErrnoError("send to " + peer_);
    }
    auto left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<std::byte*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return Status::Ok();
}

Status Connection::RoundTrip(Call* call, std::span<const std::byte> fixed,
                             std::span<const std::byte> data) {
  RAMS_RETURN_IF_ERROR(Start(call, fixed, data));
  return Finish(call, DefaultDeadline());
}

Status Connection::Finish(Call* call, Deadline deadline) {
  sys::LocalMutexLock l(mu_);
  while (!call->done) {
    AwaitProgress(deadline);
    if (!call->done && deadline && Clock::now() >= *deadline) {
      calls_.erase(call->id);  // a late reply is dropped
      return Error(ETIMEDOUT, std::string(wire::OpcodeName(static_cast<uint8_t>(call->opcode))) +
                                  " to " + peer_ + ": no reply");
    }
  }
  return CallStatus(*call);
}

void Connection::AwaitProgress(Deadline deadline) {
  if (!reading_) {
    ReadAsLeader(deadline);
  } else if (deadline) {
    cv_.WaitUntil(mu_, *deadline);
  } else {
    cv_.Wait(mu_);
  }
}

void Connection::ReadAsLeader(Deadline deadline) {
  reading_ = true;
  mu_.Unlock();  // the caller's lock is held again when we return
  Status r = ReadSome(deadline);
  mu_.Lock();
  if (r.ok()) DispatchBuffered();
  else if (r.code() != ETIMEDOUT) Break(r.code(), r.message());
  reading_ = false;
  cv_.NotifyAll();
}

bool Connection::InspectServerRequests(
    const std::function<bool(const std::deque<ServerRequest>&)>& f) {
  sys::LocalMutexLock l(mu_);
  return f(server_requests_);
}

Result<ServerRequest> Connection::NextServerRequest(
    Deadline deadline, const std::function<void(const ServerRequest&)>& on_take) {
  sys::LocalMutexLock l(mu_);
  while (server_requests_.empty() && broken_ == 0) {
    if (deadline && Clock::now() >= *deadline) {
      return Error(ETIMEDOUT, "no request from " + peer_);
    }
    AwaitProgress(deadline);
  }
  if (!server_requests_.empty()) {  // queued before a break: still answered in order
    ServerRequest r = std::move(server_requests_.front());
    server_requests_.pop_front();
    if (on_take) on_take(r);
    return r;
  }
  return Error(broken_, "connection to " + peer_ + " (" + broken_why_ + ")");
}

Status Connection::AnswerServerRequest(const wire::FrameHeader& request,
                                       std::span<const std::byte> body) {
  wire::HeaderBytes hb = wire::EncodeHeader({.opcode = request.opcode, .flags = wire::kFlagReply,
                                             .request_id = request.request_id,
                                             .body_bytes = static_cast<uint32_t>(body.size())});
  std::vector<iovec> iov = {{hb.data(), hb.size()}};
  if (!body.empty()) iov.push_back({const_cast<std::byte*>(body.data()), body.size()});
  Status sent;
  {
    sys::LocalMutexLock l(send_mu_);
    sent = SendAll(iov);
  }
  if (!sent.ok()) {
    sys::LocalMutexLock l(mu_);
    Break(sent.code(), sent.message());
  }
  return sent;
}

Status Connection::CallStatus(const Call& call) const {
  if (call.status == 0) return Status::Ok();
  std::string what = std::string(wire::OpcodeName(static_cast<uint8_t>(call.opcode))) + " on " +
                     peer_;
  if (!call.message.empty()) what += ": " + call.message;
  return Error(call.status, what);
}

Status Connection::ReadSome(Deadline deadline) {
  wire::MakeRoom(rbuf_, rstart_, rend_);
  bool got = false;
  if (busy_poll_.count() > 0) {
    const auto until = Clock::now() + busy_poll_;
    do {
      RAMS_RETURN_IF_ERROR(ReceiveNow(&got));
      if (got) return Status::Ok();
    } while (Clock::now() < until && (!deadline || Clock::now() < *deadline));
  }
  pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
  int n = poll(&p, 1, PollTimeoutMs(deadline));
  if (n == 0) return Error(ETIMEDOUT, "receive from " + peer_);
  if (n < 0) return errno == EINTR ? Status::Ok() : ErrnoError("poll " + peer_);
  return ReceiveNow(&got);
}

Status Connection::ReceiveNow(bool* got) {
  ssize_t n = recv(fd_, rbuf_.data() + rend_, rbuf_.size() - rend_, MSG_DONTWAIT);
  if (n == 0) return Error(ECONNRESET, "receive from " + peer_ + ": connection closed");
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return Status::Ok();
    return ErrnoError("receive from " + peer_);
  }
  rend_ += static_cast<size_t>(n);
  *got = true;
  return Status::Ok();
}

void Connection::DispatchBuffered() {
  while (broken_ == 0 && rend_ - rstart_ >= wire::kHeaderBytes) {
    auto raw = std::span<const std::byte>(rbuf_).subspan(rstart_).first<wire::kHeaderBytes>();
    Result<wire::FrameHeader> h = wire::DecodeHeader(raw, wire::kMaxBodyBytes);
    if (!h.ok()) return Break(h.code(), "from " + peer_ + ": " + h.status().message());
    const bool server_id = (h->request_id & wire::kServerRequestIdBit) != 0;
    const bool request = !h->is_reply() && !h->is_push();
    // Only a mapping session takes requests, only INVALIDATE/DOWNGRADE, only
    // with ids from the server's range; replies and pushes never carry them.
    const bool recall = h->opcode == static_cast<uint8_t>(wire::Opcode::kInvalidate) ||
                        h->opcode == static_cast<uint8_t>(wire::Opcode::kDowngrade);
    if (request && !((features_ & wire::kFeatureMapping) != 0 && server_id && recall &&
                     h->status == 0)) {
      return Break(EPROTO, "unexpected request from server " + peer_);
    }
    if (!request && server_id) return Break(EPROTO, "reply from " + peer_ + " to no request of ours");
    const size_t frame_bytes = wire::kHeaderBytes + h->body_bytes;
    if (rend_ - rstart_ < frame_bytes) return;  // ReadSome grows rbuf_ as needed
    auto body = std::span<const std::byte>(rbuf_).subspan(rstart_ + wire::kHeaderBytes,
                                                           h->body_bytes);
    if (request) {
      if (server_requests_.size() >= wire::kMaxRecallsPerSession) {
        return Break(EPROTO, "more than " + std::to_string(wire::kMaxRecallsPerSession) +
                                 " requests outstanding from " + peer_);
      }
      server_requests_.push_back({*h, wire::Bytes(body.begin(), body.end())});
      cv_.NotifyAll();
    } else {
      Dispatch(*h, body);
    }
    rstart_ += frame_bytes;
  }
}

void Connection::Dispatch(const wire::FrameHeader& h, std::span<const std::byte> body) {
  auto it = calls_.find(h.request_id);
  if (it == calls_.end()) return;  // abandoned call, or a push nobody waits for
  Call* call = it->second;
  if (h.is_push()) {
    if (h.opcode != static_cast<uint8_t>(wire::Opcode::kWakeup) || !call->want_push) return;
    Result<wire::U32Reply> r = wire::U32Reply::Decode(body);
    call->status = r.ok() ? static_cast<int>(r->value) : EPROTO;
    if (call->status == 0 && !call->replied) call->status = EPROTO;
  } else {
    if (h.opcode != static_cast<uint8_t>(call->opcode) || call->replied) {
      call->status = EPROTO;
      call->message = "reply does not match its request";
    } else if (h.status != 0) {
      call->status = static_cast<int>(h.status);
      size_t n = std::min<size_t>(body.size(), wire::kMaxErrorMessageBytes);
      call->message.assign(reinterpret_cast<const char*>(body.data()), n);
    } else if (call->opcode == wire::Opcode::kRead) {
      if (body.size() != call->read_into.size()) call->status = EPROTO;
      else std::copy(body.begin(), body.end(), call->read_into.begin());
    } else {
      call->body.assign(body.begin(), body.end());
    }
    call->replied = true;
    if (call->want_push && call->status == 0) return;  // parked: the push completes it
  }
  call->done = true;
  calls_.erase(it);
}

void Connection::Break(int code, const std::string& why) {
  if (broken_ != 0) return;
  broken_ = code;
  broken_why_ = why;
  for (auto& [id, call] : calls_) {
    call->status = code;
    call->message = why;
    call->done = true;
  }
  calls_.clear();
  shutdown(fd_, SHUT_RDWR);
  cv_.NotifyAll();
}

}  // namespace rams::remote_internal
