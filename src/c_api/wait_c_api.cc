// SPDX-License-Identifier: MIT
// rams_wait_word and rams_wake_word of the C interface (rams.h) over
// WaitWord/WakeWord: local words only, so not in the remote-only client.
#include <cerrno>
#include <cstdint>

#include "c_api_internal.h"
#include "rams/rams.h"
#include "rams/wait.h"

namespace {

using rams::internal::CApiFail;

bool BadWord(const uint32_t* word, const char* what) {
  if (word != nullptr) return false;
  CApiFail(rams::Error(EINVAL, std::string(what) + ": null argument"));
  return true;
}

}  // namespace

extern "C" {

int rams_wait_word(const uint32_t* word, uint32_t expected, int64_t timeout_ns) {
  if (BadWord(word, "rams_wait_word")) return -EINVAL;
  if (reinterpret_cast<uintptr_t>(word) % 4 != 0) {
    return CApiFail(rams::Error(EINVAL, "rams_wait_word: word is not 4-byte aligned"));
  }
  rams::Status s = rams::WaitWord(reinterpret_cast<const std::atomic<uint32_t>*>(word), expected,
                                  rams::internal::ToTimeout(timeout_ns));
  return s.ok() ? 0 : CApiFail(s);
}

int rams_wake_word(const uint32_t* word, uint32_t count) {
  if (BadWord(word, "rams_wake_word")) return -EINVAL;
  uint32_t n = rams::WakeWord(reinterpret_cast<const std::atomic<uint32_t>*>(word), count);
  return static_cast<int>(n > INT32_MAX ? INT32_MAX : n);
}

}  // extern "C"
