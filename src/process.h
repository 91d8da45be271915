/* SPDX-License-Identifier: MIT */
// Identity and liveness of processes, for holders that may die without
// cleaning up: a (pid, start time) pair names one process for its whole life,
// even after its pid is reused.
//
// Thread safety: stateless; safe from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace rams::internal {

// The start time of `pid` in clock ticks since boot (field 22 of
// /proc/PID/stat); 0 when the process does not exist.
uint64_t ProcessStartTime(pid_t pid);

// The calling process's start time (cached per process; fork-safe).
uint64_t SelfStartTime();

// True while the process (pid, start_time) exists and is not a zombie.
bool ProcessAlive(pid_t pid, uint64_t start_time);

}  // namespace rams::internal
