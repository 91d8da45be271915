/* SPDX-License-Identifier: MIT */
// RAMS_SYNC_CHECK: an assertion that stays on in release builds, for misuse
// of a sync object (unlocking a mutex held by another thread, a corrupted
// layout) that would otherwise silently break mutual exclusion for every
// process sharing the object.
//
// Thread safety: stateless.
#pragma once

namespace rams::internal {
[[noreturn]] void SyncCheckFailed(const char* condition, const char* message, const char* file,
                                  int line);
}  // namespace rams::internal

#define RAMS_SYNC_CHECK(condition, message)                                                \
  do {                                                                                     \
    if (!(condition)) [[unlikely]]                                                         \
      ::rams::internal::SyncCheckFailed(#condition, message, __FILE__, __LINE__);          \
  } while (0)
