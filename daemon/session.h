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
//     or a read is outstanding (read_pending_).
//  2. Every parked operation is in parked_ until its completion is posted
//     back; its cancel flag is set when the handle closes or the connection
//     ends.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>

#include "rams/backend.h"
#include "remote/messages.h"
#include "server.h"
#include "sync_agent.h"

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
  void ReadSocket();
  void OnSocketRead(const std::error_code& ec, size_t n);
  void ProcessBuffered();
  void HandleFrame(const Header& h, Body body);
  void HandleHello(const Header& h, Body body);
  void HandleAuth(const Header& h, Body body);
  void ProtocolViolation(const Header* h, const rams::Status& why);
  void CloseAfterFlush(std::string_view why);

  // Writing (session.cc).
  void Reply(const Header& request, Body body);
  void ReplyError(const Header& request, const rams::Status& status);
  void Push(uint64_t request_id, wire::Opcode opcode, Body body);
  void Enqueue(wire::Bytes frame);
  void WriteSocket();
  void OnSocketWritten(const std::error_code& ec);

  // Operations (session_ops.cc). Each returns the Status of its reply when it
  // did not reply itself.
  rams::Status HandleOpen(const Header& h, Body body);
  rams::Status HandleClose(const Header& h, Body body);
  rams::Status HandleRead(const Header& h, Body body);
  rams::Status HandleWrite(const Header& h, Body body);
  rams::Status HandleAtomic(const Header& h, Body body);
  rams::Status HandleLock(const Header& h, Body body);
  rams::Status HandleUnlock(const Header& h, Body body);
  rams::Status HandleWait(const Header& h, Body body);
  rams::Status HandleWake(const Header& h, Body body);
  rams::Status HandleStat(const Header& h, Body body);
  // Sync objects (session_sync_ops.cc): validated here, run on sync_agent_.
  rams::Status HandleSync(const Header& h, Body body);
  void CompleteSync(const Header& h, const rams::Status& status, const wire::Bytes& body);
  rams::Result<Handle*> FindHandle(uint32_t handle, std::string_view op);
  // Parks `job` (which returns an errno-style result and a value, and gives
  // up with ECANCELED once its flag is set) on the pool. `reply_now`: answer
  // the request at once (WAIT), else at completion (LOCK).
  using ParkedJob = std::function<std::pair<int, uint64_t>(const std::atomic<bool>&)>;
  rams::Status Park(const Header& h, uint32_t handle, bool reply_now, ParkedJob job);
  void CompleteParked(const Header& h, int result, uint64_t value);
  void CancelParked(uint32_t handle);  // 0: all

  // Constant after construction.
  Server& server_;
  asio::ip::tcp::socket socket_;
  const uint64_t id_;
  const bool loopback_;
  std::string peer_;

  State state_ = State::kNeedHello;
  wire::Nonce server_nonce_{};
  asio::steady_timer handshake_timer_;

  wire::Bytes rbuf_;
  size_t rstart_ = 0;
  size_t rend_ = 0;
  bool read_pending_ = false;
  bool paused_ = false;
  bool closing_ = false;
  bool closed_ = false;

  std::deque<wire::Bytes> small_queue_;
  std::deque<wire::Bytes> bulk_queue_;
  std::vector<wire::Bytes> writing_;  // frames of the write in progress
  size_t queued_bytes_ = 0;

  std::map<uint32_t, Handle> handles_;
  uint32_t next_handle_ = 1;
  std::unordered_map<uint64_t, Parked> parked_;  // by request id
  std::shared_ptr<SyncAgent> sync_agent_;        // started by the first sync op
};

}  // namespace ramsd
