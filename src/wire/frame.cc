// SPDX-License-Identifier: MIT
// Frame header encoding and validation, frame assembly and the receive
// buffer rule (docs/protocol.md §1).
#include "wire/frame.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "crc32c.h"
#include "check.h"

namespace rams::wire {

std::string_view OpcodeName(uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kHello: return "HELLO";
    case Opcode::kAuth: return "AUTH";
    case Opcode::kPing: return "PING";
    case Opcode::kOpen: return "OPEN";
    case Opcode::kClose: return "CLOSE";
    case Opcode::kRead: return "READ";
    case Opcode::kWrite: return "WRITE";
    case Opcode::kCas: return "CAS";
    case Opcode::kFetchAdd: return "FETCH_ADD";
    case Opcode::kLock: return "LOCK";
    case Opcode::kUnlock: return "UNLOCK";
    case Opcode::kWait: return "WAIT";
    case Opcode::kWake: return "WAKE";
    case Opcode::kStat: return "STAT";
    case Opcode::kLockHeld: return "LOCK_HELD";
    case Opcode::kMutexLock: return "MUTEX_LOCK";
    case Opcode::kMutexUnlock: return "MUTEX_UNLOCK";
    case Opcode::kMutexConsistent: return "MUTEX_CONSISTENT";
    case Opcode::kCondWait: return "COND_WAIT";
    case Opcode::kCondSignal: return "COND_SIGNAL";
    case Opcode::kCondBroadcast: return "COND_BROADCAST";
    case Opcode::kBarrierJoin: return "BARRIER_JOIN";
    case Opcode::kBarrierWait: return "BARRIER_WAIT";
    case Opcode::kBarrierLeave: return "BARRIER_LEAVE";
    case Opcode::kPageGet: return "PAGE_GET";
    case Opcode::kPagePut: return "PAGE_PUT";
    case Opcode::kPageDrop: return "PAGE_DROP";
    case Opcode::kInvalidate: return "INVALIDATE";
    case Opcode::kDowngrade: return "DOWNGRADE";
    case Opcode::kMapOwner: return "MAP_OWNER";
    case Opcode::kMapHosts: return "MAP_HOSTS";
    case Opcode::kOwnerAlive: return "OWNER_ALIVE";
    case Opcode::kOwnerProbe: return "OWNER_PROBE";
    case Opcode::kMappingStat: return "MAPPING_STAT";
    case Opcode::kWakeup: return "WAKEUP";
  }
  thread_local std::string unknown;
  unknown = "OP" + std::to_string(opcode);
  return unknown;
}

uint32_t Crc32c(std::span<const std::byte> bytes) {
  return internal::Crc32c(bytes.data(), bytes.size());
}

void StoreLe16(std::byte* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void StoreLe32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void StoreLe64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
uint16_t LoadLe16(const std::byte* p) {
  return static_cast<uint16_t>(static_cast<uint16_t>(p[0]) | static_cast<uint16_t>(p[1]) << 8);
}
uint32_t LoadLe32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t LoadLe64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

HeaderBytes EncodeHeader(const FrameHeader& header) {
  RAMS_CHECK((header.flags & ~kKnownFlags) == 0);
  HeaderBytes out{};
  StoreLe32(&out[kOffMagic], kMagic);
  out[kOffVersion] = static_cast<std::byte>(kVersion);
  out[kOffOpcode] = static_cast<std::byte>(header.opcode);
  StoreLe16(&out[kOffFlags], header.flags);
  StoreLe64(&out[kOffRequestId], header.request_id);
  StoreLe32(&out[kOffBodyBytes], header.body_bytes);
  StoreLe32(&out[kOffStatus], header.status);
  StoreLe32(&out[kOffReserved], 0);
  StoreLe32(&out[kOffHeaderCrc], Crc32c(std::span(out).first(kOffHeaderCrc)));
  return out;
}

Result<FrameHeader> DecodeHeader(std::span<const std::byte, kHeaderBytes> bytes,
                                 uint32_t max_body_bytes, FrameHeader* partial) {
  if (LoadLe32(&bytes[kOffMagic]) != kMagic) return Error(EPROTO, "frame header: bad magic");
  FrameHeader h;
  h.opcode = static_cast<uint8_t>(bytes[kOffOpcode]);
  h.flags = LoadLe16(&bytes[kOffFlags]);
  h.request_id = LoadLe64(&bytes[kOffRequestId]);
  h.body_bytes = LoadLe32(&bytes[kOffBodyBytes]);
  h.status = LoadLe32(&bytes[kOffStatus]);
  if (partial != nullptr) *partial = h;
  const auto version = static_cast<uint8_t>(bytes[kOffVersion]);
  if (version != kVersion) {
    return Error(EPROTONOSUPPORT, "frame header: version " + std::to_string(version));
  }
  if (LoadLe32(&bytes[kOffHeaderCrc]) != Crc32c(bytes.first(kOffHeaderCrc))) {
    return Error(EPROTO, "frame header: bad checksum");
  }
  if (LoadLe32(&bytes[kOffReserved]) != 0) return Error(EPROTO, "frame header: reserved not zero");
  if ((h.flags & ~kKnownFlags) != 0 || (h.is_reply() && h.is_push())) {
    return Error(EPROTO, "frame header: bad flags");
  }
  if (h.body_bytes > max_body_bytes) {
    return Error(EMSGSIZE, "frame header: body of " + std::to_string(h.body_bytes) +
                               " bytes over the limit of " + std::to_string(max_body_bytes));
  }
  // Postcondition: what callers size their buffers by.
  RAMS_CHECK(h.body_bytes <= max_body_bytes && (h.flags & ~kKnownFlags) == 0);
  return h;
}

Bytes EncodeFrame(const FrameHeader& header, std::span<const std::byte> body) {
  Bytes out;
  EncodeFrameInto(header, body, &out);
  return out;
}

void EncodeFrameInto(const FrameHeader& header, std::span<const std::byte> body, Bytes* out) {
  RAMS_CHECK(body.size() <= kMaxBodyBytes);
  FrameHeader h = header;
  h.body_bytes = static_cast<uint32_t>(body.size());
  const HeaderBytes hb = EncodeHeader(h);
  out->resize(kHeaderBytes + body.size());
  std::memcpy(out->data(), hb.data(), kHeaderBytes);
  if (!body.empty()) std::memcpy(out->data() + kHeaderBytes, body.data(), body.size());
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
    buf.resize(std::min<size_t>(buf.size() * 2, kHeaderBytes + kMaxBodyBytes + kFrameMacBytes));
  }
}

}  // namespace rams::wire
