// Who holds a sync object, and whether that holder still lives.
//
// An owner id is 30 bits: the thread id (gettid(), < 2^22 = PID_MAX_LIMIT) in
// bits 0..21 and an 8-bit tag of the thread's start time in bits 22..29, so
// that a thread id reused by a new thread (almost always) no longer matches.
// Bits 30 and 31 are free for the objects' flags. 0 means "nobody".
//
// Thread safety: all functions are safe from any thread. SelfOwnerId and
// SelfDomain cache per thread / per process and are refreshed after fork().
#pragma once

#include <atomic>
#include <cstdint>

#include "rams/sync_identity.h"

namespace rams::internal {

inline constexpr uint32_t kOwnerTidMask = (1u << 22) - 1;

// The thread id inside an owner id.
inline uint32_t OwnerTid(uint32_t id) { return id & kOwnerTidMask; }

// Composes an owner id from a thread id and its start time (clock ticks since
// boot, field 22 of /proc/<tid>/stat).
uint32_t MakeOwnerId(uint32_t tid, uint64_t start_time);

// False only on evidence that the owner is gone: its thread does not exist,
// is a zombie, or its start-time tag differs (the tid was reused). When
// /proc cannot tell, falls back to kill(tid, 0) == ESRCH. REQUIRES: id != 0.
bool OwnerAlive(uint32_t id);

// SelfOwnerId() and SelfDomain(): rams/sync_identity.h.

}  // namespace rams::internal
