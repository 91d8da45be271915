// SPDX-License-Identifier: MIT
// RemoteAttachment::Map through this host's pager (docs/host-pager.md), and
// the mapping's status and flush.
#include <cerrno>
#include <cstdlib>

#include "rams/remote.h"
#include "mapping/host_pager.h"
#include "mapping/mapped_segment.h"
#include "remote/connection.h"

namespace rams {

using remote_internal::Call;

Result<std::span<std::byte>> RemoteAttachment::Map() {
  std::lock_guard lock(map_mu_);
  if (mapped_) return mapped_->data();
  const char* env = std::getenv("RAMS_PAGER_SOCKET");
  const std::string socket = env != nullptr && *env != '\0' ? env : mapping::kDefaultPagerSocket;
  const std::string what = "map remote segment " + info_.name;
  // The home's view of the segment's hosts, for sync objects in the mapping
  // whose owners are on other hosts (MAP_HOSTS on this session).
  auto host_states = [conn = conn_, handle = handle_]() -> Result<mapping::HostStates> {
    Call call{.opcode = wire::Opcode::kMapHosts};
    RAMS_RETURN_IF_ERROR(conn->RoundTrip(&call, Encode(wire::HandleRequest{.handle = handle})));
    RAMS_ASSIGN_OR_RETURN(wire::MapHostsReply reply, wire::MapHostsReply::Decode(call.body));
    return mapping::HostStates{.domain = reply.domain, .live = reply.live, .dead = reply.dead};
  };
  // And about a thread of a live host (OWNER_ALIVE: the home asks that
  // host's pager), for an owner that died on a host whose pager lives on.
  auto thread_state = [conn = conn_, handle = handle_](
                          uint32_t index, uint32_t tid) -> Result<internal::Liveness> {
    Call call{.opcode = wire::Opcode::kOwnerAlive};
    RAMS_RETURN_IF_ERROR(conn->RoundTrip(
        &call, Encode(wire::OwnerAliveRequest{.handle = handle, .host_index = index, .tid = tid})));
    RAMS_ASSIGN_OR_RETURN(wire::OwnerStateReply reply, wire::OwnerStateReply::Decode(call.body));
    return reply.state == wire::kOwnerDead    ? internal::Liveness::kDead
           : reply.state == wire::kOwnerAlive ? internal::Liveness::kAlive
                                              : internal::Liveness::kUnknown;
  };
  auto m = mapping::MappedSegment::Open(
      socket, conn_->peer() + "/" + info_.name,
      mapping::MapOptions{.write = !read_only_, .host_states = std::move(host_states),
                          .thread_state = std::move(thread_state)});
  if (m.code() == ENOENT && m.status().message().find("connect") != std::string::npos) {
    return Error(ENOTSUP, what + ": no host pager at " + socket);
  }
  if (m.code() == ECONNREFUSED) return Error(ENOTSUP, what + ": no host pager at " + socket);
  if (!m.ok()) return Status(m.code(), what + ": " + m.status().message());
  mapped_ = std::move(*m);
  return mapped_->data();
}

Status RemoteAttachment::MappingStatus() {
  std::lock_guard lock(map_mu_);
  if (!mapped_) return Error(EINVAL, "mapping status of " + info_.name + ": not mapped");
  return mapped_->Check();
}

Status RemoteAttachment::FlushMapping() {
  std::lock_guard lock(map_mu_);
  if (!mapped_) return Error(EINVAL, "flush mapping of " + info_.name + ": not mapped");
  return mapped_->Flush();
}

}  // namespace rams
