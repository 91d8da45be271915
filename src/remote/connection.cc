// SPDX-License-Identifier: MIT
// Client connection: socket setup, handshake, framing and reply matching.
#include "remote/connection.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include "wire/auth.h"
#include "wire/errno_codes.h"
#include "check.h"

namespace rams::remote_internal {
namespace {

// `s` with "WHAT: " in front of its message, its code unchanged.
Status Context(const std::string& what, const Status& s) {
  return Status(s.code(), what + ": " + s.message());
}

// A server closes connections still in their handshake when too many are
// (ramsd: 8 per peer address, 64 in all, the oldest first): of a burst of
// clients from one address, some can lose theirs before the server read a
// byte. A handshake that ends so (the connection closed under it, not an
// error answered) is tried again on a new connection, this many times more,
// after 10, 20, 40 ms, within the timeout. An answered error is final.
constexpr int kHandshakeRetries = 3;
constexpr std::chrono::milliseconds kHandshakeBackoff{10};

bool ClosedWithoutAnswer(const Status& s) { return s.code() == ECONNRESET || s.code() == EPIPE; }

}  // namespace

Result<std::shared_ptr<Connection>> Connection::Open(std::string_view host, uint16_t port,
                                                     const RemoteOptions& options,
                                                     uint64_t features) {
  if (!options.key.empty()) RAMS_RETURN_IF_ERROR(wire::ValidateKey(options.key));
  if (options.key.empty() && options.frame_mac == FrameMac::kRequire) {
    return Error(EINVAL, "frame MAC required but no key: the MAC is keyed from the handshake");
  }
  const std::string host_str(host), port_str = std::to_string(port);
  const std::string peer = (host_str.find(':') != std::string::npos ? "[" + host_str + "]" : host_str) +
                           ":" + port_str;
  const Clock::time_point deadline = Clock::now() + options.timeout;
  for (int attempt = 0;; ++attempt) {
    Result<net::SocketHandle> fd = net::Connect(host_str, port, deadline, options.timeout);
    if (!fd.ok()) return Context("connect " + peer, fd.status());
    std::shared_ptr<Connection> conn(new Connection(*fd, peer, options));
    Status s = conn->Handshake(options, features);
    if (s.ok()) return conn;
    const auto backoff = kHandshakeBackoff * (1 << attempt);
    if (!ClosedWithoutAnswer(s) || conn->connected() || attempt == kHandshakeRetries ||
        Clock::now() + backoff >= deadline) {
      return s;
    }
    std::this_thread::sleep_for(backoff);
  }
}

Connection::Connection(net::SocketHandle fd, std::string peer, const RemoteOptions& options)
    : fd_(fd),
      peer_(std::move(peer)),
      timeout_(options.timeout),
      busy_poll_(options.busy_poll),
      // Without it (no descriptor left) a passive reader never yields: the
      // replies still arrive, one thread switch later.
      yield_fd_(net::MakeWake()),
      rbuf_(wire::kInitialReadBufferBytes) {}

Connection::~Connection() {
  RAMS_CHECK(calls_.empty() || broken_ != 0);
  net::CloseWake(yield_fd_);
  net::Close(fd_);
}

bool Connection::connected() const {
  sys::LocalMutexLock l(mu_);
  return broken_ == 0;
}

Status Connection::Handshake(const RemoteOptions& options, uint64_t features) {
  const std::string& key = options.key;
  // Keyless sessions have no MAC key; on loopback nobody sits on the path.
  const bool want_mac =
      !key.empty() && (options.frame_mac == FrameMac::kRequire ||
                       (options.frame_mac == FrameMac::kAuto && !net::PeerIsLoopback(fd_)));
  if (want_mac) features |= wire::kFeatureFrameMac;
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
  const bool mac = (features_ & wire::kFeatureFrameMac) != 0;
  if (want_mac && !mac) {
    // Whoever stripped the bit (the server, or somebody on the path) would
    // have the session unprotected.
    return Error(EACCES, "connect " + peer_ + ": the server did not grant the frame MAC");
  }
  wire::AuthRequest auth{.client_nonce = wire::RandomNonce()};
  auth.client_mac = wire::ClientMac(key, reply.server_nonce, auth.client_nonce);
  body.clear();
  auth.EncodeTo(&body);
  {
    sys::LocalMutexLock l(mu_);
    awaiting_mac_keys_ = mac;
  }
  Call call{.opcode = wire::Opcode::kAuth};
  RAMS_RETURN_IF_ERROR(RoundTrip(&call, body));
  RAMS_ASSIGN_OR_RETURN(wire::AuthReply auth_reply, wire::AuthReply::Decode(call.body));
  if (!wire::MacEqual(auth_reply.server_mac,
                      wire::ServerMac(key, auth.client_nonce, reply.server_nonce))) {
    return Error(EACCES, "connect " + peer_ + ": the server does not know the key");
  }
  if (mac) StartFrameMac(key, auth.client_nonce, reply.server_nonce);
  return Status::Ok();
}

void Connection::StartFrameMac(const std::string& key, const wire::Nonce& client_nonce,
                               const wire::Nonce& server_nonce) {
  const wire::FrameMacKeys keys = wire::DeriveFrameMacKeys(key, client_nonce, server_nonce);
  {
    sys::LocalMutexLock l(send_mu_);
    send_mac_.emplace(keys.client_to_server);
  }
  sys::LocalMutexLock l(mu_);
  RAMS_CHECK(!reading_);  // nobody reads during the handshake
  recv_mac_.emplace(keys.server_to_client);
  awaiting_mac_keys_ = false;
}

Status Connection::Start(Call* call, std::span<const std::byte> fixed,
                         std::span<const std::byte> data) {
  const Request request{call, fixed, data};
  return StartMany(std::span(&request, 1));
}

namespace {

// `count` elements: in `local` when they fit (no allocation), else in `heap`.
template <class T>
std::span<T> LocalOrHeap(size_t count, std::span<T> local, std::vector<T>* heap) {
  if (count <= local.size()) return local.first(count);
  heap->resize(count);
  return *heap;
}

}  // namespace

Status Connection::StartMany(std::span<const Request> requests) {
  // A single request (nearly every call) builds its frame without the heap:
  // its header, MAC and pieces live on the stack.
  constexpr size_t kPiecesPerRequest = 4;  // header, fixed, data, MAC
  wire::HeaderBytes one_header;
  std::vector<wire::HeaderBytes> many_headers;
  const std::span<wire::HeaderBytes> headers =
      LocalOrHeap(requests.size(), std::span(&one_header, 1), &many_headers);
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
      if (spare_nodes_.empty()) {
        calls_.emplace(r.call->id, r.call);
      } else {
        CallMap::node_type node = std::move(spare_nodes_.back());
        spare_nodes_.pop_back();
        node.key() = r.call->id;
        node.mapped() = r.call;
        calls_.insert(std::move(node));
      }
      headers[i] = wire::EncodeHeader({.opcode = static_cast<uint8_t>(r.call->opcode),
                                       .request_id = r.call->id,
                                       .body_bytes = static_cast<uint32_t>(body_bytes)});
    }
  }
  Status sent;
  {
    sys::LocalMutexLock l(send_mu_);
    wire::FrameMacTag one_mac;
    std::array<net::IoVec, kPiecesPerRequest> one_iov;
    std::vector<wire::FrameMacTag> many_macs;
    std::vector<net::IoVec> many_iov;
    const std::span<wire::FrameMacTag> macs =
        LocalOrHeap(send_mac_ ? requests.size() : 0, std::span(&one_mac, 1), &many_macs);
    const std::span<net::IoVec> iov =
        LocalOrHeap(requests.size() * kPiecesPerRequest, std::span<net::IoVec>(one_iov), &many_iov);
    size_t pieces = 0;
    for (size_t i = 0; i < requests.size(); ++i) {
      const Request& r = requests[i];
      iov[pieces++] = {headers[i].data(), headers[i].size()};
      if (!r.fixed.empty()) iov[pieces++] = {const_cast<std::byte*>(r.fixed.data()), r.fixed.size()};
      if (!r.data.empty()) iov[pieces++] = {const_cast<std::byte*>(r.data.data()), r.data.size()};
      if (send_mac_) {  // numbered here, in the order frames enter the socket (invariant 4)
        macs[i] = send_mac_->Sign(headers[i], r.fixed, r.data);
        iov[pieces++] = {macs[i].data(), macs[i].size()};
      }
    }
    sent = SendAll(iov.first(pieces));
  }
  if (!sent.ok()) {
    sys::LocalMutexLock l(mu_);
    Break(sent.code(), sent.message());  // completes (and unregisters) every call
  }
  return sent;
}

Status Connection::SendAll(std::span<net::IoVec> iov) {
  size_t first = 0;
  while (first < iov.size()) {
    Result<size_t> n = net::SendSome(fd_, std::span(iov).subspan(first));
    if (!n.ok()) return Context("send to " + peer_, n.status());
    auto left = *n;
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
  ++waiting_calls_;
  while (!call->done) {
    AskReaderToYield();
    AwaitProgress(deadline);
    if (!call->done && deadline && Clock::now() >= *deadline) {
      calls_.erase(call->id);  // a late reply is dropped
      StopWaiting();
      return Error(ETIMEDOUT, std::string(wire::OpcodeName(static_cast<uint8_t>(call->opcode))) +
                                  " to " + peer_ + ": no reply");
    }
  }
  StopWaiting();
  return CallStatus(*call);
}

void Connection::StopWaiting() {
  // The last waiting call gone, a passive reader reads again once
  // kPassiveResumeDelay passed with no call (invariant 4). It is woken only
  // when it waits for the calls to end; one already waiting for the resume
  // time looks again then.
  if (--waiting_calls_ != 0) return;
  resume_passive_at_ = Clock::now() + kPassiveResumeDelay;
  if (passive_awaiting_calls_ > 0) passive_cv_.NotifyAll();
}

void Connection::AskReaderToYield() {
  if (!reading_ || !passive_reading_ || yield_asked_ || yield_fd_ == net::kNoWake) return;
  yield_asked_ = true;
  net::Wake(yield_fd_);
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

void Connection::ReadAsLeader(Deadline deadline, bool passive) {
  reading_ = true;
  passive_reading_ = passive;
  mu_.Unlock();  // the caller's lock is held again when we return
  Status r = ReadSome(deadline, passive);
  mu_.Lock();
  if (r.ok()) DispatchBuffered();
  else if (r.code() != ETIMEDOUT) Break(r.code(), r.message());
  reading_ = false;
  passive_reading_ = false;
  if (yield_asked_) {
    net::DrainWake(yield_fd_);
    yield_asked_ = false;
  }
  cv_.NotifyAll();
  if (passive) passive_cv_.NotifyAll();  // another NextServerRequest may read next
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
    const Clock::time_point now = Clock::now();
    if (deadline && now >= *deadline) {
      return Error(ETIMEDOUT, "no request from " + peer_);
    }
    // Woken early by a request queued or the connection's end (passive_cv_).
    if (waiting_calls_ == 0 && now < resume_passive_at_) {
      // A call just ended: another may follow and read for itself.
      passive_cv_.WaitUntil(mu_, deadline ? std::min(*deadline, resume_passive_at_)
                                          : resume_passive_at_);
    } else if (waiting_calls_ == 0 && !reading_) {
      ReadAsLeader(deadline, /*passive=*/true);
    } else {
      // A call reads (invariant 4), or the reader is leaving.
      ++passive_awaiting_calls_;
      if (deadline) {
        passive_cv_.WaitUntil(mu_, *deadline);
      } else {
        passive_cv_.Wait(mu_);
      }
      --passive_awaiting_calls_;
    }
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
  std::vector<net::IoVec> iov = {{hb.data(), hb.size()}};
  if (!body.empty()) iov.push_back({const_cast<std::byte*>(body.data()), body.size()});
  Status sent;
  {
    sys::LocalMutexLock l(send_mu_);
    wire::FrameMacTag mac;
    if (send_mac_) {
      mac = send_mac_->Sign(hb, body);
      iov.push_back({mac.data(), mac.size()});
    }
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

Status Connection::ReadSome(Deadline deadline, bool passive) {
  wire::MakeRoom(rbuf_, rstart_, rend_);
  bool got = false;
  // Only a thread waiting for its reply polls: a passive reader (the
  // mapping session's recall thread, idle most of the time) would take the
  // core from the threads it waits for.
  if (busy_poll_.count() != 0 && !passive) {
    RAMS_RETURN_IF_ERROR(ReceiveNow(&got));  // already there: no poll
    if (got) return Status::Ok();
    const bool adaptive = busy_poll_.count() < 0;
    const std::chrono::microseconds budget = adaptive ? poll_.Budget() : busy_poll_;
    if (budget.count() > 0) {
      const auto until = Clock::now() + budget;
      while (!got && Clock::now() < until && (!deadline || Clock::now() < *deadline)) {
        RAMS_RETURN_IF_ERROR(ReceiveNow(&got));
      }
      if (adaptive) poll_.Record(got);
      if (got) return Status::Ok();
    }
  }
  bool woken = false;
  Result<bool> readable =
      net::WaitReadableOrWoken(fd_, passive ? yield_fd_ : net::kNoWake, deadline, &woken);
  if (!readable.ok()) return Context("poll " + peer_, readable.status());
  if (woken) return Status::Ok();  // asked to yield: ReadAsLeader drains it
  if (!*readable) return Error(ETIMEDOUT, "receive from " + peer_);
  return ReceiveNow(&got);
}

Status Connection::ReceiveNow(bool* got) {
  Result<size_t> n = net::ReceiveNow(fd_, std::span(rbuf_).subspan(rend_));
  if (!n.ok()) return Context("receive from " + peer_, n.status());
  if (*n == 0) return Status::Ok();
  rend_ += *n;
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
    // Only a mapping session takes requests, only INVALIDATE/DOWNGRADE (and
    // OWNER_PROBE with its bit), only with ids from the server's range;
    // replies and pushes never carry them.
    const bool recall = h->opcode == static_cast<uint8_t>(wire::Opcode::kInvalidate) ||
                        h->opcode == static_cast<uint8_t>(wire::Opcode::kDowngrade) ||
                        (h->opcode == static_cast<uint8_t>(wire::Opcode::kOwnerProbe) &&
                         (features_ & wire::kFeatureOwnerProbe) != 0);
    if (request && !((features_ & wire::kFeatureMapping) != 0 && server_id && recall &&
                     h->status == 0)) {
      return Break(EPROTO, "unexpected request from server " + peer_);
    }
    if (!request && server_id) return Break(EPROTO, "reply from " + peer_ + " to no request of ours");
    const size_t frame_bytes = wire::FrameWireBytes(h->body_bytes, recv_mac_.has_value());
    if (rend_ - rstart_ < frame_bytes) return;  // ReadSome grows rbuf_ as needed
    auto body = std::span<const std::byte>(rbuf_).subspan(rstart_ + wire::kHeaderBytes,
                                                           h->body_bytes);
    if (recv_mac_ &&
        !recv_mac_->Verify(raw, body, std::span<const std::byte>(body.data() + body.size(),
                                                                 wire::kFrameMacBytes)
                                          .first<wire::kFrameMacBytes>())) {
      return Break(EPROTO, "from " + peer_ + ": frame MAC does not match (altered, replayed "
                           "or reordered frame)");
    }
    if (request) {
      if (server_requests_.size() >= wire::kMaxRecallsPerSession) {
        return Break(EPROTO, "more than " + std::to_string(wire::kMaxRecallsPerSession) +
                                 " requests outstanding from " + peer_);
      }
      server_requests_.push_back({*h, wire::Bytes(body.begin(), body.end())});
      passive_cv_.NotifyAll();
    } else {
      Dispatch(*h, body);
    }
    rstart_ += frame_bytes;
    // The frames after the AUTH reply carry MACs whose keys the handshake
    // derives only once it checked that reply.
    if (awaiting_mac_keys_ && h->opcode == static_cast<uint8_t>(wire::Opcode::kAuth)) return;
  }
}

void Connection::Dispatch(const wire::FrameHeader& h, std::span<const std::byte> body) {
  auto it = calls_.find(h.request_id);
  if (it == calls_.end()) return;  // abandoned call, or a push nobody waits for
  Call* call = it->second;
  if (h.is_push()) {
    if (h.opcode != static_cast<uint8_t>(wire::Opcode::kWakeup) || !call->want_push) return;
    Result<wire::U32Reply> r = wire::U32Reply::Decode(body);
    call->status = r.ok() ? wire::ErrnoFromWire(r->value) : EPROTO;
    if (call->status == 0 && !call->replied) call->status = EPROTO;
  } else {
    if (h.opcode != static_cast<uint8_t>(call->opcode) || call->replied) {
      call->status = EPROTO;
      call->message = "reply does not match its request";
    } else if (h.status != 0) {
      call->status = wire::ErrnoFromWire(h.status);
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
  // The node is kept for the next call (StartMany): no allocation per call.
  if (spare_nodes_.size() < kSpareCallNodes) {
    spare_nodes_.push_back(calls_.extract(it));
  } else {
    calls_.erase(it);
  }
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
  net::Shutdown(fd_);
  cv_.NotifyAll();
  passive_cv_.NotifyAll();
}

}  // namespace rams::remote_internal
