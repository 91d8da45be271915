/* SPDX-License-Identifier: MIT */
// What the Linux home of the Windows client tests (windows_home.cc) serves,
// shared with the tests (client_test.cc): the exported segments' names and
// sizes and where the sync objects are. Each test uses objects and byte
// ranges of its own, so that ctest may run the tests in parallel.
//
// Thread safety: constants only.
#pragma once

#include <cstdint>
#include <string>

namespace rams::test::windows_home {

// Segments, named PREFIX + suffix (PREFIX from RAMS_WINDOWS_PREFIX).
inline constexpr char kRw[] = "-rw";         // exported read-write
inline constexpr char kRo[] = "-ro";         // exported read-only
inline constexpr char kSync[] = "-sync";     // exported read-write, with sync objects
inline constexpr char kHidden[] = "-hidden"; // exists, not exported
inline constexpr uint64_t kRwBytes = uint64_t{4} << 20;
inline constexpr uint64_t kRoBytes = 4096;
inline constexpr uint64_t kSyncBytes = 64 * 1024;
// kRw's first bytes as the home wrote them: byte i of the read-only export
// and of kRw's first kRoBytes is Pattern(i).
inline constexpr uint8_t Pattern(uint64_t i) { return static_cast<uint8_t>(i * 13 + 7); }

// In kSync: rams::Mutex i at Mutex(i), rams::CondVar i at Cond(i), a
// two-party rams::Barrier i at Barrier(i), and a plain zero word.
inline constexpr uint64_t kStride = 512;
inline constexpr int kMutexes = 16, kConds = 8, kBarriers = 4;
inline constexpr uint64_t Mutex(int i) { return uint64_t(i) * kStride; }
inline constexpr uint64_t Cond(int i) { return uint64_t(kMutexes + i) * kStride; }
inline constexpr uint64_t Barrier(int i) { return uint64_t(kMutexes + kConds + i) * kStride; }
inline constexpr uint64_t kPlainWord = uint64_t(kMutexes + kConds + kBarriers) * kStride;
static_assert(kPlainWord + kStride <= kSyncBytes);

}  // namespace rams::test::windows_home
