/* SPDX-License-Identifier: MIT */
// Who holds a sync object, and whether that holder still lives.
//
// An owner id is 30 bits: the thread id (gettid(), < 2^22 = PID_MAX_LIMIT) in
// bits 0..21 and an 8-bit incarnation tag in bits 22..29. The tag hashes the
// thread's start time (corrected for the reader's time namespace, so every
// observer computes the same value) with its program's stack address (which
// execve re-randomizes), so that a reused thread id or a thread that exec'd a
// new program (almost always) no longer matches. Tag 0 means "unverifiable"
// (the thread could not read its own /proc entry when it computed its id):
// such an owner is checked for existence only. Bits 30 and 31 are free for
// the objects' flags. 0 means "nobody".
//
// Liveness fails safe: an owner is reported dead only on evidence (its
// thread does not exist, is a zombie, is exiting (PF_EXITING), or has another
// incarnation tag). /proc is trusted only when it is this PID namespace's
// procfs and not mounted with hidepid; otherwise, and whenever a read fails,
// the check falls back to kill(tid, 0) == ESRCH and a pidfd (where the kernel
// gives one for the tid), which cannot be fooled.
//
// Owners of objects in a remote mapping carry a host index instead of the
// tag: owner_domain.h checks them (its own host's with CheckOwner on the
// thread id alone, tag 0).
//
// Thread safety: all functions are safe from any thread. The per-process
// findings (is /proc trustworthy, the time-namespace offset) are cached per
// process epoch (sync_identity.h), the last liveness file per thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "rams/sync_identity.h"

namespace rams::internal {

inline constexpr uint32_t kOwnerTidMask = (1u << 22) - 1;
inline constexpr uint32_t kOwnerTagShift = 22;

// The thread id inside an owner id.
inline uint32_t OwnerTid(uint32_t id) { return id & kOwnerTidMask; }
inline uint32_t OwnerTag(uint32_t id) { return (id & kOwnerIdMask) >> kOwnerTagShift; }

// Composes an owner id from a thread id, its start time (clock ticks since
// boot outside any time namespace) and its program's stack start
// (/proc/<tid>/stat fields 22 and 28). The tag is never 0 here.
// REQUIRES: 0 < tid <= kOwnerTidMask.
uint32_t MakeOwnerId(uint32_t tid, uint64_t start_time, uint64_t start_stack);

enum class Liveness { kAlive, kDead, kUnknown };

// kDead only on evidence that the owner is gone (see above); kUnknown when
// nothing could tell. REQUIRES: id != 0.
Liveness CheckOwner(uint32_t id);
// What the objects use: only evidence of death takes a holder's place.
inline bool OwnerAlive(uint32_t id) { return CheckOwner(id) != Liveness::kDead; }

// Whether this process's /proc is its PID namespace's procfs without
// hidepid (cached per process once known). Exposed for tests.
bool ProcTrusted();

// SelfOwnerId() and SelfDomain(): rams/sync_identity.h.

}  // namespace rams::internal
