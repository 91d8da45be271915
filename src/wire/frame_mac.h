/* SPDX-License-Identifier: MIT */
// The per-frame MAC of the rams wire protocol (docs/protocol.md §2, "Frame
// MAC"): on a session that negotiated kFeatureFrameMac, every frame after the
// handshake is followed by 32 bytes of HMAC-SHA-256 over a per-direction
// sequence number, the frame's header and its body, keyed by that direction's
// key from the handshake (DeriveFrameMacKeys in auth.h). The sequence number
// is not sent: both ends count the frames of each direction from 0, so a
// replayed, dropped or reordered frame fails the check as surely as an
// altered one. FrameMac() is the whole computation, so that another
// implementation (CNG on Windows) has one function to match; FrameMacStream
// is one direction's running state. ramsd and the client both use these.
//
// Thread safety: FrameMac is pure; a FrameMacStream belongs to whoever sends
// (or receives) that direction's frames, one at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/frame.h"

namespace rams::wire {

inline constexpr size_t kFrameMacKeyBytes = 32;
using FrameMacKey = std::array<std::byte, kFrameMacKeyBytes>;
using FrameMacTag = std::array<std::byte, kFrameMacBytes>;

// HMAC-SHA-256(key, LE64(seq) || header || body || body_tail): the MAC of the
// frame numbered `seq` in its direction, whose body is `body` followed by
// `body_tail` (a request's fixed part and its data, sent from two buffers).
FrameMacTag FrameMac(const FrameMacKey& key, uint64_t seq,
                     std::span<const std::byte, kHeaderBytes> header,
                     std::span<const std::byte> body, std::span<const std::byte> body_tail = {});

// One direction of a connection: its key and the number of the next frame.
class FrameMacStream {
 public:
  explicit FrameMacStream(const FrameMacKey& key) : key_(key) {}
  ~FrameMacStream();
  FrameMacStream(const FrameMacStream&) = delete;
  FrameMacStream& operator=(const FrameMacStream&) = delete;

  // The MAC of the next frame sent in this direction.
  FrameMacTag Sign(std::span<const std::byte, kHeaderBytes> header,
                   std::span<const std::byte> body, std::span<const std::byte> body_tail = {});
  // Whether `mac` is that of the next frame received in this direction
  // (compared in constant time). A false answer ends the connection, so the
  // stream need not stay usable after it.
  [[nodiscard]] bool Verify(std::span<const std::byte, kHeaderBytes> header,
                            std::span<const std::byte> body,
                            std::span<const std::byte, kFrameMacBytes> mac);
  uint64_t next_seq() const { return next_seq_; }

 private:
  FrameMacKey key_;
  uint64_t next_seq_ = 0;
};

// Bytes a frame with `body_bytes` of body takes on the wire.
inline size_t FrameWireBytes(uint32_t body_bytes, bool with_mac) {
  return kHeaderBytes + body_bytes + (with_mac ? kFrameMacBytes : 0);
}

}  // namespace rams::wire
