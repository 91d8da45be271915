/* SPDX-License-Identifier: MIT */
// The field primitives of the rams wire protocol's message bodies
// (docs/protocol.md §4): every body is a list of little-endian fields, and
// each message states that list once, as a static function template
//
//   template <class S, class F> static constexpr bool Fields(S& s, F& f) {
//     return f.U32(s.handle) && f.Zero32() && f.U64(s.offset);
//   }
//
// that three walkers share: BodyWriter appends the fields (S is const),
// BodyReader reads and validates them (bounds, reserved fields zero, length
// limits, f.Check() conditions), SizeCounter counts a fixed layout's bytes at
// compile time so that messages.cc can static_assert the documented sizes.
// EncodeFields/DecodeFields run a message's list (a decode must consume the
// body exactly); the Message<M> base gives each message EncodeTo/Decode.
//
// Thread safety: plain values over caller-owned buffers; one walker per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "rams/status.h"
#include "wire/frame.h"

namespace rams::wire {

// Appends fields to a body. Every method returns true, so that a field list
// is one && chain for all walkers.
class BodyWriter {
 public:
  explicit BodyWriter(Bytes* out, bool skip_rest = false) : out_(out), skip_rest_(skip_rest) {}
  bool U8(uint8_t v);
  bool U16(uint16_t v);
  bool U32(uint32_t v);
  bool U64(uint64_t v);
  bool I64(int64_t v) { return U64(static_cast<uint64_t>(v)); }
  bool Bool8(bool v) { return U8(v ? 1 : 0); }
  bool Zero8() { return U8(0); }
  bool Zero16() { return U16(0); }
  bool Zero32() { return U32(0); }
  bool Raw(std::span<const std::byte> bytes);
  // Exactly n bytes (a page's data, or nothing when n is 0).
  // REQUIRES: bytes.size() == n.
  bool Data(std::span<const std::byte> bytes, [[maybe_unused]] size_t n) {
    RAMS_CHECK(bytes.size() == n);
    return Raw(bytes);
  }
  template <size_t N>
  bool Array(const std::array<std::byte, N>& a) { return Raw(a); }
  // u16 length, u16 reserved (zero), the bytes. REQUIRES: s.size() <= max.
  bool Name16(std::string_view s, size_t max_bytes);
  // u8 length, the bytes. REQUIRES: s.size() <= max <= 255.
  bool Name8(std::string_view s, size_t max_bytes);
  // The rest of the body (bulk data); skipped when the writer was made with
  // skip_rest, so that the fixed part can be sent before caller-owned data.
  bool Rest(std::span<const std::byte> bytes) { return skip_rest_ || Raw(bytes); }
  // u32 count, then each element's own Fields(). REQUIRES: v.size() <= max.
  template <class E>
  bool List32(const std::vector<E>& v, [[maybe_unused]] size_t max_count) {
    RAMS_CHECK(v.size() <= max_count);
    U32(static_cast<uint32_t>(v.size()));
    for (const E& e : v) E::Fields(e, *this);
    return true;
  }
  // Conditions are the decoder's; the encoder's caller guarantees them.
  bool Check(bool) { return true; }

 private:
  Bytes* out_;
  bool skip_rest_;
};

// Reads fields from a body; every read is bounds-checked, and the first
// failed read or check leaves the reader failed.
class BodyReader {
 public:
  explicit BodyReader(std::span<const std::byte> body) : body_(body) {}
  bool U8(uint8_t& v);
  bool U16(uint16_t& v);
  bool U32(uint32_t& v);
  bool U64(uint64_t& v);
  bool I64(int64_t& v);
  bool Bool8(bool& v);
  bool Zero8();
  bool Zero16();
  bool Zero32();
  bool Raw(size_t n, std::span<const std::byte>* v);
  bool Data(std::span<const std::byte>& v, size_t n) { return Raw(n, &v); }
  template <size_t N>
  bool Array(std::array<std::byte, N>& a) {
    std::span<const std::byte> s;
    if (!Raw(N, &s)) return false;
    for (size_t i = 0; i < N; ++i) a[i] = s[i];
    return true;
  }
  // Views into the body (string_view) or copies (string); longer than
  // max_bytes fails.
  bool Name16(std::string_view& s, size_t max_bytes);
  bool Name8(std::string& s, size_t max_bytes);
  bool Rest(std::span<const std::byte>& v) { return Raw(body_.size() - pos_, &v); }
  template <class E>
  bool List32(std::vector<E>& v, size_t max_count) {
    uint32_t count = 0;
    if (!U32(count) || !Check(count <= max_count)) return false;
    v.resize(count);
    for (E& e : v) {
      if (!E::Fields(e, *this)) return false;
    }
    return true;
  }
  bool Check(bool condition) { return condition || (ok_ = false); }
  // True when every byte was consumed and no read failed.
  bool Done() const { return ok_ && pos_ == body_.size(); }

 private:
  bool Name(size_t n, std::string_view& s);

  std::span<const std::byte> body_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Counts the bytes of a fixed layout (no names, lists or rest) at compile time.
struct SizeCounter {
  size_t bytes = 0;
  constexpr bool Add(size_t n) { bytes += n; return true; }
  constexpr bool U8(uint8_t) { return Add(1); }
  constexpr bool U16(uint16_t) { return Add(2); }
  constexpr bool U32(uint32_t) { return Add(4); }
  constexpr bool U64(uint64_t) { return Add(8); }
  constexpr bool I64(int64_t) { return Add(8); }
  constexpr bool Bool8(bool) { return Add(1); }
  constexpr bool Zero8() { return Add(1); }
  constexpr bool Zero16() { return Add(2); }
  constexpr bool Zero32() { return Add(4); }
  template <size_t N>
  constexpr bool Array(const std::array<std::byte, N>&) { return Add(N); }
  constexpr bool Rest(std::span<const std::byte>) { return true; }
  constexpr bool Data(std::span<const std::byte>, size_t n) { return Add(n); }
  constexpr bool Check(bool) { return true; }
};

// The size of M's fixed fields (for WRITE and PAGE_* with data: before the data).
template <class M>
constexpr size_t FixedBytes() {
  SizeCounter counter;
  const M m{};
  M::Fields(m, counter);
  return counter.bytes;
}

// EINVAL "malformed <what> body".
Status Malformed(std::string_view what);

template <class M>
void EncodeFields(const M& m, Bytes* out, bool skip_rest = false) {
  BodyWriter w(out, skip_rest);
  M::Fields(m, w);
}

template <class M>
Result<M> DecodeFields(std::span<const std::byte> body, std::string_view what) {
  BodyReader r(body);
  M m;
  if (!M::Fields(m, r) || !r.Done()) return Malformed(what);
  return m;
}

// The base of every message struct M (an empty aggregate base, so that
// designated initializers still work): EncodeTo and Decode over M::Fields,
// M::kWhat naming the body in errors.
template <class M>
struct Message {
  void EncodeTo(Bytes* out) const { EncodeFields(static_cast<const M&>(*this), out); }
  static Result<M> Decode(std::span<const std::byte> body) {
    return DecodeFields<M>(body, M::kWhat);
  }
};

// A message's body as new bytes (found by argument-dependent lookup from
// any namespace: Encode(wire::OpenRequest{...})).
template <class M>
Bytes Encode(const Message<M>& m) {
  Bytes out;
  static_cast<const M&>(m).EncodeTo(&out);
  return out;
}

}  // namespace rams::wire
