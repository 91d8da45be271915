// SPDX-License-Identifier: MIT
// File, symlink and tree copies with metadata; recursive removal.
#include "tree_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "root.h"
#include "check.h"

namespace rams::fss {
namespace {

// Copies [from, to) of src to the same offsets of dst: in the kernel
// (copy_file_range), else by read/write.
Status CopyRange(int src, int dst, off_t from, off_t to) {
  loff_t in_off = from, out_off = from;
  constexpr size_t kChunkBytes = 16 << 20;
  while (in_off < to) {
    loff_t start = out_off;
    size_t want = static_cast<size_t>(std::min<loff_t>(to - in_off, kChunkBytes));
    ssize_t n = sys::RetryEintr([&] { return ::copy_file_range(src, &in_off, dst, &out_off, want, 0); });
    if (n == 0) return Status::Ok();  // the file shrank meanwhile
    if (n > 0) {
      // Start writing this piece back while the next is copied; the caller's
      // fsync then has less left to wait for.
      ::sync_file_range(dst, start, n, SYNC_FILE_RANGE_WRITE);
      continue;
    }
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
      return ErrnoError("copy_file_range");
    }
    break;  // fall back to read/write from where it stopped
  }
  std::vector<char> buf(1 << 20);
  while (in_off < to) {
    size_t want = static_cast<size_t>(std::min<loff_t>(to - in_off, static_cast<loff_t>(buf.size())));
    ssize_t n = sys::RetryEintr([&] { return ::pread(src, buf.data(), want, in_off); });
    if (n < 0) return ErrnoError("read for copy");
    if (n == 0) return Status::Ok();
    for (ssize_t done = 0; done < n;) {
      ssize_t w = sys::RetryEintr([&] { return ::pwrite(dst, buf.data() + done, static_cast<size_t>(n - done), out_off); });
      if (w < 0) return ErrnoError("write for copy");
      done += w;
      out_off += w;
    }
    in_off += n;
  }
  return Status::Ok();
}

// Copies src's contents into the empty dst: shared extents where the file
// system can (FICLONE), else only the data ranges (SEEK_DATA/SEEK_HOLE), so
// holes stay holes; the size is set first, so a trailing hole is kept too.
Status CopyContents(int src, int dst) {
  if (::ioctl(dst, FICLONE, src) == 0) return Status::Ok();
  struct stat st;
  if (::fstat(src, &st) != 0) return ErrnoError("stat for copy");
  if (::ftruncate(dst, st.st_size) != 0) return ErrnoError("size copy");
  off_t data = ::lseek(src, 0, SEEK_DATA);
  if (data < 0 && errno == ENXIO) return Status::Ok();  // all hole
  if (data < 0) return CopyRange(src, dst, 0, st.st_size);  // no SEEK_DATA here: all data
  while (data < st.st_size) {
    off_t hole = ::lseek(src, data, SEEK_HOLE);
    if (hole < 0) hole = st.st_size;
    RAMS_RETURN_IF_ERROR(CopyRange(src, dst, data, std::min(hole, st.st_size)));
    data = ::lseek(src, hole, SEEK_DATA);
    if (data < 0) break;  // ENXIO: no data after the hole
  }
  return Status::Ok();
}

Status CopyXattrs(int src, int dst) {
  ssize_t len = ::flistxattr(src, nullptr, 0);
  if (len <= 0) return Status::Ok();  // none, or not supported
  std::vector<char> names(static_cast<size_t>(len));
  len = ::flistxattr(src, names.data(), names.size());
  if (len < 0) return Status::Ok();
  for (size_t i = 0; i < static_cast<size_t>(len); i += strlen(names.data() + i) + 1) {
    const char* name = names.data() + i;
    ssize_t vlen = ::fgetxattr(src, name, nullptr, 0);
    if (vlen < 0) continue;
    std::vector<char> value(static_cast<size_t>(vlen) + 1);
    vlen = ::fgetxattr(src, name, value.data(), value.size());
    if (vlen < 0) continue;
    if (::fsetxattr(dst, name, value.data(), static_cast<size_t>(vlen), 0) != 0 &&
        errno != EPERM && errno != ENOTSUP) {
      return ErrnoError(std::string("set xattr ") + name);
    }
  }
  return Status::Ok();
}

}  // namespace

Status SyncBatch::Add(sys::UniqueFd fd) {
  // Start writeback now; Flush waits for it.
  ::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
  pending_.push_back(std::move(fd));
  return pending_.size() >= kMaxPending ? Flush() : Status::Ok();
}

Status SyncBatch::Flush() {
  Status first;
  for (sys::UniqueFd& fd : pending_) {
    if (sys::RetryEintr([&] { return ::fsync(fd.get()); }) != 0 && first.ok()) first = ErrnoError("fsync copy");
  }
  pending_.clear();
  return first;
}

Result<std::vector<std::string>> ListDir(int dirfd) {
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory for listing");
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return ErrnoError("fdopendir");
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(dir)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return Error(err, "readdir");
  std::sort(names.begin(), names.end());
  return names;
}

Status ApplyMetadata(const struct stat& st, int src_fd, int dst_fd) {
  if (::fchown(dst_fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) return ErrnoError("fchown");
  if (::fchmod(dst_fd, st.st_mode & 07777) != 0) return ErrnoError("fchmod");
  if (src_fd >= 0) RAMS_RETURN_IF_ERROR(CopyXattrs(src_fd, dst_fd));
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(dst_fd, times) != 0) return ErrnoError("futimens");
  return Status::Ok();
}

Status CopyFile(int src_dir, const std::string& src_name, int dst_dir, const std::string& dst_name,
                SyncBatch* batch) {
  sys::UniqueFd src(::openat(src_dir, src_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME));
  if (!src.valid() && errno == EPERM) {
    src.Reset(::openat(src_dir, src_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!src.valid()) return ErrnoError("open " + src_name + " to copy");
  struct stat st;
  if (::fstat(src.get(), &st) != 0) return ErrnoError("stat " + src_name);
  sys::UniqueFd dst(::openat(dst_dir, dst_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!dst.valid()) return ErrnoError("create copy " + dst_name);
  RAMS_RETURN_IF_ERROR(CopyContents(src.get(), dst.get()));
  RAMS_RETURN_IF_ERROR(ApplyMetadata(st, src.get(), dst.get()));
  return batch != nullptr ? batch->Add(std::move(dst)) : SyncFd(dst.get(), dst_name);
}

Status CopySymlink(int src_dir, const std::string& src_name, int dst_dir, const std::string& dst_name) {
  RAMS_ASSIGN_OR_RETURN(struct stat st, LstatAt(src_dir, src_name));
  RAMS_ASSIGN_OR_RETURN(std::string target, ReadLinkAt(src_dir, src_name));
  if (::symlinkat(target.c_str(), dst_dir, dst_name.c_str()) != 0) return ErrnoError("symlink " + dst_name);
  if (::fchownat(dst_dir, dst_name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM) {
    return ErrnoError("lchown " + dst_name);
  }
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::utimensat(dst_dir, dst_name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError("utimes " + dst_name);
  }
  return Status::Ok();
}

namespace {

// The mode `dirfd` has when it is an unprivileged caller's own directory
// lacking owner rwx; nullopt when nothing needs to (or can) be done.
std::optional<mode_t> ModeToWiden(int dirfd) {
  struct stat st;
  if (::geteuid() == 0 || ::fstat(dirfd, &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  if (st.st_uid != ::geteuid() || (st.st_mode & S_IRWXU) == S_IRWXU) return std::nullopt;
  return st.st_mode & 07777;
}

// fchmod refuses O_PATH descriptors (and fchmodat's AT_EMPTY_PATH needs 6.6):
// the descriptor's /proc link names exactly this directory.
std::string ProcPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace

Status AddOwnerRwx(int dirfd) {
  std::optional<mode_t> mode = ModeToWiden(dirfd);
  if (!mode) return Status::Ok();
  if (::chmod(ProcPath(dirfd).c_str(), *mode | S_IRWXU) != 0) return ErrnoError("chmod u+rwx");
  return Status::Ok();
}

WritableDir::WritableDir(int dirfd) {
  std::optional<mode_t> mode = ModeToWiden(dirfd);
  if (!mode) return;
  std::string path = ProcPath(dirfd);
  if (::chmod(path.c_str(), *mode | S_IRWXU) != 0) return;
  proc_path_ = std::move(path);
  mode_ = *mode;
}

WritableDir::~WritableDir() {
  if (!proc_path_.empty()) (void)::chmod(proc_path_.c_str(), mode_);
}

Status RemoveTree(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::Ok() : ErrnoError("lstat " + name);
  }
  if (S_ISDIR(st.st_mode)) {
    sys::UniqueFd dir(::openat(dirfd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) return ErrnoError("open " + name);
    WritableDir writable(dir.get());  // also readable: it is listed next
    RAMS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir.get()));
    for (const std::string& n : names) RAMS_RETURN_IF_ERROR(RemoveTree(dir.get(), n));
  }
  if (::unlinkat(dirfd, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
    return ErrnoError("remove " + name);
  }
  return Status::Ok();
}

Status EnsureDir(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    RAMS_RETURN_IF_ERROR(RemoveTree(dirfd, name));
  }
  if (::mkdirat(dirfd, name.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("mkdir " + name);
  return Status::Ok();
}

namespace {

Status CopyEntry(int src, int dst, const std::string& name, const std::string& rel,
                 const struct stat& st, const TreeFilter& filter, SyncBatch* batch) {
  if (S_ISDIR(st.st_mode)) return CopyTree(src, name, dst, name, rel, filter, batch);
  if (S_ISREG(st.st_mode) && st.st_nlink > 1 && filter.on_multilink) return filter.on_multilink(rel);
  struct stat existing;
  if (::fstatat(dst, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) return Status::Ok();
  return CopyNode(src, name, dst, name, batch);
}

}  // namespace

Status CopyNode(int src_dir, const std::string& src_name, int dst_dir, const std::string& dst_name,
                SyncBatch* batch) {
  RAMS_ASSIGN_OR_RETURN(struct stat st, LstatAt(src_dir, src_name));
  if (S_ISREG(st.st_mode)) return CopyFile(src_dir, src_name, dst_dir, dst_name, batch);
  if (S_ISLNK(st.st_mode)) return CopySymlink(src_dir, src_name, dst_dir, dst_name);
  if (S_ISDIR(st.st_mode)) return Error(EISDIR, "copy node " + src_name);
  if (::mknodat(dst_dir, dst_name.c_str(), st.st_mode, st.st_rdev) != 0) return ErrnoError("mknod " + dst_name);
  if (::fchownat(dst_dir, dst_name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM) {
    return ErrnoError("chown " + dst_name);
  }
  if (::fchmodat(dst_dir, dst_name.c_str(), st.st_mode & 07777, 0) != 0) return ErrnoError("chmod " + dst_name);
  return Status::Ok();
}

Status CopyTree(int src_dir, const std::string& src_name, int dst_dir, const std::string& dst_name,
                const std::string& rel, const TreeFilter& filter, SyncBatch* batch) {
  RAMS_CHECK(batch != nullptr);
  sys::UniqueFd src_path(::openat(src_dir, src_name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!src_path.valid()) return ErrnoError("open directory " + src_name);
  struct stat st;
  if (::fstat(src_path.get(), &st) != 0) return ErrnoError("stat " + src_name);
  // An unprivileged caller's own directory that it cannot list or search
  // (chmod 0640) is still its to rename or remove: widened to u+rwx while it
  // is copied (st keeps the mode the copy gets), as for removal.
  WritableDir readable(src_path.get());
  sys::UniqueFd src(::openat(src_path.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!src.valid()) return ErrnoError("open directory " + src_name);
  RAMS_RETURN_IF_ERROR(EnsureDir(dst_dir, dst_name));
  sys::UniqueFd dst(::openat(dst_dir, dst_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dst.valid()) return ErrnoError("open directory " + dst_name);
  if (::fchmod(dst.get(), 0700) != 0) return ErrnoError("fchmod " + dst_name);
  // Stale destination entries go, unless a record of their own protects them.
  RAMS_ASSIGN_OR_RETURN(std::vector<std::string> old_names, ListDir(dst.get()));
  for (const std::string& name : old_names) {
    std::string child = JoinPath(rel, name);
    if (filter.saved && filter.saved(child)) continue;
    struct stat s, d;
    bool in_src = ::fstatat(src.get(), name.c_str(), &s, AT_SYMLINK_NOFOLLOW) == 0;
    if (::fstatat(dst.get(), name.c_str(), &d, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(d.st_mode) && ((in_src && S_ISDIR(s.st_mode)) || (filter.holds_saved && filter.holds_saved(child)))) {
      continue;  // merged below
    }
    RAMS_RETURN_IF_ERROR(RemoveTree(dst.get(), name));
  }
  RAMS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(src.get()));
  for (const std::string& name : names) {
    std::string child = JoinPath(rel, name);
    if (filter.saved && filter.saved(child)) continue;
    struct stat cst;
    if (::fstatat(src.get(), name.c_str(), &cst, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoError("lstat " + name);
    RAMS_RETURN_IF_ERROR(CopyEntry(src.get(), dst.get(), name, child, cst, filter, batch));
    if (filter.on_entry) filter.on_entry();
  }
  RAMS_RETURN_IF_ERROR(ApplyMetadata(st, src.get(), dst.get()));
  return batch->Add(std::move(dst));
}

}  // namespace rams::fss
