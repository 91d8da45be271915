/* SPDX-License-Identifier: MIT */
// rams::fss::Root: the served directory tree and the only way the File-System
// Server turns a client's path into something it touches. Every lookup is
// confined beneath the root: openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
// for directories, or a component-by-component walk with the same rules
// where openat2 is missing; the final component is opened relative to its
// already-confined parent with O_NOFOLLOW, and symlinks there are followed by
// hand, so a symlink can never lead out of the root. Resolved paths are
// canonical (no symlinks, no "." or ".."), root-relative ("" is the root),
// which is what the checkpoint keys on. The checkpoint area is invisible:
// resolving a path inside it fails with ENOENT.
//
// Thread safety: a Root is immutable after Open; const methods are safe from
// any thread.
#pragma once

#include <string>
#include <string_view>

#include "fd.h"
#include "rams/status.h"

namespace rams::fss {

// Longest client path accepted, in bytes (as PATH_MAX).
inline constexpr size_t kMaxPathBytes = 4096;
// Most symlinks followed in one lookup (as the kernel's MAXSYMLINKS).
inline constexpr int kMaxSymlinkHops = 40;

struct Resolved {
  sys::UniqueFd parent;   // O_PATH descriptor of the containing directory
  std::string name;  // final component; "." when the path is the root itself
  std::string rel;   // canonical root-relative path ("" for the root)
  // The client's path ended in '/' after a name ("f/"): as in the kernel, the
  // name must then be a directory (or, when created, become one).
  bool dir_only = false;
  // The client's last component was "." (1) or ".." (2): the path names a
  // directory but no entry of its parent, so rmdir, unlink and rename refuse
  // it as the kernel does.
  int dots = 0;
};

// True when `path` ends in '/' after a name, so the kernel would follow a
// final symlink even for lstat or O_NOFOLLOW.
bool EndsInSlash(std::string_view path);

class Root {
 public:
  // Opens `dir` as the root; `checkpoint_name` is the checkpoint area, one
  // component directly under the root, or "" when the area lies elsewhere
  // (`fss run`: nothing in the tree is hidden then). `walk_only` forces the
  // fallback walk (for tests).
  static Result<Root> Open(const std::string& dir, const std::string& checkpoint_name,
                           bool walk_only = false);

  int fd() const { return fd_.get(); }
  const std::string& abs_path() const { return abs_path_; }
  const std::string& checkpoint_name() const { return checkpoint_name_; }

  // Resolves a client path ("/a/b", "a/b"). With `follow_last` a final
  // symlink is followed (lookups); without, the link itself is meant (unlink,
  // rename, lstat). EXDEV for an escape attempt, ENOENT inside the checkpoint
  // area, ENAMETOOLONG, ELOOP, ENOTDIR as the kernel would.
  Result<Resolved> Resolve(std::string_view client_path, bool follow_last) const;

  // An O_PATH descriptor of directory `rel` (any root-relative path) beneath
  // the root.
  Result<sys::UniqueFd> OpenDir(std::string_view rel) const;

  // The canonical root-relative path of an open descriptor; ENOENT when it
  // is no longer linked or lies outside the root.
  Result<std::string> CanonicalOf(int fd) const;
  // The same for an absolute path read from /proc/self/fd/N.
  Result<std::string> RelativeOf(const std::string& abs) const;

  // Whether a canonical path lies in the checkpoint area.
  bool IsHidden(std::string_view rel) const {
    return !checkpoint_name_.empty() && IsWithin(rel, checkpoint_name_);
  }

 private:
  Root(sys::UniqueFd fd, std::string abs_path, std::string checkpoint_name, bool walk_only)
      : fd_(std::move(fd)), abs_path_(std::move(abs_path)),
        checkpoint_name_(std::move(checkpoint_name)), walk_only_(walk_only) {}
  Result<sys::UniqueFd> WalkDir(std::string_view rel) const;
  // Opens directory `rel` only if no component is a symlink: ELOOP if one is
  // (or where openat2 is missing). Then `rel` is already canonical.
  Result<sys::UniqueFd> OpenPlainDir(const std::string& rel) const;

  sys::UniqueFd fd_;
  std::string abs_path_;
  std::string checkpoint_name_;
  bool walk_only_ = false;
};

// Whether a path read back from /proc/self/fd/N names an unlinked file or
// a removed directory (the kernel appends " (deleted)").
bool IsDeletedPath(std::string_view abs);

// Reads a symlink's target.
Result<std::string> ReadLinkAt(int dirfd, const std::string& name);

}  // namespace rams::fss
