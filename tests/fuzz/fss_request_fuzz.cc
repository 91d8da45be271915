// SPDX-License-Identifier: MIT
// Fuzzes the FSS request decoder, the server's only reader of client bytes:
// the input is a request header followed by the two path areas. Whatever it
// accepts must satisfy the decoder's promises (bounded, NUL-free paths,
// counts within the data area, known operation) and survive a round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "rams/fss.h"
#include "request.h"

namespace {

constexpr uint64_t kDataBytes = 1 << 20;

void Check(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rams::fss;
  RequestHeader h = {};
  std::memcpy(&h, data, size < sizeof(h) ? size : sizeof(h));
  size_t rest = size > sizeof(h) ? size - sizeof(h) : 0;
  const char* areas = reinterpret_cast<const char*>(data) + (size - rest);
  std::string_view path(areas, rest / 2);
  std::string_view path2(areas + rest / 2, rest - rest / 2);
  rams::Result<Request> r = DecodeRequest(h, path, path2, kDataBytes);
  if (!r.ok()) {
    Check(r.code() != 0);
    return 0;
  }
  const Request& q = *r;
  Check(static_cast<uint32_t>(q.op) >= 1 && static_cast<uint32_t>(q.op) <= kMaxOp);
  Check(q.path.size() <= kPathAreaBytes && q.path2.size() <= kPathAreaBytes);
  Check(q.path.find('\0') == std::string::npos && q.path2.find('\0') == std::string::npos);
  Check((q.mode & ~07777u) == 0 && (q.umask & ~0777u) == 0);
  if (q.op == Op::kRead || q.op == Op::kWrite || q.op == Op::kPread || q.op == Op::kPwrite) {
    Check(q.count <= kDataBytes && q.fd >= 0);
  }
  if (q.op == Op::kReaddir) Check(q.count >= 1 && q.count * sizeof(fss_dirent) <= kDataBytes);
  RequestHeader again = EncodeRequest(q);
  rams::Result<Request> r2 = DecodeRequest(again, q.path, q.path2, kDataBytes);
  Check(r2.ok());
  Check(r2->op == q.op && r2->path == q.path && r2->path2 == q.path2 && r2->count == q.count &&
        r2->offset == q.offset && r2->fd == q.fd && r2->flags == q.flags);
  return 0;
}
