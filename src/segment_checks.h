/* SPDX-License-Identifier: MIT */
// The one range check of rams: every Attachment (posix, kernel, remote) runs
// it before it touches a segment or sends a request, and ramsd runs the same
// check on what a client asks, so local and remote refusals read alike
// ("read m: range [4090, 4190) is past the end of the 4096-byte segment:
// EINVAL").
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "rams/backend.h"

namespace rams::internal {

// EINVAL unless [offset, offset+len) lies inside the segment (overflow too).
Status CheckRange(std::string_view op, const SegmentInfo& info, uint64_t offset, uint64_t len);

// EINVAL unless `offset` is a multiple of `align_bytes` and
// [offset, offset+len) lies inside the segment.
Status CheckAligned(std::string_view op, const SegmentInfo& info, uint64_t offset, uint64_t len,
                    uint64_t align_bytes);

// EINVAL unless `offset` names an aligned 32-bit word inside the segment.
inline Status CheckWord(std::string_view op, const SegmentInfo& info, uint64_t offset) {
  return CheckAligned(op, info, offset, 4, 4);
}

// The range of a range lock: not empty, inside the segment.
Status CheckLockRange(const SegmentInfo& info, uint64_t offset, uint64_t len);

}  // namespace rams::internal
