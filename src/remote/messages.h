// Bodies of the rams wire protocol's messages (docs/protocol.md §4, §5):
// one struct per request, reply and push, each with EncodeTo() and a bounded,
// validating Decode() that accepts exactly the stated layout (reserved fields
// zero, lengths consistent) and answers EINVAL otherwise. Variable-length
// fields (names, data) are views into the decoded buffer.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rams/status.h"
#include "remote/wire.h"

namespace rams::wire {

using Bytes = std::vector<std::byte>;

// Size a receive buffer starts at on both ends of a connection.
inline constexpr size_t kInitialReadBufferBytes = 64 * 1024;
// Makes room at the end of a receive buffer whose unread bytes are
// [start, end): moves them to the front when there is space before them,
// else doubles the buffer, up to one largest frame. Both ends of a
// connection call it before each receive.
void MakeRoom(Bytes& buf, size_t& start, size_t& end);
using Nonce = std::array<std::byte, kNonceBytes>;
using Mac = std::array<std::byte, kMacBytes>;

inline constexpr uint32_t kOpenReadOnly = 1u << 0;
inline constexpr uint32_t kMaxExportsInStat = 256;

// Appends little-endian fields to a body.
class BodyWriter {
 public:
  explicit BodyWriter(Bytes* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<std::byte>(v)); }
  void U16(uint16_t v);
  void U32(uint32_t v);
  void U64(uint64_t v);
  void Raw(std::span<const std::byte> bytes) { out_->insert(out_->end(), bytes.begin(), bytes.end()); }

 private:
  Bytes* out_;
};

// Reads little-endian fields from a body; every read is bounds-checked and a
// failed read leaves the reader failed.
class BodyReader {
 public:
  explicit BodyReader(std::span<const std::byte> body) : body_(body) {}
  bool U8(uint8_t* v);
  bool U16(uint16_t* v);
  bool U32(uint32_t* v);
  bool U64(uint64_t* v);
  bool I64(int64_t* v);
  bool Raw(size_t n, std::span<const std::byte>* v);
  // A reserved field: must be zero.
  bool Zero32();
  bool Zero16();
  // True when every byte was consumed and no read failed.
  bool Done() const { return ok_ && pos_ == body_.size(); }

 private:
  std::span<const std::byte> body_;
  size_t pos_ = 0;
  bool ok_ = true;
};

struct HelloRequest {
  uint64_t features = 0;
  uint32_t max_body_bytes = 0;
  void EncodeTo(Bytes* out) const;
  static Result<HelloRequest> Decode(std::span<const std::byte> body);
};
struct HelloReply {
  uint64_t features = 0;
  uint32_t max_body_bytes = 0;
  uint32_t auth_flags = 0;
  Nonce server_nonce{};
  void EncodeTo(Bytes* out) const;
  static Result<HelloReply> Decode(std::span<const std::byte> body);
};
struct AuthRequest {
  Nonce client_nonce{};
  Mac client_mac{};
  void EncodeTo(Bytes* out) const;
  static Result<AuthRequest> Decode(std::span<const std::byte> body);
};
struct AuthReply {
  Mac server_mac{};
  void EncodeTo(Bytes* out) const;
  static Result<AuthReply> Decode(std::span<const std::byte> body);
};
struct OpenRequest {
  uint32_t flags = 0;
  std::string_view name;
  void EncodeTo(Bytes* out) const;
  static Result<OpenRequest> Decode(std::span<const std::byte> body);
};
struct OpenReply {
  uint32_t handle = 0;
  uint32_t flags = 0;
  uint64_t size_bytes = 0;
  void EncodeTo(Bytes* out) const;
  static Result<OpenReply> Decode(std::span<const std::byte> body);
};
// CLOSE and STAT: a handle alone.
struct HandleRequest {
  uint32_t handle = 0;
  void EncodeTo(Bytes* out) const;
  static Result<HandleRequest> Decode(std::span<const std::byte> body);
};
struct ReadRequest {
  uint32_t handle = 0;
  uint32_t length = 0;
  uint64_t offset = 0;
  void EncodeTo(Bytes* out) const;
  static Result<ReadRequest> Decode(std::span<const std::byte> body);
};
struct WriteRequest {
  uint32_t handle = 0;
  uint64_t offset = 0;
  std::span<const std::byte> data;
  // The fixed part only: the data follows it in the same frame.
  void EncodeFixedTo(Bytes* out) const;
  static constexpr size_t kFixedBytes = 16;
  static Result<WriteRequest> Decode(std::span<const std::byte> body);
};
struct CasRequest {
  uint32_t handle = 0;
  uint64_t offset = 0;
  uint64_t expected = 0;
  uint64_t desired = 0;
  void EncodeTo(Bytes* out) const;
  static Result<CasRequest> Decode(std::span<const std::byte> body);
};
struct FetchAddRequest {
  uint32_t handle = 0;
  uint64_t offset = 0;
  uint64_t addend = 0;
  void EncodeTo(Bytes* out) const;
  static Result<FetchAddRequest> Decode(std::span<const std::byte> body);
};
// CAS, FETCH_ADD (previous value) and LOCK (lock id) replies.
struct U64Reply {
  uint64_t value = 0;
  void EncodeTo(Bytes* out) const;
  static Result<U64Reply> Decode(std::span<const std::byte> body);
};
struct LockRequest {
  uint32_t handle = 0;
  uint32_t writes = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  int64_t timeout_ns = -1;
  void EncodeTo(Bytes* out) const;
  static Result<LockRequest> Decode(std::span<const std::byte> body);
};
struct UnlockRequest {
  uint32_t handle = 0;
  uint64_t lock_id = 0;
  void EncodeTo(Bytes* out) const;
  static Result<UnlockRequest> Decode(std::span<const std::byte> body);
};
struct WaitRequest {
  uint32_t handle = 0;
  uint32_t expected = 0;
  uint64_t offset = 0;
  int64_t timeout_ns = -1;
  void EncodeTo(Bytes* out) const;
  static Result<WaitRequest> Decode(std::span<const std::byte> body);
};
struct WakeRequest {
  uint32_t handle = 0;
  uint32_t count = 0;
  uint64_t offset = 0;
  void EncodeTo(Bytes* out) const;
  static Result<WakeRequest> Decode(std::span<const std::byte> body);
};
// WAKE reply (woken) and WAKEUP push (result errno, 0 = woken).
struct U32Reply {
  uint32_t value = 0;
  void EncodeTo(Bytes* out) const;
  static Result<U32Reply> Decode(std::span<const std::byte> body);
};
// Every sync opcode (MUTEX_*, COND_*, BARRIER_*): the object at `offset`;
// `mutex_offset` is COND_WAIT's mutex (zero otherwise); `flags` is
// kSyncTry for MUTEX_LOCK (zero otherwise); timeout_ns < 0: none.
inline constexpr uint32_t kSyncTry = 1u << 0;
struct SyncRequest {
  uint32_t handle = 0;
  uint32_t flags = 0;
  uint64_t offset = 0;
  uint64_t mutex_offset = 0;
  int64_t timeout_ns = -1;
  void EncodeTo(Bytes* out) const;
  static Result<SyncRequest> Decode(std::span<const std::byte> body);
};
// COND_WAIT reply: how the mutex was re-acquired (rams::Acquired) and
// whether the timeout passed (0 or 1).
struct CondWaitReply {
  uint32_t acquired = 0;
  uint32_t timed_out = 0;
  void EncodeTo(Bytes* out) const;
  static Result<CondWaitReply> Decode(std::span<const std::byte> body);
};
struct SegmentStatReply {
  uint64_t size_bytes = 0;
  uint32_t mode = 0;
  uint32_t locks_held = 0;
  uint32_t owner_uid = 0;
  uint32_t owner_gid = 0;
  int64_t created_unix_ns = 0;
  void EncodeTo(Bytes* out) const;
  static Result<SegmentStatReply> Decode(std::span<const std::byte> body);
};
struct ExportEntry {
  std::string name;
  bool read_only = false;
  uint64_t size_bytes = 0;
};
struct ServerStatReply {
  uint64_t uptime_ns = 0;
  uint32_t connections = 0;
  std::vector<ExportEntry> exports;  // at most kMaxExportsInStat
  void EncodeTo(Bytes* out) const;
  static Result<ServerStatReply> Decode(std::span<const std::byte> body);
};

// A whole frame: header followed by `body`.
Bytes EncodeFrame(const FrameHeader& header, std::span<const std::byte> body);

}  // namespace rams::wire
