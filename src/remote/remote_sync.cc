// SPDX-License-Identifier: MIT
// Remote proxies for Mutex, CondVar and Barrier: one SyncRequest each, run by
// the home ramsd's sync agent for this session (docs/protocol.md §4, "Sync objects").
#include <cerrno>

#include "rams/remote.h"
#include "remote/connection.h"

namespace rams {

using remote_internal::Call;
using remote_internal::Clock;
using remote_internal::Deadline;

namespace {

constexpr uint8_t Code(wire::Opcode op) { return static_cast<uint8_t>(op); }

Result<Acquired> DecodeAcquired(const wire::Bytes& body) {
  RAMS_ASSIGN_OR_RETURN(wire::U32Reply reply, wire::U32Reply::Decode(body));
  if (reply.value > static_cast<uint32_t>(Acquired::kOwnerDied)) {
    return Error(EPROTO, "MUTEX_LOCK reply: unknown outcome " + std::to_string(reply.value));
  }
  return static_cast<Acquired>(reply.value);
}

}  // namespace

Status RemoteSyncObject::Run(uint8_t opcode, uint32_t flags, uint64_t mutex_offset,
                             Timeout timeout, std::vector<std::byte>* reply) {
  remote_internal::Connection& conn = *segment_->conn_;
  if ((conn.features() & wire::kFeatureSync) == 0) {
    return Error(ENOTSUP, "ramsd " + conn.peer() + " does not run sync objects");
  }
  Call call{.opcode = static_cast<wire::Opcode>(opcode)};
  wire::SyncRequest request{.handle = segment_->handle_, .flags = flags, .offset = offset_,
                            .mutex_offset = mutex_offset,
                            .timeout_ns = timeout ? std::max<int64_t>(0, timeout->count()) : -1};
  wire::Bytes body;
  request.EncodeTo(&body);
  RAMS_RETURN_IF_ERROR(conn.Start(&call, body));
  // The operation may wait behind the session's earlier sync operations as
  // well as for itself: no deadline without a timeout, as for LOCK.
  Deadline deadline;
  if (timeout) deadline = Clock::now() + *timeout + conn.timeout();
  RAMS_RETURN_IF_ERROR(conn.Finish(&call, deadline));
  if (reply != nullptr) *reply = std::move(call.body);
  return Status::Ok();
}

Result<Acquired> RemoteMutex::Lock(Timeout timeout) {
  wire::Bytes body;
  RAMS_RETURN_IF_ERROR(Run(Code(wire::Opcode::kMutexLock), 0, 0, timeout, &body));
  return DecodeAcquired(body);
}

Result<Acquired> RemoteMutex::TryLock() {
  wire::Bytes body;
  RAMS_RETURN_IF_ERROR(Run(Code(wire::Opcode::kMutexLock), wire::kSyncTry, 0,
                           std::chrono::nanoseconds(0), &body));
  return DecodeAcquired(body);
}

Status RemoteMutex::Unlock() {
  return Run(Code(wire::Opcode::kMutexUnlock), 0, 0, std::chrono::nanoseconds(0));
}

Status RemoteMutex::MarkConsistent() {
  return Run(Code(wire::Opcode::kMutexConsistent), 0, 0, std::chrono::nanoseconds(0));
}

Result<CondWaitResult> RemoteCondVar::Wait(RemoteMutex& mu, Timeout timeout) {
  if (&mu.segment() != &segment()) {
    return Error(EINVAL, "remote cond wait: the mutex is in another segment handle");
  }
  wire::Bytes body;
  // Without a timeout the agent still answers within about a second.
  RAMS_RETURN_IF_ERROR(Run(Code(wire::Opcode::kCondWait), 0, mu.offset(), timeout, &body));
  RAMS_ASSIGN_OR_RETURN(wire::CondWaitReply reply, wire::CondWaitReply::Decode(body));
  return CondWaitResult{.timed_out = reply.timed_out != 0,
                        .lock = static_cast<Acquired>(reply.acquired)};
}

Status RemoteCondVar::Signal() {
  return Run(Code(wire::Opcode::kCondSignal), 0, 0, std::chrono::nanoseconds(0));
}

Status RemoteCondVar::Broadcast() {
  return Run(Code(wire::Opcode::kCondBroadcast), 0, 0, std::chrono::nanoseconds(0));
}

Status RemoteBarrier::Join() {
  return Run(Code(wire::Opcode::kBarrierJoin), 0, 0, std::chrono::nanoseconds(0));
}

Result<bool> RemoteBarrier::Wait(Timeout timeout) {
  wire::Bytes body;
  RAMS_RETURN_IF_ERROR(Run(Code(wire::Opcode::kBarrierWait), 0, 0, timeout, &body));
  RAMS_ASSIGN_OR_RETURN(wire::U32Reply reply, wire::U32Reply::Decode(body));
  return reply.value != 0;
}

Status RemoteBarrier::Leave() {
  return Run(Code(wire::Opcode::kBarrierLeave), 0, 0, std::chrono::nanoseconds(0));
}

}  // namespace rams
