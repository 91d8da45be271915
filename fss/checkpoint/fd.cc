// SPDX-License-Identifier: MIT
// Lexical helpers for root-relative paths and small syscall wrappers.
#include "fd.h"

#include <fcntl.h>

namespace rams::fss {

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (name.empty()) return std::string(dir);
  std::string out(dir);
  out += '/';
  out += name;
  return out;
}

std::string_view DirName(std::string_view rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : rel.substr(0, slash);
}

std::string_view BaseName(std::string_view rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string_view::npos ? rel : rel.substr(slash + 1);
}

bool IsWithin(std::string_view rel, std::string_view dir) {
  if (dir.empty()) return true;
  if (rel.size() < dir.size() || rel.substr(0, dir.size()) != dir) return false;
  return rel.size() == dir.size() || rel[dir.size()] == '/';
}

int PathDepth(std::string_view rel) {
  if (rel.empty()) return 0;
  int depth = 1;
  for (char c : rel) depth += c == '/';
  return depth;
}

Result<struct stat> LstatAt(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError("lstat " + name);
  }
  return st;
}

Status SyncFd(int fd, std::string_view what) {
  if (sys::RetryEintr([&] { return ::fsync(fd); }) != 0) return ErrnoError(std::string("fsync ") + std::string(what));
  return Status::Ok();
}

}  // namespace rams::fss
