/* SPDX-License-Identifier: MIT */
// Thin wrappers over the futex(2) syscall on shared (not process-private)
// words, so that waiters in different processes mapping the same memory meet.
//
// Thread safety: safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "rams/backend.h"

namespace rams::internal {

// FUTEX_WAIT with a relative timeout (nullopt: forever). Returns 0 when woken
// (or spuriously), else an errno: EAGAIN (word differed), ETIMEDOUT, EINTR.
int FutexWait(const std::atomic<uint32_t>* word, uint32_t expected, Timeout timeout);

// FUTEX_WAKE: returns the number of waiters woken.
uint32_t FutexWake(const std::atomic<uint32_t>* word, uint32_t count);

}  // namespace rams::internal
