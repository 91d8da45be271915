// Small POSIX helpers shared by the File-System Server: an owning file
// descriptor, an EINTR-retrying syscall wrapper and lexical path helpers for
// root-relative paths ("a/b/c", "" for the root itself).
//
// Thread safety: UniqueFd is a plain value (one owner); the free functions are
// reentrant.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include "rams/status.h"

namespace rams::fss {

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
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Calls `fn` until it does not fail with EINTR; returns its result.
template <class Fn>
auto RetryEintr(Fn fn) {
  for (;;) {
    auto r = fn();
    if (!(r == -1 && errno == EINTR)) return r;
  }
}

// "a/b" + "c" -> "a/b/c"; "" + "c" -> "c".
std::string JoinPath(std::string_view dir, std::string_view name);
// "a/b/c" -> "a/b"; "a" -> "".
std::string_view DirName(std::string_view rel);
// "a/b/c" -> "c".
std::string_view BaseName(std::string_view rel);
// Whether `rel` equals `dir` or lies beneath it ("" contains everything).
bool IsWithin(std::string_view rel, std::string_view dir);
// Number of components: "" -> 0, "a/b" -> 2.
int PathDepth(std::string_view rel);

// lstat of `name` in `dirfd`; ENOENT etc. as a Status.
Result<struct stat> LstatAt(int dirfd, const std::string& name);
// fsync on a descriptor, as a Status naming `what`.
Status SyncFd(int fd, std::string_view what);

}  // namespace rams::fss
