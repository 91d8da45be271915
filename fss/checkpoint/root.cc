// SPDX-License-Identifier: MIT
// Path confinement: openat2 beneath the root, or a careful walk without it.
#include "root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

#include <climits>
#include <deque>
#include <vector>

namespace rams::fss {
namespace {

std::deque<std::string> SplitComponents(std::string_view path) {
  std::deque<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

Result<std::string> ReadProcFd(int fd) {
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char buf[PATH_MAX + 1];
  ssize_t n = ::readlink(link, buf, PATH_MAX);
  if (n < 0) return ErrnoError("readlink descriptor path");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

bool IsDeletedPath(std::string_view abs) {
  constexpr std::string_view kDeleted = " (deleted)";
  return abs.size() >= kDeleted.size() && abs.substr(abs.size() - kDeleted.size()) == kDeleted;
}

Result<std::string> ReadLinkAt(int dirfd, const std::string& name) {
  std::vector<char> buf(PATH_MAX + 1);
  ssize_t n = ::readlinkat(dirfd, name.c_str(), buf.data(), PATH_MAX);
  if (n < 0) return ErrnoError("readlink " + name);
  return std::string(buf.data(), static_cast<size_t>(n));
}

Result<Root> Root::Open(const std::string& dir, const std::string& checkpoint_name,
                        bool walk_only) {
  if (checkpoint_name.find('/') != std::string::npos || checkpoint_name == "." || checkpoint_name == "..") {
    return Error(EINVAL, "checkpoint area must be one path component: " + checkpoint_name);
  }
  sys::UniqueFd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open root " + dir);
  RAMS_ASSIGN_OR_RETURN(std::string abs, ReadProcFd(fd.get()));
  return Root(std::move(fd), std::move(abs), checkpoint_name, walk_only);
}

Result<sys::UniqueFd> Root::OpenDir(std::string_view rel) const {
  if (rel.size() > kMaxPathBytes) return Error(ENAMETOOLONG, "path");
  if (walk_only_) return WalkDir(rel);
  struct open_how how = {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  std::string path = rel.empty() ? std::string(".") : std::string(rel);
  long fd = sys::RetryEintr([&] { return ::syscall(SYS_openat2, fd_.get(), path.c_str(), &how, sizeof(how)); });
  if (fd < 0 && errno == ENOSYS) return WalkDir(rel);
  if (fd < 0) return ErrnoError("open directory " + path);
  return sys::UniqueFd(static_cast<int>(fd));
}

Result<sys::UniqueFd> Root::OpenPlainDir(const std::string& rel) const {
  if (walk_only_) return Error(ELOOP, "walk only");
  struct open_how how = {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  std::string path = rel.empty() ? std::string(".") : rel;
  long fd = sys::RetryEintr([&] { return ::syscall(SYS_openat2, fd_.get(), path.c_str(), &how, sizeof(how)); });
  if (fd < 0 && errno == ENOSYS) return Error(ELOOP, "no openat2");
  if (fd < 0) return ErrnoError("open directory " + path);
  return sys::UniqueFd(static_cast<int>(fd));
}

// The fallback: one component at a time, never following a symlink with the
// kernel's help, ".." never above the root.
Result<sys::UniqueFd> Root::WalkDir(std::string_view rel) const {
  std::vector<sys::UniqueFd> dirs;
  dirs.emplace_back(::openat(fd_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dirs.back().valid()) return ErrnoError("open root");
  std::deque<std::string> comps = SplitComponents(rel);
  int hops = 0;
  while (!comps.empty()) {
    std::string c = std::move(comps.front());
    comps.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      if (dirs.size() == 1) return Error(EXDEV, "path escapes the root");
      dirs.pop_back();
      continue;
    }
    sys::UniqueFd next(::openat(dirs.back().get(), c.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return ErrnoError("open " + c);
    struct stat st;
    if (::fstat(next.get(), &st) != 0) return ErrnoError("stat " + c);
    if (S_ISLNK(st.st_mode)) {
      if (++hops > kMaxSymlinkHops) return Error(ELOOP, "too many symlinks");
      RAMS_ASSIGN_OR_RETURN(std::string target, ReadLinkAt(dirs.back().get(), c));
      if (!target.empty() && target[0] == '/') return Error(EXDEV, "absolute symlink");
      std::deque<std::string> more = SplitComponents(target);
      comps.insert(comps.begin(), more.begin(), more.end());
      continue;
    }
    if (!S_ISDIR(st.st_mode)) return Error(ENOTDIR, "open " + c);
    dirs.push_back(std::move(next));
  }
  return std::move(dirs.back());
}

Result<std::string> Root::CanonicalOf(int fd) const {
  RAMS_ASSIGN_OR_RETURN(std::string abs, ReadProcFd(fd));
  return RelativeOf(abs);
}

Result<std::string> Root::RelativeOf(const std::string& abs) const {
  if (IsDeletedPath(abs)) {
    return Error(ENOENT, "descriptor is unlinked");
  }
  if (abs == abs_path_) return std::string();
  std::string_view prefix = abs_path_ == "/" ? std::string_view("") : std::string_view(abs_path_);
  if (abs.size() <= prefix.size() + 1 || abs.compare(0, prefix.size(), prefix) != 0 ||
      abs[prefix.size()] != '/') {
    return Error(ENOENT, "descriptor outside the root");
  }
  return abs.substr(prefix.size() + 1);
}

bool EndsInSlash(std::string_view path) {
  size_t end = path.find_last_not_of('/');
  if (end == std::string_view::npos || end + 1 == path.size()) return false;
  std::string_view last = path.substr(0, end + 1);
  size_t start = last.find_last_of('/');
  last = start == std::string_view::npos ? last : last.substr(start + 1);
  return last != "." && last != "..";
}

Result<Resolved> Root::Resolve(std::string_view client_path, bool follow_last) const {
  if (client_path.size() > kMaxPathBytes) return Error(ENAMETOOLONG, "path");
  if (client_path.empty()) return Error(ENOENT, "empty path");
  const bool dir_only = EndsInSlash(client_path);
  std::string path(client_path);
  for (int hops = 0;; ++hops) {
    std::deque<std::string> comps = SplitComponents(path);
    Resolved out;
    if (comps.empty() || comps.back() == "." || comps.back() == "..") {
      // The path names a directory by itself: resolve it whole.
      std::string whole;
      for (const std::string& c : comps) whole = JoinPath(whole, c);
      RAMS_ASSIGN_OR_RETURN(sys::UniqueFd dir, OpenDir(whole));
      if (!comps.empty()) out.dots = comps.back() == "." ? 1 : 2;
      RAMS_ASSIGN_OR_RETURN(out.rel, CanonicalOf(dir.get()));
      if (IsHidden(out.rel)) return Error(ENOENT, "no such path");
      if (out.rel.empty()) {
        out.parent = std::move(dir);
        out.name = ".";
        return out;
      }
      RAMS_ASSIGN_OR_RETURN(out.parent, OpenDir(DirName(out.rel)));
      out.name = std::string(BaseName(out.rel));
      return out;
    }
    out.name = std::move(comps.back());
    out.dir_only = dir_only;
    if (out.name.size() > NAME_MAX) return Error(ENAMETOOLONG, "path component");
    comps.pop_back();
    std::string parent_path;
    bool plain = true;  // no "." or ".." components
    for (const std::string& c : comps) {
      parent_path = JoinPath(parent_path, c);
      plain = plain && c != "." && c != "..";
    }
    std::string parent_rel;
    // Fast path: a plain path that meets no symlink is its own canonical
    // form, so reading it back from /proc is not needed.
    Result<sys::UniqueFd> direct = plain ? OpenPlainDir(parent_path) : Result<sys::UniqueFd>(Error(ELOOP, "not plain"));
    if (direct.ok()) {
      out.parent = std::move(*direct);
      parent_rel = parent_path;
    } else if (direct.code() != ELOOP) {
      return direct.status();
    } else {
      RAMS_ASSIGN_OR_RETURN(out.parent, OpenDir(parent_path));
      RAMS_ASSIGN_OR_RETURN(parent_rel, CanonicalOf(out.parent.get()));
    }
    out.rel = JoinPath(parent_rel, out.name);
    if (IsHidden(parent_rel) || IsHidden(out.rel)) return Error(ENOENT, "no such path");
    if (!follow_last) return out;
    struct stat st;
    if (::fstatat(out.parent.get(), out.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISLNK(st.st_mode)) {
      return out;
    }
    if (hops >= kMaxSymlinkHops) return Error(ELOOP, "too many symlinks");
    RAMS_ASSIGN_OR_RETURN(std::string target, ReadLinkAt(out.parent.get(), out.name));
    if (!target.empty() && target[0] == '/') return Error(EXDEV, "absolute symlink leaves the root");
    path = JoinPath(parent_rel, target);
    if (path.empty()) path = ".";
  }
}

}  // namespace rams::fss
