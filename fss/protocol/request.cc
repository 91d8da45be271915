// SPDX-License-Identifier: MIT
// Request validation: the server's only decoder of client bytes.
#include "request.h"

#include <unistd.h>

#include <cstring>

#include "rams/fss.h"
#include "check.h"

namespace rams::fss {
namespace {

enum ArgUse : uint32_t {
  kFd = 1 << 0,     // operates on a descriptor
  kPath = 1 << 1,   // needs the first path
  kPath2 = 1 << 2,  // needs the second path
  kIn = 1 << 3,     // count bytes come from the data area
  kOut = 1 << 4,    // count bytes go to the data area
  kDirents = 1 << 5,
};

uint32_t UsesOf(Op op) {
  switch (op) {
    case Op::kOpen: case Op::kStat: case Op::kLstat: case Op::kMkdir: case Op::kRmdir:
    case Op::kUnlink: case Op::kTruncate: case Op::kChmod:
      return kPath;
    case Op::kReadlink:
      return kPath | kOut;
    case Op::kRename: case Op::kSymlink:
      return kPath | kPath2;
    case Op::kClose: case Op::kLseek: case Op::kFstat: case Op::kFsync: case Op::kFtruncate:
      return kFd;
    case Op::kRead: case Op::kPread:
      return kFd | kOut;
    case Op::kWrite: case Op::kPwrite:
      return kFd | kIn;
    case Op::kReaddir:
      return kFd | kDirents;
    case Op::kCommit: case Op::kRestore: case Op::kPing:
      return 0;
  }
  return 0;
}

Result<std::string> TakePath(std::string_view area, uint32_t bytes) {
  if (bytes == 0) return Error(ENOENT, "empty path");
  if (bytes > area.size() || bytes > kPathAreaBytes) return Error(ENAMETOOLONG, "path length");
  std::string path(area.substr(0, bytes));
  if (path.find('\0') != std::string::npos) return Error(EINVAL, "NUL in path");
  return path;
}

}  // namespace

bool IsInputOp(Op op) { return (UsesOf(op) & kIn) != 0; }

Result<Request> DecodeRequest(const RequestHeader& h, std::string_view path_area,
                              std::string_view path2_area, uint64_t data_bytes) {
  for (uint32_t r : h.reserved) {
    if (r != 0) return Error(EINVAL, "reserved request field set");
  }
  if (h.op == 0 || h.op > kMaxOp) return Error(ENOSYS, "unknown operation");
  Request req;
  req.op = static_cast<Op>(h.op);
  uint32_t uses = UsesOf(req.op);
  req.flags = h.flags;
  req.fd = h.fd;
  req.mode = h.mode & 07777;
  req.offset = h.offset;
  req.count = h.count;
  req.umask = h.umask & 0777;
  if ((uses & kFd) && h.fd < 0) return Error(EBADF, "negative descriptor");
  if ((uses & (kIn | kOut)) && h.count > data_bytes) return Error(EINVAL, "count exceeds the data area");
  if ((uses & kDirents) && (h.count == 0 || h.count > data_bytes / sizeof(fss_dirent))) {
    return Error(EINVAL, "readdir entry count");
  }
  if ((uses & kPath) == 0 && h.path_bytes != 0) return Error(EINVAL, "unexpected path");
  if ((uses & kPath2) == 0 && h.path2_bytes != 0) return Error(EINVAL, "unexpected second path");
  if (uses & kPath) {
    RAMS_ASSIGN_OR_RETURN(req.path, TakePath(path_area, h.path_bytes));
  }
  if (uses & kPath2) {
    RAMS_ASSIGN_OR_RETURN(req.path2, TakePath(path2_area, h.path2_bytes));
  }
  // Postconditions: what the server sizes its copies by.
  RAMS_CHECK(!(uses & (kIn | kOut)) || req.count <= data_bytes);
  RAMS_CHECK(req.path.size() <= path_area.size() && req.path2.size() <= path2_area.size());
  return req;
}

RequestHeader EncodeRequest(const Request& req) {
  RequestHeader h = {};
  h.op = static_cast<uint32_t>(req.op);
  h.flags = req.flags;
  h.fd = req.fd;
  h.mode = req.mode;
  h.offset = req.offset;
  h.count = req.count;
  h.path_bytes = static_cast<uint32_t>(req.path.size());
  h.path2_bytes = static_cast<uint32_t>(req.path2.size());
  h.umask = req.umask;
  return h;
}

}  // namespace rams::fss
