/* SPDX-License-Identifier: MIT */
// The kernel backend: segments live in the rams kernel module and are reached
// through /dev/rams (include/uapi/rams.h). Present when the device exists and
// speaks our ABI version. Open also takes a remote name, "HOST:PORT/NAME": a
// segment homed at that ramsd, attached with RAMS_ATTACH_REMOTE and served by
// this host's ramsd on the module's control channel (docs/kernel-abi.md,
// "Remote segments"); such a segment is opened, never created (EINVAL), and
// Remove and Stat do not take remote names (they name local segments).
//
// Thread safety: KernelBackend is stateless and safe from any thread; attachments
// follow the Attachment contract (backend.h).
#pragma once

#include <memory>
#include <string>

#include "rams/backend.h"
#include "uapi/rams.h"

namespace rams::kernel {

class KernelBackend final : public Backend {
 public:
  std::string_view name() const override { return "kernel"; }
  Result<std::unique_ptr<Attachment>> Open(std::string_view name,
                                            const OpenOptions& options) override;
  Status Remove(std::string_view name) override;
  Result<std::vector<SegmentInfo>> List() override;
  Result<SegmentInfo> Stat(std::string_view name) override;
};

// The process-wide instance, or ENOENT with the reason when /dev/rams is
// missing, inaccessible or of another ABI version.
Result<Backend*> Instance();

// SegmentInfo from the module's description of a segment.
SegmentInfo InfoFromKernel(const rams_info& k);

}  // namespace rams::kernel
