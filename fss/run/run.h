/* SPDX-License-Identifier: MIT */
// `fss run [--root DIR] -- COMMAND...`: runs an unmodified program (static or
// dynamic, threads, fork, exec) so that every change it makes under the root
// is saved in the root's checkpoint first. The program runs under a seccomp
// filter whose mutating file-system calls are sent to this process (seccomp
// user notification); it performs each of them itself, on its own copy of
// the arguments, after the save, and hands back the result or a real
// descriptor (SECCOMP_IOCTL_NOTIF_ADDFD), or, for opens of a dynamically
// linked program, through the preload channel (preload_wire.h). See
// docs/fss.md, "fss run".
//
// Thread safety: RunUnder is a whole command; call from one thread.
#pragma once

#include <string>
#include <vector>

#include "cli.h"

namespace rams::fss {

// How an opened descriptor reaches the program: SECCOMP_ADDFD_FLAG_SEND
// (Linux 5.14) installs it and answers in one step; without it the
// descriptor is installed (SECCOMP_IOCTL_NOTIF_ADDFD, 5.9), then the call
// answered. kProbe tries the flag and falls back on EINVAL; kSend and
// kInstall take one way only (to check either on a given kernel: kSend fails
// the call with EINVAL where the flag is missing).
enum class AddfdMode { kProbe, kSend, kInstall };

// How a notification wakes the supervisor and its answer the caller:
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6) switches to the woken task
// on the waker's CPU, a few times faster than a wake-up on another CPU.
// kProbe asks for it and goes on without where the kernel refuses; kSync
// requires it (the run fails to start without); kAny never asks.
enum class WakeMode { kProbe, kSync, kAny };

// The preload fast path (libfss-preload.so in the program's LD_PRELOAD,
// the supervisor's end of its channel): kAuto uses it where the library is
// found (beside the fss program, else where it is installed), kOn requires
// it (the run fails to start without), kOff never uses it.
enum class PreloadMode { kAuto, kOn, kOff };

struct RunOptions {
  CliTarget target;
  bool confine = false;  // refuse mutating calls outside the root (EACCES)
  AddfdMode addfd = AddfdMode::kProbe;
  WakeMode wake = WakeMode::kProbe;
  PreloadMode preload = PreloadMode::kAuto;
  bool stats = false;  // at the end, print how many calls came which way
  std::vector<std::string> command;
};

// Runs the command; returns its exit status (128+N when killed by signal N),
// or 1 (with a message) when the session cannot be set up.
int RunUnder(const RunOptions& options);

}  // namespace rams::fss
