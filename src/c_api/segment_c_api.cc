// SPDX-License-Identifier: MIT
// The C interface (rams.h) over the C++ API.
#include "rams/rams.h"

#include <cerrno>
#include <cstring>
#include <new>

#include "c_api_internal.h"
#include "rams/segment.h"

namespace rams::internal {

thread_local std::string g_last_error;

int CApiFail(const rams::Status& s) {
  g_last_error = s.ToString();
  return -s.code();
}

}  // namespace rams::internal

namespace {

using rams::internal::g_last_error;
int Fail(const rams::Status& s) { return rams::internal::CApiFail(s); }

void Fill(const rams::SegmentInfo& in, rams_segment_info* out) {
  std::memset(out, 0, sizeof *out);
  std::strncpy(out->name, in.name.c_str(), sizeof out->name - 1);
  std::strncpy(out->backend, in.backend.c_str(), sizeof out->backend - 1);
  out->size_bytes = in.size_bytes;
  out->created_unix_ns = in.created_unix_ns;
  out->owner_uid = in.owner_uid;
  out->owner_gid = in.owner_gid;
  out->mode = in.mode;
  out->locks_held = in.locks_held;
}

bool BadArg(const void* p, const char* what) {
  if (p != nullptr) return false;
  g_last_error = std::string(what) + ": null argument: EINVAL";
  return true;
}

}  // namespace

extern "C" {

int rams_segment_open(const char* name, uint64_t size_bytes, uint32_t mode, unsigned flags,
                      rams_segment** out) {
  if (BadArg(name, "rams_segment_open") || BadArg(out, "rams_segment_open")) return -EINVAL;
  if ((flags & ~(RAMS_CREATE | RAMS_EXCL)) != 0) {
    return Fail(rams::Error(EINVAL, "rams_segment_open: unknown flags"));
  }
  rams::OpenOptions options;
  options.size_bytes = size_bytes;
  options.mode = mode;
  if (flags & RAMS_CREATE) {
    options.open_mode = (flags & RAMS_EXCL) ? rams::OpenMode::kCreateExclusive
                                            : rams::OpenMode::kCreate;
  }
  auto seg = rams::Segment::Open(name, options);
  if (!seg.ok()) return Fail(seg.status());
  *out = new (std::nothrow) rams_segment{std::move(*seg)};
  return *out == nullptr ? -ENOMEM : 0;
}

void rams_segment_close(rams_segment* seg) { delete seg; }

int rams_segment_remove(const char* name) {
  if (BadArg(name, "rams_segment_remove")) return -EINVAL;
  rams::Status s = rams::Segment::Remove(name);
  return s.ok() ? 0 : Fail(s);
}

int rams_segment_stat(const char* name, rams_segment_info* out) {
  if (BadArg(name, "rams_segment_stat") || BadArg(out, "rams_segment_stat")) return -EINVAL;
  auto info = rams::Segment::Stat(name);
  if (!info.ok()) return Fail(info.status());
  Fill(*info, out);
  return 0;
}

int rams_segment_describe(rams_segment* seg, rams_segment_info* out) {
  if (BadArg(seg, "rams_segment_describe") || BadArg(out, "rams_segment_describe")) return -EINVAL;
  auto info = seg->segment.Stat();
  if (!info.ok()) return Fail(info.status());
  Fill(*info, out);
  return 0;
}

int rams_segment_list(rams_segment_info* out, size_t cap) {
  if (cap > 0 && BadArg(out, "rams_segment_list")) return -EINVAL;
  auto list = rams::Segment::List();
  if (!list.ok()) return Fail(list.status());
  for (size_t i = 0; i < list->size() && i < cap; ++i) Fill((*list)[i], &out[i]);
  return static_cast<int>(list->size());
}

int rams_segment_map(rams_segment* seg, void** addr, uint64_t* size_bytes) {
  if (BadArg(seg, "rams_segment_map") || BadArg(addr, "rams_segment_map")) return -EINVAL;
  auto bytes = seg->segment.Map();
  if (!bytes.ok()) return Fail(bytes.status());
  *addr = bytes->data();
  if (size_bytes != nullptr) *size_bytes = bytes->size();
  return 0;
}

int rams_segment_read(rams_segment* seg, uint64_t offset, void* buf, size_t len) {
  if (BadArg(seg, "rams_segment_read") || (len > 0 && BadArg(buf, "rams_segment_read"))) {
    return -EINVAL;
  }
  rams::Status s = seg->segment.Read(offset, {static_cast<std::byte*>(buf), len});
  return s.ok() ? 0 : Fail(s);
}

int rams_segment_write(rams_segment* seg, uint64_t offset, const void* buf, size_t len) {
  if (BadArg(seg, "rams_segment_write") || (len > 0 && BadArg(buf, "rams_segment_write"))) {
    return -EINVAL;
  }
  rams::Status s = seg->segment.Write(offset, {static_cast<const std::byte*>(buf), len});
  return s.ok() ? 0 : Fail(s);
}

int rams_segment_lock(rams_segment* seg, uint64_t offset, uint64_t len, uint32_t writes,
                      int64_t timeout_ns, uint64_t* lock_id) {
  if (BadArg(seg, "rams_segment_lock") || BadArg(lock_id, "rams_segment_lock")) return -EINVAL;
  rams::LockOptions options;
  options.writes = writes;
  options.timeout = rams::internal::ToTimeout(timeout_ns);
  auto id = seg->segment.attachment().Lock(offset, len, options);
  if (!id.ok()) return Fail(id.status());
  *lock_id = *id;
  return 0;
}

int rams_segment_unlock(rams_segment* seg, uint64_t lock_id) {
  if (BadArg(seg, "rams_segment_unlock")) return -EINVAL;
  rams::Status s = seg->segment.attachment().Unlock(lock_id);
  return s.ok() ? 0 : Fail(s);
}

int rams_segment_lock_held(rams_segment* seg, uint64_t lock_id) {
  if (BadArg(seg, "rams_segment_lock_held")) return -EINVAL;
  auto held = seg->segment.attachment().Held(lock_id);
  if (!held.ok()) return Fail(held.status());
  return *held ? 1 : 0;
}

int rams_segment_wait(rams_segment* seg, uint64_t offset, uint32_t expected, int64_t timeout_ns) {
  if (BadArg(seg, "rams_segment_wait")) return -EINVAL;
  rams::Status s = seg->segment.Wait(offset, expected, rams::internal::ToTimeout(timeout_ns));
  return s.ok() ? 0 : Fail(s);
}

int rams_segment_wake(rams_segment* seg, uint64_t offset, uint32_t count) {
  if (BadArg(seg, "rams_segment_wake")) return -EINVAL;
  auto woken = seg->segment.Wake(offset, count);
  if (!woken.ok()) return Fail(woken.status());
  return static_cast<int>(*woken > INT32_MAX ? INT32_MAX : *woken);
}

const char* rams_last_error(void) { return g_last_error.c_str(); }

}  // extern "C"
