// SPDX-License-Identifier: MIT
// RemoteSession and RemoteAttachment: one round trip per call over a Connection.
#include <cerrno>

#include "rams/remote.h"
#include "mapping/mapped_segment.h"
#include "remote/connection.h"
#include "segment_checks.h"

namespace rams {

using remote_internal::Call;
using remote_internal::Clock;
using remote_internal::Connection;
using remote_internal::Deadline;

namespace {

// The body of a one-sided request, encoded into this thread's buffer, whose
// capacity stays: a READ, WRITE, CAS or FETCH_ADD allocates nothing for it.
// Valid until the thread's next call; RoundTrip has sent it by its return.
template <class M>
std::span<const std::byte> EncodeInScratch(const M& m, bool fixed_only = false) {
  thread_local wire::Bytes scratch;
  scratch.clear();
  wire::EncodeFields(m, &scratch, /*skip_rest=*/fixed_only);
  return scratch;
}

// The client-side deadline for an operation that itself waits up to `timeout`.
Deadline WaitingDeadline(const Connection& conn, const Timeout& timeout) {
  if (!timeout || *timeout > std::chrono::hours(24 * 365)) return std::nullopt;
  return Clock::now() + *timeout + conn.timeout();
}

int64_t TimeoutNs(const Timeout& timeout) {
  if (!timeout) return -1;
  return std::max<int64_t>(0, timeout->count());
}

}  // namespace

Result<RemoteSession> RemoteSession::Connect(std::string_view host, uint16_t port,
                                             const RemoteOptions& options) {
  RAMS_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, Connection::Open(host, port, options));
  return RemoteSession(std::move(conn));
}

RemoteSession::RemoteSession(std::shared_ptr<Connection> conn) : conn_(std::move(conn)) {}

bool RemoteSession::connected() const { return conn_->connected(); }
std::string RemoteSession::peer() const { return conn_->peer(); }

Status RemoteSession::Ping() {
  Call call{.opcode = wire::Opcode::kPing};
  return conn_->RoundTrip(&call, {});
}

Result<RemoteServerStat> RemoteSession::Stat() {
  Call call{.opcode = wire::Opcode::kStat};
  RAMS_RETURN_IF_ERROR(conn_->RoundTrip(&call, Encode(wire::HandleRequest{.handle = 0})));
  RAMS_ASSIGN_OR_RETURN(wire::ServerStatReply reply, wire::ServerStatReply::Decode(call.body));
  RemoteServerStat stat{.uptime = std::chrono::nanoseconds(reply.uptime_ns),
                        .connections = reply.connections};
  for (wire::ExportEntry& e : reply.exports) {
    stat.exports.push_back({std::move(e.name), e.read_only, e.size_bytes});
  }
  return stat;
}

Result<RemoteMappingStat> RemoteSession::MappingStat() {
  Call call{.opcode = wire::Opcode::kMappingStat};
  RAMS_RETURN_IF_ERROR(conn_->RoundTrip(&call, {}));
  RAMS_ASSIGN_OR_RETURN(wire::MappingStatReply r, wire::MappingStatReply::Decode(call.body));
  return RemoteMappingStat{
      .epoch = r.epoch, .segments = r.segments, .hosts = r.hosts,
      .pages_granted = r.pages_granted, .invalidations = r.invalidations,
      .downgrades = r.downgrades, .upgrades = r.upgrades, .page_bounces = r.page_bounces,
      .recalls_timed_out = r.recalls_timed_out, .hosts_cut_off = r.hosts_cut_off,
      .pages_lost = r.pages_lost, .pager = (r.flags & wire::kMappingStatPager) != 0,
      .pager_segments = r.pager_segments, .faults = r.faults, .fetches = r.fetches,
      .read_ahead = r.read_ahead, .pager_upgrades = r.pager_upgrades,
      .pager_invalidations = r.pager_invalidations,
      .pager_downgrades = r.pager_downgrades, .evictions = r.evictions,
      .write_backs = r.write_backs, .failed_faults = r.failed_faults,
      .copies_lost = r.copies_lost, .loss_notices = r.loss_notices,
      .resident_pages = r.resident_pages};
}

Result<std::unique_ptr<RemoteAttachment>> RemoteSession::Open(std::string_view name, bool read_only) {
  RAMS_RETURN_IF_ERROR(ValidateName(name));
  Call call{.opcode = wire::Opcode::kOpen};
  wire::OpenRequest request{.flags = read_only ? wire::kOpenReadOnly : 0u, .name = name};
  RAMS_RETURN_IF_ERROR(conn_->RoundTrip(&call, Encode(request)));
  RAMS_ASSIGN_OR_RETURN(wire::OpenReply reply, wire::OpenReply::Decode(call.body));
  SegmentInfo info{.name = std::string(name), .size_bytes = reply.size_bytes, .backend = "remote"};
  return std::unique_ptr<RemoteAttachment>(new RemoteAttachment(
      conn_, reply.handle, (reply.flags & wire::kOpenReadOnly) != 0, std::move(info)));
}

RemoteAttachment::RemoteAttachment(std::shared_ptr<Connection> conn, uint32_t handle, bool read_only,
                             SegmentInfo info)
    : conn_(std::move(conn)), handle_(handle), read_only_(read_only), info_(std::move(info)) {}

RemoteAttachment::~RemoteAttachment() {
  if (!conn_->connected()) return;
  Call call{.opcode = wire::Opcode::kClose};
  conn_->RoundTrip(&call, Encode(wire::HandleRequest{.handle = handle_})).IgnoreError();
}

Status RemoteAttachment::Read(uint64_t offset, std::span<std::byte> out) {
  RAMS_RETURN_IF_ERROR(internal::CheckRange("read", info_, offset, out.size()));
  do {
    const size_t n = std::min<size_t>(out.size(), wire::kMaxIoBytes);
    Call call{.opcode = wire::Opcode::kRead, .read_into = out.first(n)};
    wire::ReadRequest request{.handle = handle_, .length = static_cast<uint32_t>(n), .offset = offset};
    RAMS_RETURN_IF_ERROR(conn_->RoundTrip(&call, EncodeInScratch(request)));
    out = out.subspan(n);
    offset += n;
  } while (!out.empty());
  return Status::Ok();
}

Status RemoteAttachment::Write(uint64_t offset, std::span<const std::byte> in) {
  RAMS_RETURN_IF_ERROR(internal::CheckRange("write", info_, offset, in.size()));
  do {
    const size_t n = std::min<size_t>(in.size(), wire::kMaxIoBytes);
    Call call{.opcode = wire::Opcode::kWrite};
    const wire::WriteRequest request{.handle = handle_, .offset = offset};
    RAMS_RETURN_IF_ERROR(
        conn_->RoundTrip(&call, EncodeInScratch(request, /*fixed_only=*/true), in.first(n)));
    in = in.subspan(n);
    offset += n;
  } while (!in.empty());
  return Status::Ok();
}

Result<uint64_t> RemoteAttachment::CompareExchange(uint64_t offset, uint64_t expected,
                                                uint64_t desired) {
  RAMS_RETURN_IF_ERROR(internal::CheckAligned("cas", info_, offset, 8, 8));
  Call call{.opcode = wire::Opcode::kCas};
  wire::CasRequest request{.handle = handle_, .offset = offset, .expected = expected,
                           .desired = desired};
  RAMS_RETURN_IF_ERROR(conn_->RoundTrip(&call, EncodeInScratch(request)));
  RAMS_ASSIGN_OR_RETURN(wire::U64Reply reply, wire::U64Reply::Decode(call.body));
  return reply.value;
}

Result<uint64_t> RemoteAttachment::FetchAdd(uint64_t offset, uint64_t addend) {
  RAMS_RETURN_IF_ERROR(internal::CheckAligned("fetch_add", info_, offset, 8, 8));
  Call call{.opcode = wire::Opcode::kFetchAdd};
  wire::FetchAddRequest request{.handle = handle_, .offset = offset, .addend = addend};
  RAMS_RETURN_IF_ERROR(conn_->RoundTrip(&call, EncodeInScratch(request)));
  RAMS_ASSIGN_OR_RETURN(wire::U64Reply reply, wire::U64Reply::Decode(call.body));
  return reply.value;
}

Result<LockId> RemoteAttachment::Lock(uint64_t offset, uint64_t len, const LockOptions& options) {
  RAMS_RETURN_IF_ERROR(internal::CheckLockRange(info_, offset, len));
  Call call{.opcode = wire::Opcode::kLock};
  wire::LockRequest request{.handle = handle_, .writes = options.writes, .offset = offset,
                            .length = len, .timeout_ns = TimeoutNs(options.timeout)};
  RAMS_RETURN_IF_ERROR(conn_->Start(&call, Encode(request)));
  RAMS_RETURN_IF_ERROR(conn_->Finish(&call, WaitingDeadline(*conn_, options.timeout)));
  RAMS_ASSIGN_OR_RETURN(wire::U64Reply reply, wire::U64Reply::Decode(call.body));
  return reply.value;
}

Status RemoteAttachment::Unlock(LockId id) {
  Call call{.opcode = wire::Opcode::kUnlock};
  return conn_->RoundTrip(&call, Encode(wire::UnlockRequest{.handle = handle_, .lock_id = id}));
}

Result<bool> RemoteAttachment::Held(LockId id) {
  Call call{.opcode = wire::Opcode::kLockHeld};
  RAMS_RETURN_IF_ERROR(
      conn_->RoundTrip(&call, Encode(wire::UnlockRequest{.handle = handle_, .lock_id = id})));
  RAMS_ASSIGN_OR_RETURN(wire::U32Reply reply, wire::U32Reply::Decode(call.body));
  return reply.value != 0;
}

Status RemoteAttachment::Wait(uint64_t offset, uint32_t expected, Timeout timeout) {
  RAMS_RETURN_IF_ERROR(internal::CheckWord("wait", info_, offset));
  Call call{.opcode = wire::Opcode::kWait, .want_push = true};
  wire::WaitRequest request{.handle = handle_, .expected = expected, .offset = offset,
                            .timeout_ns = TimeoutNs(timeout)};
  RAMS_RETURN_IF_ERROR(conn_->Start(&call, Encode(request)));
  return conn_->Finish(&call, WaitingDeadline(*conn_, timeout));
}

Result<uint32_t> RemoteAttachment::Wake(uint64_t offset, uint32_t count) {
  RAMS_RETURN_IF_ERROR(internal::CheckWord("wake", info_, offset));
  Call call{.opcode = wire::Opcode::kWake};
  wire::WakeRequest request{.handle = handle_, .count = count, .offset = offset};
  RAMS_RETURN_IF_ERROR(conn_->RoundTrip(&call, Encode(request)));
  RAMS_ASSIGN_OR_RETURN(wire::U32Reply reply, wire::U32Reply::Decode(call.body));
  return reply.value;
}

Result<SegmentInfo> RemoteAttachment::Stat() {
  Call call{.opcode = wire::Opcode::kStat};
  RAMS_RETURN_IF_ERROR(conn_->RoundTrip(&call, Encode(wire::HandleRequest{.handle = handle_})));
  RAMS_ASSIGN_OR_RETURN(wire::SegmentStatReply reply, wire::SegmentStatReply::Decode(call.body));
  SegmentInfo info = info_;
  info.size_bytes = reply.size_bytes;
  info.mode = reply.mode;
  info.locks_held = reply.locks_held;
  info.owner_uid = reply.owner_uid;
  info.owner_gid = reply.owner_gid;
  info.created_unix_ns = reply.created_unix_ns;
  return info;
}

}  // namespace rams
