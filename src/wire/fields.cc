// SPDX-License-Identifier: MIT
// The field walkers of the message bodies (fields.h), and the documented
// sizes of the fixed layouts (docs/protocol.md §4, §5) checked at compile time.
#include "check.h"
#include "wire/fields.h"

#include <cerrno>
#include <string>

#include "wire/messages.h"

namespace rams::wire {

static_assert(FixedBytes<HelloRequest>() == 16);
static_assert(FixedBytes<HelloReply>() == 16 + kNonceBytes);
static_assert(FixedBytes<AuthRequest>() == kNonceBytes + kMacBytes);
static_assert(FixedBytes<AuthReply>() == kMacBytes);
static_assert(FixedBytes<OpenReply>() == 16);
static_assert(FixedBytes<HandleRequest>() == 8);
static_assert(FixedBytes<ReadRequest>() == 16);
static_assert(FixedBytes<WriteRequest>() == WriteRequest::kFixedBytes);
static_assert(FixedBytes<CasRequest>() == 32);
static_assert(FixedBytes<FetchAddRequest>() == 24);
static_assert(FixedBytes<U64Reply>() == 8);
static_assert(FixedBytes<LockRequest>() == 32);
static_assert(FixedBytes<UnlockRequest>() == 16);
static_assert(FixedBytes<WaitRequest>() == 24);
static_assert(FixedBytes<WakeRequest>() == 16);
static_assert(FixedBytes<U32Reply>() == 8);
static_assert(FixedBytes<SyncRequest>() == 32);
static_assert(FixedBytes<CondWaitReply>() == 8);
static_assert(FixedBytes<SegmentStatReply>() == 32);
static_assert(FixedBytes<PageGetRequest>() == 24);
static_assert(FixedBytes<PagePutRequest>() == 24 + kPageBytes);
static_assert(FixedBytes<PageDropRequest>() == 24);  // clean; dirty adds a page
static_assert(FixedBytes<RecallRequest>() == 24);
static_assert(FixedBytes<RecallReply>() == 8);      // clean; dirty adds a page
static_assert(FixedBytes<PageGrant>() == 24);       // without data
static_assert(FixedBytes<MapOwnerRequest>() == 16);
static_assert(FixedBytes<MapOwnerReply>() == 16);
static_assert(FixedBytes<MapHostsReply>() == 72);
static_assert(FixedBytes<OwnerAliveRequest>() == 16);
static_assert(FixedBytes<OwnerProbeRequest>() == 16);
static_assert(FixedBytes<OwnerStateReply>() == 8);
static_assert(FixedBytes<MappingStatReply>() == 8 + 24 * 8);
static_assert(16 + kMaxPagesPerGet * (FixedBytes<PageGrant>() + kPageBytes) <= kMaxBodyBytes);

Status Malformed(std::string_view what) {
  return Error(EINVAL, "malformed " + std::string(what) + " body");
}

bool BodyWriter::Raw(std::span<const std::byte> bytes) {
  out_->insert(out_->end(), bytes.begin(), bytes.end());
  return true;
}
bool BodyWriter::U8(uint8_t v) {
  out_->push_back(static_cast<std::byte>(v));
  return true;
}
bool BodyWriter::U16(uint16_t v) {
  out_->resize(out_->size() + 2);
  StoreLe16(out_->data() + out_->size() - 2, v);
  return true;
}
bool BodyWriter::U32(uint32_t v) {
  out_->resize(out_->size() + 4);
  StoreLe32(out_->data() + out_->size() - 4, v);
  return true;
}
bool BodyWriter::U64(uint64_t v) {
  out_->resize(out_->size() + 8);
  StoreLe64(out_->data() + out_->size() - 8, v);
  return true;
}
bool BodyWriter::Name16(std::string_view s, [[maybe_unused]] size_t max_bytes) {
  RAMS_CHECK(s.size() <= max_bytes && max_bytes <= UINT16_MAX);
  U16(static_cast<uint16_t>(s.size()));
  U16(0);
  return Raw(std::as_bytes(std::span(s.data(), s.size())));
}
bool BodyWriter::Name8(std::string_view s, [[maybe_unused]] size_t max_bytes) {
  RAMS_CHECK(s.size() <= max_bytes && max_bytes <= UINT8_MAX);
  U8(static_cast<uint8_t>(s.size()));
  return Raw(std::as_bytes(std::span(s.data(), s.size())));
}

bool BodyReader::Raw(size_t n, std::span<const std::byte>* v) {
  if (!ok_ || body_.size() - pos_ < n) return ok_ = false;
  *v = body_.subspan(pos_, n);
  pos_ += n;
  return true;
}
bool BodyReader::U8(uint8_t& v) {
  std::span<const std::byte> s;
  if (!Raw(1, &s)) return false;
  v = static_cast<uint8_t>(s[0]);
  return true;
}
bool BodyReader::U16(uint16_t& v) {
  std::span<const std::byte> s;
  if (!Raw(2, &s)) return false;
  v = LoadLe16(s.data());
  return true;
}
bool BodyReader::U32(uint32_t& v) {
  std::span<const std::byte> s;
  if (!Raw(4, &s)) return false;
  v = LoadLe32(s.data());
  return true;
}
bool BodyReader::U64(uint64_t& v) {
  std::span<const std::byte> s;
  if (!Raw(8, &s)) return false;
  v = LoadLe64(s.data());
  return true;
}
bool BodyReader::I64(int64_t& v) {
  uint64_t u = 0;
  if (!U64(u)) return false;
  v = static_cast<int64_t>(u);
  return true;
}
bool BodyReader::Bool8(bool& v) {
  uint8_t u = 0;
  if (!U8(u) || !Check(u <= 1)) return false;
  v = u == 1;
  return true;
}
bool BodyReader::Zero8() {
  uint8_t v = 1;
  return U8(v) && Check(v == 0);
}
bool BodyReader::Zero16() {
  uint16_t v = 1;
  return U16(v) && Check(v == 0);
}
bool BodyReader::Zero32() {
  uint32_t v = 1;
  return U32(v) && Check(v == 0);
}
bool BodyReader::Name(size_t n, std::string_view& s) {
  std::span<const std::byte> bytes;
  if (!Raw(n, &bytes)) return false;
  s = std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return true;
}
bool BodyReader::Name16(std::string_view& s, size_t max_bytes) {
  uint16_t n = 0;
  return U16(n) && Zero16() && Check(n <= max_bytes) && Name(n, s);
}
bool BodyReader::Name8(std::string& s, size_t max_bytes) {
  uint8_t n = 0;
  std::string_view view;
  if (!U8(n) || !Check(n <= max_bytes) || !Name(n, view)) return false;
  s.assign(view);
  return true;
}

}  // namespace rams::wire
