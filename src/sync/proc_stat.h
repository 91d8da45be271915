/* SPDX-License-Identifier: MIT */
// What the owner-liveness check reads from /proc, and whether /proc can be
// believed: the fields of /proc/<pid>/task/<tid>/stat it needs, the reader's
// time-namespace boottime offset, and the per-process cache of these
// findings (kept in the wipe-on-fork page of sync_identity.h, so a child
// created by fork, _Fork or clone starts over).
//
// Every finding is three-valued: known, known-to-be-unusable (stable, cached),
// or "cannot tell now" (EMFILE, ENOMEM, EINTR...: never cached, so that a
// transient failure at the first call is not remembered for life).
//
// Thread safety: all functions are safe from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "rams/sync_identity.h"

namespace rams::internal {

// The per-process state. identity must stay first (sync_identity.h reads it
// through a ProcessIdentity*).
struct ProcessState {
  ProcessIdentity identity;
  std::atomic<uint32_t> proc_trust;     // Finding: 0 not known yet, kYes, kNo
  std::atomic<uint32_t> offset_known;   // Finding
  std::atomic<int64_t> boot_offset_ticks;
};
enum Finding : uint32_t { kNotKnown = 0, kYes = 1, kNo = 2 };

inline constexpr long kProcSuperMagic = 0x9fa0;  // PROC_SUPER_MAGIC

// Errors that say "not now" rather than "never": their findings are not cached.
inline bool Transient(int err) {
  return err == EMFILE || err == ENFILE || err == ENOMEM || err == EINTR || err == EAGAIN ||
         err == ENOBUFS;
}

// This process's state page (created on first use). Never null.
ProcessState& Process();
// This process's epoch (nonzero, differs from its parent's).
uint32_t ProcessEpoch();
// Whether the state page is wiped in every child (MADV_WIPEONFORK applied);
// otherwise only fork() clears it (pthread_atfork), and a child made by
// _Fork or a raw clone inherits its parent's epoch.
bool WipeOnForkHonored();

struct StatFields {
  char state = 0;            // field 3
  uint32_t flags = 0;        // field 9 (PF_*)
  uint64_t start_time = 0;   // field 22, as shown to the reader
  uint64_t start_stack = 0;  // field 28; 0 when the reader may not see it
};
inline constexpr uint32_t kPfExiting = 0x4;  // PF_EXITING (include/linux/sched.h)

enum class StatRead { kOk, kGone, kUnknown };
// Reads and parses an open stat file from offset 0. kGone when the task has
// exited (ESRCH, or an empty read).
StatRead ReadStat(int fd, StatFields* out);

enum class Liveness;
// What a stat read says about owner `id` (owner.h): dead when a zombie,
// exiting (PF_EXITING) or of another incarnation tag.
Liveness LivenessFromStat(uint32_t id, const StatFields& f);

// The reader's boottime offset in clock ticks: kYes and *ticks, kNo when it
// cannot be known reliably (this process unshared a time namespace it does
// not live in, or the offset is not a whole tick), kNotKnown now.
Finding BootOffsetTicks(int64_t* ticks);

// Whether /proc is this PID namespace's procfs, mounted without hidepid.
// kNotKnown when it cannot be told now.
Finding ProcTrust();

}  // namespace rams::internal
