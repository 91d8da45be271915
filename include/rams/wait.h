/* SPDX-License-Identifier: MIT */
// Futex-style wait/wake on a 32-bit word that lives in shared memory: the one
// primitive every rams sync object (Mutex, CondVar, RwLock, Semaphore,
// Barrier) is built on. A word inside a mapping of a segment whose backend
// has its own wait queues (kernel, remote) is dispatched to that backend; any
// other word, including posix segments, uses the shared (not private) futex,
// so the word may be in any MAP_SHARED memory.
//
// Thread safety: safe from any thread and process.
#pragma once

#include "rams/export.h"
RAMS_API_BEGIN

#include <atomic>
#include <cstdint>

#include "rams/backend.h"

namespace rams {

static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

// Sleeps while *word == expected, until woken, the timeout passes or a signal
// arrives. Returns ok when woken (or spuriously), EAGAIN when *word differed,
// ETIMEDOUT, EINTR.
// REQUIRES: word is 4-byte aligned.
Status WaitWord(const std::atomic<uint32_t>* word, uint32_t expected, Timeout timeout);

// Wakes up to `count` waiters of `word`; returns how many were woken (a lower
// bound for backends that cannot tell).
uint32_t WakeWord(const std::atomic<uint32_t>* word, uint32_t count);

// Whether WaitWord/WakeWord on `word` go to a backend's own wait queues
// (kernel, remote) rather than the shared futex.
bool WordHasBackendQueue(const std::atomic<uint32_t>* word);

// For backends: routes WaitWord/WakeWord on words in [base, base+len) to
// `attachment`'s Wait/Wake at the word's offset from base. Up to 256 mappings.
// REQUIRES: the range is not registered; attachment outlives the registration.
Status RegisterWaitRange(const void* base, uint64_t len, Attachment* attachment);
void UnregisterWaitRange(const void* base);

}  // namespace rams

RAMS_API_END
