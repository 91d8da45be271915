// SPDX-License-Identifier: MIT
#include "segment_checks.h"

#include <cerrno>
#include <string>

namespace rams::internal {

Status CheckRange(std::string_view op, const SegmentInfo& info, uint64_t offset, uint64_t len) {
  uint64_t size = info.size_bytes;
  if (offset <= size && len <= size - offset) return Status();
  std::string end = len > UINT64_MAX - offset ? "overflow" : std::to_string(offset + len);
  return Error(EINVAL, std::string(op) + " " + info.name + ": range [" + std::to_string(offset) +
                           ", " + end + ") is past the end of the " + std::to_string(size) +
                           "-byte segment");
}

Status CheckAligned(std::string_view op, const SegmentInfo& info, uint64_t offset, uint64_t len,
                    uint64_t align_bytes) {
  if (offset % align_bytes != 0) {
    return Error(EINVAL, std::string(op) + " " + info.name + ": offset " +
                             std::to_string(offset) + " is not " + std::to_string(align_bytes) +
                             "-byte aligned");
  }
  return CheckRange(op, info, offset, len);
}

Status CheckLockRange(const SegmentInfo& info, uint64_t offset, uint64_t len) {
  if (len == 0) return Error(EINVAL, "lock " + info.name + ": length 0");
  return CheckRange("lock", info, offset, len);
}

}  // namespace rams::internal
