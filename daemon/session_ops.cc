// SPDX-License-Identifier: MIT
// ramsd's data operations on exported segments (docs/protocol.md §4).
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>

#include "mapping_home.h"
#include "segment_checks.h"
#include "session.h"

namespace ramsd {
namespace {

// The part of bytes [offset, offset + length) inside 4 KiB page `page`:
// its offset in the segment and its length.
std::pair<uint64_t, size_t> PageSlice(uint64_t page, uint64_t offset, uint64_t length) {
  const uint64_t lo = std::max(offset, page * rams::mapping::kDirectoryPageBytes);
  const uint64_t hi = std::min(offset + length, (page + 1) * rams::mapping::kDirectoryPageBytes);
  return {lo, static_cast<size_t>(hi - lo)};
}

using rams::Error;
using rams::Status;
using rams::internal::CheckAligned;
using rams::internal::CheckRange;
using rams::internal::CheckWord;

// A parked operation wakes this often to notice cancellation.
constexpr std::chrono::milliseconds kParkSlice{100};


// Negative or longer than a year: no deadline (and no clock overflow).
std::chrono::steady_clock::time_point ParkDeadline(int64_t timeout_ns) {
  constexpr int64_t kYearNs = int64_t{365} * 24 * 3600 * 1000000000;
  if (timeout_ns < 0 || timeout_ns > kYearNs) return std::chrono::steady_clock::time_point::max();
  return std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout_ns);
}

}  // namespace

rams::Result<Session::Handle*> Session::FindHandle(uint32_t handle, std::string_view op) {
  auto it = handles_.find(handle);
  if (it == handles_.end()) {
    return Error(EBADF, std::string(op) + ": no handle " + std::to_string(handle));
  }
  return &it->second;
}

Status Session::HandleOpen(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::OpenRequest req, wire::OpenRequest::Decode(body));
  const std::string name(req.name);
  const Export* exp = server_.FindExport(name);
  // Unexported names answer exactly like absent segments.
  if (exp == nullptr) return Error(ENOENT, "open " + name);
  const bool want_ro = (req.flags & wire::kOpenReadOnly) != 0;
  if (exp->read_only && !want_ro) return Error(EROFS, "open " + name + ": read-only export");
  if (handles_.size() >= wire::kMaxHandlesPerSession) {
    return Error(EMFILE, "open " + name + ": too many handles");
  }
  // A read-only handle attaches read-only: its data is mapped PROT_READ in
  // ramsd, so no bug here can write it.
  RAMS_ASSIGN_OR_RETURN(std::unique_ptr<rams::Attachment> attachment,
                        server_.options().backend->Open(
                            name, {.open_mode = want_ro ? rams::OpenMode::kOpenReadOnly
                                                        : rams::OpenMode::kOpen}));
  // Checked on the opened segment's own owner and mode (no window between a
  // check and the open); refused, the attachment closes here.
  RAMS_RETURN_IF_ERROR(CheckPeerAccess(attachment->info(), want_ro));
  const uint32_t handle = next_handle_++;
  wire::OpenReply reply{.handle = handle, .flags = want_ro ? wire::kOpenReadOnly : 0u,
                        .size_bytes = attachment->info().size_bytes};
  handles_[handle] = Handle{.attachment = std::move(attachment), .read_only = want_ro, .name = name};
  spdlog::debug("connection {}: open {} as handle {}", id_, name, handle);
  Reply(h, Encode(reply));
  return Status::Ok();
}

Status Session::HandleClose(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::HandleRequest req, wire::HandleRequest::Decode(body));
  RAMS_RETURN_IF_ERROR(FindHandle(req.handle, "close").status());
  CancelParked(req.handle);
  handles_.erase(req.handle);  // the attachment's locks go with it
  Reply(h, {});
  return Status::Ok();
}

Status Session::HandleRead(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::ReadRequest req, wire::ReadRequest::Decode(body));
  RAMS_ASSIGN_OR_RETURN(Handle * handle, FindHandle(req.handle, "read"));
  if (req.length > wire::kMaxIoBytes) return Error(EINVAL, "read: more than 1 MiB");
  if (req.length > client_max_body_bytes_) {
    return Error(EMSGSIZE, "read: " + std::to_string(req.length) +
                               " bytes exceed the max_body_bytes this client stated in HELLO");
  }
  RAMS_RETURN_IF_ERROR(CheckRange("read", handle->attachment->info(), req.offset, req.length));
  wire::FrameHeader reply{.opcode = h.opcode, .flags = wire::kFlagReply,
                          .request_id = h.request_id, .body_bytes = req.length};
  wire::HeaderBytes hb = wire::EncodeHeader(reply);
  wire::Bytes frame(wire::kHeaderBytes + req.length);
  std::copy(hb.begin(), hb.end(), frame.begin());
  if (server_.mapping().Maps(handle->name)) {
    // A mapped segment: exclusive copies are downgraded first, each page
    // read the moment its data is home (docs/remote-mapping.md).
    auto shared_frame = std::make_shared<wire::Bytes>(std::move(frame));
    auto failed = std::make_shared<Status>();
    std::shared_ptr<rams::Attachment> att = handle->attachment;
    const uint64_t offset = req.offset, length = req.length;
    auto apply = [shared_frame, failed, att, offset, length](uint64_t page) {
      const auto [lo, n] = PageSlice(page, offset, length);
      Status s = att->Read(lo, std::span(*shared_frame).subspan(wire::kHeaderBytes + (lo - offset), n));
      if (!s.ok() && failed->ok()) *failed = s;
    };
    auto done = [self = shared_from_this(), h, shared_frame, failed, length] {
      self->io_thread_.AssertHeld();
      if (self->closing_) return;
      if (!failed->ok()) return self->ReplyError(h, *failed);
      self->server_.metrics().AddBytesRead(length);
      self->Enqueue(std::move(*shared_frame));
    };
    if (server_.mapping().Access(handle->name, offset, length, /*write=*/false, apply, done)) {
      return Status::Ok();
    }
    frame = std::move(*shared_frame);
  }
  RAMS_RETURN_IF_ERROR(handle->attachment->Read(
      req.offset, std::span(frame).subspan(wire::kHeaderBytes)));
  server_.metrics().AddBytesRead(req.length);
  Enqueue(std::move(frame));
  return Status::Ok();
}

Status Session::HandleWrite(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::WriteRequest req, wire::WriteRequest::Decode(body));
  RAMS_ASSIGN_OR_RETURN(Handle * handle, FindHandle(req.handle, "write"));
  if (handle->read_only) return Error(EROFS, "write " + handle->name + ": read-only handle");
  if (req.data.size() > wire::kMaxIoBytes) return Error(EINVAL, "write: more than 1 MiB");
  RAMS_RETURN_IF_ERROR(CheckRange("write", handle->attachment->info(), req.offset, req.data.size()));
  if (server_.mapping().Maps(handle->name)) {
    // A mapped segment: every copy of the touched pages is invalidated
    // first and their versions bumped; each page is written the moment its
    // copies are gone.
    auto data = std::make_shared<wire::Bytes>(req.data.begin(), req.data.end());
    auto failed = std::make_shared<Status>();
    std::shared_ptr<rams::Attachment> att = handle->attachment;
    const uint64_t offset = req.offset;
    auto apply = [data, failed, att, offset](uint64_t page) {
      const auto [lo, n] = PageSlice(page, offset, data->size());
      Status s = att->Write(lo, std::span<const std::byte>(*data).subspan(lo - offset, n));
      if (!s.ok() && failed->ok()) *failed = s;
    };
    auto done = [self = shared_from_this(), h, data, failed] {
      self->io_thread_.AssertHeld();
      if (self->closing_) return;
      if (!failed->ok()) return self->ReplyError(h, *failed);
      self->server_.metrics().AddBytesWritten(data->size());
      self->Reply(h, {});
    };
    if (server_.mapping().Access(handle->name, offset, data->size(), /*write=*/true, apply, done)) {
      return Status::Ok();
    }
  }
  RAMS_RETURN_IF_ERROR(handle->attachment->Write(req.offset, req.data));
  server_.metrics().AddBytesWritten(req.data.size());
  Reply(h, {});
  return Status::Ok();
}

Status Session::HandleAtomic(const Header& h, Body body) {
  const bool cas = h.opcode == static_cast<uint8_t>(wire::Opcode::kCas);
  uint32_t handle_id = 0;
  uint64_t offset = 0, a = 0, b = 0;
  if (cas) {
    RAMS_ASSIGN_OR_RETURN(wire::CasRequest req, wire::CasRequest::Decode(body));
    handle_id = req.handle, offset = req.offset, a = req.expected, b = req.desired;
  } else {
    RAMS_ASSIGN_OR_RETURN(wire::FetchAddRequest req, wire::FetchAddRequest::Decode(body));
    handle_id = req.handle, offset = req.offset, a = req.addend;
  }
  const char* op = cas ? "cas" : "fetch_add";
  RAMS_ASSIGN_OR_RETURN(Handle * handle, FindHandle(handle_id, op));
  if (handle->read_only) return Error(EROFS, std::string(op) + " " + handle->name + ": read-only");
  RAMS_RETURN_IF_ERROR(CheckAligned(op, handle->attachment->info(), offset, 8, 8));
  if (server_.mapping().Maps(handle->name)) {
    // A mapped segment: every copy of the word's page is invalidated first
    // (an exclusive one brings its data home), then the operation runs on
    // the home's copy, which no host holds at that moment; one-sided
    // operations all run on this thread, so the read-modify-write is atomic
    // with respect to them and to the hosts (home-local processes must
    // reach a mapped segment through the pager, docs/remote-mapping.md).
    auto result = std::make_shared<rams::Result<uint64_t>>(uint64_t{0});
    std::shared_ptr<rams::Attachment> att = handle->attachment;
    auto apply = [result, att, offset, cas, a, b](uint64_t) {
      uint64_t word = 0;
      Status s = att->Read(offset, std::as_writable_bytes(std::span(&word, 1)));
      if (s.ok()) {
        const uint64_t next = cas ? (word == a ? b : word) : word + a;
        if (next != word) s = att->Write(offset, std::as_bytes(std::span(&next, 1)));
      }
      *result = s.ok() ? rams::Result<uint64_t>(word) : rams::Result<uint64_t>(s);
    };
    auto done = [self = shared_from_this(), h, result] {
      self->io_thread_.AssertHeld();
      if (self->closing_) return;
      if (!result->ok()) return self->ReplyError(h, result->status());
      self->Reply(h, Encode(wire::U64Reply{.value = **result}));
    };
    if (server_.mapping().Access(handle->name, offset, 8, /*write=*/true, apply, done)) {
      return Status::Ok();
    }
  }
  if (handle->map.empty()) {
    RAMS_ASSIGN_OR_RETURN(handle->map, handle->attachment->Map());
  }
  // seq_cst on the shared mapping: atomic with respect to local processes'
  // atomics on the same word.
  std::atomic_ref<uint64_t> word(*reinterpret_cast<uint64_t*>(handle->map.data() + offset));
  static_assert(std::atomic_ref<uint64_t>::is_always_lock_free);
  uint64_t previous = a;
  if (cas) {
    word.compare_exchange_strong(previous, b);
  } else {
    previous = word.fetch_add(a);
  }
  Reply(h, Encode(wire::U64Reply{.value = previous}));
  return Status::Ok();
}

Status Session::HandleLock(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::LockRequest req, wire::LockRequest::Decode(body));
  RAMS_ASSIGN_OR_RETURN(Handle * handle, FindHandle(req.handle, "lock"));
  if (handle->read_only) return Error(EROFS, "lock " + handle->name + ": read-only handle");
  rams::Result<rams::LockId> now = handle->attachment->Lock(
      req.offset, req.length, {.writes = req.writes, .timeout = std::chrono::nanoseconds(0)});
  if (now.ok()) {
    Reply(h, Encode(wire::U64Reply{.value = *now}));
    return Status::Ok();
  }
  if (now.code() != EWOULDBLOCK || req.timeout_ns == 0) return now.status();
  // Wait for the holder on a pool thread, in slices so that cancellation is seen.
  std::shared_ptr<rams::Attachment> attachment = handle->attachment;
  const auto deadline = ParkDeadline(req.timeout_ns);
  return Park(h, req.handle, /*reply_now=*/false, [attachment, req, deadline](const std::atomic<bool>& cancel) {
    for (;;) {
      // Relaxed: the flag carries no data; a late look costs one more slice.
      if (cancel.load(std::memory_order_relaxed)) return std::pair<int, uint64_t>(ECANCELED, 0);
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) return std::pair<int, uint64_t>(ETIMEDOUT, 0);
      auto slice = std::min<std::chrono::nanoseconds>(left, kParkSlice);
      rams::Result<rams::LockId> r = attachment->Lock(req.offset, req.length,
                                                {.writes = req.writes, .timeout = slice});
      if (r.ok()) return std::pair<int, uint64_t>(0, *r);
      if (r.code() != ETIMEDOUT) return std::pair<int, uint64_t>(r.code(), 0);
    }
  });
}

Status Session::HandleUnlock(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::UnlockRequest req, wire::UnlockRequest::Decode(body));
  RAMS_ASSIGN_OR_RETURN(Handle * handle, FindHandle(req.handle, "unlock"));
  if (h.opcode == static_cast<uint8_t>(wire::Opcode::kLockHeld)) {
    RAMS_ASSIGN_OR_RETURN(bool held, handle->attachment->Held(req.lock_id));
    Reply(h, Encode(wire::U32Reply{.value = held ? 1u : 0u}));
    return Status::Ok();
  }
  RAMS_RETURN_IF_ERROR(handle->attachment->Unlock(req.lock_id));
  Reply(h, {});
  return Status::Ok();
}

Status Session::HandleWait(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::WaitRequest req, wire::WaitRequest::Decode(body));
  RAMS_ASSIGN_OR_RETURN(Handle * handle, FindHandle(req.handle, "wait"));
  RAMS_RETURN_IF_ERROR(CheckWord("wait", handle->attachment->info(), req.offset));
  std::shared_ptr<rams::Attachment> attachment = handle->attachment;
  if (server_.mapping().Maps(handle->name)) {
    // A mapped segment: the word is compared with its current value, an
    // exclusive copy of its page downgraded first (docs/remote-mapping.md);
    // the check runs the moment the recall is done, and the park starts
    // before any later WAKE is handled (both on this thread).
    auto wakes = server_.mapping().Wakes(handle->name);
    const uint64_t seen = wakes->load(std::memory_order_acquire);
    auto checked = std::make_shared<Status>();
    auto apply = [attachment, req, checked](uint64_t) {
      *checked = attachment->Wait(req.offset, req.expected, std::chrono::nanoseconds(0));
    };
    auto done = [self = shared_from_this(), h, req, attachment, checked, wakes, seen] {
      self->io_thread_.AssertHeld();
      if (self->closing_) return;
      if (checked->code() == EAGAIN) return self->ReplyError(h, *checked);
      Status s = self->ParkWait(h, req, attachment, wakes, seen, *checked);
      if (!s.ok()) self->ReplyError(h, s);
    };
    if (server_.mapping().Access(handle->name, req.offset, 4, /*write=*/false, apply, done)) {
      return Status::Ok();
    }
  }
  // The futex check with a zero timeout: EAGAIN when the word differs now,
  // ok when a WAKE woke the check (the waker counted this WAIT as woken).
  Status now = attachment->Wait(req.offset, req.expected, std::chrono::nanoseconds(0));
  if (now.code() == EAGAIN) return now;
  return ParkWait(h, req, std::move(attachment), nullptr, 0, now);
}

Status Session::ParkWait(const Header& h, const wire::WaitRequest& req,
                         std::shared_ptr<rams::Attachment> attachment,
                         std::shared_ptr<const std::atomic<uint64_t>> wakes, uint64_t wakes_seen,
                         const Status& probe) {
  const auto deadline = ParkDeadline(req.timeout_ns);
  // A wake that hit the zero-timeout check was spent on it: parking again
  // would lose it, and the waker was told it woke someone.
  const bool woken = probe.ok();
  return Park(h, req.handle, /*reply_now=*/true,
              [attachment, req, deadline, wakes, wakes_seen, woken](const std::atomic<bool>& cancel) {
    if (woken) return std::pair<int, uint64_t>(0, 0);
    for (;;) {
      // Acquire: pairs with MappingHome::CountWake's release.
      if (wakes && wakes->load(std::memory_order_acquire) != wakes_seen) {
        return std::pair<int, uint64_t>(0, 0);  // a WAKE since the check: maybe ours
      }
      auto left = deadline - std::chrono::steady_clock::now();
      if (left < std::chrono::nanoseconds::zero()) left = std::chrono::nanoseconds::zero();
      auto slice = std::min<std::chrono::nanoseconds>(left, kParkSlice);
      Status s = attachment->Wait(req.offset, req.expected, slice);
      if (s.ok() || s.code() == EAGAIN) return std::pair<int, uint64_t>(0, 0);  // woken or changed
      if (s.code() != ETIMEDOUT && s.code() != EINTR) return std::pair<int, uint64_t>(s.code(), 0);
      if (left == std::chrono::nanoseconds::zero()) return std::pair<int, uint64_t>(ETIMEDOUT, 0);
      // Relaxed: the flag carries no data; a late look costs one more slice.
      if (cancel.load(std::memory_order_relaxed)) return std::pair<int, uint64_t>(ECANCELED, 0);
    }
  });
}

Status Session::HandleWake(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::WakeRequest req, wire::WakeRequest::Decode(body));
  RAMS_ASSIGN_OR_RETURN(Handle * handle, FindHandle(req.handle, "wake"));
  server_.mapping().CountWake(handle->name);  // before the wake (MappingHome::Wakes)
  RAMS_ASSIGN_OR_RETURN(uint32_t woken, handle->attachment->Wake(req.offset, req.count));
  Reply(h, Encode(wire::U32Reply{.value = woken}));
  return Status::Ok();
}

Status Session::HandleStat(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::HandleRequest req, wire::HandleRequest::Decode(body));
  if (req.handle == 0) {
    wire::Bytes reply = Encode(server_.StatReply());
    if (reply.size() > client_max_body_bytes_) {
      return Error(EMSGSIZE, "stat: the reply exceeds the max_body_bytes this client stated");
    }
    Reply(h, reply);
    return Status::Ok();
  }
  RAMS_ASSIGN_OR_RETURN(Handle * handle, FindHandle(req.handle, "stat"));
  RAMS_ASSIGN_OR_RETURN(rams::SegmentInfo info, handle->attachment->Stat());
  Reply(h, Encode(wire::SegmentStatReply{.size_bytes = info.size_bytes, .mode = info.mode,
                                         .locks_held = info.locks_held,
                                         .owner_uid = info.owner_uid,
                                         .owner_gid = info.owner_gid,
                                         .created_unix_ns = info.created_unix_ns}));
  return Status::Ok();
}

Status Session::Park(const Header& h, uint32_t handle, bool reply_now, ParkedJob job) {
  const char* op = h.opcode == static_cast<uint8_t>(wire::Opcode::kWait) ? "wait" : "lock";
  if (parked_.size() >= wire::kMaxWaitsPerSession) {
    return Error(ENOSPC, std::string(op) + ": too many parked operations in this session");
  }
  if (!server_.TryReserveParked()) {
    return Error(ENOSPC, std::string(op) + ": too many parked operations on this server");
  }
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  std::weak_ptr<Session> weak = weak_from_this();
  Server* server = &server_;
  const bool submitted = server_.pool().Submit([job = std::move(job), cancel, weak, h, server] {
    auto [result, value] = job(*cancel);
    asio::post(server->io(), [weak, h, result = result, value = value, server] {
      server->ReleaseParked();
      server->metrics().Parked(-1);
      if (auto self = weak.lock()) self->CompleteParked(h, result, value);
    });
  });
  if (!submitted) {
    server_.ReleaseParked();
    return Error(ENOSPC, std::string(op) + ": no thread for a parked operation");
  }
  parked_[h.request_id] = Parked{.cancel = std::move(cancel), .handle = handle};
  server_.metrics().Parked(+1);
  if (reply_now) Reply(h, {});
  return Status::Ok();
}

void Session::CompleteParked(const Header& h, int result, uint64_t value) {
  io_thread_.AssertHeld();
  auto it = parked_.find(h.request_id);
  if (it == parked_.end()) return;
  parked_.erase(it);
  if (h.opcode == static_cast<uint8_t>(wire::Opcode::kWait)) {
    Push(h.request_id, wire::Opcode::kWakeup,
         Encode(wire::U32Reply{.value = static_cast<uint32_t>(result)}));
  } else if (result == 0) {
    Reply(h, Encode(wire::U64Reply{.value = value}));
  } else {
    ReplyError(h, Error(result, "lock"));
  }
}

void Session::CancelParked(uint32_t handle) {
  for (auto& [id, parked] : parked_) {
    // Relaxed: see the loads in HandleLock and HandleWait.
    if (handle == 0 || parked.handle == handle) parked.cancel->store(true, std::memory_order_relaxed);
  }
}

}  // namespace ramsd
