/* SPDX-License-Identifier: MIT */
// The userfaultfd calls the host pager and the mapping client make, each one
// probed rather than assumed: Debian 12's kernel (6.1) is the target, the
// build machines run newer ones. OpenUserfaultfd picks the most capable way
// the caller is allowed (userfaultfd(2), then UFFD_USER_MODE_ONLY for
// unprivileged callers under vm.unprivileged_userfaultfd=0, then
// /dev/userfaultfd); ProbeUffdFeatures asks the kernel once, on a throwaway
// descriptor, which UFFD_FEATURE_* bits it offers.
//
// Thread safety: stateless functions; ProbeUffdFeatures caches its answer
// (computed once, thread-safe static).
#pragma once

#include <cstdint>
#include <span>

#include "rams/status.h"
#include "sys/sys.h"

namespace rams::mapping {

// What the running kernel offers the caller.
struct UffdFeatures {
  uint64_t raw = 0;               // UFFD_FEATURE_* bits UFFDIO_API reported
  bool user_mode_only = false;    // only user-mode faults reach the pager
  bool missing_shmem = false;     // MISSING faults on memfd/shmem (4.11)
  bool wp_shmem = false;          // write-protect on shmem (5.19)
  bool thread_id = false;         // fault events name the thread (4.14)
};

// A userfaultfd for the calling process (O_CLOEXEC | O_NONBLOCK), without its
// UFFDIO_API handshake. Sets *user_mode_only when only UFFD_USER_MODE_ONLY
// was allowed. EPERM when no way is open to the caller.
Result<sys::UniqueFd> OpenUserfaultfd(bool* user_mode_only);

// The features the kernel offers this process (probed once).
Result<UffdFeatures> ProbeUffdFeatures();

// The UFFDIO_API handshake on `fd`, asking for `wanted` (a subset of the
// probed raw bits).
Status HandshakeUffd(int fd, uint64_t wanted);

// UFFDIO_REGISTER of [addr, addr+len) for MISSING faults, and write-protect
// faults when `wp`.
Status RegisterUffd(int fd, void* addr, uint64_t len, bool wp);

// UFFDIO_COPY of `src` to `dst` (one page), write-protected when `wp`;
// retries EAGAIN (the target mm is changing) a bounded number of times.
// EEXIST when the page is already there.
Status CopyPage(int fd, uint64_t dst, std::span<const std::byte> src, bool wp);

// UFFDIO_WRITEPROTECT of [addr, addr+len): `protect` or unprotect; an
// unprotect also wakes the threads waiting on the range.
Status WriteProtect(int fd, uint64_t addr, uint64_t len, bool protect);

// UFFDIO_WAKE of the threads waiting on [addr, addr+len).
Status WakeRange(int fd, uint64_t addr, uint64_t len);

}  // namespace rams::mapping
