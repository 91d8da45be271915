// SPDX-License-Identifier: MIT
// The path operations of FileServer (by name rather than by descriptor) and
// checkpoint control.
#include <fcntl.h>

#include "file_server.h"

#include <cstdio>
#include "tree_copy.h"

namespace rams::fss {
namespace {

bool IsRoot(const Resolved& r) { return r.rel.empty(); }

// 0 when the resolved path exists (without following a final symlink), else -errno.
int64_t Exists(const Resolved& r) {
  struct stat st;
  return ::fstatat(r.parent.get(), r.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : NegErrno();
}

}  // namespace

int64_t SlashOnNonDirectory(const Resolved& r) {
  struct stat st;
  if (!r.dir_only || ::fstatat(r.parent.get(), r.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int64_t FileServer::Stat(std::string_view path, struct fss_statbuf* out, bool follow) {
  Result<Resolved> r = root_.Resolve(path, follow || EndsInSlash(path));
  if (!r.ok()) return NegErrno(r.status());
  if (int64_t e = SlashOnNonDirectory(*r); e < 0) return e;
  struct stat st;
  if (::fstatat(r->parent.get(), r->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return NegErrno();
  ToFssStat(st, out);
  return 0;
}

int64_t FileServer::Mkdir(std::string_view path, mode_t mode, mode_t umask) {
  Claim claim(*this);
  Result<Resolved> r = ResolveAndClaim(claim, path, false);
  if (!r.ok()) return NegErrno(r.status());
  struct stat st;
  if (IsRoot(*r) || ::fstatat(r->parent.get(), r->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return -EEXIST;
  if (int64_t e = Save(r->rel, Change::kReplace); e < 0) return e;
  if (::mkdirat(r->parent.get(), r->name.c_str(), mode & ~umask & 07777) != 0) return NegErrno();
  return 0;
}

int64_t FileServer::Rmdir(std::string_view path) {
  Claim claim(*this);
  Result<Resolved> r = ResolveAndClaim(claim, path, false);
  if (!r.ok()) return NegErrno(r.status());
  if (r->dots != 0) return r->dots == 1 ? -EINVAL : -ENOTEMPTY;  // rmdir("d/."), rmdir("d/..")
  if (IsRoot(*r)) return -EBUSY;
  RAMS_ASSIGN_OR_RETURN_ERRNO(struct stat st, LstatAt(r->parent.get(), r->name));
  if (!S_ISDIR(st.st_mode)) return -ENOTDIR;  // a symlink too, with or without a slash
  sys::UniqueFd dir(::openat(r->parent.get(), r->name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return NegErrno();
  Result<std::vector<std::string>> names = ListDir(dir.get());
  if (!names.ok()) return NegErrno(names.status());
  if (!names->empty()) return -ENOTEMPTY;
  if (int64_t e = Save(r->rel, Change::kReplace); e < 0) return e;
  if (::unlinkat(r->parent.get(), r->name.c_str(), AT_REMOVEDIR) != 0) return NegErrno();
  return 0;
}

int64_t FileServer::Unlink(std::string_view path) {
  Claim claim(*this);
  Result<Resolved> r = ResolveAndClaim(claim, path, false);
  if (!r.ok()) return NegErrno(r.status());
  // "d/." names no entry: the removal of a whole directory is asked by its name.
  if (r->dots != 0) return -EISDIR;
  if (IsRoot(*r)) return -EBUSY;
  RAMS_ASSIGN_OR_RETURN_ERRNO(struct stat st, LstatAt(r->parent.get(), r->name));
  if (int64_t e = SlashOnNonDirectory(*r); e < 0) return e;
  if (int64_t e = Save(r->rel, Change::kReplace); e < 0) return e;
  if (S_ISDIR(st.st_mode)) return NegErrno(RemoveTree(r->parent.get(), r->name));
  if (::unlinkat(r->parent.get(), r->name.c_str(), 0) != 0) return NegErrno();
  return 0;
}

int64_t FileServer::Rename(std::string_view from, std::string_view to) {
  Claim claim(*this);
  Result<Resolved> a = Error(ENOENT, "");
  Result<Resolved> b = Error(ENOENT, "");
  {
    sys::LocalMutexLock lock(mu_);
    do {
      a = root_.Resolve(from, false);
      if (!a.ok()) return NegErrno(a.status());
      b = root_.Resolve(to, false);
      if (!b.ok()) return NegErrno(b.status());
    } while (!Take(claim, {&a->rel, &b->rel}));
  }
  if (IsRoot(*a) || IsRoot(*b) || a->dots != 0 || b->dots != 0) return -EBUSY;
  if (int64_t e = Exists(*a); e < 0) return e;
  if (int64_t e = SlashOnNonDirectory(*a); e < 0) return e;
  if (int64_t e = SlashOnNonDirectory(*b); e < 0) return e;
  if (b->dir_only || a->dir_only) {
    // "name/" on either side: the source must be a directory (the kernel's ENOTDIR).
    RAMS_ASSIGN_OR_RETURN_ERRNO(struct stat st, LstatAt(a->parent.get(), a->name));
    if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
  }
  if (a->rel == b->rel) return 0;
  // The kernel decides every other refusal; a save before a refused rename
  // only saves an unchanged state, which restore puts back as it is.
  if (int64_t e = Save(a->rel, Change::kReplace); e < 0) return e;
  if (int64_t e = Save(b->rel, Change::kReplace); e < 0) return e;
  if (::renameat(a->parent.get(), a->name.c_str(), b->parent.get(), b->name.c_str()) != 0) return NegErrno();
  return 0;
}

int64_t FileServer::Truncate(std::string_view path, int64_t len) {
  if (len < 0) return -EINVAL;
  Claim claim(*this);
  Result<Resolved> r = ResolveAndClaim(claim, path, true);
  if (!r.ok()) return NegErrno(r.status());
  RAMS_ASSIGN_OR_RETURN_ERRNO(struct stat st, LstatAt(r->parent.get(), r->name));
  if (int64_t e = SlashOnNonDirectory(*r); e < 0) return e;
  if (S_ISDIR(st.st_mode)) return -EISDIR;
  if (!S_ISREG(st.st_mode)) return -EINVAL;
  if (int64_t e = Save(r->rel, Change::kContent); e < 0) return e;
  sys::UniqueFd fd(::openat(r->parent.get(), r->name.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return NegErrno();
  if (::ftruncate(fd.get(), len) != 0) return NegErrno();
  return 0;
}

int64_t FileServer::Symlink(std::string_view target, std::string_view path) {
  if (target.empty()) return -ENOENT;
  if (target.size() > kMaxPathBytes) return -ENAMETOOLONG;
  Claim claim(*this);
  Result<Resolved> r = ResolveAndClaim(claim, path, false);
  if (!r.ok()) return NegErrno(r.status());
  struct stat st;
  if (IsRoot(*r) || ::fstatat(r->parent.get(), r->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return -EEXIST;
  if (r->dir_only) return -ENOENT;  // a symlink cannot be made as "name/"
  if (int64_t e = Save(r->rel, Change::kReplace); e < 0) return e;
  std::string t(target);
  if (::symlinkat(t.c_str(), r->parent.get(), r->name.c_str()) != 0) return NegErrno();
  return 0;
}

int64_t FileServer::Readlink(std::string_view path, char* buf, size_t len) {
  if (len == 0) return -EINVAL;
  Result<Resolved> r = root_.Resolve(path, EndsInSlash(path));
  if (!r.ok()) return NegErrno(r.status());
  if (int64_t e = SlashOnNonDirectory(*r); e < 0) return e;
  ssize_t n = ::readlinkat(r->parent.get(), r->name.c_str(), buf, len);
  return n < 0 ? NegErrno() : n;
}

int64_t FileServer::Chmod(std::string_view path, mode_t mode) {
  Claim claim(*this);
  Result<Resolved> r = ResolveAndClaim(claim, path, true);
  if (!r.ok()) return NegErrno(r.status());
  if (int64_t e = Exists(*r); e < 0) return e;
  if (int64_t e = SlashOnNonDirectory(*r); e < 0) return e;
  if (int64_t e = Save(r->rel, Change::kMetadata); e < 0) return e;
  // Never follow here: Resolve already followed what was a symlink, and one a
  // racing client puts in its place since may point out of the root.
  if (::fchmodat(r->parent.get(), r->name.c_str(), mode & 07777, AT_SYMLINK_NOFOLLOW) != 0) return NegErrno();
  return 0;
}

int64_t FileServer::Commit() {
  Claim claim(*this);
  ClaimRoot(claim);
  Status s = checkpoint_->Begin();
  generation_.store(checkpoint_->generation());
  return NegErrno(s);
}

int64_t FileServer::RestoreCheckpoint() {
  Claim claim(*this);
  ClaimRoot(claim);
  Status s = checkpoint_->Restore(false);
  if (!s.ok()) fprintf(stderr, "fssd: restore failed: %s\n", s.ToString().c_str());
  generation_.store(checkpoint_->generation());
  return NegErrno(s);
}

}  // namespace rams::fss
