// Helpers every sync object uses to block: the word accessor, deadlines,
// bounded spinning and sliced parking, and the header checks.
//
// Thread safety: Deadline is a plain value for one caller; the rest is
// stateless or reads the process-wide tuning atomically.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "rams/backend.h"
#include "rams/status.h"
#include "rams/sync_common.h"

namespace rams::internal {

// A plain uint32_t field of a shared object, accessed atomically. The object
// stores uint32_t (so that it is trivially copyable); std::atomic<uint32_t>
// has the same size, alignment and representation (sync_common.h).
inline std::atomic<uint32_t>& AsAtomic(uint32_t& word) {
  return *reinterpret_cast<std::atomic<uint32_t>*>(&word);
}
inline const std::atomic<uint32_t>& AsAtomic(const uint32_t& word) {
  return *reinterpret_cast<const std::atomic<uint32_t>*>(&word);
}

// One pause of a spin loop.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// The tuning in effect (sync_common.h), cheap to call.
SyncTuning CurrentTuning();

// A point on the steady clock derived from a Timeout (nullopt: never).
class Deadline {
 public:
  explicit Deadline(Timeout timeout);
  bool never() const { return never_; }
  bool Expired() const;
  // How long to park: `slice`, or less when the deadline comes first.
  std::chrono::nanoseconds Clip(std::chrono::nanoseconds slice) const;

 private:
  bool never_;
  std::chrono::steady_clock::time_point at_;
};

// The next, doubled slice, bounded by the tuning's max_slice.
std::chrono::nanoseconds NextSlice(std::chrono::nanoseconds slice, const SyncTuning& tuning);

// Parks on `word` while it equals `expected`, for at most `slice` (clipped to
// the deadline). Returns true when the slice ran out (rather than a wake-up,
// a changed word or a signal).
bool ParkSlice(const uint32_t& word, uint32_t expected, std::chrono::nanoseconds slice,
               const Deadline& deadline);

// Fills a header for this process's domain.
SyncHeader MakeHeader(uint32_t magic);
// EINVAL when `header` is not an initialized object of `magic` and this
// layout version; `what` names the object for the message.
Status CheckHeader(const SyncHeader& header, uint32_t magic, std::string_view what);
// EXDEV when the caller's domain differs from the object's (owner ids would
// be meaningless); ok otherwise.
Status CheckDomain(const SyncHeader& header, std::string_view what);

}  // namespace rams::internal
