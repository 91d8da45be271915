/* SPDX-License-Identifier: MIT */
// Copying and removing files, symlinks and whole directory trees between two
// places on the server's file system, with their metadata: mode, owner
// (where permitted), times and extended attributes. File content is cloned
// with FICLONE where the file system can share extents, else copied in the
// kernel with copy_file_range, else with read/write. Nothing here follows a
// symlink: every name is opened relative to its directory with O_NOFOLLOW.
// Used by the checkpoint (tree -> checkpoint area) and by restore (back).
//
// Thread safety: reentrant; callers serialize access to the same names.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>
#include <vector>

#include "fd.h"
#include "rams/status.h"

namespace rams::fss {

// Makes many written files and directories durable at once: each is handed
// over right after it was written (its writeback already started), and Flush
// fsyncs them all. Cheaper than one fsync after each file, and unlike syncfs
// it flushes only our own data.
class SyncBatch {
 public:
  // Up to this many descriptors are held before a Flush happens by itself.
  static constexpr size_t kMaxPending = 256;
  Status Add(sys::UniqueFd fd);
  Status Flush();

 private:
  std::vector<sys::UniqueFd> pending_;
};

// Names in a directory (without "." and ".."), sorted.
Result<std::vector<std::string>> ListDir(int dirfd);

// Copies the regular file src_dir/src_name to dst_dir/dst_name, which must not
// exist, with its metadata. The copy is fsynced now, or handed to `batch`.
Status CopyFile(int src_dir, const std::string& src_name, int dst_dir, const std::string& dst_name,
                SyncBatch* batch = nullptr);
// Recreates the symlink (target, owner, times).
Status CopySymlink(int src_dir, const std::string& src_name, int dst_dir,
                   const std::string& dst_name);
// Copies a non-directory (regular file, symlink, fifo, device) of any kind;
// dst_dir/dst_name must not exist. A regular file is fsynced now, or handed to
// `batch`.
Status CopyNode(int src_dir, const std::string& src_name, int dst_dir, const std::string& dst_name,
                SyncBatch* batch = nullptr);
// Applies mode, owner (when permitted), xattrs of `src_fd` (if >= 0) and times to
// the open object `dst_fd`.
Status ApplyMetadata(const struct stat& st, int src_fd, int dst_fd);

// Removes dst_dir/name and, for a directory, everything beneath it. Ok when it
// does not exist. A directory of ours without owner rwx (read-only) gets
// them first, as an unprivileged server could not empty it otherwise.
Status RemoveTree(int dirfd, const std::string& name);

// Gives directory `dirfd` (any descriptor, O_PATH too) owner read, write and
// search permission, for good: for a caller that sets the final mode itself.
// Ok when nothing was needed or possible (root, someone else's directory).
Status AddOwnerRwx(int dirfd);

// While alive, gives directory `dirfd` (any descriptor, O_PATH too) owner
// write and search permission when it is ours and lacks them, and puts its
// mode back when destroyed, so that an unprivileged server can change the
// entries of a read-only directory. Does nothing for root, for a directory
// that already allows it, or for one owned by someone else.
class WritableDir {
 public:
  explicit WritableDir(int dirfd);
  ~WritableDir();
  WritableDir(const WritableDir&) = delete;
  WritableDir& operator=(const WritableDir&) = delete;

 private:
  std::string proc_path_;  // "/proc/self/fd/N", empty when nothing was changed
  mode_t mode_ = 0;
};

// Creates directory dirfd/name (mode 0700 until its metadata is copied) when
// it does not exist as a directory; replaces a non-directory there.
Status EnsureDir(int dirfd, const std::string& name);

// Which descendants of a tree copy are someone else's business. Paths are the
// root-relative paths of the source entries.
struct TreeFilter {
  // Saved by a record of its own: neither copied nor removed at the destination.
  std::function<bool(const std::string& rel)> saved;
  // Something at or beneath `rel` is saved by a record of its own.
  std::function<bool(const std::string& rel)> holds_saved;
  // Called instead of copying a regular file with more than one link.
  std::function<Status(const std::string& rel)> on_multilink;
  // Called after each entry is copied (progress reports).
  std::function<void()> on_entry;
};

// Makes dst_dir/dst_name a copy of directory src_dir/src_name (whose
// root-relative path is `rel`), merging into what is there: destination
// entries the filter does not protect and the source lacks are removed.
// Every file and directory written goes to `batch`; the caller flushes it.
Status CopyTree(int src_dir, const std::string& src_name, int dst_dir, const std::string& dst_name,
                const std::string& rel, const TreeFilter& filter, SyncBatch* batch);

}  // namespace rams::fss
