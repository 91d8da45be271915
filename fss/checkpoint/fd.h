/* SPDX-License-Identifier: MIT */
// Small POSIX helpers of the File-System Server: lexical path helpers for
// root-relative paths ("a/b/c", "" for the root itself), lstat and fsync as
// Status. Descriptors and EINTR retries come from librams' sys/sys.h.
//
// Thread safety: the free functions are reentrant.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include "rams/status.h"
#include "sys/sys.h"

namespace rams::fss {

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
