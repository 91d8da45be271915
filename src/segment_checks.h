// The argument checks every backend's SegmentPort makes before it touches a
// segment, so that all backends refuse the same requests with the same
// messages ("read m: range [4090, 4190) is past the end of the 4096-byte
// segment: EINVAL").
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "rams/backend.h"

namespace rams::internal {

// EINVAL unless [offset, offset+len) lies inside the segment (overflow too).
Status CheckRange(const char* op, const SegmentInfo& info, uint64_t offset, uint64_t len);

// EINVAL unless `offset` names an aligned 32-bit word inside the segment.
Status CheckWord(const char* op, const SegmentInfo& info, uint64_t offset);

}  // namespace rams::internal
