// SPDX-License-Identifier: MIT
// libFuzzer target for the rams wire decoder: treats the input as a byte
// stream of frames, as ramsd does, and decodes each header (with both the
// before- and after-authentication limits) and each body with the decoder of
// its opcode. Differential check: whatever decodes must re-encode to exactly
// the bytes it came from.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "wire/messages.h"
#include "wire/frame.h"

namespace {

using rams::wire::Bytes;

void Check(bool condition) {
  if (!condition) std::abort();
}

template <class T>
void RoundTrip(std::span<const std::byte> body) {
  auto decoded = T::Decode(body);
  if (!decoded.ok()) return;
  Bytes again;
  decoded->EncodeTo(&again);
  Check(again.size() == body.size() && std::memcmp(again.data(), body.data(), body.size()) == 0);
}

void DecodeBody(uint8_t opcode, bool reply, std::span<const std::byte> body) {
  using namespace rams::wire;  // NOLINT: a switch over every message type
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kHello: reply ? RoundTrip<HelloReply>(body) : RoundTrip<HelloRequest>(body); break;
    case Opcode::kAuth: reply ? RoundTrip<AuthReply>(body) : RoundTrip<AuthRequest>(body); break;
    case Opcode::kOpen: reply ? RoundTrip<OpenReply>(body) : RoundTrip<OpenRequest>(body); break;
    case Opcode::kClose: RoundTrip<HandleRequest>(body); break;
    case Opcode::kRead: RoundTrip<ReadRequest>(body); break;
    case Opcode::kWrite: {
      auto w = WriteRequest::Decode(body);
      if (w.ok()) {
        Bytes again;
        w->EncodeFixedTo(&again);
        again.insert(again.end(), w->data.begin(), w->data.end());
        Check(again.size() == body.size() && std::memcmp(again.data(), body.data(), body.size()) == 0);
      }
      break;
    }
    case Opcode::kCas: reply ? RoundTrip<U64Reply>(body) : RoundTrip<CasRequest>(body); break;
    case Opcode::kFetchAdd: reply ? RoundTrip<U64Reply>(body) : RoundTrip<FetchAddRequest>(body); break;
    case Opcode::kLock: reply ? RoundTrip<U64Reply>(body) : RoundTrip<LockRequest>(body); break;
    case Opcode::kUnlock: RoundTrip<UnlockRequest>(body); break;
    case Opcode::kLockHeld: reply ? RoundTrip<U32Reply>(body) : RoundTrip<UnlockRequest>(body); break;
    case Opcode::kWait: RoundTrip<WaitRequest>(body); break;
    case Opcode::kWake: reply ? RoundTrip<U32Reply>(body) : RoundTrip<WakeRequest>(body); break;
    case Opcode::kWakeup: RoundTrip<U32Reply>(body); break;
    case Opcode::kMutexLock:
    case Opcode::kBarrierWait:
      reply ? RoundTrip<U32Reply>(body) : RoundTrip<SyncRequest>(body);
      break;
    case Opcode::kCondWait:
      reply ? RoundTrip<CondWaitReply>(body) : RoundTrip<SyncRequest>(body);
      break;
    case Opcode::kMutexUnlock:
    case Opcode::kMutexConsistent:
    case Opcode::kCondSignal:
    case Opcode::kCondBroadcast:
    case Opcode::kBarrierJoin:
    case Opcode::kBarrierLeave: RoundTrip<SyncRequest>(body); break;
    case Opcode::kStat:
      if (reply) {
        RoundTrip<SegmentStatReply>(body);
        RoundTrip<ServerStatReply>(body);
      } else {
        RoundTrip<HandleRequest>(body);
      }
      break;
    case Opcode::kPageGet: reply ? RoundTrip<PageGetReply>(body) : RoundTrip<PageGetRequest>(body); break;
    case Opcode::kPagePut: reply ? RoundTrip<U64Reply>(body) : RoundTrip<PagePutRequest>(body); break;
    case Opcode::kPageDrop: reply ? RoundTrip<U64Reply>(body) : RoundTrip<PageDropRequest>(body); break;
    case Opcode::kInvalidate:
    case Opcode::kDowngrade: reply ? RoundTrip<RecallReply>(body) : RoundTrip<RecallRequest>(body); break;
    case Opcode::kMapOwner: reply ? RoundTrip<MapOwnerReply>(body) : RoundTrip<MapOwnerRequest>(body); break;
    case Opcode::kMapHosts: reply ? RoundTrip<MapHostsReply>(body) : RoundTrip<HandleRequest>(body); break;
    case Opcode::kOwnerAlive: reply ? RoundTrip<OwnerStateReply>(body) : RoundTrip<OwnerAliveRequest>(body); break;
    case Opcode::kOwnerProbe: reply ? RoundTrip<OwnerStateReply>(body) : RoundTrip<OwnerProbeRequest>(body); break;
    case Opcode::kMappingStat:
      if (reply) RoundTrip<MappingStatReply>(body);
      break;
    case Opcode::kPing: break;
  }
  (void)OpcodeName(opcode);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = std::as_bytes(std::span(data, size));
  size_t pos = 0;
  bool authenticated = false;
  while (bytes.size() - pos >= rams::wire::kHeaderBytes) {
    auto raw = bytes.subspan(pos).first<rams::wire::kHeaderBytes>();
    const uint32_t limit =
        authenticated ? rams::wire::kMaxBodyBytes : rams::wire::kMaxBodyBytesBeforeAuth;
    auto header = rams::wire::DecodeHeader(raw, limit);
    if (!header.ok()) return 0;  // a protocol violation ends the connection
    auto again = rams::wire::EncodeHeader(*header);
    Check(std::memcmp(again.data(), raw.data(), raw.size()) == 0);
    pos += rams::wire::kHeaderBytes;
    if (bytes.size() - pos < header->body_bytes) return 0;  // truncated
    DecodeBody(header->opcode, header->is_reply(), bytes.subspan(pos, header->body_bytes));
    pos += header->body_bytes;
    authenticated = true;
  }
  return 0;
}
