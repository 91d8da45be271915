// SPDX-License-Identifier: MIT
// File operations with confinement and save-before-change.
#include "file_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "credentials.h"
#include "tree_copy.h"

namespace rams::fss {
namespace {

constexpr int kAllowedOpenFlags = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY |
                                  O_NOFOLLOW | O_NONBLOCK | O_DSYNC | O_SYNC | O_NOCTTY | O_CLOEXEC |
                                  O_NOATIME | O_LARGEFILE;

int64_t Ns(const struct timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

int64_t Syscall(int64_t r) { return r < 0 ? NegErrno() : r; }

}  // namespace

void ToFssStat(const struct stat& st, struct fss_statbuf* out) {
  *out = {};
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  out->mode = st.st_mode;
  out->nlink = static_cast<uint32_t>(st.st_nlink);
  out->uid = st.st_uid;
  out->gid = st.st_gid;
  out->rdev = st.st_rdev;
  out->size = st.st_size;
  out->blksize = st.st_blksize;
  out->blocks = st.st_blocks;
  out->atime_ns = Ns(st.st_atim);
  out->mtime_ns = Ns(st.st_mtim);
  out->ctime_ns = Ns(st.st_ctim);
}

Session::OpenFile* Session::Find(int handle) {
  if (handle < 0 || static_cast<size_t>(handle) >= files_.size()) return nullptr;
  return files_[static_cast<size_t>(handle)].get();
}

FileServer::FileServer(const Root& root, std::unique_ptr<Checkpoint> checkpoint)
    : root_(root), checkpoint_(std::move(checkpoint)) {
  generation_.store(checkpoint_->generation());
}

namespace {

bool Overlap(const std::string& a, const std::string& b) { return IsWithin(a, b) || IsWithin(b, a); }

}  // namespace

bool FileServer::Take(Claim& claim, std::initializer_list<const std::string*> rels) {
  bool root = false;
  for (const std::string* rel : rels) root = root || rel->empty();
  bool busy = !root && root_claims_waiting_ != 0;
  for (const std::string& other : claimed_) {
    for (const std::string* rel : rels) busy = busy || Overlap(*rel, other);
  }
  if (busy) {
    path_waits_.fetch_add(1);
    if (root) ++root_claims_waiting_;
    claims_changed_.Wait(mu_);
    if (root) --root_claims_waiting_;
    return false;
  }
  for (const std::string* rel : rels) {
    claimed_.push_back(*rel);
    claim.held_.push_back(*rel);
  }
  return true;
}

FileServer::Claim::~Claim() {
  if (held_.empty()) return;
  sys::LocalMutexLock lock(fs_.mu_);
  for (const std::string& rel : held_) {
    auto it = std::find(fs_.claimed_.begin(), fs_.claimed_.end(), rel);
    RAMS_CHECK(it != fs_.claimed_.end());
    fs_.claimed_.erase(it);
  }
  fs_.claims_changed_.NotifyAll();
}

// Resolving under mu_ makes the lookup and the claim one step: every change
// of a name is made under a claim of its path, so no claimed path lies on
// the way to one just resolved, and none can be changed until we are done.
Result<Resolved> FileServer::ResolveAndClaim(Claim& claim, std::string_view path, bool follow_last) {
  sys::LocalMutexLock lock(mu_);
  for (;;) {
    Result<Resolved> r = root_.Resolve(path, follow_last);
    if (!r.ok() || Take(claim, {&r->rel})) return r;
  }
}

void FileServer::ClaimRoot(Claim& claim) {
  static const std::string root;
  sys::LocalMutexLock lock(mu_);
  while (!Take(claim, {&root})) {
  }
}

int64_t FileServer::Save(const std::string& rel, Change change) {
  ActAsServer server;  // the area is the server's, and a save reads what the client may not
  Status s = checkpoint_->BeforeChange(rel, change);
  if (!s.ok()) {
    fprintf(stderr, "fssd: checkpoint save of /%s failed: %s\n", rel.c_str(), s.ToString().c_str());
    return NegErrno(s);
  }
  return 0;
}

int64_t FileServer::Open(Session& s, std::string_view path, int flags, mode_t mode, mode_t umask) {
  if ((flags & ~kAllowedOpenFlags) != 0) return -EINVAL;
  size_t slot = 0;
  while (slot < s.files_.size() && s.files_[slot] != nullptr) ++slot;
  if (slot >= s.limits_.max_open_files) return -EMFILE;
  bool excl_create = (flags & O_CREAT) && (flags & O_EXCL);
  bool writing = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  bool follow = (!(flags & O_NOFOLLOW) && !excl_create) || EndsInSlash(path);
  // Only an open that may save or create claims its path: reading needs no claim.
  Claim claim(*this);
  Result<Resolved> r = writing || (flags & O_CREAT) ? ResolveAndClaim(claim, path, follow) : root_.Resolve(path, follow);
  if (!r.ok()) return NegErrno(r.status());
  if (int64_t e = SlashOnNonDirectory(*r); e < 0) return e;
  struct stat st;
  bool exists = ::fstatat(r->parent.get(), r->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && excl_create) return -EEXIST;
  if (!exists && (flags & O_CREAT) && r->dir_only) return -EISDIR;  // open("new/", O_CREAT)
  if (exists && writing && S_ISREG(st.st_mode)) {
    if (int64_t e = Save(r->rel, Change::kContent); e < 0) return e;
  } else if (!exists && (flags & O_CREAT)) {
    if (errno != ENOENT) return NegErrno();
    if (int64_t e = Save(r->rel, Change::kReplace); e < 0) return e;
  }
  // Opening a FIFO would wait for its other end while holding the claim.
  if (exists && S_ISFIFO(st.st_mode)) flags |= O_NONBLOCK;
  int fd = sys::RetryEintr([&] {
    return ::openat(r->parent.get(), r->name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode & ~umask & 07777);
  });
  if (fd < 0) return NegErrno();
  auto file = std::make_unique<Session::OpenFile>();
  file->fd.Reset(fd);
  file->writable = (flags & O_ACCMODE) != O_RDONLY;
  file->is_root_dir = r->rel.empty();
  file->generation = generation_.load();
  file->rel = r->rel;
  if (slot == s.files_.size()) s.files_.emplace_back();
  s.files_[slot] = std::move(file);
  return static_cast<int64_t>(slot);
}

int64_t FileServer::Close(Session& s, int fd) {
  if (s.Find(fd) == nullptr) return -EBADF;
  s.files_[static_cast<size_t>(fd)].reset();
  while (!s.files_.empty() && s.files_.back() == nullptr) s.files_.pop_back();
  return 0;
}

// A descriptor opened for writing before the current checkpoint began: its
// file is saved now, before the first change made through it. Its name is the
// one it was opened by while that still names the same file; else what /proc
// says. Only a file /proc shows unlinked or outside the root is skipped: a name
// that cannot be read (longer than PATH_MAX) refuses the change rather than
// lose its save.
int64_t FileServer::SaveStaleWriter(Session::OpenFile& f) {
  Claim claim(*this);
  sys::LocalMutexLock lock(mu_);
  uint64_t now = 0;
  struct stat fst;
  if (::fstat(f.fd.get(), &fst) != 0) return NegErrno();
  std::optional<std::string> rel;
  for (;;) {
    now = generation_.load();
    if (f.generation == now) return 0;
    rel.reset();
    struct stat st;
    Result<Resolved> opened = root_.Resolve(f.rel, false);
    if (opened.ok() && ::fstatat(opened->parent.get(), opened->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == fst.st_dev && st.st_ino == fst.st_ino) {
      rel = f.rel;
    } else {
      Result<std::string> now_at = root_.CanonicalOf(f.fd.get());
      if (!now_at.ok() && now_at.code() != ENOENT) return NegErrno(now_at.status());
      if (now_at.ok()) rel = std::move(*now_at);
    }
    if (!rel || Take(claim, {&*rel})) break;
  }
  lock.Unlock();  // the claim keeps the name; the save may copy for long
  if (rel) {
    if (int64_t e = Save(*rel, Change::kContent); e < 0) return e;
  }
  f.generation = now;  // unlinked files are not in the tree: nothing to save
  return 0;
}

Session::OpenFile* FileServer::Writable(Session& s, int fd, int64_t* err) {
  Session::OpenFile* f = s.Find(fd);
  *err = f == nullptr ? -EBADF : 0;
  if (f != nullptr && f->writable && f->generation != generation_.load()) *err = SaveStaleWriter(*f);
  return *err == 0 ? f : nullptr;
}

int64_t FileServer::Read(Session& s, int fd, void* buf, size_t len) {
  Session::OpenFile* f = s.Find(fd);
  if (f == nullptr) return -EBADF;
  return Syscall(sys::RetryEintr([&] { return ::read(f->fd.get(), buf, len); }));
}

int64_t FileServer::Pread(Session& s, int fd, void* buf, size_t len, int64_t offset) {
  Session::OpenFile* f = s.Find(fd);
  if (f == nullptr) return -EBADF;
  return Syscall(sys::RetryEintr([&] { return ::pread(f->fd.get(), buf, len, offset); }));
}

int64_t FileServer::Write(Session& s, int fd, const void* buf, size_t len) {
  int64_t err;
  Session::OpenFile* f = Writable(s, fd, &err);
  if (f == nullptr) return err;
  return Syscall(sys::RetryEintr([&] { return ::write(f->fd.get(), buf, len); }));
}

int64_t FileServer::Pwrite(Session& s, int fd, const void* buf, size_t len, int64_t offset) {
  int64_t err;
  Session::OpenFile* f = Writable(s, fd, &err);
  if (f == nullptr) return err;
  return Syscall(sys::RetryEintr([&] { return ::pwrite(f->fd.get(), buf, len, offset); }));
}

int64_t FileServer::Ftruncate(Session& s, int fd, int64_t len) {
  int64_t err;
  Session::OpenFile* f = Writable(s, fd, &err);
  if (f == nullptr) return err;
  return Syscall(sys::RetryEintr([&] { return ::ftruncate(f->fd.get(), len); }));
}

int64_t FileServer::Lseek(Session& s, int fd, int64_t offset, int whence) {
  Session::OpenFile* f = s.Find(fd);
  if (f == nullptr) return -EBADF;
  return Syscall(::lseek(f->fd.get(), offset, whence));
}

int64_t FileServer::Fstat(Session& s, int fd, struct fss_statbuf* out) {
  Session::OpenFile* f = s.Find(fd);
  if (f == nullptr) return -EBADF;
  struct stat st;
  if (::fstat(f->fd.get(), &st) != 0) return NegErrno();
  ToFssStat(st, out);
  return 0;
}

int64_t FileServer::Fsync(Session& s, int fd) {
  Session::OpenFile* f = s.Find(fd);
  if (f == nullptr) return -EBADF;
  return Syscall(sys::RetryEintr([&] { return ::fsync(f->fd.get()); }));
}

int64_t FileServer::Readdir(Session& s, int fd, struct fss_dirent* out, size_t max) {
  Session::OpenFile* f = s.Find(fd);
  if (f == nullptr) return -EBADF;
  if (max == 0) return -EINVAL;
  size_t count = 0;
  std::vector<char> buf(32768);
  while (count == 0) {
    long n = ::syscall(SYS_getdents64, f->fd.get(), buf.data(), buf.size());
    if (n < 0) return NegErrno();
    if (n == 0) return 0;
    for (long pos = 0; pos < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(buf.data() + pos);
      pos += d->d_reclen;
      if (f->is_root_dir && root_.checkpoint_name() == d->d_name) continue;
      struct fss_dirent& e = out[count++];
      e = {};
      e.ino = d->d_ino;
      e.type = d->d_type;
      snprintf(e.name, sizeof(e.name), "%s", d->d_name);
      if (count == max && pos < n) {
        // Leave the rest for the next call.
        if (::lseek(f->fd.get(), d->d_off, SEEK_SET) < 0) return NegErrno();
        break;
      }
    }
  }
  return static_cast<int64_t>(count);
}

}  // namespace rams::fss
