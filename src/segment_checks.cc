#include "segment_checks.h"

#include <cerrno>
#include <string>

namespace rams::internal {

Status CheckRange(const char* op, const SegmentInfo& info, uint64_t offset, uint64_t len) {
  uint64_t size = info.size_bytes;
  if (offset <= size && len <= size - offset) return Status();
  std::string end = len > UINT64_MAX - offset ? "overflow" : std::to_string(offset + len);
  return Error(EINVAL, std::string(op) + " " + info.name + ": range [" + std::to_string(offset) +
                           ", " + end + ") is past the end of the " + std::to_string(size) +
                           "-byte segment");
}

Status CheckWord(const char* op, const SegmentInfo& info, uint64_t offset) {
  if (offset % 4 != 0) {
    return Error(EINVAL, std::string(op) + " " + info.name + ": offset " +
                             std::to_string(offset) + " is not 4-byte aligned");
  }
  return CheckRange(op, info, offset, 4);
}

}  // namespace rams::internal
