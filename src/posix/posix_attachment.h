/* SPDX-License-Identifier: MIT */
// PosixAttachment: one attachment to a posix-backend segment. It maps the whole
// shm object (header page + data) and owns the range locks it takes; they are
// released when it is destroyed, and by other attachments when its process has died.
//
// Thread safety: as Attachment (backend.h). All shared state is in the
// mapped Header, guarded by Header::io_mu; the attachment's own fields are constant
// after construction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>

#include "layout.h"
#include "rams/backend.h"

namespace rams::posix {

class PosixAttachment final : public Attachment {
 public:
  // Takes ownership of the mapping [map, map + map_bytes). `read_only`: the
  // caller mapped the data (past the header page) PROT_READ; Write and Lock
  // are EROFS.
  PosixAttachment(SegmentInfo info, void* map, uint64_t map_bytes, bool read_only = false);
  ~PosixAttachment() override;
  PosixAttachment(const PosixAttachment&) = delete;
  PosixAttachment& operator=(const PosixAttachment&) = delete;

  const SegmentInfo& info() const override { return info_; }
  Result<std::span<std::byte>> Map() override;
  Status Read(uint64_t offset, std::span<std::byte> out) override;
  Status Write(uint64_t offset, std::span<const std::byte> in) override;
  Result<LockId> Lock(uint64_t offset, uint64_t len, const LockOptions& options) override;
  Status Unlock(LockId id) override;
  Result<bool> Held(LockId id) override;
  Status Wait(uint64_t offset, uint32_t expected, Timeout timeout) override;
  Result<uint32_t> Wake(uint64_t offset, uint32_t count) override;
  Result<SegmentInfo> Stat() override;

 private:
  class IoGuard;

  // REQUIRES: io_mu held. The first live entry of another attachment overlapping
  // the range (entries of dead holders are released on the way), or null.
  LockEntry* FindConflict(uint64_t offset, uint64_t len);
  bool OwnedByMe(const LockEntry& e) const;
  // REQUIRES: io_mu held.
  void Release(LockEntry& e);
  // REQUIRES: io_mu held. Takes a free entry; EAGAIN-style error when none.
  Result<LockId> Insert(uint64_t offset, uint64_t len, uint32_t writes);
  // REQUIRES: io_mu held. Counts a write by this attachment against its leases.
  void ChargeWriteLeases(uint64_t offset, uint64_t len);

  // Constant after construction.
  SegmentInfo info_;
  Header* header_;
  std::byte* data_;
  uint64_t map_bytes_;
  uint64_t attachment_id_;
  pid_t pid_;
  bool read_only_;
};

}  // namespace rams::posix
