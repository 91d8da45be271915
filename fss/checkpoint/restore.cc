// SPDX-License-Identifier: MIT
// Restore and change listing from the checkpoint journal.
#include "restore.h"

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "checkpoint.h"
#include "tree_copy.h"

namespace rams::fss {
namespace {

struct PathRecords {
  const Record* first = nullptr;     // earliest record (true original metadata)
  const Record* covering = nullptr;  // earliest record other than kDirMeta
};

// Groups the records by path, keeping the earliest of each sort.
std::map<std::string, PathRecords> GroupByPath(const std::vector<Record>& records) {
  std::map<std::string, PathRecords> out;
  for (const Record& r : records) {
    PathRecords& p = out[r.path];
    if (p.first == nullptr) p.first = &r;
    if (p.covering == nullptr && r.kind != RecordKind::kDirMeta) p.covering = &r;
  }
  return out;
}

// A directory of the area or of the tree, opened by OpenWidened. A saved
// directory keeps the mode it had (a chmod 0600 one too), and a program may
// have taken its own directories' permissions likewise, which their
// unprivileged owner cannot search: each directory on the way is made
// searchable while this lives (WritableDir), and gets its mode back
// afterwards.
struct AreaDir {
  std::vector<std::pair<sys::UniqueFd, std::unique_ptr<WritableDir>>> way;  // `top` first
  int fd() const { return way.back().first.get(); }
};

// Directory `rel` (canonical, relative) beneath `top`, component by
// component without following a symlink, so it never leaves `top`; each
// directory on the way, `top` too, widened. A missing one, or a
// non-directory in its place, is made a directory when `create`, else the
// walk ends with ENOENT or ENOTDIR. `what` names `top` in errors.
Result<AreaDir> OpenWidened(int top, std::string_view rel, bool create, std::string_view what) {
  AreaDir out;
  sys::UniqueFd top_fd(::openat(top, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!top_fd.valid()) return ErrnoError("open " + std::string(what));
  auto widened_top = std::make_unique<WritableDir>(top_fd.get());
  out.way.emplace_back(std::move(top_fd), std::move(widened_top));
  const std::string path(rel);
  for (size_t begin = 0; begin < path.size();) {
    size_t end = std::min(path.find('/', begin), path.size());
    std::string c = path.substr(begin, end - begin);
    begin = end + 1;
    if (c.empty() || c == ".") continue;
    if (c == "..") return Error(EINVAL, "not a canonical path in " + std::string(what) + ": " + path);
    const int at = out.fd();
    sys::UniqueFd fd(::openat(at, c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid() && create && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)) {
      RAMS_RETURN_IF_ERROR(EnsureDir(at, c));
      fd = sys::UniqueFd(::openat(at, c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!fd.valid()) return ErrnoError("open directory " + path.substr(0, end) + " in " + std::string(what));
    auto widened = std::make_unique<WritableDir>(fd.get());
    out.way.emplace_back(std::move(fd), std::move(widened));
  }
  return out;
}

Result<AreaDir> OpenAreaDir(int area_fd, std::string_view rel) {
  return OpenWidened(area_fd, rel, /*create=*/false, "the area");
}

Result<AreaDir> OpenTreeDir(const Root& root, std::string_view rel, bool create) {
  return OpenWidened(root.fd(), rel, create, "the root");
}

// "restore: 12/40 saved paths, 3012 entries copied" on a terminal, at most
// ten times a second.
class Progress {
 public:
  Progress(bool show, size_t total) : show_(show && isatty(2)), total_(total) {}
  ~Progress() {
    if (show_) fprintf(stderr, "\rrestore: %zu/%zu saved paths, %zu entries copied\n", total_, total_, entries_);
  }
  void Step() {
    ++done_;
    Show();
  }
  void Entry() {
    ++entries_;
    Show();
  }

 private:
  void Show() {
    if (!show_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    fprintf(stderr, "\rrestore: %zu/%zu saved paths, %zu entries copied", done_, total_, entries_);
  }

  bool show_;
  size_t total_;
  size_t done_ = 0;
  size_t entries_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

Status RestoreEntry(const Root& root, int area_fd, const Record& r, int parent, const std::string& name,
                    SyncBatch* batch, Progress* progress);

// A record's access and modification times, for utimensat/futimens.
void TimesOf(const Record& r, struct timespec times[2]) {
  times[0] = {r.atime_ns / 1000000000, r.atime_ns % 1000000000};
  times[1] = {r.mtime_ns / 1000000000, r.mtime_ns % 1000000000};
}

// The symlink's own times, as saved.
Status SetLinkTimes(int parent, const std::string& name, const Record& r) {
  struct timespec times[2];
  TimesOf(r, times);
  if (::utimensat(parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoError("utimes " + r.path);
  return Status::Ok();
}

// The paths a restore could not put back, with why; the first error's code.
class Failures {
 public:
  void Note(const std::string& path, const Status& s) {
    if (s.ok()) return;
    if (count_ == 0) code_ = s.code();
    if (++count_ <= kListed) text_ += (count_ > 1 ? "; " : "") + (path.empty() ? "/" : "/" + path) + ": " + s.message();
  }
  Status ToStatus() const {
    if (count_ == 0) return Status::Ok();
    std::string more = count_ > kListed ? " (and " + std::to_string(count_ - kListed) + " more)" : "";
    return Error(code_, std::to_string(count_) + " paths not restored: " + text_ + more);
  }

 private:
  static constexpr size_t kListed = 20;
  size_t count_ = 0;
  int code_ = 0;
  std::string text_;
};

// Restores one record; everything it writes, and the directory it changed,
// go to `batch`.
Status RestoreOne(const Root& root, int area_fd, const Record& r, SyncBatch* batch, Progress* progress) {
  // A file whose move into the area never happened (a crash between its
  // record and the rename) is still in place, unchanged.
  if (IsMovedLocation(r.location) && ::faccessat(area_fd, r.location.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
      errno == ENOENT) {
    return Status::Ok();
  }
  // A path that did not exist is not there when a directory on its way is
  // missing (or not a directory): nothing is made for it.
  const bool absent = r.kind == RecordKind::kAbsent;
  Result<AreaDir> way = OpenTreeDir(root, DirName(r.path), !absent);
  if (absent && !way.ok() && (way.code() == ENOENT || way.code() == ENOTDIR)) return Status::Ok();
  if (!way.ok()) return way.status();
  const int parent = way->fd();  // widened: a read-only parent, for a non-root server
  std::string name(BaseName(r.path));
  RAMS_RETURN_IF_ERROR(RemoveTree(parent, name));
  RAMS_RETURN_IF_ERROR(RestoreEntry(root, area_fd, r, parent, name, batch, progress));
  sys::UniqueFd dir(::openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoError("open directory of " + r.path);
  return batch->Add(std::move(dir));
}

Status RestoreEntry(const Root& root, int area_fd, const Record& r, int parent, const std::string& name,
                    SyncBatch* batch, Progress* progress) {
  switch (r.kind) {
    case RecordKind::kAbsent:
      return Status::Ok();
    case RecordKind::kSymlink:
      if (::symlinkat(r.target.c_str(), parent, name.c_str()) != 0) return ErrnoError("symlink " + r.path);
      if (::fchownat(parent, name.c_str(), r.uid, r.gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM) {
        return ErrnoError("lchown " + r.path);
      }
      return SetLinkTimes(parent, name, r);
    case RecordKind::kFile: {
      RAMS_ASSIGN_OR_RETURN(AreaDir from, OpenAreaDir(area_fd, DirName(r.location)));
      return CopyNode(from.fd(), std::string(BaseName(r.location)), parent, name, batch);
    }
    case RecordKind::kDirTree: {
      RAMS_ASSIGN_OR_RETURN(AreaDir from, OpenAreaDir(area_fd, DirName(r.location)));
      TreeFilter filter;
      filter.on_entry = [progress] { progress->Entry(); };
      return CopyTree(from.fd(), std::string(BaseName(r.location)), parent, name, r.path, filter, batch);
    }
    case RecordKind::kHardLink: {
      RAMS_ASSIGN_OR_RETURN(sys::UniqueFd to, root.OpenDir(DirName(r.target)));
      std::string target(BaseName(r.target));
      if (::linkat(to.get(), target.c_str(), parent, name.c_str(), 0) != 0) {
        return ErrnoError("link " + r.path + " to " + r.target);
      }
      return Status::Ok();
    }
    case RecordKind::kDirMeta:
      break;
  }
  return Error(EINVAL, "unexpected record kind for " + r.path);
}

Status RestoreDirMetadata(const Root& root, const Record& r, SyncBatch* batch) {
  // Reached through its parents widened (OpenTreeDir), not itself: its own
  // mode is the one set here.
  sys::UniqueFd dir;
  std::optional<AreaDir> way;
  if (r.path.empty()) {
    RAMS_ASSIGN_OR_RETURN(dir, root.OpenDir(r.path));
  } else {
    RAMS_ASSIGN_OR_RETURN(AreaDir parents, OpenTreeDir(root, DirName(r.path), /*create=*/false));
    const std::string name(BaseName(r.path));
    dir = sys::UniqueFd(::openat(parents.fd(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) return ErrnoError("open directory " + r.path);
    way = std::move(parents);
  }
  // Its mode is set below: a non-root server may first need to search it.
  RAMS_RETURN_IF_ERROR(AddOwnerRwx(dir.get()));
  sys::UniqueFd fd(::openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + r.path);
  if (::fchown(fd.get(), r.uid, r.gid) != 0 && errno != EPERM) return ErrnoError("chown " + r.path);
  if (::fchmod(fd.get(), r.mode & 07777) != 0) return ErrnoError("chmod " + r.path);
  struct timespec times[2];
  TimesOf(r, times);
  if (::futimens(fd.get(), times) != 0) return ErrnoError("utimes " + r.path);
  return batch->Add(std::move(fd));
}


}  // namespace

Status RestoreRecords(const Root& root, int area_fd, const std::vector<Record>& records,
                      bool show_progress) {
  std::map<std::string, PathRecords> by_path = GroupByPath(records);
  std::vector<const Record*> trees, metas;
  std::vector<Record> links;  // kHardLink, explicit or from a kFile's other names
  for (const auto& [path, p] : by_path) {
    if (p.covering != nullptr && p.covering->kind == RecordKind::kHardLink) {
      links.push_back(*p.covering);
    } else if (p.covering != nullptr) {
      trees.push_back(p.covering);
      for (const std::string& other : OtherLinks(*p.covering)) {
        Record link;
        link.kind = RecordKind::kHardLink;
        link.path = other;
        link.target = path;
        links.push_back(std::move(link));
      }
    }
    bool is_dir = (p.first->kind == RecordKind::kDirMeta || p.first->kind == RecordKind::kDirTree);
    if (is_dir) metas.push_back(p.first);
  }
  auto by_depth = [](const Record* a, const Record* b) {
    int da = PathDepth(a->path), db = PathDepth(b->path);
    return da != db ? da < db : a->path < b->path;
  };
  std::sort(trees.begin(), trees.end(), by_depth);
  std::sort(metas.begin(), metas.end(), [&](const Record* a, const Record* b) { return by_depth(b, a); });
  Progress progress(show_progress, trees.size() + links.size() + metas.size());
  SyncBatch batch;
  Failures failures;
  for (const Record* r : trees) {
    failures.Note(r->path, RestoreOne(root, area_fd, *r, &batch, &progress));
    progress.Step();
  }
  for (const Record& r : links) {
    failures.Note(r.path, RestoreOne(root, area_fd, r, &batch, &progress));
    progress.Step();
  }
  for (const Record* r : metas) {
    failures.Note(r->path, RestoreDirMetadata(root, *r, &batch));
    progress.Step();
  }
  // The restored tree is durable before the checkpoint that described it goes.
  failures.Note("(sync)", batch.Flush());
  return failures.ToStatus();
}

Result<std::vector<PathChange>> ListChanges(const Root& root, const std::vector<Record>& records) {
  std::vector<PathChange> out;
  for (const auto& [path, p] : GroupByPath(records)) {
    const Record* r = p.covering != nullptr ? p.covering : p.first;
    bool exists = false;
    if (Result<sys::UniqueFd> dir = root.OpenDir(DirName(path)); dir.ok()) {
      struct stat st;
      exists = ::fstatat(dir->get(), std::string(BaseName(path)).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    }
    if (r->kind == RecordKind::kAbsent) {
      if (exists) out.push_back({'A', path});
    } else {
      out.push_back({exists ? 'M' : 'D', path});
    }
  }
  return out;
}

Status Checkpoint::Restore(bool show_progress) {
  sys::LocalMutexLock lock(mu_);
  Status restored = RestoreRecords(root_, area_.get(), records_, show_progress);
  if (!damage_.empty()) {
    std::string what = "the journal is damaged (" + damage_ + "): restored what it could trust";
    if (!restored.ok()) what += "; " + restored.message();
    return Error(EBADMSG, what + "; the checkpoint and its saved copies are kept");
  }
  RAMS_RETURN_IF_ERROR(restored);
  return BeginLocked();
}

}  // namespace rams::fss
