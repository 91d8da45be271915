/* SPDX-License-Identifier: MIT */
// The backend interface: what a store of segments must provide so that
// segments, the sync primitives and every test run unchanged on it. librams
// has three: `posix` (POSIX shm + futex), `kernel` (/dev/rams) and `remote`
// (a ramsd on another host). A Backend finds segments by name; a Attachment
// is one attachment to one segment and owns the range locks it takes.
//
// Thread safety: a Backend is safe to use from many threads. A Attachment is
// safe for concurrent Read/Write/Wait/Wake/Lock/Unlock from many threads of
// its process; destroying it while another thread uses it is a programmer
// error.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rams/status.h"

namespace rams {

// Longest segment name, in bytes. Names use [A-Za-z0-9._-], not starting
// with '.'.
inline constexpr size_t kMaxNameBytes = 63;

struct SegmentInfo {
  std::string name;
  uint64_t size_bytes = 0;
  uint32_t owner_uid = 0;
  uint32_t owner_gid = 0;
  uint32_t mode = 0;           // permission bits, as in chmod(2)
  std::string backend;         // "posix", "kernel", "remote"
  int64_t created_unix_ns = 0; // CLOCK_REALTIME at creation
  uint32_t locks_held = 0;     // range locks held now
};

enum class OpenMode {
  kOpen,             // the segment must exist
  kCreate,           // open it, or create it when it does not exist
  kCreateExclusive,  // create it; EEXIST when it exists
  // The segment must exist; attached for reading only: its data is mapped
  // read-only into this process (Map() too: a store through it faults), and
  // Write and Lock fail with EROFS.
  kOpenReadOnly,
};

struct OpenOptions {
  OpenMode open_mode = OpenMode::kOpen;
  uint64_t size_bytes = 0;  // for creation; when opening, 0 or the same size
  uint32_t mode = 0600;     // permission bits for creation (umask is not applied)
};

// How long Lock and Wait block. nullopt: until it succeeds; zero: not at all.
using Timeout = std::optional<std::chrono::nanoseconds>;

struct LockOptions {
  uint32_t writes = 0;  // release after this many writes by the holder; 0 = until Unlock
  Timeout timeout;      // waiting for conflicting holders
  // Out, when not null: set by the kernel backend's Lock to whether a holder
  // it waited for went away (closed or died) holding an overlapping lock, so
  // the range may be half updated (RAMS_LOCK_HOLDER_GONE, docs/kernel-abi.md).
  // Other backends leave it alone; Segment::Lock reports it as
  // RangeLock::holder_gone().
  bool* holder_gone = nullptr;
};

// Identifies one held range lock within its Attachment.
using LockId = uint64_t;

// One attachment to one segment. Offsets are relative to the segment's data.
class Attachment {
 public:
  virtual ~Attachment() = default;

  virtual const SegmentInfo& info() const = 0;

  // The whole segment mapped shared into this process. Stays valid for the
  // attachment's lifetime. ENOTSUP on backends that cannot map.
  virtual Result<std::span<std::byte>> Map() = 0;

  // Copies from/to the segment. Each call is atomic with respect to the other
  // Read and Write calls on the same segment. EINVAL when [offset, offset+len)
  // is not inside the segment; a Write overlapping a range locked by another
  // attachment fails with EBUSY and changes nothing.
  virtual Status Read(uint64_t offset, std::span<std::byte> out) = 0;
  virtual Status Write(uint64_t offset, std::span<const std::byte> in) = 0;

  // Exclusive lock on [offset, offset+len) with a write lease (see LockOptions).
  // EWOULDBLOCK when a zero timeout meets a holder, ETIMEDOUT after a timeout.
  virtual Result<LockId> Lock(uint64_t offset, uint64_t len, const LockOptions& options) = 0;
  // ENOENT when the lock was already released (for example by its lease).
  virtual Status Unlock(LockId id) = 0;
  // Whether `id` is still held by this attachment.
  virtual Result<bool> Held(LockId id) = 0;

  // Futex semantics on the aligned 32-bit word at `offset`: sleeps only while
  // the word equals `expected`. EAGAIN when it differed, ETIMEDOUT, EINTR.
  virtual Status Wait(uint64_t offset, uint32_t expected, Timeout timeout) = 0;
  // Wakes up to `count` waiters; returns how many were woken.
  virtual Result<uint32_t> Wake(uint64_t offset, uint32_t count) = 0;

  // Fresh information (locks_held changes while attached).
  virtual Result<SegmentInfo> Stat() = 0;
};

// The name of Attachment in rams 0.1.0, kept for code written against it.
using SegmentPort [[deprecated("use rams::Attachment")]] = Attachment;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual Result<std::unique_ptr<Attachment>> Open(std::string_view name,
                                                    const OpenOptions& options) = 0;
  // The name disappears at once; attached attachments keep working until closed.
  virtual Status Remove(std::string_view name) = 0;
  virtual Result<std::vector<SegmentInfo>> List() = 0;
  virtual Result<SegmentInfo> Stat(std::string_view name) = 0;
};

// The backend chosen by RAMS_BACKEND (posix|kernel), else kernel when
// /dev/rams exists, else posix. ENOTSUP in the remote-only client (the
// Windows build), which has no local backend.
Result<Backend*> DefaultBackend();
// A backend by its name ("posix", "kernel"); EINVAL for an unknown name,
// ENODEV when the kernel backend is absent (no /dev/rams, wrong module ABI),
// ENOTSUP for either in the remote-only client.
Result<Backend*> BackendByName(std::string_view name);

// EINVAL with a message when `name` is not a valid segment name.
Status ValidateName(std::string_view name);

// Upper bound on a segment's size: RAMS_MAX_SEGMENT_BYTES, else 64 GiB.
uint64_t MaxSegmentBytes();

}  // namespace rams

RAMS_API_END
