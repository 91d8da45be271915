// SPDX-License-Identifier: MIT
// Request dispatch: one switch from operation to FileServer call.
#include "dispatch.h"
#include "check.h"

#include <cstring>

namespace rams::fss {
namespace {

ReplyHeader Reply(int64_t result, uint64_t data_bytes = 0) {
  ReplyHeader r = {};
  r.result = result;
  r.data_bytes = result >= 0 ? data_bytes : 0;
  return r;
}

ReplyHeader StatReply(int64_t result, const struct fss_statbuf& st, std::byte* data) {
  if (result < 0) return Reply(result);
  std::memcpy(data, &st, sizeof(st));
  return Reply(result, sizeof(st));
}

}  // namespace

ReplyHeader Dispatch(FileServer& fs, Session& s, const Request& q, std::byte* data, uint64_t data_bytes) {
  static_assert(sizeof(fss_statbuf) <= 4096);
  RAMS_CHECK(data_bytes >= sizeof(fss_statbuf));
  (void)data_bytes;
  struct fss_statbuf st = {};
  switch (q.op) {
    case Op::kOpen:
      return Reply(fs.Open(s, q.path, static_cast<int>(q.flags), q.mode, q.umask));
    case Op::kClose:
      return Reply(fs.Close(s, q.fd));
    case Op::kRead: {
      int64_t n = fs.Read(s, q.fd, data, q.count);
      return Reply(n, n > 0 ? static_cast<uint64_t>(n) : 0);
    }
    case Op::kPread: {
      int64_t n = fs.Pread(s, q.fd, data, q.count, q.offset);
      return Reply(n, n > 0 ? static_cast<uint64_t>(n) : 0);
    }
    case Op::kWrite:
      return Reply(fs.Write(s, q.fd, data, q.count));
    case Op::kPwrite:
      return Reply(fs.Pwrite(s, q.fd, data, q.count, q.offset));
    case Op::kLseek:
      return Reply(fs.Lseek(s, q.fd, q.offset, static_cast<int>(q.flags)));
    case Op::kFstat:
      return StatReply(fs.Fstat(s, q.fd, &st), st, data);
    case Op::kFsync:
      return Reply(fs.Fsync(s, q.fd));
    case Op::kFtruncate:
      return Reply(fs.Ftruncate(s, q.fd, q.offset));
    case Op::kReaddir: {
      auto* entries = reinterpret_cast<fss_dirent*>(data);
      int64_t n = fs.Readdir(s, q.fd, entries, q.count);
      return Reply(n, n > 0 ? static_cast<uint64_t>(n) * sizeof(fss_dirent) : 0);
    }
    case Op::kStat:
      return StatReply(fs.Stat(q.path, &st, true), st, data);
    case Op::kLstat:
      return StatReply(fs.Stat(q.path, &st, false), st, data);
    case Op::kMkdir:
      return Reply(fs.Mkdir(q.path, q.mode, q.umask));
    case Op::kRmdir:
      return Reply(fs.Rmdir(q.path));
    case Op::kUnlink:
      return Reply(fs.Unlink(q.path));
    case Op::kRename:
      return Reply(fs.Rename(q.path, q.path2));
    case Op::kTruncate:
      return Reply(fs.Truncate(q.path, q.offset));
    case Op::kSymlink:
      return Reply(fs.Symlink(q.path, q.path2));
    case Op::kReadlink: {
      int64_t n = fs.Readlink(q.path, reinterpret_cast<char*>(data), q.count);
      return Reply(n, n > 0 ? static_cast<uint64_t>(n) : 0);
    }
    case Op::kChmod:
      return Reply(fs.Chmod(q.path, q.mode));
    case Op::kCommit:
      return Reply(s.may_commit_or_restore() ? fs.Commit() : -EPERM);
    case Op::kRestore:
      return Reply(s.may_commit_or_restore() ? fs.RestoreCheckpoint() : -EPERM);
    case Op::kPing:
      return Reply(0);
  }
  return Reply(-ENOSYS);
}

}  // namespace rams::fss
