// SPDX-License-Identifier: MIT
// ramsd's operations on sync objects (docs/protocol.md §4, "Sync objects"): the io thread
// validates a request and hands it to the session's SyncAgent, which runs it
// on the real rams::Mutex / CondVar / Barrier in the home segment's mapping
// and posts the reply back.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <optional>

#include "segment_checks.h"
#include "session.h"
#include "rams/barrier.h"
#include "rams/condvar.h"
#include "rams/mutex.h"

namespace ramsd {
namespace {

using rams::Error;
using rams::Status;
using Op = wire::Opcode;
using Clock = std::chrono::steady_clock;

// A blocked MUTEX_LOCK looks at its cancel flag this often.
constexpr std::chrono::milliseconds kLockSlice{100};
// A COND_WAIT returns (spuriously, when no timeout passed) at least this
// often, so that an agent notices its session's end.
constexpr std::chrono::milliseconds kCondSlice{1000};

struct Outcome {
  Status status;
  wire::Bytes body;
};


// Negative or longer than a year: no deadline (so that adding it to the clock
// cannot overflow).
constexpr int64_t kYearNs = int64_t{365} * 24 * 3600 * 1000000000;
bool Unbounded(int64_t timeout_ns) { return timeout_ns < 0 || timeout_ns > kYearNs; }

Outcome U32(uint32_t value) { return {Status::Ok(), Encode(wire::U32Reply{.value = value})}; }

uint64_t ObjectBytes(Op op) {
  switch (op) {
    case Op::kMutexLock:
    case Op::kMutexUnlock:
    case Op::kMutexConsistent: return sizeof(rams::Mutex);
    case Op::kCondWait:
    case Op::kCondSignal:
    case Op::kCondBroadcast: return sizeof(rams::CondVar);
    default: return sizeof(rams::Barrier);
  }
}

Outcome MutexLock(const wire::SyncRequest& req, rams::Mutex& mu, AgentState& state,
                  const std::atomic<bool>& cancel) {
  rams::Result<rams::Acquired> r = rams::Error(ETIMEDOUT, "mutex lock");
  if ((req.flags & wire::kSyncTry) != 0) {
    r = mu.TryLock();
  } else {
    // Saturating: INT64_MAX ns must not overflow into the past.
    const auto deadline = Unbounded(req.timeout_ns)
                              ? Clock::time_point::max()
                              : rams::DeadlineAfter(std::chrono::nanoseconds(req.timeout_ns));
    for (;;) {
      const auto left = deadline - Clock::now();
      const auto slice = std::max<std::chrono::nanoseconds>(
          std::chrono::nanoseconds(0), std::min<std::chrono::nanoseconds>(left, kLockSlice));
      r = mu.Lock(slice);
      if (r.ok() || r.code() != ETIMEDOUT || left <= slice) break;
      // Relaxed: the flag carries no data; a late look costs one more slice.
      if (cancel.load(std::memory_order_relaxed)) return {Error(ECANCELED, "mutex lock"), {}};
    }
  }
  if (!r.ok()) return {r.status(), {}};
  if (*r == rams::Acquired::kOwnerDied) state.died_held.insert(&mu);
  return U32(static_cast<uint32_t>(*r));
}

// Clients can WRITE the words these objects live in at any moment: only the
// Checked forms, which answer a scribbled word with an error, are used here.
Outcome MutexUnlock(rams::Mutex& mu, AgentState& state) {
  Status s = mu.CheckedUnlock();
  if (!s.ok()) return {Error(EPERM, "mutex unlock: not held by this session"), {}};
  state.died_held.erase(&mu);
  return {Status::Ok(), {}};
}

Outcome MutexConsistent(rams::Mutex& mu, AgentState& state) {
  if (state.died_held.count(&mu) == 0 || !mu.CheckedMarkConsistent().ok()) {
    return {Error(EINVAL, "mutex consistent: not held after an owner death"), {}};
  }
  state.died_held.erase(&mu);
  return {Status::Ok(), {}};
}

Outcome CondWait(const wire::SyncRequest& req, rams::CondVar& cv, rams::Mutex& mu,
                 AgentState& state, const std::atomic<bool>& cancel) {
  if (!mu.HeldByCaller()) return {Error(EPERM, "cond wait: mutex not held by this session"), {}};
  const bool whole = req.timeout_ns >= 0 && std::chrono::nanoseconds(req.timeout_ns) <= kCondSlice;
  const std::chrono::nanoseconds wait = whole ? std::chrono::nanoseconds(req.timeout_ns) : kCondSlice;
  state.died_held.erase(&mu);  // Wait releases it
  rams::Result<rams::CondWaitResult> r = cv.Wait(mu, wait);
  if (!r.ok()) return {r.status(), {}};
  if (r->lock == rams::Acquired::kOwnerDied) {
    state.died_held.insert(&mu);
  } else if (cancel.load(std::memory_order_relaxed)) {  // Relaxed: as in MutexLock
    // The session ended inside its wait: it never got the mutex back, and
    // the state it protects is as consistent as the last holder left it.
    // (An error means a client took the word meanwhile: nothing to release.)
    (void)mu.CheckedUnlock();
    return {Error(ECANCELED, "cond wait"), {}};
  }
  // A slice that ran out before the caller's timeout is a spurious wake-up.
  const uint32_t timed_out = r->timed_out && whole ? 1 : 0;
  return {Status::Ok(), Encode(wire::CondWaitReply{.acquired = static_cast<uint32_t>(r->lock),
                                                   .timed_out = timed_out})};
}

Outcome BarrierOp(Op op, const wire::SyncRequest& req, rams::Barrier& barrier,
                  const std::atomic<bool>& cancel) {
  if (op == Op::kBarrierJoin) return {barrier.Join(), {}};
  if (op == Op::kBarrierLeave) {
    barrier.Leave();
    return {Status::Ok(), {}};
  }
  // Not sliced (a Barrier::Wait that times out breaks the barrier), but
  // cancellable: a session ending inside its wait breaks it as a lost member.
  rams::Timeout timeout;
  if (!Unbounded(req.timeout_ns)) timeout = std::chrono::nanoseconds(req.timeout_ns);
  rams::Result<bool> last = barrier.Wait(timeout, &cancel);
  if (!last.ok()) return {last.status(), {}};
  return U32(*last ? 1 : 0);
}

// Runs one request on the agent thread. `base` is the segment's mapping.
Outcome RunSync(Op op, const wire::SyncRequest& req, std::byte* base, AgentState& state,
                const std::atomic<bool>& cancel) {
  void* at = base + req.offset;
  switch (op) {
    case Op::kMutexLock:
    case Op::kMutexUnlock:
    case Op::kMutexConsistent: {
      rams::Result<rams::Mutex*> mu = rams::Mutex::Attach(at);
      if (!mu.ok()) return {mu.status(), {}};
      if (op == Op::kMutexLock) return MutexLock(req, **mu, state, cancel);
      if (op == Op::kMutexUnlock) return MutexUnlock(**mu, state);
      return MutexConsistent(**mu, state);
    }
    case Op::kCondWait:
    case Op::kCondSignal:
    case Op::kCondBroadcast: {
      rams::Result<rams::CondVar*> cv = rams::CondVar::Attach(at);
      if (!cv.ok()) return {cv.status(), {}};
      if (op == Op::kCondSignal) (*cv)->Signal();
      if (op == Op::kCondBroadcast) (*cv)->Broadcast();
      if (op != Op::kCondWait) return {Status::Ok(), {}};
      rams::Result<rams::Mutex*> mu = rams::Mutex::Attach(base + req.mutex_offset);
      if (!mu.ok()) return {mu.status(), {}};
      return CondWait(req, **cv, **mu, state, cancel);
    }
    default: {
      rams::Result<rams::Barrier*> barrier = rams::Barrier::Attach(at);
      if (!barrier.ok()) return {barrier.status(), {}};
      return BarrierOp(op, req, **barrier, cancel);
    }
  }
}

}  // namespace

Status Session::HandleSync(const Header& h, Body body) {
  const auto op = static_cast<Op>(h.opcode);
  const std::string name(wire::OpcodeName(h.opcode));
  RAMS_ASSIGN_OR_RETURN(wire::SyncRequest req, wire::SyncRequest::Decode(body));
  if ((req.flags != 0 && op != Op::kMutexLock) || (req.mutex_offset != 0 && op != Op::kCondWait)) {
    return Error(EINVAL, name + ": field not used by this opcode is not zero");
  }
  RAMS_ASSIGN_OR_RETURN(Handle * handle, FindHandle(req.handle, name));
  if (handle->read_only) return Error(EROFS, name + " " + handle->name + ": read-only handle");
  if (server_.mapping().Maps(handle->name)) {
    // The agent would run the object on the home's copy while a host may
    // hold the object's page and change it in its own (docs/remote-mapping.md).
    return Error(EOPNOTSUPP, name + " " + handle->name +
                                 ": a host maps the segment; use the object in the mapping");
  }
  // Sync objects are 8-byte aligned in segment memory.
  const rams::SegmentInfo& info = handle->attachment->info();
  RAMS_RETURN_IF_ERROR(rams::internal::CheckAligned(name, info, req.offset, ObjectBytes(op), 8));
  if (op == Op::kCondWait) {
    RAMS_RETURN_IF_ERROR(
        rams::internal::CheckAligned(name, info, req.mutex_offset, sizeof(rams::Mutex), 8));
  }
  if (handle->map.empty()) {
    RAMS_ASSIGN_OR_RETURN(handle->map, handle->attachment->Map());
  }
  if (!sync_agent_) {
    RAMS_ASSIGN_OR_RETURN(sync_agent_, SyncAgent::Start(server_.sync_gate()));
    spdlog::debug("connection {}: sync agent started", id_);
  }
  std::weak_ptr<Session> weak = weak_from_this();
  std::shared_ptr<SyncGate> gate = server_.sync_gate();
  std::shared_ptr<rams::Attachment> attachment = handle->attachment;  // keeps the mapping alive
  std::byte* base = handle->map.data();
  RAMS_RETURN_IF_ERROR(sync_agent_->Submit([=](AgentState& state, const std::atomic<bool>& cancel) {
    (void)attachment;
    Outcome out = RunSync(op, req, base, state, cancel);
    gate->Post([weak, h, out = std::move(out)] {
      if (auto self = weak.lock()) self->CompleteSync(h, out.status, out.body);
    });
  }));
  sync_in_flight_.insert(h.request_id);
  return Status::Ok();
}

void Session::CompleteSync(const Header& h, const Status& status, const wire::Bytes& body) {
  io_thread_.AssertHeld();
  sync_in_flight_.erase(h.request_id);
  if (status.ok()) {
    Reply(h, body);
  } else {
    ReplyError(h, status);
  }
}

}  // namespace ramsd
