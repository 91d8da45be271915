// The checkpoint engine: save-before-change with a write-ahead journal.
#include "checkpoint.h"

#include <fcntl.h>
#include <sys/file.h>

#include <deque>

#include "tree_copy.h"

namespace rams::fss {
namespace {

constexpr char kLockName[] = ".fss.lock";
constexpr char kSocketName[] = ".fss.sock";  // fssd's default socket lives here too
constexpr char kEscapeDir[] = ".fss.esc";

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

std::string Checkpoint::LocationFor(std::string_view rel) {
  if (rel.substr(0, 5) == ".fss.") return JoinPath(kEscapeDir, rel);
  return std::string(rel);
}

Result<std::unique_ptr<Checkpoint>> Checkpoint::Open(const Root& root) {
  const char* name = root.checkpoint_name().c_str();
  if (::mkdirat(root.fd(), name, 0700) != 0 && errno != EEXIST) return ErrnoError("create checkpoint area");
  sys::UniqueFd area(::openat(root.fd(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!area.valid()) return ErrnoError("open checkpoint area");
  sys::UniqueFd lock(::openat(area.get(), kLockName, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock.valid()) return ErrnoError("open checkpoint lock");
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Error(EBUSY, "checkpoint area is in use (is fssd running?)");
    return ErrnoError("lock checkpoint area");
  }
  std::unique_ptr<Checkpoint> cp(new Checkpoint(root, std::move(area), std::move(lock)));
  RAMS_RETURN_IF_ERROR(cp->Load());
  return cp;
}

Status Checkpoint::Load() {
  Result<JournalContents> contents = Journal::Read(area_.get());
  if (!contents.ok() && contents.code() != ENOENT && contents.code() != EBADMSG) return contents.status();
  if (!contents.ok() || contents->records.empty()) {
    generation_ = contents.ok() ? contents->generation : 0;
    return Begin();
  }
  generation_ = contents->generation;
  for (Record& r : contents->records) {
    Index(r);
    next_seq_ = r.seq + 1;
    records_.push_back(std::move(r));
  }
  RAMS_ASSIGN_OR_RETURN(Journal journal, Journal::OpenForAppend(area_.get(), contents->valid_bytes));
  journal_ = std::make_unique<Journal>(std::move(journal));
  return Status::Ok();
}

Status Checkpoint::Begin() {
  ++generation_;
  RAMS_RETURN_IF_ERROR(Journal::Create(area_.get(), generation_));
  journal_.reset();
  records_.clear();
  covered_.clear();
  dir_meta_.clear();
  saved_inodes_.clear();
  next_seq_ = 1;
  // Copies of the previous checkpoint are garbage from here on.
  RAMS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(area_.get()));
  for (const std::string& n : names) {
    if (n == kJournalName || n == kLockName || n == kSocketName) continue;
    RAMS_RETURN_IF_ERROR(RemoveTree(area_.get(), n));
  }
  RAMS_RETURN_IF_ERROR(SyncFd(area_.get(), "checkpoint area"));
  RAMS_ASSIGN_OR_RETURN(Journal journal, Journal::OpenForAppend(area_.get(), sizeof(JournalHeader)));
  journal_ = std::make_unique<Journal>(std::move(journal));
  return Status::Ok();
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

Status Checkpoint::Append(Record record) {
  RAMS_RETURN_IF_ERROR(Fault("record"));
  record.seq = next_seq_;
  RAMS_RETURN_IF_ERROR(journal_->Append(record));
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

Status Checkpoint::BeforeChange(const std::string& rel, Change change) {
  size_t before = records_.size();
  RAMS_RETURN_IF_ERROR(Save(rel, change));
  // The last step: the save is durable and the change has not been made.
  return records_.size() != before ? Fault("change") : Status::Ok();
}

Status Checkpoint::Save(const std::string& rel, Change change) {
  assert(!root_.IsHidden(rel));
  if (Covered(rel)) return Status::Ok();
  if (rel.empty()) {
    if (change != Change::kMetadata) return Error(EBUSY, "the root cannot be replaced");
  }
  std::string name = rel.empty() ? std::string(".") : std::string(BaseName(rel));
  RAMS_ASSIGN_OR_RETURN(sys::UniqueFd parent, root_.OpenDir(DirName(rel)));
  struct stat st;
  if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) return ErrnoError("lstat " + rel);
    Record r;
    r.kind = RecordKind::kAbsent;
    r.path = rel;
    return Append(std::move(r));
  }
  if (S_ISDIR(st.st_mode) && change == Change::kMetadata) {
    if (dir_meta_.count(rel) != 0) return Status::Ok();
    Record r;
    r.kind = RecordKind::kDirMeta;
    r.path = rel;
    FillMetadata(st, &r);
    return Append(std::move(r));
  }
  if (S_ISDIR(st.st_mode)) return SaveTree(rel, parent.get(), name, st);
  if (S_ISREG(st.st_mode) && st.st_nlink > 1) return SaveMultiLink(rel, parent.get(), name, st);
  return SaveNode(rel, parent.get(), name, st);
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
  return Append(std::move(r));
}

// One record for the inode: its content saved at `rel`, its other names in
// `target`, so that a crash can never leave some of its names saved and others
// not.
Status Checkpoint::SaveMultiLink(const std::string& rel, int parent, const std::string& name,
                                 const struct stat& st) {
  auto it = saved_inodes_.find({st.st_dev, st.st_ino});
  if (it != saved_inodes_.end()) {
    Record r;
    r.kind = RecordKind::kHardLink;
    r.path = rel;
    r.target = it->second;
    FillMetadata(st, &r);
    return Append(std::move(r));
  }
  RAMS_ASSIGN_OR_RETURN(std::vector<std::string> links, FindLinks(st));
  std::string others;
  for (const std::string& link : links) {
    if (link == rel || Covered(link)) continue;
    if (!others.empty()) others += '\0';
    others += link;
  }
  if (others.size() > kMaxRecordPayloadBytes / 2) return Error(E2BIG, "too many links to save " + rel);
  RAMS_RETURN_IF_ERROR(SaveNode(rel, parent, name, st, others));
  saved_inodes_[{st.st_dev, st.st_ino}] = rel;
  return Status::Ok();
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
  filter.saved = [this](const std::string& p) { return covered_.count(p) != 0; };
  filter.holds_saved = [this](const std::string& p) { return HoldsSaved(p); };
  filter.on_multilink = [this](const std::string& p) { return Save(p, Change::kReplace); };
  RAMS_RETURN_IF_ERROR(Fault("copy"));
  SyncBatch batch;
  RAMS_RETURN_IF_ERROR(CopyTree(parent, name, dir.get(), std::string(BaseName(r.location)), rel, filter, &batch));
  RAMS_RETURN_IF_ERROR(Fault("sync"));
  RAMS_RETURN_IF_ERROR(batch.Flush());
  RAMS_RETURN_IF_ERROR(SyncFd(dir.get(), "checkpoint directory"));
  return Append(std::move(r));
}

}  // namespace rams::fss
