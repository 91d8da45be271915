/* SPDX-License-Identifier: MIT */
// What the parts of the C interface (rams.h) share: the rams_segment handle,
// the thread's last error and the conversions of results to C returns.
// segment_c_api.cc implements the segment functions, remote_c_api.cc the
// remote ones, which hand out rams_segment handles too, sync_c_api.cc and
// remote_sync_c_api.cc the sync objects, wait_c_api.cc the word waits (local
// only).
//
// Thread safety: the last error is per thread.
#pragma once

#include <string>

#include "rams/rams.h"
#include "rams/segment.h"
#include "rams/sync_common.h"

namespace rams {
class RemoteAttachment;
}

struct rams_segment {
  rams::Segment segment;
};

namespace rams::internal {

extern thread_local std::string g_last_error;

// Records `s` as the thread's last error; returns -s.code().
int CApiFail(const rams::Status& s);

// 0, or the C error of `s` (recorded as the last error).
inline int FromStatus(const rams::Status& s) { return s.ok() ? 0 : CApiFail(s); }

// The C value of an acquisition (0 or RAMS_OWNER_DIED/RAMS_READER_DIED), or
// its C error.
static_assert(RAMS_OWNER_DIED == static_cast<int>(rams::Acquired::kOwnerDied));
static_assert(RAMS_READER_DIED == static_cast<int>(rams::Acquired::kReaderDied));
inline int FromAcquired(const rams::Result<rams::Acquired>& r) {
  if (!r.ok()) return CApiFail(r.status());
  return static_cast<int>(*r);
}

// The remote segment behind `seg`, or the error for the C caller to return
// (EINVAL for a null `seg`, ENOTSUP for a local one); `what` names the call.
// In remote_c_api.cc.
rams::Result<rams::RemoteAttachment*> AsRemote(rams_segment* seg, const char* what);

// A C timeout in nanoseconds: negative waits for ever.
inline rams::Timeout ToTimeout(int64_t timeout_ns) {
  if (timeout_ns < 0) return std::nullopt;
  return std::chrono::nanoseconds(timeout_ns);
}

}  // namespace rams::internal
