/* SPDX-License-Identifier: MIT */
// What the parts of the C interface (rams.h) share: the rams_segment handle
// and the thread's last error. c_api.cc implements the segment functions,
// remote/remote_c_api.cc the remote ones, which hand out rams_segment
// handles too; wait_c_api.cc the word waits (local only).
//
// Thread safety: the last error is per thread.
#pragma once

#include <string>

#include "rams/rams.h"
#include "rams/segment.h"

struct rams_segment {
  rams::Segment segment;
};

namespace rams::internal {

extern thread_local std::string g_last_error;

// Records `s` as the thread's last error; returns -s.code().
int CApiFail(const rams::Status& s);

// A C timeout in nanoseconds: negative waits for ever.
inline rams::Timeout ToTimeout(int64_t timeout_ns) {
  if (timeout_ns < 0) return std::nullopt;
  return std::chrono::nanoseconds(timeout_ns);
}

}  // namespace rams::internal
