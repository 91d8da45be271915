// The per-client shared-memory channel between libfss and fssd: one rams
// segment per connection, laid out as a header page (magic, version, the
// rams::Mutex and the two rams::CondVars that coordinate it, the request and
// reply headers), two path areas and a data area of kDataAreaBytes, so that a
// read or write of up to 1 MiB is one round trip.
//
// Protocol (every field below `mu` is guarded by it):
//  1. The client, with state == kIdle, writes the path areas and (for writes)
//     the data area, then under mu fills `request` and sets state =
//     kRequestPending, releases mu and signals request_cv (signaling after
//     the unlock lets the woken server take mu at once).
//  2. The server waits on request_cv for kRequestPending, copies `request`
//     and the paths out of shared memory, releases mu, decodes and runs the
//     request (reading or filling the data area), then under mu fills
//     `reply`, sets state = kReplyReady, releases mu and signals reply_cv.
//  3. The client waits on reply_cv for kReplyReady, copies the reply out, and
//     sets state = kIdle.
// Before parking, each side briefly polls the state word (SpinUntilState).
// Both sides wait in bounded slices and check between them, on the Unix
// socket of the connection, whether the other side still lives; a dead
// mutex holder (Acquired::kOwnerDied) resets the channel to kIdle. So a
// client dying mid-request frees its server thread and nothing else.
//
// Thread safety: shared between two processes as described; the header is
// trivially copyable, holds offsets only, and every atomic is lock-free.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "rams/condvar.h"
#include "rams/mutex.h"
#include "request.h"

namespace rams::fss {

inline constexpr uint64_t kChannelMagic = 0x314353534653524dull;  // "MRSFSSC1"
inline constexpr uint32_t kChannelVersion = 1;
inline constexpr uint64_t kChannelHeaderBytes = 4096;
inline constexpr uint64_t kDataAreaBytes = uint64_t{1} << 20;
inline constexpr uint64_t kChannelBytes = kChannelHeaderBytes + 2 * kPathAreaBytes + kDataAreaBytes;

enum ChannelState : uint32_t {
  kIdle = 0,
  kRequestPending = 1,
  kReplyReady = 2,
};

struct ChannelHeader {
  uint64_t magic;          // kChannelMagic
  uint32_t version;        // kChannelVersion
  uint32_t header_bytes;   // sizeof(ChannelHeader)
  uint64_t path_offset;    // first path area; the second follows it
  uint64_t data_offset;    // data area
  uint64_t data_bytes;     // kDataAreaBytes
  uint32_t server_pid;
  uint32_t reserved0;      // zero
  rams::Mutex mu;
  rams::CondVar request_cv;  // signaled when state becomes kRequestPending
  rams::CondVar reply_cv;    // signaled when state becomes kReplyReady
  uint32_t state;            // ChannelState, guarded by mu
  uint32_t reserved1;        // zero
  uint64_t seq;              // requests served, guarded by mu
  RequestHeader request;     // guarded by mu
  ReplyHeader reply;         // guarded by mu
};
static_assert(offsetof(ChannelHeader, mu) == 48);
static_assert(offsetof(ChannelHeader, mu) % 8 == 0);
static_assert(offsetof(ChannelHeader, request) % 8 == 0);
static_assert(sizeof(ChannelHeader) <= kChannelHeaderBytes);
static_assert(std::is_trivially_copyable_v<ChannelHeader> && std::is_standard_layout_v<ChannelHeader>);

// What the server sends on the socket after accepting a client.
struct HelloReply {
  uint64_t magic;        // kChannelMagic
  uint32_t version;      // kChannelVersion
  int32_t error;         // 0, or an errno: the connection is refused
  char backend[16];      // NUL-terminated backend name
  char segment[64];      // NUL-terminated segment name
  uint64_t segment_bytes;
};
static_assert(sizeof(HelloReply) == 104);

// How long one wait slice lasts before the peer's liveness is checked.
inline constexpr int kSliceMs = 100;
// How long a side that expects an answer soon polls the state word before it
// parks on the condition variable (a round trip is a few microseconds).
inline constexpr int kSpinUs = 25;

// The state word, read without mu only as a hint for spinning (the reader
// takes mu before trusting it). Stores happen under mu with release order,
// pairing with the acquire load in SpinUntilState.
inline std::atomic_ref<uint32_t> StateWord(ChannelHeader* h) { return std::atomic_ref<uint32_t>(h->state); }
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free);

// Polls the state word for up to kSpinUs; true when it reached `want`.
bool SpinUntilState(ChannelHeader* h, uint32_t want);

}  // namespace rams::fss
