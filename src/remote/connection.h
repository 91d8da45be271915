/* SPDX-License-Identifier: MIT */
// The client side of one ramsd connection: connecting and the handshake
// (HELLO, AUTH), sending requests, and matching replies and pushes to the
// calls waiting for them by request id, so that many threads pipeline their
// requests on one socket.
//
// Reading uses the leader/follower pattern instead of a reader thread: a
// thread that waits for its reply and finds nobody reading becomes the reader
// until some frame arrives, dispatches every complete frame, and hands over.
// A single caller thus reads its own reply without a thread switch (the round
// trip is one send and one receive), and no thread exists while nobody waits.
// The reader polls the socket before it sleeps as RemoteOptions::busy_poll
// says: adaptively by default (sys::AdaptivePoll), a fixed time, or never.
//
// Thread safety: safe from many threads. Invariants:
//  1. At most one thread reads the socket (reading_), and only it touches
//     rbuf_/rstart_/rend_ and poll_ outside mu_.
//  2. A Call is in calls_ from Start() until it is done or abandoned; only
//     Dispatch/Break (under mu_) complete it.
//  3. Once broken_ != 0 the connection stays broken and calls_ is empty.
//  4. A thread waiting for server requests (NextServerRequest), a passive
//     reader, reads only while no call waits (waiting_calls_ == 0), and not
//     until kPassiveResumeDelay after the last call ended: calls in a burst
//     read for themselves and nobody yields or wakes between them (a
//     request the server sends meanwhile waits that long at most; one a
//     call reads is queued and wakes it, passive_cv_). A call that starts
//     waiting while it reads wakes it (yield_fd_), so that the caller reads
//     its own reply instead of being woken by the reader (one thread switch
//     less).
//  5. With the frame MAC (kFeatureFrameMac), send_mac_ numbers frames in the
//     order they enter the socket (so it is used under send_mu_ only), and
//     recv_mac_ in the order they are read (by the reader only); both exist
//     from the end of the handshake on.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "rams/remote.h"
#include "remote/socket.h"
#include "rams/status.h"
#include "sys/adaptive_poll.h"
#include "sys/local_mutex.h"
#include "wire/frame.h"
#include "wire/frame_mac.h"
#include "wire/messages.h"

namespace rams::remote_internal {

using net::Clock;
using net::Deadline;

// One request in flight.
struct Call {
  wire::Opcode opcode = wire::Opcode::kPing;
  std::span<std::byte> read_into;  // READ: the reply's data is copied here
  bool want_push = false;          // WAIT: done at the WAKEUP push, not the reply
  // Set when Start() registers the call.
  uint64_t id = 0;
  // Guarded by Connection::mu_; written only by the reading thread or Break.
  bool replied = false;
  bool done = false;
  int status = 0;  // errno; 0 = ok
  std::string message;
  wire::Bytes body;
};

// A request the server sent (INVALIDATE, DOWNGRADE on a mapping session),
// copied out of the receive buffer.
struct ServerRequest {
  wire::FrameHeader header;
  wire::Bytes body;
};

class Connection {
 public:
  // `features`: the feature bits asked for at HELLO (kFeatureMapping makes
  // the session symmetric: see NextServerRequest).
  static Result<std::shared_ptr<Connection>> Open(std::string_view host, uint16_t port,
                                                  const RemoteOptions& options,
                                                  uint64_t features = wire::kAllFeatures);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers `call` and sends its request (header, then `fixed`, then
  // `data`, in one frame). REQUIRES: call outlives Finish().
  Status Start(Call* call, std::span<const std::byte> fixed, std::span<const std::byte> data = {})
      EXCLUDES(mu_, send_mu_);
  // The same for many requests, sent back to back with as few system calls
  // as the socket allows (pipelining). On error no call is left registered.
  struct Request {
    Call* call;
    std::span<const std::byte> fixed;
    std::span<const std::byte> data;
  };
  Status StartMany(std::span<const Request> requests) EXCLUDES(mu_, send_mu_);
  // Waits until `call` is done or `deadline` passes (the call is then
  // abandoned: ETIMEDOUT). Returns the call's outcome as a Status.
  Status Finish(Call* call, Deadline deadline) EXCLUDES(mu_);
  // Start, then Finish within the connection's timeout.
  Status RoundTrip(Call* call, std::span<const std::byte> fixed,
                   std::span<const std::byte> data = {});

  // Mapping sessions (kFeatureMapping granted): the next request the server
  // sent, waiting (and reading the socket for everybody, like Finish) until
  // `deadline`: ETIMEDOUT then; the connection's error once it broke. A
  // session without the feature treats a server request as EPROTO.
  // `on_take`, if given, runs with the request as it leaves the queue, under
  // the lock InspectServerRequests holds.
  Result<ServerRequest> NextServerRequest(
      Deadline deadline, const std::function<void(const ServerRequest&)>& on_take = nullptr)
      EXCLUDES(mu_);
  // Runs `f` on the server requests received but not yet taken, with no
  // request taken meanwhile. Requests are queued as their frames are read, in
  // order, so after a reply arrived every request the server sent before it
  // is either queued or was taken (and seen by on_take).
  bool InspectServerRequests(const std::function<bool(const std::deque<ServerRequest>&)>& f)
      EXCLUDES(mu_);
  // Answers a server request with status 0 and `body`.
  Status AnswerServerRequest(const wire::FrameHeader& request, std::span<const std::byte> body)
      EXCLUDES(send_mu_);

  Deadline DefaultDeadline() const { return Clock::now() + timeout_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  bool connected() const EXCLUDES(mu_);
  const std::string& peer() const { return peer_; }
  uint64_t features() const { return features_; }
  uint32_t max_body_bytes() const { return server_max_body_; }

 private:
  Connection(net::SocketHandle fd, std::string peer, const RemoteOptions& options);
  Status Handshake(const RemoteOptions& options, uint64_t features);
  // Arms the frame MAC in both directions after a successful AUTH.
  void StartFrameMac(const std::string& key, const wire::Nonce& client_nonce,
                     const wire::Nonce& server_nonce) EXCLUDES(mu_, send_mu_);
  // One turn as the reader (Finish, NextServerRequest). REQUIRES: mu_ held,
  // nobody reading; mu_ is released while reading and held again on return.
  // `passive`: a NextServerRequest turn, which yields to a waiting call.
  void ReadAsLeader(Deadline deadline, bool passive = false) REQUIRES(mu_);
  // Reads as the leader when nobody reads, else waits for the reader's
  // news (or `deadline`). REQUIRES: mu_ held (released meanwhile).
  void AwaitProgress(Deadline deadline) REQUIRES(mu_);
  // Sends every byte of `iov` (modified on the way). REQUIRES: send_mu_ held.
  Status SendAll(std::span<net::IoVec> iov) REQUIRES(send_mu_);
  // Reads what the socket has (waiting until `deadline`) into rbuf_.
  // REQUIRES: this thread is the reader (invariant 1), mu_ not held.
  // A passive reader also returns (with nothing read) when a call asks it
  // to yield (invariant 4).
  Status ReadSome(Deadline deadline, bool passive) EXCLUDES(mu_);
  // Asks a passive reader to yield. REQUIRES: mu_ held.
  void AskReaderToYield() REQUIRES(mu_);
  // A call leaves Finish; wakes a passive reader when it was the last.
  void StopWaiting() REQUIRES(mu_);
  // One non-blocking receive into rbuf_; sets *got when bytes arrived.
  Status ReceiveNow(bool* got);
  // Dispatches every complete frame in rbuf_. REQUIRES: reader, mu_ held.
  void DispatchBuffered() REQUIRES(mu_);
  void Dispatch(const wire::FrameHeader& h, std::span<const std::byte> body) REQUIRES(mu_);
  // Fails every call and closes the socket. REQUIRES: mu_ held.
  void Break(int code, const std::string& why) REQUIRES(mu_);
  Status CallStatus(const Call& call) const;

  // Constant after construction.
  const net::SocketHandle fd_;
  const std::string peer_;
  const std::chrono::milliseconds timeout_;
  const std::chrono::microseconds busy_poll_;  // RemoteOptions::busy_poll
  const net::WakeHandle yield_fd_;  // woken: a call waits while a passive reader reads
  uint64_t features_ = 0;              // set by Handshake, then constant
  uint32_t server_max_body_ = wire::kMaxBodyBytes;

  sys::LocalMutex send_mu_;  // one frame on the socket at a time
  std::optional<wire::FrameMacStream> send_mac_ GUARDED_BY(send_mu_);

  mutable sys::LocalMutex mu_;
  sys::LocalCondVar cv_;  // a call completed or the reader left
  bool reading_ GUARDED_BY(mu_) = false;
  bool passive_reading_ GUARDED_BY(mu_) = false;  // the reader is a NextServerRequest
  bool yield_asked_ GUARDED_BY(mu_) = false;      // yield_fd_ was signalled this turn
  int waiting_calls_ GUARDED_BY(mu_) = 0;         // threads inside Finish
  // Invariant 4: passive readers wait on passive_cv_ (a server request
  // queued, the connection broke, or the calls ended while some of them
  // waited for that: passive_awaiting_calls_), and read from
  // resume_passive_at_ on.
  static constexpr std::chrono::microseconds kPassiveResumeDelay{200};
  sys::LocalCondVar passive_cv_;
  Clock::time_point resume_passive_at_ GUARDED_BY(mu_){};
  int passive_awaiting_calls_ GUARDED_BY(mu_) = 0;

  int broken_ GUARDED_BY(mu_) = 0;
  std::string broken_why_ GUARDED_BY(mu_);
  using CallMap = std::unordered_map<uint64_t, Call*>;
  // Nodes of calls_ kept from completed calls, so that a call allocates none.
  static constexpr size_t kSpareCallNodes = 16;
  CallMap calls_ GUARDED_BY(mu_);
  std::vector<CallMap::node_type> spare_nodes_ GUARDED_BY(mu_);
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  std::deque<ServerRequest> server_requests_ GUARDED_BY(mu_);
  // Between the HELLO reply that granted the frame MAC and StartFrameMac:
  // frames after the AUTH reply wait in rbuf_ until the MAC keys exist.
  bool awaiting_mac_keys_ GUARDED_BY(mu_) = false;

  // Owned by the reading thread (invariant 1).
  wire::Bytes rbuf_;
  size_t rstart_ = 0;
  size_t rend_ = 0;
  std::optional<wire::FrameMacStream> recv_mac_;
  sys::AdaptivePoll poll_;  // busy_poll_ == kAdaptivePoll
};

}  // namespace rams::remote_internal
