/* SPDX-License-Identifier: MIT */
// Early death notice for mutex waiters: each thread that takes part in rams
// sync keeps one robust, process-shared pthread mutex locked for its whole
// life, in a per-user registry segment indexed by thread id. glibc links that
// mutex into the thread's robust list (glibc owns set_robust_list, so we add
// to its list rather than replace it), and the kernel walks that list when
// the thread exits, is killed or execs — before it tears the address space
// down — setting FUTEX_OWNER_DIED in the word and waking one waiter. A waiter
// parks with futex_waitv on both the lock word and its holder's "alive" word,
// so a SIGKILL wakes it in microseconds instead of at the end of a slice.
//
// The alive word is only a wake-up hint: the waiter then runs the normal
// liveness check (owner.h), so a registry a local user scribbles (or a stale
// slot) can cost a spurious check or a slice, never a false death.
//
// Registry: shm "rams.alive.<domain>.<uid>", 2^22 slots of 64 bytes (sparse:
// a page per 64 neighbouring tids that are in use), 0644 and owned by <uid>:
// only the user's own threads (who could ptrace each other anyway) write it;
// other users map it read-only to wait on it.
//
// Needs futex_waitv (Linux 5.16; probed, else nothing changes) and a word on
// a plain futex (not a kernel- or remote-backend segment).
//
// Thread safety: all functions are safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace rams::internal {

// Locks the calling thread's alive mutex (once per thread and process
// epoch; best effort: without it waiters just use their slices).
void RegisterSelfAlive();

// The alive word of thread `tid` while a live-looking registration names it
// (tid set, no OWNER_DIED), else nullptr. Any death or exec of that thread
// changes the word.
const std::atomic<uint32_t>* AliveWordOf(uint32_t tid);

enum class Park { kWoken, kRanOut, kOwnerNotice };

// Parks on `word` while it equals `expected` for at most `wait`, also
// waking when owner `owner_id`'s alive word reports a death (kOwnerNotice;
// the other parked waiters of that word are woken too). Without an alive
// word (or futex_waitv), an ordinary futex wait: kRanOut when it timed out.
Park ParkWatchingOwner(const std::atomic<uint32_t>* word, uint32_t expected, uint32_t owner_id,
                       std::chrono::nanoseconds wait);

// How many parks in this process ended with kOwnerNotice (tests and the
// benchmark tell a notice from a slice running out by it).
uint64_t OwnerNoticeCount();

}  // namespace rams::internal
