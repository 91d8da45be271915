// SPDX-License-Identifier: MIT
#include "posix_attachment.h"

#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "futex.h"
#include "process.h"
#include "segment_checks.h"

namespace rams::posix {
namespace {

using Clock = std::chrono::steady_clock;
// Longest sleep between two checks of whether conflicting holders still live.
constexpr std::chrono::milliseconds kLivenessSlice{50};

uint64_t NewAttachmentId() {
  uint64_t id = 0;
  while (getrandom(&id, sizeof id, 0) != sizeof id || id == 0) {
  }
  return id;
}

std::string RangeText(const std::string& name, uint64_t offset, uint64_t len) {
  return name + " [" + std::to_string(offset) + ", " + std::to_string(offset + len) + ")";
}

bool Overlaps(const LockEntry& e, uint64_t offset, uint64_t len) {
  return offset < e.offset + e.len && e.offset < offset + len;
}

}  // namespace

// Holds Header::io_mu. A previous holder that died leaves the lock table
// consistent (invariant 2), so owner death only needs acknowledging.
class PosixAttachment::IoGuard {
 public:
  explicit IoGuard(Header* h) : mu_(&h->io_mu) {
    int rc = pthread_mutex_lock(mu_);
    if (rc == EOWNERDEAD) rc = pthread_mutex_consistent(mu_);
    assert(rc == 0 && "io_mu is never left unrecoverable");
    (void)rc;
  }
  ~IoGuard() { pthread_mutex_unlock(mu_); }
  IoGuard(const IoGuard&) = delete;
  IoGuard& operator=(const IoGuard&) = delete;

 private:
  pthread_mutex_t* mu_;
};

PosixAttachment::PosixAttachment(SegmentInfo info, void* map, uint64_t map_bytes, bool read_only)
    : info_(std::move(info)),
      header_(static_cast<Header*>(map)),
      data_(static_cast<std::byte*>(map) + kHeaderBytes),
      map_bytes_(map_bytes),
      attachment_id_(NewAttachmentId()),
      pid_(getpid()),
      read_only_(read_only) {}

PosixAttachment::~PosixAttachment() {
  // A child that inherited this attachment through fork must not drop the locks
  // its parent holds.
  if (getpid() == pid_) {
    IoGuard guard(header_);
    for (LockEntry& e : header_->locks) {
      if ((e.flags & kLockInUse) && e.owner_attachment_id == attachment_id_) Release(e);
    }
  }
  munmap(header_, map_bytes_);
}

Result<std::span<std::byte>> PosixAttachment::Map() {
  return std::span<std::byte>(data_, info_.size_bytes);
}

bool PosixAttachment::OwnedByMe(const LockEntry& e) const { return e.owner_attachment_id == attachment_id_; }

void PosixAttachment::Release(LockEntry& e) {
  e.flags = 0;
  // release: pairs with Lock's acquire load of lock_generation.
  header_->lock_generation.fetch_add(1, std::memory_order_release);
  internal::FutexWake(&header_->lock_generation, UINT32_MAX);
}

LockEntry* PosixAttachment::FindConflict(uint64_t offset, uint64_t len) {
  for (LockEntry& e : header_->locks) {
    if (!(e.flags & kLockInUse) || OwnedByMe(e) || !Overlaps(e, offset, len)) continue;
    if (!internal::ProcessAlive(e.owner_pid, e.owner_start_time)) {
      Release(e);  // its holder died
      continue;
    }
    return &e;
  }
  return nullptr;
}

Result<LockId> PosixAttachment::Insert(uint64_t offset, uint64_t len, uint32_t writes) {
  for (LockEntry& e : header_->locks) {
    if (e.flags & kLockInUse) continue;
    e.offset = offset;
    e.len = len;
    e.lock_id = ++header_->next_lock_id;
    e.owner_attachment_id = attachment_id_;
    e.owner_start_time = internal::SelfStartTime();
    e.owner_pid = getpid();
    e.writes_left = writes;
    e.reserved = 0;
    e.flags = kLockInUse | (writes != 0 ? kLockWriteLease : 0);  // last: invariant 2
    return e.lock_id;
  }
  return Error(ENOLCK, "lock " + RangeText(info_.name, offset, len) + ": all " +
                           std::to_string(kMaxRangeLocks) + " lock slots are held");
}

void PosixAttachment::ChargeWriteLeases(uint64_t offset, uint64_t len) {
  for (LockEntry& e : header_->locks) {
    if (!(e.flags & kLockInUse) || !(e.flags & kLockWriteLease) || !OwnedByMe(e)) continue;
    if (!Overlaps(e, offset, len)) continue;
    if (--e.writes_left == 0) Release(e);
  }
}

Status PosixAttachment::Read(uint64_t offset, std::span<std::byte> out) {
  RAMS_RETURN_IF_ERROR(internal::CheckRange("read", info_, offset, out.size()));
  IoGuard guard(header_);
  if (!out.empty()) std::memcpy(out.data(), data_ + offset, out.size());
  return Status();
}

Status PosixAttachment::Write(uint64_t offset, std::span<const std::byte> in) {
  RAMS_RETURN_IF_ERROR(internal::CheckRange("write", info_, offset, in.size()));
  if (read_only_) {
    return Error(EROFS, "write " + RangeText(info_.name, offset, in.size()) + ": attached read-only");
  }
  if (in.empty()) return Status();
  IoGuard guard(header_);
  if (LockEntry* e = FindConflict(offset, in.size())) {
    return Error(EBUSY, "write " + RangeText(info_.name, offset, in.size()) +
                            ": overlaps a range locked by pid " + std::to_string(e->owner_pid));
  }
  std::memcpy(data_ + offset, in.data(), in.size());
  ChargeWriteLeases(offset, in.size());
  return Status();
}

Result<LockId> PosixAttachment::Lock(uint64_t offset, uint64_t len, const LockOptions& options) {
  RAMS_RETURN_IF_ERROR(internal::CheckLockRange(info_, offset, len));
  if (read_only_) {
    return Error(EROFS, "lock " + RangeText(info_.name, offset, len) + ": attached read-only");
  }
  const auto start = Clock::now();
  for (;;) {
    uint32_t generation = 0;
    {
      IoGuard guard(header_);
      LockEntry* conflict = FindConflict(offset, len);
      if (conflict == nullptr) {
        for (const LockEntry& e : header_->locks) {
          if ((e.flags & kLockInUse) && OwnedByMe(e) && Overlaps(e, offset, len)) {
            return Error(EDEADLK, "lock " + RangeText(info_.name, offset, len) +
                                      ": this handle already holds an overlapping lock");
          }
        }
        return Insert(offset, len, options.writes);
      }
      // acquire: pairs with Release's release fetch_add of lock_generation.
      generation = header_->lock_generation.load(std::memory_order_acquire);
    }
    std::chrono::nanoseconds slice = kLivenessSlice;
    if (options.timeout) {
      auto left = *options.timeout - (Clock::now() - start);
      if (options.timeout->count() == 0) {
        return Error(EWOULDBLOCK, "lock " + RangeText(info_.name, offset, len) + ": held");
      }
      if (left <= std::chrono::nanoseconds::zero()) {
        return Error(ETIMEDOUT, "lock " + RangeText(info_.name, offset, len));
      }
      slice = std::min<std::chrono::nanoseconds>(slice, left);
    }
    internal::FutexWait(&header_->lock_generation, generation, slice);
  }
}

Status PosixAttachment::Unlock(LockId id) {
  IoGuard guard(header_);
  for (LockEntry& e : header_->locks) {
    if ((e.flags & kLockInUse) && OwnedByMe(e) && e.lock_id == id) {
      Release(e);
      return Status();
    }
  }
  return Error(ENOENT, "unlock " + info_.name + ": lock " + std::to_string(id) + " is not held");
}

Result<bool> PosixAttachment::Held(LockId id) {
  IoGuard guard(header_);
  for (const LockEntry& e : header_->locks) {
    if ((e.flags & kLockInUse) && OwnedByMe(e) && e.lock_id == id) return true;
  }
  return false;
}

Status PosixAttachment::Wait(uint64_t offset, uint32_t expected, Timeout timeout) {
  RAMS_RETURN_IF_ERROR(internal::CheckWord("wait", info_, offset));
  auto* word = reinterpret_cast<std::atomic<uint32_t>*>(data_ + offset);
  int err = internal::FutexWait(word, expected, timeout);
  if (err == 0) return Status();
  return Error(err, "wait " + info_.name + " @" + std::to_string(offset));
}

Result<uint32_t> PosixAttachment::Wake(uint64_t offset, uint32_t count) {
  RAMS_RETURN_IF_ERROR(internal::CheckWord("wake", info_, offset));
  auto* word = reinterpret_cast<std::atomic<uint32_t>*>(data_ + offset);
  return internal::FutexWake(word, count);
}

Result<SegmentInfo> PosixAttachment::Stat() {
  SegmentInfo info = info_;
  IoGuard guard(header_);
  info.locks_held = 0;
  for (LockEntry& e : header_->locks) {
    if (!(e.flags & kLockInUse)) continue;
    if (!internal::ProcessAlive(e.owner_pid, e.owner_start_time)) {
      Release(e);
      continue;
    }
    ++info.locks_held;
  }
  return info;
}

}  // namespace rams::posix
