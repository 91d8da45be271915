/* SPDX-License-Identifier: MIT */
// The remote client: access to segments that a ramsd on another host (or on
// this one) exports, over the rams wire protocol (docs/protocol.md).
//
//   auto session = rams::RemoteSession::Connect("hostB", 7070, {.key = key});
//   auto seg = session->Open("matrix.a");
//   (*seg)->Write(0, bytes);  uint64_t old = *(*seg)->FetchAdd(64, 1);
//
// A RemoteAttachment is a Attachment, so code written against Attachment (and
// rams::Segment through RemoteBackend) runs unchanged on a remote segment.
// Every call is one round trip; RemoteBatch pipelines many. A lost connection
// fails every pending and later call with an error (ECONNRESET, ENOTCONN),
// never hangs; reconnect with a new Connect().
//
// Thread safety: RemoteSession, RemoteAttachment and RemoteBackend are safe to
// use from many threads at once (their calls are pipelined on one
// connection). A RemoteBatch belongs to one thread.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rams/backend.h"
#include "rams/condvar.h"
#include "rams/status.h"
#include "rams/sync_common.h"

namespace rams {

namespace remote_internal {
class RAMS_HIDDEN Connection;  // private: src/remote/connection.h
}

// The per-frame MAC (docs/protocol.md §2, "Frame MAC"): HMAC-SHA-256 over
// every frame after the handshake, keyed from the handshake, so that nobody on
// the path can alter, inject, replay or reorder frames unnoticed. Only a
// session with a key can have it.
enum class FrameMac : uint8_t {
  kAuto,     // asked for and required when the server is not on loopback
  kRequire,  // asked for and required (a server that does not grant it: EACCES)
  kRefuse,   // never asked for
};

// RemoteOptions::busy_poll's default: adaptive polling.
inline constexpr std::chrono::microseconds kAdaptivePoll{-1};

struct RemoteOptions {
  // The pre-shared key (16..256 bytes). Empty: none, which only a ramsd on a
  // loopback address without a key accepts.
  std::string key;
  // Connecting and the handshake; also the limit for each reply of a call
  // that does not itself wait (LOCK and WAIT with a timeout wait that much
  // longer; without a timeout, until the connection fails).
  std::chrono::milliseconds timeout{30000};
  // How a call waits for its reply. kAdaptivePoll (the default): poll the
  // socket briefly (at most 50 us) before sleeping, and stop polling while
  // replies keep arriving later than that (docs/protocol.md, "Latency modes").
  // A positive value: busy polling, that long before every sleep (burning
  // the CPU, as RDMA-style libraries do, to save the wake-up latency).
  // 0: sleep at once.
  std::chrono::microseconds busy_poll{kAdaptivePoll};
  // kRequire without a key is EINVAL at Connect.
  FrameMac frame_mac = FrameMac::kAuto;
};

// The key held in a key file (its content without trailing newlines; 16..256
// bytes), as ramsd --key-file reads it. EACCES when others (not the owner or
// its group) may access the file (on POSIX systems; on Windows the file's ACL
// decides).
Result<std::string> LoadRemoteKey(const std::string& path);

// Where a remote segment lives: "HOST:PORT/NAME" or "[V6]:PORT/NAME".
struct RemoteAddress {
  std::string host;
  uint16_t port = 0;
  std::string name;  // empty for "HOST:PORT"
};
Result<RemoteAddress> ParseRemoteAddress(std::string_view text);

struct RemoteExport {
  std::string name;
  bool read_only = false;
  uint64_t size_bytes = 0;
};
struct RemoteServerStat {
  std::chrono::nanoseconds uptime{0};
  uint32_t connections = 0;
  std::vector<RemoteExport> exports;
};

// A ramsd's remote-mapping counters (docs/remote-mapping.md): as the home of
// its exports (its page directories) and as its host's pager (all 0 unless
// `pager`). Counters only grow, except the gauges segments, hosts,
// pager_segments, resident_pages and epoch.
struct RemoteMappingStat {
  uint64_t epoch = 0;  // the home's directory epoch (new at every start)
  uint64_t segments = 0, hosts = 0, pages_granted = 0, invalidations = 0, downgrades = 0,
           upgrades = 0, page_bounces = 0, recalls_timed_out = 0, hosts_cut_off = 0,
           pages_lost = 0;
  bool pager = false;
  uint64_t pager_segments = 0, faults = 0, fetches = 0, read_ahead = 0, pager_upgrades = 0,
           pager_invalidations = 0, pager_downgrades = 0, evictions = 0, write_backs = 0,
           failed_faults = 0, copies_lost = 0, loss_notices = 0, resident_pages = 0;
};

class RemoteAttachment;
class RemoteBatch;
class RemoteSyncObject;

class RemoteSession {
 public:
  // Connects and completes the handshake within options.timeout. A
  // connection the server closes in the middle of the handshake (its caps
  // on connections still in one close the oldest: docs/protocol.md) is made
  // again, up to 3 times; an error the server answers is returned at once.
  static Result<RemoteSession> Connect(std::string_view host, uint16_t port,
                                       const RemoteOptions& options = {});

  // Opens an exported segment. ENOENT when it is not exported (or absent),
  // EROFS when a read-write open meets a read-only export.
  Result<std::unique_ptr<RemoteAttachment>> Open(std::string_view name, bool read_only = false);

  Status Ping();
  Result<RemoteServerStat> Stat();
  // EOPNOTSUPP from a ramsd older than MAPPING_STAT.
  Result<RemoteMappingStat> MappingStat();
  // False once the connection failed.
  bool connected() const;
  std::string peer() const;  // "host:port"

 private:
  explicit RemoteSession(std::shared_ptr<remote_internal::Connection> conn);
  friend class RemoteBackend;
  std::shared_ptr<remote_internal::Connection> conn_;
};

namespace mapping {
class MappedSegment;
}  // namespace mapping

// One opened remote segment. Closes (releasing its locks on the server) on
// destruction.
class RemoteAttachment final : public Attachment {
 public:
  ~RemoteAttachment() override;

  const SegmentInfo& info() const override { return info_; }
  // Maps the segment through this host's pager (docs/host-pager.md), found
  // at $RAMS_PAGER_SOCKET, else /run/rams/pager.sock, under the name
  // "HOST:PORT/NAME" (peer()/name). Read-only attachments map read-only.
  // ENOTSUP when no host pager listens there (always in the remote-only
  // client, the Windows build); the pager's refusals (EACCES, ENOENT, EROFS)
  // otherwise. The mapping lives as long as the attachment.
  Result<std::span<std::byte>> Map() override;
  // For a mapped attachment: what became of the segment since the last call
  // (or the Map): EOWNERDEAD once after pages of it were lost with a host
  // that held them exclusively (a host killed before writing them back:
  // they went back to the home's last version); the session's error once
  // this host's copy is lost (the home went away or restarted: every access
  // to the mapping is SIGBUS, Map() on a new attachment maps afresh). EINVAL
  // before Map().
  Status MappingStatus();
  // Writes this host's dirty pages of the mapping back to the home (what
  // msync(2) does not reach), then answers as MappingStatus.
  Status FlushMapping();
  // Reads and writes of up to 1 MiB are atomic; larger ones are split into
  // 1 MiB requests, each atomic on its own.
  Status Read(uint64_t offset, std::span<std::byte> out) override;
  Status Write(uint64_t offset, std::span<const std::byte> in) override;
  Result<LockId> Lock(uint64_t offset, uint64_t len, const LockOptions& options) override;
  Status Unlock(LockId id) override;
  Result<bool> Held(LockId id) override;
  Status Wait(uint64_t offset, uint32_t expected, Timeout timeout) override;
  Result<uint32_t> Wake(uint64_t offset, uint32_t count) override;
  Result<SegmentInfo> Stat() override;

  // Atomic on the aligned 8-byte word at `offset` (with respect to atomics of
  // local processes on the home host too). Both return the previous value;
  // CompareExchange stored `desired` iff the previous value equals `expected`.
  Result<uint64_t> CompareExchange(uint64_t offset, uint64_t expected, uint64_t desired);
  Result<uint64_t> FetchAdd(uint64_t offset, uint64_t addend);

  bool read_only() const { return read_only_; }

 private:
  friend class RemoteSession;
  friend class RemoteBatch;
  friend class RemoteSyncObject;
  RemoteAttachment(std::shared_ptr<remote_internal::Connection> conn, uint32_t handle,
                bool read_only, SegmentInfo info);
  std::shared_ptr<remote_internal::Connection> conn_;
  uint32_t handle_;
  bool read_only_;
  SegmentInfo info_;
  std::mutex map_mu_;
  std::unique_ptr<mapping::MappedSegment> mapped_;  // guarded by map_mu_
};

// The name of RemoteAttachment in rams 0.1.0, kept for code written against it.
using RemoteSegment [[deprecated("use rams::RemoteAttachment")]] = RemoteAttachment;

// Pipelining: queue operations, then Run() sends them back to back (a bounded
// window in flight) and waits for every reply. Results land in the places
// given when queueing; each operation has its own Status.
class RemoteBatch {
 public:
  RemoteBatch() = default;
  // REQUIRES for each: out/in stay valid until Run() returns; data <= 1 MiB.
  void Read(RemoteAttachment& seg, uint64_t offset, std::span<std::byte> out);
  void Write(RemoteAttachment& seg, uint64_t offset, std::span<const std::byte> in);
  void FetchAdd(RemoteAttachment& seg, uint64_t offset, uint64_t addend, uint64_t* previous);
  void CompareExchange(RemoteAttachment& seg, uint64_t offset, uint64_t expected, uint64_t desired,
                       uint64_t* previous);
  size_t size() const { return ops_.size(); }

  // Runs every queued operation; returns the first error (all are attempted)
  // and empties the batch. status(i) stays readable until the next queueing.
  Status Run();
  const Status& status(size_t i) const { return statuses_[i]; }

 private:
  struct Op;
  std::vector<std::shared_ptr<Op>> ops_;
  std::vector<Status> statuses_;
};

// Sync objects in a remote segment: proxies for a rams::Mutex, CondVar or
// Barrier initialized (by a process on the home host) at `offset`. The home
// ramsd runs every operation on the real object, on one thread per session
// (its sync agent), so local processes on the home host and remote sessions
// share the very same objects. The owner identity of a remote session is
// that agent: a mutex locked through a session is held by the session, not by
// the calling thread, and the session's sync operations run one after the
// other (a blocked Lock delays the session's later sync operations). Give
// each thread that needs its own identity its own RemoteSession. When the
// session ends (the client dies or disconnects), the agent exits holding what
// the session held: the next locker gets kOwnerDied, barrier members EPIPE.
// Results and errors are those of the local classes, plus the transport's
// (ECONNRESET, ENOTCONN) and EINVAL when `offset` does not hold an object of
// that type, EROFS on a read-only handle, EPERM for Unlock (and Wait) without
// holding the mutex, EAGAIN/EBUSY when ramsd runs out of agents/queue slots.
// A proxy refers to its segment, which must outlive it. Thread safety: as
// RemoteAttachment.
class RemoteSyncObject {
 public:
  RemoteSyncObject(RemoteAttachment& segment, uint64_t offset) : segment_(&segment), offset_(offset) {}
  uint64_t offset() const { return offset_; }
  RemoteAttachment& segment() const { return *segment_; }

 protected:
  // One sync request (docs/protocol.md §4, "Sync objects") for the object at offset();
  // `timeout` also extends the reply's deadline. The reply body lands in
  // `*reply` when given.
  Status Run(uint8_t opcode, uint32_t flags, uint64_t mutex_offset, Timeout timeout,
             std::vector<std::byte>* reply = nullptr);

 private:
  RemoteAttachment* segment_;
  uint64_t offset_;
};

class RemoteMutex : public RemoteSyncObject {
 public:
  using RemoteSyncObject::RemoteSyncObject;
  // As Mutex::Lock: ETIMEDOUT, ENOTRECOVERABLE, EDEADLK (the session holds
  // it), EXDEV. kOwnerDied: call MarkConsistent() after repairing the state.
  Result<Acquired> Lock(Timeout timeout = std::nullopt);
  // EBUSY when held by a live owner.
  Result<Acquired> TryLock();
  // EPERM when the session does not hold it.
  Status Unlock();
  // EINVAL unless the session holds it after acquiring it with kOwnerDied.
  Status MarkConsistent();
};

class RemoteCondVar : public RemoteSyncObject {
 public:
  using RemoteSyncObject::RemoteSyncObject;
  // As CondVar::Wait; `mu` must be in the same segment and held by the
  // session. Waits without a timeout (or longer than a second) return at
  // least once a second, spuriously; callers loop on their predicate.
  Result<CondWaitResult> Wait(RemoteMutex& mu, Timeout timeout = std::nullopt);
  Status Signal();
  Status Broadcast();
};

class RemoteBarrier : public RemoteSyncObject {
 public:
  using RemoteSyncObject::RemoteSyncObject;
  // As Barrier::Join / Wait / Leave; the member is the session.
  Status Join();
  Result<bool> Wait(Timeout timeout = std::nullopt);
  Status Leave();
};

// The `remote` backend: the exports of one ramsd as a Backend, so that
// rams::Segment::Open(name, {}, &backend) works on them. Segments are created
// and removed on their home host, not through it (Open with kCreate opens an
// existing export; kCreateExclusive and Remove are EPERM).
class RemoteBackend final : public Backend {
 public:
  explicit RemoteBackend(RemoteSession session) : session_(std::move(session)) {}
  std::string_view name() const override { return "remote"; }
  Result<std::unique_ptr<Attachment>> Open(std::string_view name,
                                            const OpenOptions& options) override;
  Status Remove(std::string_view name) override;
  Result<std::vector<SegmentInfo>> List() override;
  Result<SegmentInfo> Stat(std::string_view name) override;
  RemoteSession& session() { return session_; }

 private:
  RemoteSession session_;
};

}  // namespace rams

RAMS_API_END
