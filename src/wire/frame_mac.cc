// SPDX-License-Identifier: MIT
// Per-frame HMAC-SHA-256 (wire/crypto.h: libsodium on Linux, CNG on Windows).
#include "wire/frame_mac.h"

#include <algorithm>
#include <cstdlib>

#include "wire/crypto.h"

namespace rams::wire {
FrameMacTag FrameMac(const FrameMacKey& key, uint64_t seq,
                     std::span<const std::byte, kHeaderBytes> header,
                     std::span<const std::byte> body, std::span<const std::byte> body_tail) {
  std::array<std::byte, 8> seq_le;
  StoreLe64(seq_le.data(), seq);
  const std::string_view key_view(reinterpret_cast<const char*>(key.data()), key.size());
  const crypto::Sha256 digest = crypto::HmacSha256(key_view, {seq_le, header, body, body_tail});
  static_assert(sizeof(digest) == kFrameMacBytes);
  FrameMacTag tag{};
  std::copy(digest.begin(), digest.end(), tag.begin());
  return tag;
}

FrameMacStream::~FrameMacStream() { crypto::Wipe(key_); }

FrameMacTag FrameMacStream::Sign(std::span<const std::byte, kHeaderBytes> header,
                                 std::span<const std::byte> body,
                                 std::span<const std::byte> body_tail) {
  return FrameMac(key_, next_seq_++, header, body, body_tail);
}

bool FrameMacStream::Verify(std::span<const std::byte, kHeaderBytes> header,
                            std::span<const std::byte> body,
                            std::span<const std::byte, kFrameMacBytes> mac) {
  const FrameMacTag want = FrameMac(key_, next_seq_++, header, body);
  return crypto::ConstantTimeEqual(want, mac);
}

}  // namespace rams::wire
