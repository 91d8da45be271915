/* SPDX-License-Identifier: MIT */
// librams' one syscall layer: an owning file descriptor (UniqueFd), an
// EINTR-retrying call (RetryEintr) and SysCall(what, fn), which retries EINTR
// and turns a failure into a Status carrying errno and what was attempted
// ("ftruncate rams.matrix: ENOSPC"), after leveldb's PosixError and iceoryx's
// IOX_POSIX_CALL. Every part of rams (library, daemon, FSS, CLIs) calls the
// kernel through these instead of writing its own loop or closer.
//
// Thread safety: UniqueFd is a plain value with one owner; the functions are
// reentrant and keep no state.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <type_traits>
#include <utility>

#include "rams/status.h"

namespace rams::sys {

// Owns a file descriptor and closes it when destroyed, unless Release()d.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  // Closes the held descriptor (if any) and takes `fd`.
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Calls `fn` until it does not fail with EINTR and returns its result. A
// failure is a negative result with errno set (-1 from syscalls, <0 from
// ioctl wrappers).
template <class Fn>
auto RetryEintr(Fn fn) {
  for (;;) {
    auto r = fn();
    if (!(r < 0 && errno == EINTR)) return r;
  }
}

// Runs `fn` through RetryEintr; a negative result becomes the Status
// "`what`: ERRNO", an ok Status otherwise.
template <class Fn>
Status SysCall(std::string_view what, Fn fn) {
  if (RetryEintr(fn) < 0) return ErrnoError(what);
  return Status();
}

// As SysCall, for calls whose non-negative result is a value (a descriptor,
// a byte count): that value, or the Status "`what`: ERRNO".
template <class Fn>
auto SysCallValue(std::string_view what, Fn fn) -> Result<decltype(fn())> {
  auto r = RetryEintr(fn);
  if (r < 0) return ErrnoError(what);
  return r;
}

}  // namespace rams::sys
