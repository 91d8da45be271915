/* SPDX-License-Identifier: MIT */
// The FSS request format: what a client writes into its shared-memory
// channel (channel.h) and how the server decodes it. A request is a fixed
// 64-byte header (operation, arguments) plus up to two paths in their own
// areas and, for writes, the bytes in the data area. The decoder treats every
// byte as untrusted: the header is copied out of shared memory first, every
// length is bounded, reserved fields must be zero, paths may not contain NUL.
// A request that fails to decode gets an error reply (EINVAL, ENAMETOOLONG,
// EBADMSG) and the server goes on.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rams/status.h"

namespace rams::fss {

enum class Op : uint32_t {
  kOpen = 1,
  kClose = 2,
  kRead = 3,
  kWrite = 4,
  kPread = 5,
  kPwrite = 6,
  kLseek = 7,
  kFstat = 8,
  kFsync = 9,
  kFtruncate = 10,
  kReaddir = 11,
  kStat = 12,
  kLstat = 13,
  kMkdir = 14,
  kRmdir = 15,
  kUnlink = 16,
  kRename = 17,
  kTruncate = 18,
  kSymlink = 19,
  kReadlink = 20,
  kChmod = 21,
  kCommit = 22,
  kRestore = 23,
  kPing = 24,
};
inline constexpr uint32_t kMaxOp = 24;

// Bytes reserved for each of the two paths.
inline constexpr uint32_t kPathAreaBytes = 4096;

struct RequestHeader {
  uint32_t op;          // Op
  uint32_t flags;       // open flags; whence for lseek
  int32_t fd;           // the client's descriptor
  uint32_t mode;        // open, mkdir, chmod
  int64_t offset;       // pread/pwrite/lseek offset; truncate length
  uint64_t count;       // bytes to read or write; readdir entries; readlink buffer
  uint32_t path_bytes;  // first path (target of symlink, source of rename)
  uint32_t path2_bytes; // second path (symlink's link path, rename's destination)
  uint32_t umask;       // the client's umask, for creations
  uint32_t reserved[5]; // must be zero
};
static_assert(sizeof(RequestHeader) == 64);
static_assert(offsetof(RequestHeader, offset) == 16);
static_assert(offsetof(RequestHeader, path_bytes) == 32);

struct ReplyHeader {
  int64_t result;        // >= 0, or -errno
  uint64_t data_bytes;   // bytes of reply data in the data area
  uint64_t reserved[2];  // zero
};
static_assert(sizeof(ReplyHeader) == 32);

// A decoded, validated request, private to the server.
struct Request {
  Op op = Op::kPing;
  uint32_t flags = 0;
  int32_t fd = -1;
  uint32_t mode = 0;
  int64_t offset = 0;
  uint64_t count = 0;
  uint32_t umask = 0;
  std::string path;
  std::string path2;
};

// Decodes `header` (already copied out of shared memory) with its path
// areas. `data_bytes` is the channel's data area size, the bound on counts.
Result<Request> DecodeRequest(const RequestHeader& header, std::string_view path_area,
                              std::string_view path2_area, uint64_t data_bytes);

// Whether `op` takes `count` input bytes from the data area (writes).
bool IsInputOp(Op op);

// The inverse, for the client and for tests.
RequestHeader EncodeRequest(const Request& request);

}  // namespace rams::fss
