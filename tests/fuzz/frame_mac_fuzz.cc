// SPDX-License-Identifier: MIT
// libFuzzer target for the frame MAC (src/wire/frame_mac.h) as a receiver
// applies it: the input's first two bytes choose one byte of the stream to
// flip (0xffff: none); the rest is a stream of frames, which a model sender
// signs in order (header || body || MAC). The receiver decodes each header
// with the after-authentication limit, waits for body and MAC, and checks the
// MAC. Differential check against the model: every frame before the flipped
// byte verifies and the frame holding it never does; the raw input is also
// read as a MAC-trailered stream (hostile bytes), within bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "wire/frame.h"
#include "wire/frame_mac.h"

namespace {

namespace wire = rams::wire;

void Check(bool condition) {
  if (!condition) std::abort();
}

wire::FrameMacKey TestKey() {
  wire::FrameMacKey key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(i * 7 + 1);
  return key;
}

// Receives `stream` as ramsd or the client does: the number of frames that
// verified before the first that did not (or the end).
size_t Receive(std::span<const std::byte> stream, size_t* frame_ends, size_t max_frames) {
  wire::FrameMacStream rx(TestKey());
  size_t pos = 0, good = 0;
  while (stream.size() - pos >= wire::kHeaderBytes && good < max_frames) {
    auto raw = stream.subspan(pos).first<wire::kHeaderBytes>();
    auto h = wire::DecodeHeader(raw, wire::kMaxBodyBytes);
    if (!h.ok()) break;
    const size_t frame_bytes = wire::FrameWireBytes(h->body_bytes, true);
    if (stream.size() - pos < frame_bytes) break;
    auto body = stream.subspan(pos + wire::kHeaderBytes, h->body_bytes);
    auto mac = stream.subspan(pos + wire::kHeaderBytes + h->body_bytes).first<wire::kFrameMacBytes>();
    if (!rx.Verify(raw, body, mac)) break;
    pos += frame_bytes;
    if (frame_ends != nullptr) frame_ends[good] = pos;
    ++good;
  }
  return good;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t flip = static_cast<size_t>(data[0]) | static_cast<size_t>(data[1]) << 8;
  auto input = std::as_bytes(std::span(data + 2, size - 2));

  // Hostile bytes straight in (ASan checks every read stays in bounds).
  (void)Receive(input, nullptr, 64);

  // The model sender: each header-sized chunk becomes a valid header (its
  // fields taken from the input), followed by a body of the stated size (as
  // far as the input goes) and its MAC.
  wire::FrameMacStream tx(TestKey());
  std::vector<std::byte> stream;
  size_t frames = 0, pos = 0;
  constexpr size_t kMaxFrames = 64;
  while (input.size() - pos >= 8 && frames < kMaxFrames) {
    const uint32_t body_bytes =
        std::min<uint32_t>(wire::LoadLe32(&input[pos]) % 512, input.size() - pos - 8);
    const wire::FrameHeader h{.opcode = static_cast<uint8_t>(input[pos + 4]),
                              .flags = static_cast<uint16_t>(static_cast<uint8_t>(input[pos + 5]) &
                                                             wire::kFlagReply),
                              .request_id = static_cast<uint64_t>(input[pos + 6]),
                              .body_bytes = body_bytes,
                              .status = static_cast<uint32_t>(input[pos + 7])};
    const wire::HeaderBytes hb = wire::EncodeHeader(h);
    auto body = input.subspan(pos + 8, body_bytes);
    const wire::FrameMacTag mac = tx.Sign(hb, body);
    stream.insert(stream.end(), hb.begin(), hb.end());
    stream.insert(stream.end(), body.begin(), body.end());
    stream.insert(stream.end(), mac.begin(), mac.end());
    pos += 8 + body_bytes;
    ++frames;
  }
  size_t ends[kMaxFrames];
  Check(Receive(stream, ends, kMaxFrames) == frames);
  if (flip >= stream.size()) return 0;
  stream[flip] ^= std::byte{0x80};
  size_t holding = 0;  // the frame the flipped byte is in
  while (ends[holding] <= flip) ++holding;
  // The frames before it verify; it does not (whether its header still
  // decodes, is refused, or now claims another length).
  Check(Receive(stream, nullptr, kMaxFrames) == holding);
  return 0;
}
