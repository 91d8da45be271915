/* SPDX-License-Identifier: MIT */
// rams::fss::FileServer: the file operations fssd performs for its clients,
// each confined to the root and preceded by the checkpoint save it needs.
// Results are syscall-like: >= 0 on success, -errno on failure, with the
// errno the matching syscall would give. Descriptors are per client
// (Session): a client names only its own open files, by small integers.
//
// Where the checkpoint hooks in: open for writing or with O_TRUNC saves the
// file at open; truncate, chmod, unlink, rmdir, rename (both ends), mkdir,
// symlink and open with O_CREAT save the path before the change; a write
// through a descriptor opened before the current checkpoint began saves the
// file at that write. fss_unlink of a directory removes it whole, saved first.
//
// Thread safety: one FileServer serves many client threads. An operation that
// changes a path claims the canonical path(s) it saves and changes, for the
// save and the change; one whose paths are at, above or beneath a path
// another operation claims waits for that claim to go, then resolves its
// paths again. So two changes of one path are serialized, and a directory
// cannot be renamed or removed while a path beneath it is being saved or
// changed (nor the other way round), but a save, however long its copy,
// delays no operation on other paths. Lookups (stat, readlink, opening for
// reading) claim nothing; Commit and RestoreCheckpoint claim the root, which
// is above everything. mu_ is held only to resolve and claim, never across
// a save. Reads and writes through a descriptor run concurrently. A Session
// belongs to one thread at a time. See docs/fss.md, "Concurrent clients".
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint.h"
#include "rams/fss.h"
#include "root.h"
#include "sys/local_mutex.h"

namespace rams::fss {

struct SessionLimits {
  uint32_t max_open_files = 256;
  bool may_commit_or_restore = true;  // false for other users' clients
};

class Session {
 public:
  explicit Session(SessionLimits limits = {}) : limits_(limits) {}
  bool may_commit_or_restore() const { return limits_.may_commit_or_restore; }

 private:
  friend class FileServer;
  struct OpenFile {
    sys::UniqueFd fd;
    bool writable = false;
    bool is_root_dir = false;  // the root: readdir hides the checkpoint area
    uint64_t generation = 0;   // checkpoint the file was saved in (when writable)
    std::string rel;           // the root-relative name it was opened by
  };
  OpenFile* Find(int handle);

  SessionLimits limits_;
  std::vector<std::unique_ptr<OpenFile>> files_;  // index = client handle
};

class FileServer {
 public:
  // REQUIRES: `root` outlives the server; `checkpoint` belongs to it.
  FileServer(const Root& root, std::unique_ptr<Checkpoint> checkpoint);

  int64_t Open(Session& s, std::string_view path, int flags, mode_t mode, mode_t umask);
  int64_t Close(Session& s, int fd);
  int64_t Read(Session& s, int fd, void* buf, size_t len);
  int64_t Pread(Session& s, int fd, void* buf, size_t len, int64_t offset);
  int64_t Write(Session& s, int fd, const void* buf, size_t len);
  int64_t Pwrite(Session& s, int fd, const void* buf, size_t len, int64_t offset);
  int64_t Lseek(Session& s, int fd, int64_t offset, int whence);
  int64_t Fstat(Session& s, int fd, struct fss_statbuf* out);
  int64_t Fsync(Session& s, int fd);
  int64_t Ftruncate(Session& s, int fd, int64_t len);
  // Up to `max` entries of directory `fd`; 0 at the end.
  int64_t Readdir(Session& s, int fd, struct fss_dirent* out, size_t max);

  int64_t Stat(std::string_view path, struct fss_statbuf* out, bool follow);
  int64_t Mkdir(std::string_view path, mode_t mode, mode_t umask);
  int64_t Rmdir(std::string_view path);
  int64_t Unlink(std::string_view path);
  int64_t Rename(std::string_view from, std::string_view to);
  int64_t Truncate(std::string_view path, int64_t len);
  int64_t Symlink(std::string_view target, std::string_view path);
  int64_t Readlink(std::string_view path, char* buf, size_t len);
  int64_t Chmod(std::string_view path, mode_t mode);

  // Accepts the changes: a new checkpoint begins.
  int64_t Commit();
  // Puts the tree back to the checkpoint, then begins a new one.
  int64_t RestoreCheckpoint();

  const Root& root() const { return root_; }
  // For tests, while no request runs.
  Checkpoint& checkpoint() { return *checkpoint_; }
  // How many times an operation waited for another's claim (tests, logs).
  uint64_t path_waits() const { return path_waits_.load(); }

 private:
  // The paths one operation claims, released when it is destroyed.
  class Claim {
   public:
    explicit Claim(FileServer& fs) : fs_(fs) {}
    ~Claim();
    Claim(const Claim&) = delete;
    Claim& operator=(const Claim&) = delete;
   private:
    friend class FileServer;
    FileServer& fs_;
    std::vector<std::string> held_;
  };
  // Adds `rels` (canonical) to `claim` when none is at, above or beneath a
  // path another operation claims, and no claim of the root waits (Commit is
  // not starved): true. Else waits until a claim is released and returns
  // false: the caller resolves its paths again and retries.
  bool Take(Claim& claim, std::initializer_list<const std::string*> rels) REQUIRES(mu_);
  // Resolves `path` and claims its canonical path (see Claim::Take).
  Result<Resolved> ResolveAndClaim(Claim& claim, std::string_view path, bool follow_last) EXCLUDES(mu_);
  // Claims the root, which is above every path: no other claim is held then.
  void ClaimRoot(Claim& claim) EXCLUDES(mu_);

  // REQUIRES: the caller claims `rel`.
  int64_t Save(const std::string& rel, Change change);
  int64_t SaveStaleWriter(Session::OpenFile& f) EXCLUDES(mu_);
  Session::OpenFile* Writable(Session& s, int fd, int64_t* err);

  // Constant after construction.
  const Root& root_;
  const std::unique_ptr<Checkpoint> checkpoint_;  // thread-safe for unrelated paths

  sys::LocalMutex mu_;  // resolving and claiming
  sys::LocalCondVar claims_changed_;
  std::vector<std::string> claimed_ GUARDED_BY(mu_);  // by operations in progress; may repeat
  size_t root_claims_waiting_ GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> path_waits_{0};
  // The checkpoint generation; written under a claim of the root, read
  // without one to spot descriptors opened for writing before the current
  // checkpoint began.
  std::atomic<uint64_t> generation_{0};
};

// struct stat as the fixed-width fss_statbuf of the C API.
void ToFssStat(const struct stat& st, struct fss_statbuf* out);

// -ENOTDIR when the client wrote "name/" and the name exists but is not a
// directory (a symlink counts as not one: resolve with follow first where the
// kernel follows); else 0.
int64_t SlashOnNonDirectory(const Resolved& r);

// Converts a Status or a failed syscall to -errno.
inline int64_t NegErrno(const Status& s) { return s.ok() ? 0 : -static_cast<int64_t>(s.code()); }
inline int64_t NegErrno() { return -static_cast<int64_t>(errno); }

}  // namespace rams::fss

// `lhs = *expr` when ok, else returns -errno from the enclosing function.
#define RAMS_ASSIGN_OR_RETURN_ERRNO(lhs, expr) \
  RAMS_ASSIGN_OR_RETURN_ERRNO_IMPL_(RAMS_CONCAT_(fss_result_, __LINE__), lhs, expr)
#define RAMS_ASSIGN_OR_RETURN_ERRNO_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                      \
  if (!tmp.ok()) return -static_cast<int64_t>(tmp.code()); \
  lhs = std::move(tmp).value()
