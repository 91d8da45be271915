/* SPDX-License-Identifier: MIT */
// The rams wire protocol's framing (docs/protocol.md §1, §3): the fixed
// 32-byte little-endian frame header, its encoder and validating decoder,
// opcodes, flags and limits, frame assembly, and the rule by which both ends
// grow their receive buffers. Both ramsd and the client in librams use this
// one codec; the message bodies are in messages.h, their field primitives in
// fields.h.
//
// Thread safety: pure functions over caller-owned bytes; safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "rams/status.h"

namespace rams::wire {

inline constexpr uint32_t kMagic = 0x534D4152;  // the bytes "RAMS"
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 32;

// Limits (docs/protocol.md §3).
inline constexpr uint32_t kMaxIoBytes = 1u << 20;
inline constexpr uint32_t kMaxBodyBytes = kMaxIoBytes + 64;
inline constexpr uint32_t kMaxBodyBytesBeforeAuth = 128;
// The smallest max_body_bytes a HELLO may state (smaller ones are raised to
// it): room for every fixed-size body and a full error message.
inline constexpr uint32_t kMinBodyBytesLimit = 512;
inline constexpr uint32_t kMaxErrorMessageBytes = 256;
inline constexpr uint32_t kSmallReplyBytes = 4096;
inline constexpr size_t kMaxQueuedReplyBytes = 8u << 20;
inline constexpr uint32_t kMaxHandlesPerSession = 64;
inline constexpr uint32_t kMaxWaitsPerSession = 64;
inline constexpr uint32_t kMaxWaitsPerServer = 1024;
// Remote mapping: INVALIDATE/DOWNGRADE requests one session may have
// outstanding (protocol.md §8).
inline constexpr uint32_t kMaxRecallsPerSession = 1024;
inline constexpr uint32_t kMaxSyncQueuePerSession = 64;
inline constexpr uint32_t kMaxSyncAgentsPerServer = 256;
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kMacBytes = 32;
// The per-frame MAC trailer (frame_mac.h).
inline constexpr size_t kFrameMacBytes = 32;
inline constexpr size_t kMinKeyBytes = 16;
inline constexpr size_t kMaxKeyBytes = 256;

enum class Opcode : uint8_t {
  kHello = 1,
  kAuth = 2,
  kPing = 3,
  kOpen = 4,
  kClose = 5,
  kRead = 6,
  kWrite = 7,
  kCas = 8,
  kFetchAdd = 9,
  kLock = 10,
  kUnlock = 11,
  kWait = 12,
  kWake = 13,
  kStat = 14,
  kLockHeld = 15,
  // Sync objects in segment memory, run by the session's sync agent (protocol.md §4).
  kMutexLock = 16,
  kMutexUnlock = 17,
  kMutexConsistent = 18,
  kCondWait = 19,
  kCondSignal = 20,
  kCondBroadcast = 21,
  kBarrierJoin = 22,
  kBarrierWait = 23,
  kBarrierLeave = 24,
  // Remote mapping (protocol.md §8), on sessions with kFeatureMapping.
  kPageGet = 25,
  kPagePut = 26,
  kPageDrop = 27,
  kInvalidate = 28,  // server -> client request
  kDowngrade = 29,   // server -> client request
  kMapOwner = 30,    // on sessions with kFeatureMapping
  kMapHosts = 31,
  kOwnerAlive = 32,  // any -> home: is this owner of a live host's index alive?
  kOwnerProbe = 33,  // server -> client request, on sessions with kFeatureOwnerProbe
  // The remote-mapping counters of a ramsd: its directories and its host pager.
  kMappingStat = 40,
  kWakeup = 64,  // push only
};

// "HELLO", "READ", ... or "OP<n>" for unknown opcodes.
std::string_view OpcodeName(uint8_t opcode);

inline constexpr uint16_t kFlagReply = 1u << 0;
inline constexpr uint16_t kFlagPush = 1u << 1;
inline constexpr uint16_t kKnownFlags = kFlagReply | kFlagPush;

// Feature bits negotiated at HELLO.
inline constexpr uint64_t kFeatureAtomics = 1u << 0;
inline constexpr uint64_t kFeatureLocks = 1u << 1;
inline constexpr uint64_t kFeatureWait = 1u << 2;
inline constexpr uint64_t kFeatureSync = 1u << 3;
// Remote mapping: opcodes 25-30 (31 needs no bit), and the server sends requests too
// (protocol.md §8). ramsd grants it unless started with --no-mapping.
inline constexpr uint64_t kFeatureMapping = 1u << 4;
// Per-frame MAC (frame_mac.h, protocol.md §2): every frame after the
// handshake carries an HMAC-SHA-256 trailer. Only on keyed sessions; asked
// for and granted by policy (FrameMacPolicy), never part of kAllFeatures.
inline constexpr uint64_t kFeatureFrameMac = 1u << 5;
// Owner probes (protocol.md §8): a mapping session with this bit answers
// OWNER_PROBE requests (is this thread of my host alive?), which the home
// sends to answer another session's OWNER_ALIVE. ramsd grants it with
// kFeatureMapping.
inline constexpr uint64_t kFeatureOwnerProbe = 1u << 6;
inline constexpr uint64_t kAllFeatures =
    kFeatureAtomics | kFeatureLocks | kFeatureWait | kFeatureSync;

// Request ids of server -> client requests have this bit set; the client's
// own never do. A reply's id thus names the side whose request it answers.
inline constexpr uint64_t kServerRequestIdBit = uint64_t{1} << 63;

// HELLO reply auth_flags.
inline constexpr uint32_t kAuthKeyRequired = 1u << 0;

// The decoded header. Encode() writes the layout of docs/protocol.md §1.
struct FrameHeader {
  uint8_t opcode = 0;
  uint16_t flags = 0;
  uint64_t request_id = 0;
  uint32_t body_bytes = 0;
  uint32_t status = 0;  // errno value in replies

  bool is_reply() const { return (flags & kFlagReply) != 0; }
  bool is_push() const { return (flags & kFlagPush) != 0; }
};

// Byte offsets of the header's fields.
inline constexpr size_t kOffMagic = 0;
inline constexpr size_t kOffVersion = 4;
inline constexpr size_t kOffOpcode = 5;
inline constexpr size_t kOffFlags = 6;
inline constexpr size_t kOffRequestId = 8;
inline constexpr size_t kOffBodyBytes = 16;
inline constexpr size_t kOffStatus = 20;
inline constexpr size_t kOffReserved = 24;
inline constexpr size_t kOffHeaderCrc = 28;
static_assert(kOffHeaderCrc + 4 == kHeaderBytes);

using HeaderBytes = std::array<std::byte, kHeaderBytes>;

// Writes `header` with magic, version, zero reserved and the checksum.
// REQUIRES: header.flags has only known bits.
HeaderBytes EncodeHeader(const FrameHeader& header);

// Validates and decodes a received header (docs/protocol.md §1) against
// `max_body_bytes`. Errors: EPROTONOSUPPORT (wrong version), EPROTO (magic,
// checksum, reserved, flags), EMSGSIZE (body too long). On EPROTONOSUPPORT
// and EMSGSIZE `*partial` (if given) holds the fields, so that the receiver
// can address an error reply.
Result<FrameHeader> DecodeHeader(std::span<const std::byte, kHeaderBytes> bytes,
                                 uint32_t max_body_bytes, FrameHeader* partial = nullptr);

using Bytes = std::vector<std::byte>;

// A whole frame: `header` (its body_bytes set to the body's size) followed by
// `body`. REQUIRES: body.size() <= kMaxBodyBytes.
Bytes EncodeFrame(const FrameHeader& header, std::span<const std::byte> body);
// The same into `*out` (replacing its bytes, keeping its capacity).
void EncodeFrameInto(const FrameHeader& header, std::span<const std::byte> body, Bytes* out);

// Size a receive buffer starts at on both ends of a connection.
inline constexpr size_t kInitialReadBufferBytes = 64 * 1024;
// Makes room at the end of a receive buffer whose unread bytes are
// [start, end): moves them to the front when there is space before them,
// else doubles the buffer, up to one largest frame (with its MAC). Both ends of a
// connection call it before each receive.
void MakeRoom(Bytes& buf, size_t& start, size_t& end);

// CRC-32C (Castagnoli), as used for header_crc.
uint32_t Crc32c(std::span<const std::byte> bytes);

// Little-endian loads and stores at byte offsets.
void StoreLe16(std::byte* p, uint16_t v);
void StoreLe32(std::byte* p, uint32_t v);
void StoreLe64(std::byte* p, uint64_t v);
uint16_t LoadLe16(const std::byte* p);
uint32_t LoadLe32(const std::byte* p);
uint64_t LoadLe64(const std::byte* p);

}  // namespace rams::wire
