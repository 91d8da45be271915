/* SPDX-License-Identifier: MIT */
// rams::Segment: a named, fixed-size region of shared memory that any process
// (with permission) can attach to by name, read and write at an offset, map,
// lock in byte ranges with write leases, and wait/wake on 32-bit words. It is
// a thin owner of a Attachment from the chosen backend (see backend.h), so
// the same code runs on POSIX shm, on /dev/rams and on a remote host.
//
// Thread safety: as Attachment: concurrent calls on one Segment are safe;
// moving or destroying it while in use is not. A RangeLock belongs to one
// thread at a time.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "rams/backend.h"
#include "rams/status.h"

namespace rams {

class RangeLock;

class Segment {
 public:
  // Creates (or, unless `exclusive`, opens an existing one of the same size).
  static Result<Segment> Create(std::string_view name, uint64_t size_bytes, uint32_t mode = 0600,
                                bool exclusive = false, Backend* backend = nullptr);
  // Opens with full options. A null backend means DefaultBackend().
  static Result<Segment> Open(std::string_view name, const OpenOptions& options = {},
                              Backend* backend = nullptr);
  static Status Remove(std::string_view name, Backend* backend = nullptr);
  static Result<std::vector<SegmentInfo>> List(Backend* backend = nullptr);
  static Result<SegmentInfo> Stat(std::string_view name, Backend* backend = nullptr);

  explicit Segment(std::unique_ptr<Attachment> attachment);
  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  ~Segment();

  const SegmentInfo& info() const { return attachment_->info(); }
  const std::string& name() const { return attachment_->info().name; }
  uint64_t size() const { return attachment_->info().size_bytes; }

  // The segment's bytes, mapped shared; valid while this Segment lives.
  Result<std::span<std::byte>> Map();

  Status Read(uint64_t offset, std::span<std::byte> out) { return attachment_->Read(offset, out); }
  Status Write(uint64_t offset, std::span<const std::byte> in) { return attachment_->Write(offset, in); }

  Result<RangeLock> Lock(uint64_t offset, uint64_t len, const LockOptions& options = {});

  Status Wait(uint64_t offset, uint32_t expected, Timeout timeout = std::nullopt) {
    return attachment_->Wait(offset, expected, timeout);
  }
  Result<uint32_t> Wake(uint64_t offset, uint32_t count) { return attachment_->Wake(offset, count); }

  Result<SegmentInfo> Stat() { return attachment_->Stat(); }
  Attachment& attachment() { return *attachment_; }

 private:
  std::unique_ptr<Attachment> attachment_;
  const void* registered_base_ = nullptr;  // wait-range registration, if any
};

// A held range lock. Unlocks on destruction unless released before (by
// Unlock, or by its write lease running out).
class RangeLock {
 public:
  RangeLock(Attachment* attachment, LockId id, bool holder_gone = false)
      : attachment_(attachment), id_(id), holder_gone_(holder_gone) {}
  RangeLock(RangeLock&& other) noexcept;
  RangeLock& operator=(RangeLock&& other) noexcept;
  ~RangeLock();

  LockId id() const { return id_; }
  // Whether Lock had to wait for a holder that went away (closed or died)
  // holding an overlapping lock: the range may be half updated. Reported by
  // the kernel backend only (LockOptions::holder_gone).
  bool holder_gone() const { return holder_gone_; }
  // Whether the lock is still held (false after its lease ran out).
  Result<bool> Held() const;
  // ENOENT when it was already released by its lease.
  Status Unlock();
  // Forgets the lock without unlocking: it lives until its lease ends or the
  // segment handle closes.
  LockId Detach();

 private:
  Attachment* attachment_;  // null once unlocked or detached
  LockId id_;
  bool holder_gone_;
};

}  // namespace rams

RAMS_API_END
