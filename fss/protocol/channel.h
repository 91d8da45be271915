/* SPDX-License-Identifier: MIT */
// The per-client shared-memory channel between libfss and fssd: one rams
// segment per connection, laid out as a header page (magic, version, the
// state word, the request and reply headers), two path areas and a data area
// of kDataAreaBytes, so that a read or write of up to 1 MiB is one round trip.
//
// Trust: the client can write every byte of the segment at any moment, so the
// server treats all of it as hostile. There is no lock in shared memory (a
// client could scribble it); the one word both sides change is `state`, used
// as a futex (WaitWord/WakeWord), and its only transitions are plain stores:
//  1. The client, with state == kIdle, writes the path areas, the data area
//     (for writes) and `request`, then stores kRequestPending (release) and
//     wakes the word.
//  2. The server waits for kRequestPending, copies `request`, the paths and
//     the input bytes into its own memory and decodes the copy, runs it,
//     writes the output bytes and `reply`, stores kReplyReady (release) and
//     wakes the word.
//  3. The client waits for kReplyReady, copies the reply out, stores kIdle.
// The layout is fixed by constants: the server writes the offsets into the
// header for the client's information and never reads them back. A state
// word holding anything but the three values is a protocol violation and the
// server disconnects that client; a client that changes the areas during a
// request only spoils its own request. Before parking, each side briefly
// polls the state word (SpinUntilState); both wait in bounded slices and
// check between them, on the Unix socket of the connection, whether the other
// side still lives.
//
// Thread safety: shared between two processes as described; the header is
// trivially copyable, holds offsets only, and its atomic is lock-free.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <functional>
#include <type_traits>

#include "request.h"

namespace rams::fss {

inline constexpr uint64_t kChannelMagic = 0x314353534653524dull;  // "MRSFSSC1"
inline constexpr uint32_t kChannelVersion = 2;  // 1 had a rams::Mutex and CondVars in the header
inline constexpr uint64_t kChannelHeaderBytes = 4096;
inline constexpr uint64_t kDataAreaBytes = uint64_t{1} << 20;
inline constexpr uint64_t kPathAreaOffset = kChannelHeaderBytes;
inline constexpr uint64_t kDataAreaOffset = kChannelHeaderBytes + 2 * kPathAreaBytes;
inline constexpr uint64_t kChannelBytes = kDataAreaOffset + kDataAreaBytes;

enum ChannelState : uint32_t {
  kIdle = 0,
  kRequestPending = 1,
  kReplyReady = 2,
};

struct ChannelHeader {
  uint64_t magic;          // kChannelMagic
  uint32_t version;        // kChannelVersion
  uint32_t header_bytes;   // sizeof(ChannelHeader)
  uint64_t path_offset;    // kPathAreaOffset; the second path area follows the first
  uint64_t data_offset;    // kDataAreaOffset
  uint64_t data_bytes;     // kDataAreaBytes
  uint32_t server_pid;
  uint32_t state;          // ChannelState; the futex word
  uint64_t seq;            // requests served (written by the server only)
  RequestHeader request;   // written by the client in kIdle
  ReplyHeader reply;       // written by the server before kReplyReady
};
static_assert(offsetof(ChannelHeader, state) == 44);
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

// The state word. Every store is release and every load that leads to
// reading the other side's data is acquire.
inline std::atomic_ref<uint32_t> StateWord(ChannelHeader* h) { return std::atomic_ref<uint32_t>(h->state); }
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free);

// Stores `state` (release) and wakes the other side.
void PublishState(ChannelHeader* h, uint32_t state);

// Waits until the state word holds `want`, in slices of kSliceMs after a
// spin of kSpinUs; between slices `alive()` decides whether to go on.
// Returns true with `want` seen (acquire), false when `alive()` said no or
// the word held a value outside ChannelState (a protocol violation; `*bad`
// is then set).
bool AwaitState(ChannelHeader* h, uint32_t want, const std::function<bool()>& alive, bool* bad);

// Polls the state word for up to kSpinUs; true when it reached `want`.
bool SpinUntilState(ChannelHeader* h, uint32_t want);

}  // namespace rams::fss
