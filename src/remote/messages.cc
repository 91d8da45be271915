// Message bodies (docs/protocol.md §4, §5).
#include "remote/messages.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "rams/backend.h"
#include "check.h"

namespace rams::wire {
namespace {

Status Malformed(std::string_view what) {
  return Error(EINVAL, std::string("malformed ") + std::string(what) + " body");
}

// Decodes a fixed-layout body: `read` consumes the fields; the body must be
// consumed exactly.
template <class T, class ReadFn>
Result<T> DecodeFixed(std::span<const std::byte> body, std::string_view what, ReadFn read) {
  BodyReader r(body);
  T v;
  if (!read(r, v) || !r.Done()) return Malformed(what);
  return v;
}

template <size_t N>
bool ReadArray(BodyReader& r, std::array<std::byte, N>* out) {
  std::span<const std::byte> s;
  if (!r.Raw(N, &s)) return false;
  std::copy(s.begin(), s.end(), out->begin());
  return true;
}

}  // namespace

void BodyWriter::U16(uint16_t v) {
  out_->resize(out_->size() + 2);
  StoreLe16(out_->data() + out_->size() - 2, v);
}
void BodyWriter::U32(uint32_t v) {
  out_->resize(out_->size() + 4);
  StoreLe32(out_->data() + out_->size() - 4, v);
}
void BodyWriter::U64(uint64_t v) {
  out_->resize(out_->size() + 8);
  StoreLe64(out_->data() + out_->size() - 8, v);
}

bool BodyReader::Raw(size_t n, std::span<const std::byte>* v) {
  if (!ok_ || body_.size() - pos_ < n) return ok_ = false;
  *v = body_.subspan(pos_, n);
  pos_ += n;
  return true;
}
bool BodyReader::U8(uint8_t* v) {
  std::span<const std::byte> s;
  if (!Raw(1, &s)) return false;
  *v = static_cast<uint8_t>(s[0]);
  return true;
}
bool BodyReader::U16(uint16_t* v) {
  std::span<const std::byte> s;
  if (!Raw(2, &s)) return false;
  *v = LoadLe16(s.data());
  return true;
}
bool BodyReader::U32(uint32_t* v) {
  std::span<const std::byte> s;
  if (!Raw(4, &s)) return false;
  *v = LoadLe32(s.data());
  return true;
}
bool BodyReader::U64(uint64_t* v) {
  std::span<const std::byte> s;
  if (!Raw(8, &s)) return false;
  *v = LoadLe64(s.data());
  return true;
}
bool BodyReader::I64(int64_t* v) {
  uint64_t u = 0;
  if (!U64(&u)) return false;
  *v = static_cast<int64_t>(u);
  return true;
}
bool BodyReader::Zero32() {
  uint32_t v = 1;
  return U32(&v) && (v == 0 || (ok_ = false));
}
bool BodyReader::Zero16() {
  uint16_t v = 1;
  return U16(&v) && (v == 0 || (ok_ = false));
}

void HelloRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U64(features);
  w.U32(max_body_bytes);
  w.U32(0);
}
Result<HelloRequest> HelloRequest::Decode(std::span<const std::byte> body) {
  return DecodeFixed<HelloRequest>(body, "HELLO", [](BodyReader& r, HelloRequest& v) {
    return r.U64(&v.features) && r.U32(&v.max_body_bytes) && r.Zero32();
  });
}

void HelloReply::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U64(features);
  w.U32(max_body_bytes);
  w.U32(auth_flags);
  w.Raw(server_nonce);
}
Result<HelloReply> HelloReply::Decode(std::span<const std::byte> body) {
  return DecodeFixed<HelloReply>(body, "HELLO reply", [](BodyReader& r, HelloReply& v) {
    return r.U64(&v.features) && r.U32(&v.max_body_bytes) && r.U32(&v.auth_flags) &&
           ReadArray(r, &v.server_nonce);
  });
}

void AuthRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.Raw(client_nonce);
  w.Raw(client_mac);
}
Result<AuthRequest> AuthRequest::Decode(std::span<const std::byte> body) {
  return DecodeFixed<AuthRequest>(body, "AUTH", [](BodyReader& r, AuthRequest& v) {
    return ReadArray(r, &v.client_nonce) && ReadArray(r, &v.client_mac);
  });
}

void AuthReply::EncodeTo(Bytes* out) const { BodyWriter(out).Raw(server_mac); }
Result<AuthReply> AuthReply::Decode(std::span<const std::byte> body) {
  return DecodeFixed<AuthReply>(body, "AUTH reply", [](BodyReader& r, AuthReply& v) {
    return ReadArray(r, &v.server_mac);
  });
}

void OpenRequest::EncodeTo(Bytes* out) const {
  RAMS_CHECK(name.size() <= kMaxNameBytes);
  BodyWriter w(out);
  w.U32(flags);
  w.U16(static_cast<uint16_t>(name.size()));
  w.U16(0);
  w.Raw(std::as_bytes(std::span(name.data(), name.size())));
}
Result<OpenRequest> OpenRequest::Decode(std::span<const std::byte> body) {
  BodyReader r(body);
  OpenRequest v;
  uint16_t name_bytes = 0;
  std::span<const std::byte> name;
  if (!r.U32(&v.flags) || !r.U16(&name_bytes) || !r.Zero16() || name_bytes > kMaxNameBytes ||
      !r.Raw(name_bytes, &name) || !r.Done() || (v.flags & ~kOpenReadOnly) != 0) {
    return Malformed("OPEN");
  }
  v.name = std::string_view(reinterpret_cast<const char*>(name.data()), name.size());
  return v;
}

void OpenReply::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(flags);
  w.U64(size_bytes);
}
Result<OpenReply> OpenReply::Decode(std::span<const std::byte> body) {
  return DecodeFixed<OpenReply>(body, "OPEN reply", [](BodyReader& r, OpenReply& v) {
    return r.U32(&v.handle) && r.U32(&v.flags) && r.U64(&v.size_bytes);
  });
}

void HandleRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(0);
}
Result<HandleRequest> HandleRequest::Decode(std::span<const std::byte> body) {
  return DecodeFixed<HandleRequest>(body, "handle", [](BodyReader& r, HandleRequest& v) {
    return r.U32(&v.handle) && r.Zero32();
  });
}

void ReadRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(length);
  w.U64(offset);
}
Result<ReadRequest> ReadRequest::Decode(std::span<const std::byte> body) {
  return DecodeFixed<ReadRequest>(body, "READ", [](BodyReader& r, ReadRequest& v) {
    return r.U32(&v.handle) && r.U32(&v.length) && r.U64(&v.offset);
  });
}

void WriteRequest::EncodeFixedTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(0);
  w.U64(offset);
}
Result<WriteRequest> WriteRequest::Decode(std::span<const std::byte> body) {
  BodyReader r(body);
  WriteRequest v;
  if (!r.U32(&v.handle) || !r.Zero32() || !r.U64(&v.offset) ||
      !r.Raw(body.size() - kFixedBytes, &v.data) || !r.Done()) {
    return Malformed("WRITE");
  }
  return v;
}

void CasRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(0);
  w.U64(offset);
  w.U64(expected);
  w.U64(desired);
}
Result<CasRequest> CasRequest::Decode(std::span<const std::byte> body) {
  return DecodeFixed<CasRequest>(body, "CAS", [](BodyReader& r, CasRequest& v) {
    return r.U32(&v.handle) && r.Zero32() && r.U64(&v.offset) && r.U64(&v.expected) &&
           r.U64(&v.desired);
  });
}

void FetchAddRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(0);
  w.U64(offset);
  w.U64(addend);
}
Result<FetchAddRequest> FetchAddRequest::Decode(std::span<const std::byte> body) {
  return DecodeFixed<FetchAddRequest>(body, "FETCH_ADD", [](BodyReader& r, FetchAddRequest& v) {
    return r.U32(&v.handle) && r.Zero32() && r.U64(&v.offset) && r.U64(&v.addend);
  });
}

void U64Reply::EncodeTo(Bytes* out) const { BodyWriter(out).U64(value); }
Result<U64Reply> U64Reply::Decode(std::span<const std::byte> body) {
  return DecodeFixed<U64Reply>(body, "u64 reply",
                               [](BodyReader& r, U64Reply& v) { return r.U64(&v.value); });
}

void LockRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(writes);
  w.U64(offset);
  w.U64(length);
  w.U64(static_cast<uint64_t>(timeout_ns));
}
Result<LockRequest> LockRequest::Decode(std::span<const std::byte> body) {
  return DecodeFixed<LockRequest>(body, "LOCK", [](BodyReader& r, LockRequest& v) {
    return r.U32(&v.handle) && r.U32(&v.writes) && r.U64(&v.offset) && r.U64(&v.length) &&
           r.I64(&v.timeout_ns);
  });
}

void UnlockRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(0);
  w.U64(lock_id);
}
Result<UnlockRequest> UnlockRequest::Decode(std::span<const std::byte> body) {
  return DecodeFixed<UnlockRequest>(body, "UNLOCK", [](BodyReader& r, UnlockRequest& v) {
    return r.U32(&v.handle) && r.Zero32() && r.U64(&v.lock_id);
  });
}

void WaitRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(expected);
  w.U64(offset);
  w.U64(static_cast<uint64_t>(timeout_ns));
}
Result<WaitRequest> WaitRequest::Decode(std::span<const std::byte> body) {
  return DecodeFixed<WaitRequest>(body, "WAIT", [](BodyReader& r, WaitRequest& v) {
    return r.U32(&v.handle) && r.U32(&v.expected) && r.U64(&v.offset) && r.I64(&v.timeout_ns);
  });
}

void WakeRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(count);
  w.U64(offset);
}
Result<WakeRequest> WakeRequest::Decode(std::span<const std::byte> body) {
  return DecodeFixed<WakeRequest>(body, "WAKE", [](BodyReader& r, WakeRequest& v) {
    return r.U32(&v.handle) && r.U32(&v.count) && r.U64(&v.offset);
  });
}

void U32Reply::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(value);
  w.U32(0);
}
Result<U32Reply> U32Reply::Decode(std::span<const std::byte> body) {
  return DecodeFixed<U32Reply>(body, "u32 reply",
                               [](BodyReader& r, U32Reply& v) { return r.U32(&v.value) && r.Zero32(); });
}

void SyncRequest::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(handle);
  w.U32(flags);
  w.U64(offset);
  w.U64(mutex_offset);
  w.U64(static_cast<uint64_t>(timeout_ns));
}
Result<SyncRequest> SyncRequest::Decode(std::span<const std::byte> body) {
  auto decoded = DecodeFixed<SyncRequest>(body, "sync request", [](BodyReader& r, SyncRequest& v) {
    return r.U32(&v.handle) && r.U32(&v.flags) && r.U64(&v.offset) && r.U64(&v.mutex_offset) &&
           r.I64(&v.timeout_ns);
  });
  if (decoded.ok() && (decoded->flags & ~kSyncTry) != 0) {
    return Error(EINVAL, "sync request: unknown flags");
  }
  return decoded;
}

void CondWaitReply::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U32(acquired);
  w.U32(timed_out);
}
Result<CondWaitReply> CondWaitReply::Decode(std::span<const std::byte> body) {
  auto decoded = DecodeFixed<CondWaitReply>(body, "COND_WAIT reply", [](BodyReader& r, CondWaitReply& v) {
    return r.U32(&v.acquired) && r.U32(&v.timed_out);
  });
  if (decoded.ok() && (decoded->acquired > 1 || decoded->timed_out > 1)) {
    return Error(EINVAL, "COND_WAIT reply: values out of range");
  }
  return decoded;
}

void SegmentStatReply::EncodeTo(Bytes* out) const {
  BodyWriter w(out);
  w.U64(size_bytes);
  w.U32(mode);
  w.U32(locks_held);
  w.U32(owner_uid);
  w.U32(owner_gid);
  w.U64(static_cast<uint64_t>(created_unix_ns));
}
Result<SegmentStatReply> SegmentStatReply::Decode(std::span<const std::byte> body) {
  return DecodeFixed<SegmentStatReply>(body, "STAT reply", [](BodyReader& r, SegmentStatReply& v) {
    return r.U64(&v.size_bytes) && r.U32(&v.mode) && r.U32(&v.locks_held) &&
           r.U32(&v.owner_uid) && r.U32(&v.owner_gid) && r.I64(&v.created_unix_ns);
  });
}

void ServerStatReply::EncodeTo(Bytes* out) const {
  RAMS_CHECK(exports.size() <= kMaxExportsInStat);
  BodyWriter w(out);
  w.U64(uptime_ns);
  w.U32(connections);
  w.U32(static_cast<uint32_t>(exports.size()));
  for (const ExportEntry& e : exports) {
    RAMS_CHECK(e.name.size() <= kMaxNameBytes);
    w.U8(e.read_only ? 1 : 0);
    w.U8(static_cast<uint8_t>(e.name.size()));
    w.Raw(std::as_bytes(std::span(e.name.data(), e.name.size())));
    w.U64(e.size_bytes);
  }
}
Result<ServerStatReply> ServerStatReply::Decode(std::span<const std::byte> body) {
  BodyReader r(body);
  ServerStatReply v;
  uint32_t count = 0;
  if (!r.U64(&v.uptime_ns) || !r.U32(&v.connections) || !r.U32(&count) ||
      count > kMaxExportsInStat) {
    return Malformed("server STAT reply");
  }
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t flags = 0, name_bytes = 0;
    std::span<const std::byte> name;
    ExportEntry e;
    if (!r.U8(&flags) || flags > 1 || !r.U8(&name_bytes) || name_bytes > kMaxNameBytes ||
        !r.Raw(name_bytes, &name) || !r.U64(&e.size_bytes)) {
      return Malformed("server STAT reply");
    }
    e.read_only = flags == 1;
    e.name.assign(reinterpret_cast<const char*>(name.data()), name.size());
    v.exports.push_back(std::move(e));
  }
  if (!r.Done()) return Malformed("server STAT reply");
  return v;
}

Bytes EncodeFrame(const FrameHeader& header, std::span<const std::byte> body) {
  RAMS_CHECK(body.size() <= kMaxBodyBytes);
  FrameHeader h = header;
  h.body_bytes = static_cast<uint32_t>(body.size());
  HeaderBytes hb = EncodeHeader(h);
  Bytes out(hb.begin(), hb.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void MakeRoom(Bytes& buf, size_t& start, size_t& end) {
  if (start == end) start = end = 0;
  if (end != buf.size()) return;
  if (start > 0) {
    std::memmove(buf.data(), buf.data() + start, end - start);
    end -= start;
    start = 0;
  } else {
    // Only a frame that passed the header check (and so its limit) fills it.
    buf.resize(std::min<size_t>(buf.size() * 2, kHeaderBytes + kMaxBodyBytes));
  }
}

}  // namespace rams::wire
