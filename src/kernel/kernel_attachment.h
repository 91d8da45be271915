/* SPDX-License-Identifier: MIT */
// KernelAttachment: one attachment to a segment of the rams kernel module, i.e. one
// open of /dev/rams attached with RAMS_IOC_ATTACH. Read/Write are pread and
// pwrite (atomic per segment in the module), Lock/Unlock/Wait/Wake are
// ioctls, Map is an mmap served by the module's fault handler.
//
// Locks belong to the open file description: they end when the last copy of
// the descriptor is closed (this attachment's destructor, or the exit of a forked
// child that inherited it, whichever is last) — the module's release
// semantics, see docs/kernel-abi.md.
//
// Thread safety: as Attachment (backend.h). fd_ and info_ are constant after
// construction; the mapping is created once under map_mu_.
#pragma once

#include <cstdint>
#include <span>

#include "rams/backend.h"
#include "sys/local_mutex.h"
#include "sys/sys.h"

namespace rams::kernel {

class KernelAttachment final : public Attachment {
 public:
  // Takes ownership of `fd`, an attached /dev/rams descriptor. `read_only`:
  // Map() maps PROT_READ; Write and Lock are EROFS.
  KernelAttachment(int fd, SegmentInfo info, bool read_only = false);
  ~KernelAttachment() override;
  KernelAttachment(const KernelAttachment&) = delete;
  KernelAttachment& operator=(const KernelAttachment&) = delete;

  const SegmentInfo& info() const override { return info_; }
  Result<std::span<std::byte>> Map() override EXCLUDES(map_mu_);
  Status Read(uint64_t offset, std::span<std::byte> out) override;
  Status Write(uint64_t offset, std::span<const std::byte> in) override;
  Result<LockId> Lock(uint64_t offset, uint64_t len, const LockOptions& options) override;
  Status Unlock(LockId id) override;
  Result<bool> Held(LockId id) override;
  Status Wait(uint64_t offset, uint32_t expected, Timeout timeout) override;
  Result<uint32_t> Wake(uint64_t offset, uint32_t count) override;
  Result<SegmentInfo> Stat() override;

 private:
  std::string What(const char* op, uint64_t offset, uint64_t len) const;

  // Constant after construction.
  const sys::UniqueFd fd_;
  const SegmentInfo info_;
  const bool read_only_;

  sys::LocalMutex map_mu_;
  std::byte* map_ GUARDED_BY(map_mu_) = nullptr;  // set once, unmapped in the destructor
};

}  // namespace rams::kernel
