/* SPDX-License-Identifier: MIT */
// The posix backend: segments are POSIX shm objects (/dev/shm/rams.<name>)
// whose first page holds the shared state (layout.h); wait/wake is the
// shared futex. Needs no privileges and no kernel module.
//
// Thread safety: PosixBackend is stateless and safe from any thread;
// PosixAttachment follows the Attachment contract (backend.h).
#pragma once

#include <memory>
#include <string>

#include "layout.h"
#include "rams/backend.h"

namespace rams::posix {

class PosixBackend final : public Backend {
 public:
  std::string_view name() const override { return "posix"; }
  Result<std::unique_ptr<Attachment>> Open(std::string_view name,
                                            const OpenOptions& options) override;
  Status Remove(std::string_view name) override;
  Result<std::vector<SegmentInfo>> List() override;
  Result<SegmentInfo> Stat(std::string_view name) override;
};

// The process-wide instance.
PosixBackend& Instance();

// The shm_open(3) name of a segment: "/rams.<name>".
std::string ShmName(std::string_view name);

}  // namespace rams::posix
