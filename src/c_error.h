// The C interface's per-thread "last error" (rams_last_error in rams.h), for
// the files that implement parts of that interface.
//
// Thread safety: per thread.
#pragma once

#include "rams/status.h"

namespace rams::internal {

// Records `s` as the calling thread's last C error; returns -s.code().
int FailC(const Status& s);

}  // namespace rams::internal
