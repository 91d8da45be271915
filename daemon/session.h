/* SPDX-License-Identifier: MIT */
// Session: ramsd's side of one client connection, from accept to close
// (session.cc: socket reads and writes, the handshake and dispatch;
// session_ops.cc: the segment requests; session_sync_ops.cc: the sync-object
// requests). It reads frames into a bounded buffer,
// enforces the handshake (HELLO, then AUTH when a key is set) and the limits
// before and after it, executes requests in arrival order, and writes replies
// and pushes from two queues — small ones before bulk ones at every frame
// boundary (docs/protocol.md §6). Each OPEN attaches the segment anew, so the
// session's range locks behave like a local handle's and are released when
// the connection ends. WAITs and waiting LOCKs park on the BlockingPool; operations on sync objects
// run on the session's SyncAgent.
//
// Thread safety: used only on the server's io thread. Parked jobs run on pool
// threads and reach the connection only by posting to that thread.
// Invariants:
//  1. reading stops while closing_, paused_ (queued_bytes_ over the limit)
//     or a read is outstanding (read_pending_, or hot_: the polling event
//     loop reads the socket through PollSocket). Never both pending and hot.
//  2. Every parked operation is in parked_ until its completion is posted
//     back; its cancel flag is set when the handle closes or the connection
//     ends. Request ids in parked_ and sync_in_flight_ are unique: a request
//     reusing one is a protocol violation (so no quota or cancel flag can be
//     shadowed, and everything parked ends with the connection).
//  3. Only the io thread touches the mutable members (GUARDED_BY(io_thread_)):
//     its entry points (Start, BeginShutdown, Abort and the completions of
//     socket operations, parked and sync jobs) assert io_thread_, the other
//     members REQUIRE it.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "mapping/page_directory.h"
#include "rams/backend.h"
#include "wire/frame_mac.h"
#include "wire/messages.h"
#include "server.h"
#include "sync_agent.h"
#include "sys/local_mutex.h"

namespace ramsd {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, asio::ip::tcp::socket socket, uint64_t id, bool loopback);
  ~Session();

  void Start();
  // Stops reading, cancels parked operations; closes once replies are sent.
  void BeginShutdown();
  // Closes now.
  void Abort();
  const std::string& peer() const { return peer_; }
  // The peer's IP address: the unit of the unauthenticated-connection caps.
  const std::string& peer_address() const { return peer_address_; }
  uint64_t id() const { return id_; }
  // Remote mapping (session_mapping_ops.cc), called by the server's
  // MappingHome on the io thread: answer a PAGE_GET of this host, send it a
  // recall, or cut it off for a recall it left unanswered.
  void SendPageGrant(const rams::mapping::DirectoryAction& grant, uint64_t epoch);
  void SendRecall(const std::string& segment, rams::mapping::RecallKind kind, uint64_t page,
                  uint64_t version);
  void CutOff();
  // Asks this host (a session that negotiated kFeatureOwnerProbe) whether
  // its thread `tid` of PID-namespace domain `local_domain` is alive, and
  // answers `asker`'s OWNER_ALIVE `request` with what it says (cannot tell
  // when this session ends first, or the asker is gone by then). False,
  // sending nothing, when this session takes no probes or has
  // kMaxProbesPerSession outstanding.
  bool SendOwnerProbe(const std::string& segment, uint64_t local_domain, uint32_t tid,
                      std::weak_ptr<Session> asker, const wire::FrameHeader& request);
  // While the event loop polls (Server::PollHot), a session whose last read
  // found work is "hot": it has no asynchronous read outstanding, and the
  // loop reads its socket here, without the reactor's wake-up and dispatch.
  // Returns whether that found anything (data, the end, an error). A session
  // that is no longer hot afterwards (closing, paused) leaves the hot list.
  bool PollSocket();
  bool hot() {
    io_thread_.AssertHeld();
    return hot_;
  }
  // The loop is about to sleep: the asynchronous read again.
  void CoolDown();
  // Past the handshake (counts against --max-connections). On the io thread.
  bool ready() {
    io_thread_.AssertHeld();
    return state_ == State::kReady;
  }

 private:
  enum class State { kNeedHello, kNeedAuth, kReady };
  struct Handle {
    std::shared_ptr<rams::Attachment> attachment;
    std::span<std::byte> map;  // mapped on the first CAS/FETCH_ADD
    bool read_only = false;
    std::string name;
  };
  struct Parked {
    std::shared_ptr<std::atomic<bool>> cancel;
    uint32_t handle = 0;
  };
  using Header = wire::FrameHeader;
  using Body = std::span<const std::byte>;

  // Socket events (OnSocket*) and request handlers (Handle*) are named
  // apart: OnSocketRead is a completed socket read, HandleRead the READ
  // opcode.
  // Reading and dispatch (session.cc).
  void ReadSocket() REQUIRES(io_thread_);
  void OnSocketRead(const std::error_code& ec, size_t n);
  // What a read (asynchronous, or PollSocket's) brought: the end, an error,
  // or `n` more bytes in rbuf_, handled.
  void TakeRead(const std::error_code& ec, size_t n) REQUIRES(io_thread_);
  void ProcessBuffered() REQUIRES(io_thread_);
  void HandleFrame(const Header& h, Body body) REQUIRES(io_thread_);
  void HandleHello(const Header& h, Body body) REQUIRES(io_thread_);
  void HandleAuth(const Header& h, Body body) REQUIRES(io_thread_);
  // After a successful AUTH on a session granted kFeatureFrameMac: every
  // later frame in either direction carries its MAC (frames already queued
  // go without).
  void StartFrameMac(const wire::Nonce& client_nonce) REQUIRES(io_thread_);
  // Whether this peer must use the frame MAC (with a key).
  bool FrameMacRequired() const;
  // Enters kReady once the server admits the session; false (and the
  // request answered with the error) when the connection limit is reached.
  bool BecomeReady(const Header& h) REQUIRES(io_thread_);
  // Whether a request with this id is still being answered (parked or on
  // the sync agent): a second one is a protocol error.
  bool InFlight(uint64_t request_id) const REQUIRES(io_thread_);
  // Keyless servers serve a loopback peer as the local user who connected.
  rams::Status CheckPeerAccess(const rams::SegmentInfo& info, bool read_only) const;
  void ProtocolViolation(const Header* h, const rams::Status& why) REQUIRES(io_thread_);
  // A warning about a failure a peer can repeat: rate-limited per peer.
  void LogFailure(std::string_view kind, const std::string& line);
  void CloseAfterFlush(std::string_view why) REQUIRES(io_thread_);

  // Writing (session.cc).
  void Reply(const Header& request, Body body) REQUIRES(io_thread_);
  void ReplyError(const Header& request, const rams::Status& status) REQUIRES(io_thread_);
  void Push(uint64_t request_id, wire::Opcode opcode, Body body) REQUIRES(io_thread_);
  // `in_order`: behind every frame queued before it (coherence traffic,
  // docs/protocol.md §8), never ahead of a bulk frame as small ones go.
  void Enqueue(wire::Bytes frame, bool in_order = false) REQUIRES(io_thread_);
  // The frame of `h` and `body`, in a spare buffer when there is one.
  wire::Bytes Frame(const Header& h, Body body) REQUIRES(io_thread_);
  void WriteSocket() REQUIRES(io_thread_);
  void OnSocketWritten(const std::error_code& ec);

  // Operations (session_ops.cc). Each returns the Status of its reply when it
  // did not reply itself.
  rams::Status HandleOpen(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleClose(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleRead(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleWrite(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleAtomic(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleLock(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleUnlock(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleWait(const Header& h, Body body) REQUIRES(io_thread_);
  // Parks a WAIT whose word equalled `req.expected` just now. `wakes` (a
  // mapped segment's WAKE count, else null) ends it too once it moved past
  // `wakes_seen`: a host's store to its copy does not reach the home's word.
  // `probe` is the zero-timeout check's result: ok when a WAKE woke the
  // check itself, so the WAIT ends at once (that wake counted it as woken).
  rams::Status ParkWait(const Header& h, const wire::WaitRequest& req,
                        std::shared_ptr<rams::Attachment> attachment,
                        std::shared_ptr<const std::atomic<uint64_t>> wakes, uint64_t wakes_seen,
                        const rams::Status& probe) REQUIRES(io_thread_);
  rams::Status HandleWake(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleStat(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleMappingStat(const Header& h, Body body) REQUIRES(io_thread_);
  // Sync objects (session_sync_ops.cc): validated here, run on sync_agent_.
  rams::Status HandleSync(const Header& h, Body body) REQUIRES(io_thread_);
  void CompleteSync(const Header& h, const rams::Status& status, const wire::Bytes& body);
  rams::Result<Handle*> FindHandle(uint32_t handle, std::string_view op) REQUIRES(io_thread_);
  // Remote mapping (session_mapping_ops.cc), on sessions granted kFeatureMapping.
  rams::Status HandlePageGet(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandlePagePut(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandlePageDrop(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleMapOwner(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleMapHosts(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Result<Handle*> FindMappingHandle(uint32_t handle, std::string_view op, bool write)
      REQUIRES(io_thread_);
  // The host's reply to one of our INVALIDATE/DOWNGRADE requests.
  void HandleRecallReply(const Header& h, Body body) REQUIRES(io_thread_);
  void HandleProbeReply(const Header& h, Body body) REQUIRES(io_thread_);
  rams::Status HandleOwnerAlive(const Header& h, Body body) REQUIRES(io_thread_);
  // Answers every outstanding probe's asker "cannot tell".
  void DropProbes() REQUIRES(io_thread_);
  // Whether the mapping home attaches `name` read-only (a read-only export).
  bool ReadOnlyExport(const std::string& name) const;
  void EndMapping() REQUIRES(io_thread_);
  // Parks `job` (which returns an errno-style result and a value, and gives
  // up with ECANCELED once its flag is set) on the pool. `reply_now`: answer
  // the request at once (WAIT), else at completion (LOCK).
  using ParkedJob = std::function<std::pair<int, uint64_t>(const std::atomic<bool>&)>;
  rams::Status Park(const Header& h, uint32_t handle, bool reply_now, ParkedJob job)
      REQUIRES(io_thread_);
  void CompleteParked(const Header& h, int result, uint64_t value);
  void CancelParked(uint32_t handle) REQUIRES(io_thread_);  // 0: all

  // Constant after construction.
  Server& server_;
  asio::ip::tcp::socket socket_;
  const uint64_t id_;
  const bool loopback_;
  std::string peer_;
  std::string peer_address_;
  // Keyless server: the local uid owning the peer's socket (sock_diag), or
  // the reason it is unknown.
  rams::Result<uid_t> peer_uid_ = rams::Error(EACCES, "peer user not looked up");

  // The io thread: every member below is its alone (invariant 3).
  rams::sys::ThreadRole io_thread_;
  uint32_t client_max_body_bytes_ GUARDED_BY(io_thread_) = wire::kMaxBodyBytes;  // from HELLO

  State state_ GUARDED_BY(io_thread_) = State::kNeedHello;
  wire::Nonce server_nonce_ GUARDED_BY(io_thread_){};
  // The frame MAC: granted at HELLO, running from the end of AUTH. The first
  // unsigned_frames_ frames taken from small_queue_ were queued before it
  // started (the small queue is FIFO and the bulk one empty until then).
  bool frame_mac_ GUARDED_BY(io_thread_) = false;
  std::optional<wire::FrameMacStream> recv_mac_ GUARDED_BY(io_thread_);
  std::optional<wire::FrameMacStream> send_mac_ GUARDED_BY(io_thread_);
  size_t unsigned_frames_ GUARDED_BY(io_thread_) = 0;
  asio::steady_timer handshake_timer_ GUARDED_BY(io_thread_);

  wire::Bytes rbuf_ GUARDED_BY(io_thread_);
  size_t rstart_ GUARDED_BY(io_thread_) = 0;
  size_t rend_ GUARDED_BY(io_thread_) = 0;
  bool read_pending_ GUARDED_BY(io_thread_) = false;
  bool hot_ GUARDED_BY(io_thread_) = false;  // on the server's hot list, read by PollSocket
  bool paused_ GUARDED_BY(io_thread_) = false;
  bool closing_ GUARDED_BY(io_thread_) = false;
  bool closed_ GUARDED_BY(io_thread_) = false;

  std::deque<wire::Bytes> small_queue_ GUARDED_BY(io_thread_);
  std::deque<wire::Bytes> bulk_queue_ GUARDED_BY(io_thread_);
  std::vector<wire::Bytes> writing_ GUARDED_BY(io_thread_);  // frames of the write in progress
  std::vector<wire::FrameMacTag> writing_macs_ GUARDED_BY(io_thread_);  // and their MACs
  std::vector<asio::const_buffer> writing_buffers_ GUARDED_BY(io_thread_);  // and its pieces
  // Buffers of written frames, kept for the next ones (Frame): a reply
  // allocates nothing. At most kSpareFrames, none over kSpareFrameBytes.
  static constexpr size_t kSpareFrames = 16;
  static constexpr size_t kSpareFrameBytes = 16 * 1024;
  std::vector<wire::Bytes> spare_frames_ GUARDED_BY(io_thread_);
  size_t queued_bytes_ GUARDED_BY(io_thread_) = 0;

  std::map<uint32_t, Handle> handles_ GUARDED_BY(io_thread_);
  uint32_t next_handle_ GUARDED_BY(io_thread_) = 1;
  std::unordered_map<uint64_t, Parked> parked_ GUARDED_BY(io_thread_);  // by request id
  std::unordered_set<uint64_t> sync_in_flight_ GUARDED_BY(io_thread_);  // request ids on sync_agent_
  std::shared_ptr<SyncAgent> sync_agent_ GUARDED_BY(io_thread_);        // started by the first sync op

  // Remote mapping: granted at HELLO; the host's handle of each segment it
  // maps (recalls name it); PAGE_GETs waiting for their grant; our requests
  // (ids from kServerRequestIdBit up) waiting for the host's reply.
  struct OutstandingRecall {
    std::string segment;
    uint64_t page = 0;
  };
  bool mapping_ GUARDED_BY(io_thread_) = false;
  bool mapping_registered_ GUARDED_BY(io_thread_) = false;
  std::map<std::string, uint32_t> mapping_handles_ GUARDED_BY(io_thread_);
  std::unordered_set<uint64_t> pending_gets_ GUARDED_BY(io_thread_);
  std::unordered_map<uint64_t, OutstandingRecall> recalls_ GUARDED_BY(io_thread_);
  // OWNER_PROBEs sent to this host, by id: whom to answer.
  struct OutstandingProbe {
    std::weak_ptr<Session> asker;
    wire::FrameHeader request;
  };
  bool owner_probe_ GUARDED_BY(io_thread_) = false;  // kFeatureOwnerProbe granted
  std::unordered_map<uint64_t, OutstandingProbe> probes_ GUARDED_BY(io_thread_);
  uint64_t next_server_request_id_ GUARDED_BY(io_thread_) = wire::kServerRequestIdBit;
};

}  // namespace ramsd
