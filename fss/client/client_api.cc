// SPDX-License-Identifier: MIT
// libfss: the fss.h functions, each one (or, past 1 MiB, a few) round trips.
#include <cerrno>
#include <cstring>
#include <string>

#include "client_call.h"

namespace {

using rams::fss::Call;
using rams::fss::Op;
using rams::fss::Request;

int64_t Ret(int64_t r) {
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

int64_t PathCall(fss_client* c, Op op, const char* path, const char* path2 = nullptr, uint32_t mode = 0,
                 int64_t offset = 0) {
  if (path == nullptr || (path2 == nullptr && (op == Op::kRename || op == Op::kSymlink))) return Ret(-EFAULT);
  Request r;
  r.op = op;
  r.path = path;
  if (path2 != nullptr) r.path2 = path2;
  r.mode = mode;
  r.offset = offset;
  r.umask = rams::fss::ClientUmask(c);
  return Ret(Call(c, r, nullptr, 0, nullptr, 0));
}

int64_t FdCall(fss_client* c, Op op, int fd, int64_t offset = 0, uint32_t flags = 0) {
  Request r;
  r.op = op;
  r.fd = fd;
  r.offset = offset;
  r.flags = flags;
  return Ret(Call(c, r, nullptr, 0, nullptr, 0));
}

// Reads or writes in data-area-sized pieces; stops at a short transfer.
int64_t Transfer(fss_client* c, Op op, int fd, void* rbuf, const void* wbuf, size_t count, int64_t offset) {
  uint64_t chunk_max = rams::fss::DataAreaBytes(c);
  if (chunk_max == 0) return Ret(-EBADF);
  bool writing = op == Op::kWrite || op == Op::kPwrite;
  size_t done = 0;
  do {
    size_t chunk = std::min<uint64_t>(count - done, chunk_max);
    Request r;
    r.op = op;
    r.fd = fd;
    r.count = chunk;
    r.offset = offset + static_cast<int64_t>(done);
    int64_t n = writing ? Call(c, r, static_cast<const char*>(wbuf) + done, chunk, nullptr, 0)
                        : Call(c, r, nullptr, 0, static_cast<char*>(rbuf) + done, chunk);
    if (n < 0) return done > 0 ? static_cast<int64_t>(done) : Ret(n);
    done += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < chunk) break;
  } while (done < count);
  return static_cast<int64_t>(done);
}

}  // namespace

extern "C" {

int fss_open(fss_client* c, const char* path, int flags, mode_t mode) {
  if (path == nullptr) return static_cast<int>(Ret(-EFAULT));
  Request r;
  r.op = Op::kOpen;
  r.path = path;
  r.flags = static_cast<uint32_t>(flags);
  r.mode = mode;
  r.umask = rams::fss::ClientUmask(c);
  return static_cast<int>(Ret(Call(c, r, nullptr, 0, nullptr, 0)));
}

int fss_close(fss_client* c, int fd) { return static_cast<int>(FdCall(c, Op::kClose, fd)); }

ssize_t fss_read(fss_client* c, int fd, void* buf, size_t count) {
  return Transfer(c, Op::kRead, fd, buf, nullptr, count, 0);
}
ssize_t fss_write(fss_client* c, int fd, const void* buf, size_t count) {
  return Transfer(c, Op::kWrite, fd, nullptr, buf, count, 0);
}
ssize_t fss_pread(fss_client* c, int fd, void* buf, size_t count, off_t offset) {
  if (offset < 0) return Ret(-EINVAL);
  return Transfer(c, Op::kPread, fd, buf, nullptr, count, offset);
}
ssize_t fss_pwrite(fss_client* c, int fd, const void* buf, size_t count, off_t offset) {
  if (offset < 0) return Ret(-EINVAL);
  return Transfer(c, Op::kPwrite, fd, nullptr, buf, count, offset);
}

off_t fss_lseek(fss_client* c, int fd, off_t offset, int whence) {
  return FdCall(c, Op::kLseek, fd, offset, static_cast<uint32_t>(whence));
}

int fss_fstat(fss_client* c, int fd, struct fss_statbuf* st) {
  Request r;
  r.op = Op::kFstat;
  r.fd = fd;
  return static_cast<int>(Ret(Call(c, r, nullptr, 0, st, sizeof(*st))));
}

int fss_fsync(fss_client* c, int fd) { return static_cast<int>(FdCall(c, Op::kFsync, fd)); }
int fss_ftruncate(fss_client* c, int fd, off_t length) {
  return static_cast<int>(FdCall(c, Op::kFtruncate, fd, length));
}

int fss_readdir(fss_client* c, int fd, struct fss_dirent* entries, size_t max) {
  uint64_t cap = rams::fss::DataAreaBytes(c) / sizeof(fss_dirent);
  Request r;
  r.op = Op::kReaddir;
  r.fd = fd;
  r.count = std::min<uint64_t>(max, cap);
  return static_cast<int>(Ret(Call(c, r, nullptr, 0, entries, r.count * sizeof(fss_dirent))));
}

static int StatCall(fss_client* c, Op op, const char* path, struct fss_statbuf* st) {
  if (path == nullptr || st == nullptr) return static_cast<int>(Ret(-EFAULT));
  Request r;
  r.op = op;
  r.path = path;
  return static_cast<int>(Ret(Call(c, r, nullptr, 0, st, sizeof(*st))));
}

int fss_stat(fss_client* c, const char* path, struct fss_statbuf* st) { return StatCall(c, Op::kStat, path, st); }
int fss_lstat(fss_client* c, const char* path, struct fss_statbuf* st) { return StatCall(c, Op::kLstat, path, st); }

int fss_mkdir(fss_client* c, const char* path, mode_t mode) {
  return static_cast<int>(PathCall(c, Op::kMkdir, path, nullptr, mode));
}
int fss_rmdir(fss_client* c, const char* path) { return static_cast<int>(PathCall(c, Op::kRmdir, path)); }
int fss_unlink(fss_client* c, const char* path) { return static_cast<int>(PathCall(c, Op::kUnlink, path)); }
int fss_rename(fss_client* c, const char* from, const char* to) {
  return static_cast<int>(PathCall(c, Op::kRename, from, to));
}
int fss_truncate(fss_client* c, const char* path, off_t length) {
  return static_cast<int>(PathCall(c, Op::kTruncate, path, nullptr, 0, length));
}
int fss_symlink(fss_client* c, const char* target, const char* linkpath) {
  return static_cast<int>(PathCall(c, Op::kSymlink, target, linkpath));
}
int fss_chmod(fss_client* c, const char* path, mode_t mode) {
  return static_cast<int>(PathCall(c, Op::kChmod, path, nullptr, mode));
}

ssize_t fss_readlink(fss_client* c, const char* path, char* buf, size_t size) {
  if (path == nullptr || buf == nullptr) return Ret(-EFAULT);
  Request r;
  r.op = Op::kReadlink;
  r.path = path;
  r.count = std::min<uint64_t>(size, rams::fss::DataAreaBytes(c));
  return Ret(Call(c, r, nullptr, 0, buf, r.count));
}

static int ControlCall(fss_client* c, Op op) {
  Request r;
  r.op = op;
  return static_cast<int>(Ret(Call(c, r, nullptr, 0, nullptr, 0)));
}

int fss_commit(fss_client* c) { return ControlCall(c, Op::kCommit); }
int fss_checkpoint(fss_client* c) { return ControlCall(c, Op::kCommit); }
int fss_restore(fss_client* c) { return ControlCall(c, Op::kRestore); }

}  // extern "C"
