// SPDX-License-Identifier: MIT
// The remote part of the C interface (rams.h) over RemoteSession.
#include <cerrno>
#include <new>

#include "c_api_internal.h"
#include "rams/rams.h"
#include "rams/remote.h"

struct rams_remote {
  rams::RemoteSession session;
};

namespace {

using rams::internal::CApiFail;

bool Null(const void* p, const char* what) {
  if (p != nullptr) return false;
  CApiFail(rams::Error(EINVAL, std::string(what) + ": null argument"));
  return true;
}

}  // namespace

namespace rams::internal {

rams::Result<rams::RemoteAttachment*> AsRemote(rams_segment* seg, const char* what) {
  if (seg == nullptr) return rams::Error(EINVAL, std::string(what) + ": null segment");
  auto* remote = dynamic_cast<rams::RemoteAttachment*>(&seg->segment.attachment());
  if (remote == nullptr) {
    return rams::Error(ENOTSUP, std::string(what) + " " + seg->segment.name() + ": not remote");
  }
  return remote;
}

}  // namespace rams::internal

using rams::internal::AsRemote;

extern "C" {

int rams_remote_connect(const char* host, uint16_t port, const char* key, int64_t timeout_ms,
                        rams_remote** out) {
  if (Null(host, "rams_remote_connect") || Null(out, "rams_remote_connect")) return -EINVAL;
  rams::RemoteOptions options;
  if (key != nullptr) options.key = key;
  if (timeout_ms > 0) options.timeout = std::chrono::milliseconds(timeout_ms);
  auto session = rams::RemoteSession::Connect(host, port, options);
  if (!session.ok()) return CApiFail(session.status());
  *out = new (std::nothrow) rams_remote{std::move(*session)};
  return *out == nullptr ? -ENOMEM : 0;
}

void rams_remote_close(rams_remote* remote) { delete remote; }

int rams_remote_ping(rams_remote* remote) {
  if (Null(remote, "rams_remote_ping")) return -EINVAL;
  rams::Status s = remote->session.Ping();
  return s.ok() ? 0 : CApiFail(s);
}

int rams_remote_open(rams_remote* remote, const char* name, int read_only, rams_segment** out) {
  if (Null(remote, "rams_remote_open") || Null(name, "rams_remote_open") ||
      Null(out, "rams_remote_open")) {
    return -EINVAL;
  }
  auto seg = remote->session.Open(name, read_only != 0);
  if (!seg.ok()) return CApiFail(seg.status());
  *out = new (std::nothrow) rams_segment{rams::Segment(std::move(*seg))};
  return *out == nullptr ? -ENOMEM : 0;
}

int rams_remote_cas(rams_segment* seg, uint64_t offset, uint64_t expected, uint64_t desired,
                    uint64_t* previous) {
  if (Null(seg, "rams_remote_cas") || Null(previous, "rams_remote_cas")) return -EINVAL;
  auto remote = AsRemote(seg, "rams_remote_cas");
  if (!remote.ok()) return CApiFail(remote.status());
  auto v = (*remote)->CompareExchange(offset, expected, desired);
  if (!v.ok()) return CApiFail(v.status());
  *previous = *v;
  return 0;
}

int rams_remote_fetch_add(rams_segment* seg, uint64_t offset, uint64_t addend,
                          uint64_t* previous) {
  if (Null(seg, "rams_remote_fetch_add") || Null(previous, "rams_remote_fetch_add")) {
    return -EINVAL;
  }
  auto remote = AsRemote(seg, "rams_remote_fetch_add");
  if (!remote.ok()) return CApiFail(remote.status());
  auto v = (*remote)->FetchAdd(offset, addend);
  if (!v.ok()) return CApiFail(v.status());
  *previous = *v;
  return 0;
}

int rams_remote_mapping_status(rams_segment* seg) {
  if (Null(seg, "rams_remote_mapping_status")) return -EINVAL;
  auto remote = AsRemote(seg, "rams_remote_mapping_status");
  if (!remote.ok()) return CApiFail(remote.status());
  rams::Status s = (*remote)->MappingStatus();
  return s.ok() ? 0 : CApiFail(s);
}

int rams_remote_flush_mapping(rams_segment* seg) {
  if (Null(seg, "rams_remote_flush_mapping")) return -EINVAL;
  auto remote = AsRemote(seg, "rams_remote_flush_mapping");
  if (!remote.ok()) return CApiFail(remote.status());
  rams::Status s = (*remote)->FlushMapping();
  return s.ok() ? 0 : CApiFail(s);
}

}  // extern "C"
