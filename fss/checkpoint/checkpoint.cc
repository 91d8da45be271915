// SPDX-License-Identifier: MIT
// The checkpoint engine: save-before-change with a write-ahead journal.
#include "checkpoint.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>

#include <algorithm>
#include <cstdio>
#include <deque>

#include "tree_copy.h"
#include "check.h"

namespace rams::fss {
namespace {

constexpr char kLockName[] = ".fss.lock";
constexpr char kSocketName[] = ".fss.sock";  // fssd's default socket lives here too
constexpr char kEscapeDir[] = ".fss.esc";
constexpr char kMovedPrefix[] = ".fss.moved.";

int64_t Ns(const struct timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

}  // namespace

void FillMetadata(const struct stat& st, Record* r) {
  r->mode = st.st_mode;
  r->uid = st.st_uid;
  r->gid = st.st_gid;
  r->atime_ns = Ns(st.st_atim);
  r->mtime_ns = Ns(st.st_mtim);
  r->size_bytes = static_cast<uint64_t>(st.st_size);
  r->ino = st.st_ino;
  r->dev = st.st_dev;
}

bool IsMovedLocation(std::string_view location) { return location.substr(0, 11) == kMovedPrefix; }

std::string Checkpoint::MovedLocationLocked(std::string_view rel) const {
  return JoinPath(kMovedPrefix + std::to_string(generation_), rel);
}

std::string Checkpoint::LocationFor(std::string_view rel) {
  if (rel.substr(0, 5) == ".fss.") return JoinPath(kEscapeDir, rel);
  return std::string(rel);
}

namespace {

constexpr char kMarkerName[] = ".fss.area";
constexpr char kMarkerText[] = "rams File-System Server checkpoint area: created and managed by fssd\n";

// Whether an existing directory without a marker may become the area: it is
// empty but for files only the FSS creates, or it holds an FSS journal (an
// area made before markers existed).
Result<bool> Adoptable(int area) {
  RAMS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(area));
  for (const std::string& n : names) {
    if (n == kJournalName) return true;
  }
  return std::all_of(names.begin(), names.end(), [](const std::string& n) {
    return n == kLockName || n == kSocketName || n == std::string(kJournalName) + ".tmp";
  });
}

Status WriteMarker(int area) {
  sys::UniqueFd fd(::openat(area, kMarkerName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return errno == EEXIST ? Status::Ok() : ErrnoError("write checkpoint area marker");
  size_t n = sizeof(kMarkerText) - 1;
  if (sys::RetryEintr([&] { return ::write(fd.get(), kMarkerText, n); }) != static_cast<ssize_t>(n)) {
    return ErrnoError("write checkpoint area marker");
  }
  RAMS_RETURN_IF_ERROR(SyncFd(fd.get(), "checkpoint area marker"));
  return SyncFd(area, "checkpoint area");
}

// Opens the area directory, creating it, or refusing a directory the FSS did
// not create: its contents are the user's and Begin() would delete them.
Result<sys::UniqueFd> ClaimArea(int parent, const std::string& name) {
  if (name.empty()) return Error(EINVAL, "no checkpoint area");
  bool created = ::mkdirat(parent, name.c_str(), 0700) == 0;
  if (!created && errno != EEXIST) return ErrnoError("create checkpoint area");
  sys::UniqueFd area(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!area.valid()) return ErrnoError("open checkpoint area " + name);
  if (!created && ::faccessat(area.get(), kMarkerName, F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
    RAMS_ASSIGN_OR_RETURN(bool ours, Adoptable(area.get()));
    if (!ours) {
      return Error(EEXIST, "checkpoint area " + name + "/ exists and was not created by the FSS (no " +
                               kMarkerName + " in it): refusing to use it, since starting a checkpoint "
                               "empties the area; move it away or choose another --checkpoint-dir");
    }
  }
  RAMS_RETURN_IF_ERROR(WriteMarker(area.get()));
  return area;
}

}  // namespace

Result<std::unique_ptr<Checkpoint>> Checkpoint::Open(const Root& root, OpenMode mode) {
  return OpenAt(root, root.fd(), root.checkpoint_name(), mode);
}

Result<std::unique_ptr<Checkpoint>> Checkpoint::OpenAt(const Root& root, int area_parent, const std::string& area_name,
                                                       OpenMode mode) {
  RAMS_ASSIGN_OR_RETURN(sys::UniqueFd area, ClaimArea(area_parent, area_name));
  sys::UniqueFd lock(::openat(area.get(), kLockName, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock.valid()) return ErrnoError("open checkpoint lock");
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Error(EBUSY, "checkpoint area is in use (is fssd running?)");
    return ErrnoError("lock checkpoint area");
  }
  std::unique_ptr<Checkpoint> cp(new Checkpoint(root, std::move(area), std::move(lock)));
  cp->area_name_ = area_name;
  RAMS_RETURN_IF_ERROR(cp->Load(mode));
  return cp;
}

Status Checkpoint::Load(OpenMode mode) {
  sys::LocalMutexLock lock(mu_);
  Result<JournalContents> contents = Journal::Read(area_.get());
  if (contents.code() == ENOENT) return BeginLocked();
  if (!contents.ok()) return contents.status();
  generation_ = contents->generation;
  for (Record& r : contents->records) {
    Index(r);
    next_seq_ = std::max(next_seq_, r.seq + 1);
    records_.push_back(std::move(r));
  }
  damage_ = contents->damage;
  RAMS_RETURN_IF_ERROR(AdoptMovedOrphans());
  if (!damage_.empty()) {
    // Nothing is appended to, cut or deleted: the saved copies stay for restore.
    if (mode == OpenMode::kAcceptDamage) return Status::Ok();
    return Error(EBADMSG, "checkpoint journal " + area_name_ + "/" + kJournalName + " is damaged (" +
                              damage_ + "); the saved copies are kept: run fss-restore to restore what can "
                              "be trusted");
  }
  RAMS_ASSIGN_OR_RETURN(Journal journal, Journal::OpenForAppend(area_.get(), contents->valid_bytes));
  journal_ = std::make_unique<Journal>(std::move(journal));
  return Status::Ok();
}

Status Checkpoint::Begin() {
  sys::LocalMutexLock lock(mu_);
  return BeginLocked();
}

Status Checkpoint::BeginLocked() {
  // The new journal is durable (atomic rename) before any state changes, so
  // a failure leaves either the old checkpoint or the new, never neither.
  RAMS_RETURN_IF_ERROR(Journal::Create(area_.get(), generation_ + 1));
  ++generation_;
  journal_.reset();
  records_.clear();
  covered_.clear();
  dir_meta_.clear();
  saved_inodes_.clear();
  damage_.clear();
  moved_dir_fd_.Reset();
  next_seq_ = 1;
  RAMS_ASSIGN_OR_RETURN(Journal journal, Journal::OpenForAppend(area_.get(), sizeof(JournalHeader)));
  journal_ = std::make_unique<Journal>(std::move(journal));
  // Copies of the previous checkpoint are garbage from here on. Failing to
  // remove one does not undo the new checkpoint: every save replaces what is
  // at its location first, and the next Begin tries again.
  Result<std::vector<std::string>> names = ListDir(area_.get());
  Status cleanup = names.status();
  for (const std::string& n : names.ok() ? *names : std::vector<std::string>()) {
    if (n == kJournalName || n == kLockName || n == kSocketName || n == kMarkerName) continue;
    if (Status s = RemoveTree(area_.get(), n); !s.ok() && cleanup.ok()) cleanup = s;
  }
  if (cleanup.ok()) cleanup = SyncFd(area_.get(), "checkpoint area");
  if (!cleanup.ok()) {
    fprintf(stderr, "fss: checkpoint %llu begins, but old saved copies remain: %s\n",
            static_cast<unsigned long long>(generation_), cleanup.ToString().c_str());
  }
  return Status::Ok();
}

Status Checkpoint::Commit() {
  sys::LocalMutexLock lock(mu_);
  return journal_ == nullptr ? Status::Ok() : journal_->Sync();
}

// A file MoveAway moved into the area is its own evidence: its place names
// its path, its inode keeps its metadata. One without a record (a power loss
// kept the rename and lost the unsynced record) gets one in memory, after
// the trusted ones, so restore and status see it.
Status Checkpoint::AdoptMovedOrphans() {
  std::string top = kMovedPrefix + std::to_string(generation_);
  sys::UniqueFd dir(::openat(area_.get(), top.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return errno == ENOENT ? Status::Ok() : ErrnoError("open " + top);
  std::set<std::string> recorded;
  for (const Record& r : records_) {
    if (IsMovedLocation(r.location)) recorded.insert(r.location);
  }
  std::deque<std::pair<std::string, sys::UniqueFd>> dirs;
  dirs.emplace_back("", std::move(dir));
  while (!dirs.empty()) {
    auto [rel, fd] = std::move(dirs.front());
    dirs.pop_front();
    RAMS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(fd.get()));
    for (const std::string& n : names) {
      std::string path = JoinPath(rel, n);
      struct stat st;
      if (::fstatat(fd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoError("stat moved " + path);
      if (S_ISDIR(st.st_mode)) {
        sys::UniqueFd sub(::openat(fd.get(), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) return ErrnoError("open moved " + path);
        dirs.emplace_back(path, std::move(sub));
        continue;
      }
      Record r;
      r.kind = RecordKind::kFile;
      r.path = path;
      r.location = MovedLocationLocked(path);
      if (recorded.count(r.location) != 0) continue;
      FillMetadata(st, &r);
      r.seq = next_seq_++;
      Index(r);
      records_.push_back(std::move(r));
    }
  }
  return Status::Ok();
}

Result<bool> Checkpoint::MoveAway(const std::string& rel, int parent, const std::string& name) {
  RAMS_CHECK(!root_.IsHidden(rel));
  sys::LocalMutexLock lock(mu_);  // no copy: one rename
  if (group_max_ == 0 || rel.empty() || Covered(rel)) return false;
  if (!area_dev_) {
    struct stat area_st;
    if (::fstat(area_.get(), &area_st) != 0) return false;
    area_dev_ = area_st.st_dev;
  }
  struct stat st;
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
      st.st_nlink != 1 || st.st_dev != *area_dev_) {
    return false;
  }
  Record r;
  r.kind = RecordKind::kFile;
  r.path = rel;
  r.location = MovedLocationLocked(rel);
  FillMetadata(st, &r);
  std::string_view dir_of = DirName(r.location);
  if (!moved_dir_fd_.valid() || moved_dir_ != dir_of) {
    moved_dir_fd_.Reset();
    RAMS_ASSIGN_OR_RETURN(moved_dir_fd_, AreaDirFor(r.location));
    moved_dir_ = std::string(dir_of);
  }
  const int dir = moved_dir_fd_.get();
  std::string base(BaseName(r.location));
  RAMS_RETURN_IF_ERROR(RemoveTree(dir, base));  // left by an earlier crash
  RAMS_RETURN_IF_ERROR(Append(r, /*may_wait=*/true));
  RAMS_RETURN_IF_ERROR(Fault("change"));
  // The change and the save in one step. Should it fail, the record names a
  // location that does not exist, which restore reads as "never moved".
  if (::renameat(parent, name.c_str(), dir, base.c_str()) != 0) {
    Status s = ErrnoError("unlink " + rel);
    moved_dir_fd_.Reset();  // looked up again next time
    return s;
  }
  return true;
}

bool Checkpoint::Covered(const std::string& rel) const {
  if (covered_.empty()) return false;
  std::string_view p = rel;
  for (;;) {
    if (covered_.count(std::string(p)) != 0) return true;
    if (p.empty()) return false;
    p = DirName(p);
  }
}

bool Checkpoint::HoldsSaved(const std::string& rel) const {
  auto it = covered_.lower_bound(rel);
  return it != covered_.end() && IsWithin(*it, rel);
}

Status Checkpoint::Append(Record record, bool may_wait) {
  RAMS_RETURN_IF_ERROR(Fault("record"));
  if (journal_ == nullptr) {
    return Error(EIO, damage_.empty() ? "checkpoint journal could not be reopened: restart the server"
                                      : "checkpoint journal is damaged: restore it first");
  }
  record.seq = next_seq_;
  if (group_max_ != 0 && may_wait) {
    RAMS_RETURN_IF_ERROR(journal_->Write(record));
    if (journal_->unsynced() >= group_max_) RAMS_RETURN_IF_ERROR(journal_->Sync());
  } else {
    RAMS_RETURN_IF_ERROR(journal_->Append(record));
  }
  ++next_seq_;
  Index(record);
  records_.push_back(std::move(record));
  return Status::Ok();
}

void Checkpoint::Index(const Record& r) {
  if (r.kind == RecordKind::kDirMeta) {
    dir_meta_.insert(r.path);
    return;
  }
  covered_.insert(r.path);
  if (r.kind != RecordKind::kFile) return;
  if ((r.mode & S_IFMT) == S_IFREG && r.ino != 0) saved_inodes_[{r.dev, r.ino}] = r.path;
  for (const std::string& link : OtherLinks(r)) covered_.insert(link);
}

std::vector<std::string> OtherLinks(const Record& r) {
  std::vector<std::string> out;
  if (r.kind != RecordKind::kFile || r.target.empty()) return out;
  size_t i = 0;
  for (;;) {
    size_t j = r.target.find('\0', i);
    out.push_back(r.target.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) return out;
    i = j + 1;
  }
}

// Opens (creating as needed) the area directory that will hold `location`,
// replacing stale non-directories on the way.
Result<sys::UniqueFd> Checkpoint::AreaDirFor(const std::string& location) {
  sys::UniqueFd dir(::openat(area_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoError("open checkpoint area");
  std::string_view rest = DirName(location);
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string comp(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    struct stat st;
    bool existed = ::fstatat(dir.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    if (!existed) {
      RAMS_RETURN_IF_ERROR(EnsureDir(dir.get(), comp));
      RAMS_RETURN_IF_ERROR(SyncFd(dir.get(), "checkpoint directory"));
    }
    sys::UniqueFd next(::openat(dir.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return ErrnoError("open checkpoint directory " + comp);
    dir = std::move(next);
  }
  return dir;
}

namespace {

// While alive, runs a real-time calling thread at normal priority: a bulk
// copy at SCHED_FIFO would starve every other process on its CPU. Restores
// the thread's policy when destroyed. Per thread (sched_setscheduler(0) is
// the calling thread on Linux).
class NormalPriority {
 public:
  NormalPriority() {
    policy_ = ::sched_getscheduler(0);
    if (policy_ != SCHED_FIFO && policy_ != SCHED_RR) return;
    if (::sched_getparam(0, &param_) != 0) return;
    struct sched_param normal = {};
    lowered_ = ::sched_setscheduler(0, SCHED_OTHER, &normal) == 0;
  }
  ~NormalPriority() {
    if (lowered_) (void)::sched_setscheduler(0, policy_, &param_);
  }
  NormalPriority(const NormalPriority&) = delete;
  NormalPriority& operator=(const NormalPriority&) = delete;

 private:
  int policy_ = SCHED_OTHER;
  struct sched_param param_ = {};
  bool lowered_ = false;
};

}  // namespace

Status Checkpoint::BeforeChange(const std::string& rel, Change change, int parent) {
  return BeforeChangeSeen(rel, change, parent, nullptr);
}

Status Checkpoint::BeforeChange(const std::string& rel, Change change, int parent, const Seen& seen) {
  RAMS_CHECK(parent >= 0);
  return BeforeChangeSeen(rel, change, parent, &seen);
}

Status Checkpoint::BeforeChangeSeen(const std::string& rel, Change change, int parent, const Seen* seen) {
  Result<bool> saved = Save(rel, change, parent, seen);
  if (!saved.ok()) return saved.status();
  // The last step: the save is durable and the change has not been made.
  return *saved ? Fault("change") : Status::Ok();
}

// Holds mu_ only to consult and update the records: the copy itself runs
// without it (see "Thread safety" in the header).
Result<bool> Checkpoint::Save(const std::string& rel, Change change, int parent_fd, const Seen* seen) {
  RAMS_CHECK(!root_.IsHidden(rel));  // REQUIRES of BeforeChange
  {
    sys::LocalMutexLock lock(mu_);
    if (Covered(rel)) return false;
  }
  if (rel.empty()) {
    if (change != Change::kMetadata) return Error(EBUSY, "the root cannot be replaced");
  }
  std::string name = rel.empty() ? std::string(".") : std::string(BaseName(rel));
  sys::UniqueFd opened;
  if (parent_fd < 0) {
    RAMS_ASSIGN_OR_RETURN(opened, root_.OpenDir(DirName(rel)));
  }
  const int parent = parent_fd < 0 ? opened.get() : parent_fd;
  struct stat st = {};
  bool exists;
  if (seen != nullptr) {
    exists = seen->exists;
    st = seen->st;
  } else {
    exists = ::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!exists && errno != ENOENT) return ErrnoError("lstat " + rel);
  }
  if (!exists) {
    Record r;
    r.kind = RecordKind::kAbsent;
    r.path = rel;
    sys::LocalMutexLock lock(mu_);
    RAMS_RETURN_IF_ERROR(Append(std::move(r), /*may_wait=*/true));
    return true;
  }
  if (S_ISDIR(st.st_mode) && change == Change::kMetadata) {
    sys::LocalMutexLock lock(mu_);
    if (dir_meta_.count(rel) != 0) return false;
    Record r;
    r.kind = RecordKind::kDirMeta;
    r.path = rel;
    FillMetadata(st, &r);
    RAMS_RETURN_IF_ERROR(Append(std::move(r)));
    return true;
  }
  NormalPriority normal;  // the saves below copy files: bulk work
  if (S_ISREG(st.st_mode) && st.st_nlink > 1) return SaveMultiLink(rel, parent, name, st);
  if (S_ISDIR(st.st_mode)) {
    RAMS_RETURN_IF_ERROR(SaveTree(rel, parent, name, st));
  } else {
    RAMS_RETURN_IF_ERROR(SaveNode(rel, parent, name, st));
  }
  return true;
}

Status Checkpoint::SaveNode(const std::string& rel, int parent, const std::string& name,
                            const struct stat& st, std::string other_links) {
  Record r;
  r.target = std::move(other_links);
  r.kind = S_ISLNK(st.st_mode) ? RecordKind::kSymlink : RecordKind::kFile;
  r.path = rel;
  r.location = LocationFor(rel);
  FillMetadata(st, &r);
  if (S_ISLNK(st.st_mode)) {
    RAMS_ASSIGN_OR_RETURN(r.target, ReadLinkAt(parent, name));
  }
  RAMS_ASSIGN_OR_RETURN(sys::UniqueFd dir, AreaDirFor(r.location));
  std::string base(BaseName(r.location));
  RAMS_RETURN_IF_ERROR(RemoveTree(dir.get(), base));
  RAMS_RETURN_IF_ERROR(Fault("copy"));
  RAMS_RETURN_IF_ERROR(CopyNode(parent, name, dir.get(), base));
  RAMS_RETURN_IF_ERROR(Fault("sync"));
  RAMS_RETURN_IF_ERROR(SyncFd(dir.get(), "checkpoint directory"));
  sys::LocalMutexLock lock(mu_);
  return Append(std::move(r));
}

// One record for the inode: its content saved at `rel`, its other names in
// `target`, so that a crash can never leave some of its names saved and others
// not. Every name of such an inode is saved here first, under links_mu_, so
// two saves of one inode by its different names never overlap: the second
// finds its name covered by the first.
Result<bool> Checkpoint::SaveMultiLink(const std::string& rel, int parent, const std::string& name,
                                       const struct stat& st) {
  sys::LocalMutexLock links(links_mu_);
  {
    sys::LocalMutexLock lock(mu_);
    if (Covered(rel)) return false;  // by a save of another name while we waited
    auto it = saved_inodes_.find({st.st_dev, st.st_ino});
    if (it != saved_inodes_.end()) {
      Record r;
      r.kind = RecordKind::kHardLink;
      r.path = rel;
      r.target = it->second;
      FillMetadata(st, &r);
      RAMS_RETURN_IF_ERROR(Append(std::move(r)));
      return true;
    }
  }
  RAMS_ASSIGN_OR_RETURN(std::vector<std::string> links_found, FindLinks(st));
  std::string others;
  {
    sys::LocalMutexLock lock(mu_);
    for (const std::string& link : links_found) {
      if (link == rel || Covered(link)) continue;
      if (!others.empty()) others += '\0';
      others += link;
    }
  }
  if (others.size() > kMaxRecordPayloadBytes / 2) return Error(E2BIG, "too many links to save " + rel);
  RAMS_RETURN_IF_ERROR(SaveNode(rel, parent, name, st, others));
  sys::LocalMutexLock lock(mu_);
  saved_inodes_[{st.st_dev, st.st_ino}] = rel;
  return true;
}

// Every path in the tree (outside the area) that is a link of st's inode.
Result<std::vector<std::string>> Checkpoint::FindLinks(const struct stat& st) {
  std::vector<std::string> found;
  std::deque<std::string> dirs = {""};
  while (!dirs.empty() && found.size() < st.st_nlink) {
    std::string dir = std::move(dirs.front());
    dirs.pop_front();
    Result<sys::UniqueFd> fd = root_.OpenDir(dir);
    if (!fd.ok()) continue;
    RAMS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(fd->get()));
    for (const std::string& n : names) {
      std::string rel = JoinPath(dir, n);
      if (root_.IsHidden(rel)) continue;
      struct stat cst;
      if (::fstatat(fd->get(), n.c_str(), &cst, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(cst.st_mode)) dirs.push_back(rel);
      if (cst.st_ino == st.st_ino && cst.st_dev == st.st_dev) found.push_back(rel);
    }
  }
  return found;
}

Status Checkpoint::SaveTree(const std::string& rel, int parent, const std::string& name,
                            const struct stat& st) {
  Record r;
  r.kind = RecordKind::kDirTree;
  r.path = rel;
  r.location = LocationFor(rel);
  FillMetadata(st, &r);
  RAMS_ASSIGN_OR_RETURN(sys::UniqueFd dir, AreaDirFor(r.location));
  TreeFilter filter;
  filter.saved = [this](const std::string& p) {
    sys::LocalMutexLock lock(mu_);
    return covered_.count(p) != 0;
  };
  filter.holds_saved = [this](const std::string& p) {
    sys::LocalMutexLock lock(mu_);
    return HoldsSaved(p);
  };
  filter.on_multilink = [this](const std::string& p) { return Save(p, Change::kReplace, -1, nullptr).status(); };
  RAMS_RETURN_IF_ERROR(Fault("copy"));
  SyncBatch batch;
  RAMS_RETURN_IF_ERROR(CopyTree(parent, name, dir.get(), std::string(BaseName(r.location)), rel, filter, &batch));
  RAMS_RETURN_IF_ERROR(Fault("sync"));
  RAMS_RETURN_IF_ERROR(batch.Flush());
  RAMS_RETURN_IF_ERROR(SyncFd(dir.get(), "checkpoint directory"));
  sys::LocalMutexLock lock(mu_);
  return Append(std::move(r));
}

}  // namespace rams::fss
