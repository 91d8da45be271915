/* SPDX-License-Identifier: MIT */
// RAMS_CHECK(condition): an assertion that stays on in release builds, for
// REQUIRES lines (what a caller in our own code must guarantee) and for the
// postconditions of decoders (what a decoder promises about what it
// returns). A failure is a bug in rams: it prints the condition and where,
// and aborts. Never apply it to bytes read from shared memory or the wire —
// those are a peer's to get wrong, and are answered with an error (see the
// trust rule in docs/glossary.md). Plain assert is compiled out of the
// RelWithDebInfo build; this is not.
//
// Thread safety: stateless.
#pragma once

namespace rams::internal {
[[noreturn]] void CheckFailed(const char* condition, const char* file, int line);
}  // namespace rams::internal

#define RAMS_CHECK(condition)                                               \
  do {                                                                      \
    if (!(condition)) [[unlikely]]                                          \
      ::rams::internal::CheckFailed(#condition, __FILE__, __LINE__);        \
  } while (0)
