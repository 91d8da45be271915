// SPDX-License-Identifier: MIT
// ramsd connection: framing, handshake, reply queues.
#include "session.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "peer_user.h"
#include "check.h"
#include "wire/auth.h"

namespace ramsd {
namespace {

// Bytes gathered into one socket write.
constexpr size_t kMaxWriteBatchBytes = 1u << 20;
constexpr int kSocketBufferBytes = 256 * 1024;

}  // namespace

Session::Session(Server& server, asio::ip::tcp::socket socket, uint64_t id, bool loopback)
    : server_(server),
      socket_(std::move(socket)),
      id_(id),
      loopback_(loopback),
      handshake_timer_(server.io()),
      rbuf_(wire::kInitialReadBufferBytes) {
  std::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  peer_address_ = ec ? "?" : ep.address().to_string();
  if (!ec && server_.options().key.empty()) {
    std::error_code lec;
    const auto local = socket_.local_endpoint(lec);
    peer_uid_ = lec ? rams::Error(lec.value(), "local endpoint") : LoopbackPeerUid(local, ep);
  }
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  // A bounded receive buffer bounds how much bulk data a small request can
  // queue behind in the kernel (docs/protocol.md §6).
  socket_.set_option(asio::socket_base::receive_buffer_size(kSocketBufferBytes), ec);
  server_.metrics().ConnectionOpened();
}

Session::~Session() { server_.metrics().ConnectionClosed(); }

void Session::Start() {
  io_thread_.AssertHeld();
  if (server_.options().key.empty()) {
    if (peer_uid_.ok()) {
      spdlog::info("connection {} from {} (local uid {})", id_, peer_, *peer_uid_);
    } else {
      spdlog::warn("connection {} from {}: local user unknown ({}): no segment will open", id_,
                   peer_, peer_uid_.status().ToString());
    }
  } else {
    // Rate-limited: a peer retrying a failing handshake must not flood the log.
    server_.log_limiter().Log(spdlog::level::info, "open:" + peer_address_,
                              fmt::format("connection {} from {}", id_, peer_));
  }
  handshake_timer_.expires_after(server_.options().handshake_timeout);
  handshake_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    self->io_thread_.AssertHeld();
    if (ec || self->state_ == State::kReady || self->closed_) return;
    self->LogFailure("handshake-timeout",
                     fmt::format("connection {} from {}: handshake timed out", self->id_,
                                 self->peer_));
    self->Abort();
  });
  ReadSocket();
}

void Session::ReadSocket() {
  if (read_pending_ || hot_ || closing_ || paused_) return;
  wire::MakeRoom(rbuf_, rstart_, rend_);
  // Only past the handshake: a connection still in it is read in the
  // reactor's order, among the accepts (the unauthenticated caps count on
  // handshakes being read as they come).
  if (server_.hot_reads() && state_ == State::kReady) {
    hot_ = true;
    server_.AddHot(shared_from_this());
    return;
  }
  read_pending_ = true;
  socket_.async_read_some(
      asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_),
      [self = shared_from_this()](const std::error_code& ec, size_t n) { self->OnSocketRead(ec, n); });
}

void Session::OnSocketRead(const std::error_code& ec, size_t n) {
  io_thread_.AssertHeld();
  read_pending_ = false;
  if (closed_) return;
  TakeRead(ec, n);
  ReadSocket();
}

void Session::TakeRead(const std::error_code& ec, size_t n) {
  if (ec == asio::error::eof) {
    // The peer shut down its sending side (or closed): what it sent before
    // is answered and the replies drain before we close (a closed peer
    // makes the writes fail, which closes at once).
    return CloseAfterFlush("peer finished sending");
  }
  if (ec) {
    if (ec != asio::error::operation_aborted) {
      spdlog::info("connection {} from {}: {}", id_, peer_, ec.message());
    }
    return Abort();
  }
  rend_ += n;
  ProcessBuffered();
}

bool Session::PollSocket() {
  io_thread_.AssertHeld();
  if (!hot_) return false;
  if (closing_ || paused_) {
    hot_ = false;  // off the list while it may not read; ReadSocket puts it back
    return false;
  }
  // Room as for the asynchronous read: neither closing nor paused, so no
  // whole frame is left unhandled in a full buffer.
  wire::MakeRoom(rbuf_, rstart_, rend_);
  const ssize_t n =
      recv(socket_.native_handle(), rbuf_.data() + rend_, rbuf_.size() - rend_, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  if (n == 0) {
    TakeRead(asio::error::eof, 0);
  } else if (n < 0) {
    TakeRead(std::error_code(errno, std::system_category()), 0);
  } else {
    TakeRead({}, static_cast<size_t>(n));
  }
  if (closing_ || paused_) hot_ = false;
  return true;
}

void Session::CoolDown() {
  io_thread_.AssertHeld();
  if (!hot_) return;
  hot_ = false;
  ReadSocket();  // the server no longer gives hot reads: an asynchronous one
}

void Session::ProcessBuffered() {
  while (!closing_ && !paused_ && rend_ - rstart_ >= wire::kHeaderBytes) {
    auto raw = std::span<const std::byte>(rbuf_).subspan(rstart_).first<wire::kHeaderBytes>();
    const uint32_t limit =
        state_ == State::kReady ? wire::kMaxBodyBytes : wire::kMaxBodyBytesBeforeAuth;
    Header partial;
    rams::Result<Header> h = wire::DecodeHeader(raw, limit, &partial);
    if (!h.ok()) {
      const bool addressable = h.code() == EPROTONOSUPPORT || h.code() == EMSGSIZE;
      return ProtocolViolation(addressable ? &partial : nullptr, h.status());
    }
    // A reply is accepted only to our own requests on a mapping session
    // (HandleRecallReply checks the id); pushes never.
    const bool recall_reply = h->is_reply() && !h->is_push() && mapping_ &&
                              (h->request_id & wire::kServerRequestIdBit) != 0;
    if ((h->is_reply() || h->is_push()) && !recall_reply) {
      return ProtocolViolation(&*h, rams::Error(EPROTO, "reply or push sent to the server"));
    }
    if (!h->is_reply() && (h->request_id & wire::kServerRequestIdBit) != 0) {
      return ProtocolViolation(&*h, rams::Error(EPROTO, "request id with bit 63 set: that "
                                                        "range is the server's"));
    }
    const size_t frame_bytes = wire::FrameWireBytes(h->body_bytes, recv_mac_.has_value());
    if (rend_ - rstart_ < frame_bytes) return;  // ReadSocket grows the buffer
    const Header header = *h;
    Body body = std::span<const std::byte>(rbuf_).subspan(rstart_ + wire::kHeaderBytes,
                                                           header.body_bytes);
    if (recv_mac_ &&
        !recv_mac_->Verify(raw, body, std::span<const std::byte>(body.data() + body.size(),
                                                                 wire::kFrameMacBytes)
                                          .first<wire::kFrameMacBytes>())) {
      // Not answered: nothing in the frame can be trusted.
      return ProtocolViolation(nullptr, rams::Error(EPROTO, "frame MAC does not match (altered, "
                                                            "replayed or reordered frame)"));
    }
    rstart_ += frame_bytes;
    if (recall_reply) {
      HandleRecallReply(header, body);
    } else {
      HandleFrame(header, body);
    }
    if (queued_bytes_ > wire::kMaxQueuedReplyBytes) paused_ = true;
  }
}

void Session::HandleFrame(const Header& h, Body body) {
  using Op = wire::Opcode;
  const auto op = static_cast<Op>(h.opcode);
  if (h.status != 0) {
    return ProtocolViolation(&h, rams::Error(EPROTO, "non-zero status in a request"));
  }
  if (state_ != State::kReady) {
    if (op == Op::kHello && state_ == State::kNeedHello) return HandleHello(h, body);
    if (op == Op::kHello) return ProtocolViolation(&h, rams::Error(EPROTO, "second HELLO"));
    if (op == Op::kAuth && state_ == State::kNeedAuth) return HandleAuth(h, body);
    if (op == Op::kPing && state_ == State::kNeedAuth) {
      if (!body.empty()) return ReplyError(h, rams::Error(EINVAL, "PING: body not empty"));
      return Reply(h, {});
    }
    server_.metrics().AuthFailure();
    LogFailure("unauthenticated", fmt::format("connection {} from {}: {} before authentication",
                                              id_, peer_, wire::OpcodeName(h.opcode)));
    ReplyError(h, rams::Error(EACCES, "not authenticated"));
    return CloseAfterFlush("unauthenticated request");
  }
  if (op == Op::kHello || op == Op::kAuth) {
    return ProtocolViolation(&h, rams::Error(EPROTO, "second handshake"));
  }
  if (InFlight(h.request_id)) {
    return ProtocolViolation(
        &h, rams::Error(EPROTO, "request id " + std::to_string(h.request_id) + " is in flight"));
  }
  const auto start = std::chrono::steady_clock::now();
  rams::Status s;
  switch (op) {
    case Op::kPing:
      if (!body.empty()) {
        s = rams::Error(EINVAL, "PING: body not empty");
      } else {
        Reply(h, {});
      }
      break;
    case Op::kOpen: s = HandleOpen(h, body); break;
    case Op::kClose: s = HandleClose(h, body); break;
    case Op::kRead: s = HandleRead(h, body); break;
    case Op::kWrite: s = HandleWrite(h, body); break;
    case Op::kCas:
    case Op::kFetchAdd: s = HandleAtomic(h, body); break;
    case Op::kLock: s = HandleLock(h, body); break;
    case Op::kUnlock:
    case Op::kLockHeld: s = HandleUnlock(h, body); break;
    case Op::kWait: s = HandleWait(h, body); break;
    case Op::kWake: s = HandleWake(h, body); break;
    case Op::kStat: s = HandleStat(h, body); break;
    case Op::kMappingStat: s = HandleMappingStat(h, body); break;
    case Op::kMutexLock:
    case Op::kMutexUnlock:
    case Op::kMutexConsistent:
    case Op::kCondWait:
    case Op::kCondSignal:
    case Op::kCondBroadcast:
    case Op::kBarrierJoin:
    case Op::kBarrierWait:
    case Op::kBarrierLeave: s = HandleSync(h, body); break;
    case Op::kPageGet: s = HandlePageGet(h, body); break;
    case Op::kPagePut: s = HandlePagePut(h, body); break;
    case Op::kPageDrop: s = HandlePageDrop(h, body); break;
    case Op::kMapOwner: s = HandleMapOwner(h, body); break;
    case Op::kMapHosts: s = HandleMapHosts(h, body); break;
    case Op::kOwnerAlive: s = HandleOwnerAlive(h, body); break;
    default: s = rams::Error(EOPNOTSUPP, "unknown opcode " + std::to_string(h.opcode)); break;
  }
  if (!s.ok()) ReplyError(h, s);
  server_.metrics().CountOp(h.opcode, !s.ok(), std::chrono::steady_clock::now() - start);
}

void Session::HandleHello(const Header& h, Body body) {
  rams::Result<wire::HelloRequest> hello = wire::HelloRequest::Decode(body);
  if (!hello.ok()) return ProtocolViolation(&h, hello.status());
  // 0: the protocol's maximum; else honoured, but never below what every
  // fixed-size reply and error message needs.
  if (hello->max_body_bytes != 0) {
    client_max_body_bytes_ = std::clamp(hello->max_body_bytes, wire::kMinBodyBytesLimit,
                                        wire::kMaxBodyBytes);
  }
  const bool key_required = !server_.options().key.empty();
  const bool offer_mac = key_required && server_.options().frame_mac != rams::FrameMac::kRefuse;
  const uint64_t offered = wire::kAllFeatures |
                           (server_.options().mapping
                                ? wire::kFeatureMapping | wire::kFeatureOwnerProbe
                                : 0) |
                           (offer_mac ? wire::kFeatureFrameMac : 0);
  mapping_ = (hello->features & offered & wire::kFeatureMapping) != 0;
  owner_probe_ = mapping_ && (hello->features & offered & wire::kFeatureOwnerProbe) != 0;
  frame_mac_ = (hello->features & offered & wire::kFeatureFrameMac) != 0;
  if (key_required && !frame_mac_ && FrameMacRequired()) {
    server_.metrics().AuthFailure();
    LogFailure("no-frame-mac", fmt::format("connection {} from {}: refused: no frame MAC", id_,
                                           peer_));
    ReplyError(h, rams::Error(EACCES, "this server requires the frame MAC (feature bit 5) from " +
                                          std::string(loopback_ ? "every peer" :
                                                                  "non-loopback peers")));
    return CloseAfterFlush("frame MAC required");
  }
  wire::HelloReply reply{.features = hello->features & offered,
                         .max_body_bytes = wire::kMaxBodyBytes,
                         .auth_flags = key_required ? wire::kAuthKeyRequired : 0u};
  if (key_required) {
    server_nonce_ = wire::RandomNonce();
    reply.server_nonce = server_nonce_;
    state_ = State::kNeedAuth;
  } else if (!BecomeReady(h)) {  // the server accepted this peer as loopback
    return;
  }
  wire::Bytes out;
  reply.EncodeTo(&out);
  Reply(h, out);
}

void Session::HandleAuth(const Header& h, Body body) {
  rams::Result<wire::AuthRequest> auth = wire::AuthRequest::Decode(body);
  if (!auth.ok()) return ProtocolViolation(&h, auth.status());
  const std::string& key = server_.options().key;
  if (!wire::MacEqual(auth->client_mac, wire::ClientMac(key, server_nonce_, auth->client_nonce))) {
    server_.metrics().AuthFailure();
    LogFailure("wrong-key",
               fmt::format("connection {} from {}: authentication failed (wrong key)", id_, peer_));
    ReplyError(h, rams::Error(EACCES, "authentication failed"));
    return CloseAfterFlush("authentication failed");
  }
  if (!BecomeReady(h)) return;
  spdlog::info("connection {} from {}: authenticated", id_, peer_);
  wire::Bytes out;
  wire::AuthReply{.server_mac = wire::ServerMac(key, auth->client_nonce, server_nonce_)}.EncodeTo(
      &out);
  Reply(h, out);
  if (frame_mac_) StartFrameMac(auth->client_nonce);
}

bool Session::FrameMacRequired() const {
  const rams::FrameMac policy = server_.options().frame_mac;
  return policy == rams::FrameMac::kRequire || (policy == rams::FrameMac::kAuto && !loopback_);
}

void Session::StartFrameMac(const wire::Nonce& client_nonce) {
  const wire::FrameMacKeys keys =
      wire::DeriveFrameMacKeys(server_.options().key, client_nonce, server_nonce_);
  recv_mac_.emplace(keys.client_to_server);
  send_mac_.emplace(keys.server_to_client);
  // Before AUTH only small replies exist (the body limit is 128 bytes).
  RAMS_CHECK(bulk_queue_.empty());
  unsigned_frames_ = small_queue_.size();
}

bool Session::BecomeReady(const Header& h) {
  if (!server_.AdmitReady()) {
    ReplyError(h, rams::Error(EAGAIN, "connection limit " +
                                          std::to_string(server_.options().max_connections) +
                                          " reached"));
    CloseAfterFlush("connection limit reached");
    return false;
  }
  state_ = State::kReady;
  handshake_timer_.cancel();
  return true;
}

bool Session::InFlight(uint64_t request_id) const {
  return parked_.count(request_id) != 0 || sync_in_flight_.count(request_id) != 0 ||
         pending_gets_.count(request_id) != 0;
}

rams::Status Session::CheckPeerAccess(const rams::SegmentInfo& info, bool read_only) const {
  if (!server_.options().key.empty()) return rams::Status::Ok();  // the key grants ramsd's rights
  if (!peer_uid_.ok()) {
    return rams::Error(EACCES, "open " + info.name + ": cannot tell which local user connected (" +
                                   peer_uid_.status().ToString() + ")");
  }
  return CheckLocalAccess(*peer_uid_, info, read_only);
}

void Session::LogFailure(std::string_view kind, const std::string& line) {
  server_.log_limiter().Log(spdlog::level::warn, std::string(kind) + ":" + peer_address_, line);
}

void Session::ProtocolViolation(const Header* h, const rams::Status& why) {
  server_.metrics().ProtocolError();
  LogFailure("protocol", fmt::format("connection {} from {}: protocol violation: {}", id_, peer_,
                                      why.ToString()));
  if (h != nullptr) {
    Header reply_to = *h;
    reply_to.flags = 0;
    ReplyError(reply_to, why.code() == EMSGSIZE ? rams::Error(EPROTO, why.message()) : why);
  }
  CloseAfterFlush("protocol violation");
}

void Session::CloseAfterFlush(std::string_view why) {
  if (closing_) return;
  if (ready()) {
    spdlog::info("connection {} from {}: closing ({})", id_, peer_, why);
  }
  closing_ = true;
  CancelParked(0);
  if (sync_agent_) sync_agent_->Stop();
  if (writing_.empty() && small_queue_.empty() && bulk_queue_.empty()) Abort();
}

void Session::BeginShutdown() {
  io_thread_.AssertHeld();
  CloseAfterFlush("server shutting down");
}

void Session::Abort() {
  io_thread_.AssertHeld();
  if (closed_) return;
  closed_ = true;
  closing_ = true;
  CancelParked(0);
  if (sync_agent_) sync_agent_->Stop();
  EndMapping();
  handshake_timer_.cancel();
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  handles_.clear();  // detaches the attachments: their range locks are released
  if (state_ == State::kReady) spdlog::info("connection {} from {}: closed", id_, peer_);
  server_.Forget(this);
}

void Session::Reply(const Header& request, Body body) {
  Header h{.opcode = request.opcode, .flags = wire::kFlagReply, .request_id = request.request_id};
  Enqueue(Frame(h, body));
}

void Session::ReplyError(const Header& request, const rams::Status& status) {
  std::string_view message = status.message();
  message = message.substr(0, wire::kMaxErrorMessageBytes);
  Header h{.opcode = request.opcode, .flags = wire::kFlagReply, .request_id = request.request_id,
           .status = static_cast<uint32_t>(status.code())};
  Enqueue(Frame(h, std::as_bytes(std::span(message.data(), message.size()))));
}

void Session::Push(uint64_t request_id, wire::Opcode opcode, Body body) {
  Header h{.opcode = static_cast<uint8_t>(opcode), .flags = wire::kFlagPush,
           .request_id = request_id};
  Enqueue(Frame(h, body));
}

wire::Bytes Session::Frame(const Header& h, Body body) {
  wire::Bytes frame;
  if (!spare_frames_.empty()) {
    frame = std::move(spare_frames_.back());
    spare_frames_.pop_back();
  }
  wire::EncodeFrameInto(h, body, &frame);
  return frame;
}

void Session::Enqueue(wire::Bytes frame, bool in_order) {
  if (closed_) return;
  queued_bytes_ += frame.size();
  if (!in_order && frame.size() <= wire::kHeaderBytes + wire::kSmallReplyBytes) {
    small_queue_.push_back(std::move(frame));
  } else {
    bulk_queue_.push_back(std::move(frame));
  }
  WriteSocket();
}

void Session::WriteSocket() {
  if (!writing_.empty() || closed_) return;
  size_t batch_bytes = 0;
  // Small frames first: they never wait behind more than the bulk frame
  // already on the wire.
  for (auto* queue : {&small_queue_, &bulk_queue_}) {
    while (!queue->empty() && (writing_.empty() || batch_bytes + queue->front().size() <=
                                                       kMaxWriteBatchBytes)) {
      batch_bytes += queue->front().size();
      writing_.push_back(std::move(queue->front()));
      queue->pop_front();
    }
  }
  if (writing_.empty()) return;
  // The frames queued before the MAC started lead the small queue, so they
  // lead writing_ too; the others are numbered here, in wire order.
  const size_t unsigned_now = std::min(unsigned_frames_, writing_.size());
  unsigned_frames_ -= unsigned_now;
  writing_macs_.clear();
  if (send_mac_) {
    writing_macs_.reserve(writing_.size() - unsigned_now);
    for (size_t i = unsigned_now; i < writing_.size(); ++i) {
      const auto frame = std::span<const std::byte>(writing_[i]);
      writing_macs_.push_back(
          send_mac_->Sign(frame.first<wire::kHeaderBytes>(), frame.subspan(wire::kHeaderBytes)));
    }
  }
  writing_buffers_.clear();
  for (size_t i = 0; i < writing_.size(); ++i) {
    writing_buffers_.emplace_back(writing_[i].data(), writing_[i].size());
    if (send_mac_ && i >= unsigned_now) {
      const wire::FrameMacTag& mac = writing_macs_[i - unsigned_now];
      writing_buffers_.emplace_back(mac.data(), mac.size());
    }
  }
  // A span: the write keeps no copy of the list (which stays until it ends).
  asio::async_write(socket_, std::span<const asio::const_buffer>(writing_buffers_),
                    [self = shared_from_this()](const std::error_code& ec, size_t) {
                      self->OnSocketWritten(ec);
                    });
}

void Session::OnSocketWritten(const std::error_code& ec) {
  io_thread_.AssertHeld();
  for (wire::Bytes& f : writing_) {
    queued_bytes_ -= f.size();
    if (spare_frames_.size() < kSpareFrames && f.capacity() <= kSpareFrameBytes) {
      spare_frames_.push_back(std::move(f));
    }
  }
  writing_.clear();
  if (closed_) return;
  if (ec) {
    spdlog::info("connection {} from {}: write: {}", id_, peer_, ec.message());
    return Abort();
  }
  if (closing_ && small_queue_.empty() && bulk_queue_.empty()) return Abort();
  WriteSocket();
  if (paused_ && queued_bytes_ <= wire::kMaxQueuedReplyBytes / 2) {
    paused_ = false;
    ProcessBuffered();
    ReadSocket();
  }
}

}  // namespace ramsd
