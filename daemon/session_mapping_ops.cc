// SPDX-License-Identifier: MIT
// ramsd as the home of remote mappings: a session's PAGE_GET/PUT/DROP, the
// INVALIDATE/DOWNGRADE requests it is sent and their replies
// (docs/protocol.md §8). The directory itself is the server's MappingHome.
#include <spdlog/spdlog.h>

#include <cerrno>

#include "mapping_home.h"
#include "session.h"

namespace ramsd {

using rams::Error;
using rams::Status;

rams::Result<Session::Handle*> Session::FindMappingHandle(uint32_t handle, std::string_view op,
                                                          bool write) {
  if (!mapping_) {
    return Error(EOPNOTSUPP, std::string(op) + ": remote mapping (feature bit 4) not negotiated");
  }
  RAMS_ASSIGN_OR_RETURN(Handle * hd, FindHandle(handle, op));
  if (write && hd->read_only) return Error(EROFS, std::string(op) + ": read-only handle");
  return hd;
}

Status Session::HandleMappingStat(const Header& h, Body body) {
  if (!body.empty()) return Error(EINVAL, "MAPPING_STAT: body not empty");
  Reply(h, Encode(server_.MappingStatReply()));
  return Status::Ok();
}

Status Session::HandlePageGet(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::PageGetRequest req, wire::PageGetRequest::Decode(body));
  const bool write = req.access == wire::kAccessWrite;
  RAMS_ASSIGN_OR_RETURN(Handle * hd, FindMappingHandle(req.handle, "PAGE_GET", write));
  // The handle recalls of this segment name (the host's newest one).
  mapping_handles_[hd->name] = req.handle;
  mapping_registered_ = true;
  pending_gets_.insert(h.request_id);
  Status s = server_.mapping().Get(this, id_, hd->name, h.request_id, req.first_page, req.count,
                                   write, req.have_version, ReadOnlyExport(hd->name));
  if (!s.ok()) pending_gets_.erase(h.request_id);
  return s;
}

Status Session::HandlePagePut(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::PagePutRequest req, wire::PagePutRequest::Decode(body));
  RAMS_ASSIGN_OR_RETURN(Handle * hd, FindMappingHandle(req.handle, "PAGE_PUT", true));
  RAMS_ASSIGN_OR_RETURN(uint64_t version,
                        server_.mapping().Put(id_, hd->name, req.page, req.version, req.data));
  Reply(h, Encode(wire::U64Reply{.value = version}));
  return Status::Ok();
}

Status Session::HandlePageDrop(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::PageDropRequest req, wire::PageDropRequest::Decode(body));
  const bool dirty = (req.flags & wire::kPageDirty) != 0;
  RAMS_ASSIGN_OR_RETURN(Handle * hd, FindMappingHandle(req.handle, "PAGE_DROP", dirty));
  RAMS_ASSIGN_OR_RETURN(uint64_t version,
                        server_.mapping().Drop(id_, hd->name, req.page, req.version, req.data));
  Reply(h, Encode(wire::U64Reply{.value = version}));
  return Status::Ok();
}

bool Session::ReadOnlyExport(const std::string& name) const {
  const Export* exp = server_.FindExport(name);
  return exp == nullptr || exp->read_only;
}

Status Session::HandleMapOwner(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::MapOwnerRequest req, wire::MapOwnerRequest::Decode(body));
  RAMS_ASSIGN_OR_RETURN(Handle * hd, FindMappingHandle(req.handle, "MAP_OWNER", false));
  // The session is a host of this segment from now on: its end kills the
  // index (EndMapping), and recalls find its handle.
  mapping_handles_.try_emplace(hd->name, req.handle);
  mapping_registered_ = true;
  RAMS_ASSIGN_OR_RETURN(MappingHome::OwnerIndex owner,
                        server_.mapping().AssignOwnerIndex(this, id_, hd->name, req.local_domain,
                                                           ReadOnlyExport(hd->name)));
  Reply(h, Encode(wire::MapOwnerReply{.domain = owner.domain, .host_index = owner.host_index}));
  return Status::Ok();
}

Status Session::HandleMapHosts(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::HandleRequest req, wire::HandleRequest::Decode(body));
  // Any session that opened the segment may ask: the answer is what its
  // mapping processes need to tell a dead owner from a live one.
  RAMS_ASSIGN_OR_RETURN(Handle * hd, FindHandle(req.handle, "MAP_HOSTS"));
  const MappingHome::HostStates states = server_.mapping().OwnerHosts(hd->name);
  Reply(h, Encode(wire::MapHostsReply{.domain = states.domain, .live = states.live,
                                      .dead = states.dead}));
  return Status::Ok();
}

Status Session::HandleOwnerAlive(const Header& h, Body body) {
  RAMS_ASSIGN_OR_RETURN(wire::OwnerAliveRequest req, wire::OwnerAliveRequest::Decode(body));
  // As MAP_HOSTS: any session that opened the segment may ask.
  RAMS_ASSIGN_OR_RETURN(Handle * hd, FindHandle(req.handle, "OWNER_ALIVE"));
  const MappingHome::ProbeTarget target =
      server_.mapping().OwnerProbeTarget(hd->name, req.host_index);
  if (target.dead) {
    Reply(h, Encode(wire::OwnerStateReply{.state = wire::kOwnerDead}));
    return Status::Ok();
  }
  // The owner's host answers (its pager sees its processes), unless it takes
  // no probes, has too many in flight, or the index is not live.
  if (target.host == nullptr || !target.host->SendOwnerProbe(hd->name, target.local_domain,
                                                             req.tid, weak_from_this(), h)) {
    Reply(h, Encode(wire::OwnerStateReply{.state = wire::kOwnerCannotTell}));
  }
  return Status::Ok();
}

bool Session::SendOwnerProbe(const std::string& segment, uint64_t local_domain, uint32_t tid,
                             std::weak_ptr<Session> asker, const Header& request) {
  io_thread_.AssertHeld();
  if (closing_ || !owner_probe_ || probes_.size() >= wire::kMaxProbesPerSession) return false;
  auto handle = mapping_handles_.find(segment);
  if (handle == mapping_handles_.end()) return false;
  const uint64_t id = next_server_request_id_++;
  probes_[id] = OutstandingProbe{.asker = std::move(asker), .request = request};
  wire::Bytes out;
  wire::OwnerProbeRequest{.handle = handle->second, .tid = tid, .local_domain = local_domain}
      .EncodeTo(&out);
  Header h{.opcode = static_cast<uint8_t>(wire::Opcode::kOwnerProbe), .flags = 0,
           .request_id = id};
  Enqueue(Frame(h, out));
  return true;
}

void Session::HandleProbeReply(const Header& h, Body body) {
  auto it = probes_.find(h.request_id);
  const OutstandingProbe probe = std::move(it->second);
  probes_.erase(it);
  uint32_t state = wire::kOwnerCannotTell;  // an error reply says nothing
  if (h.status == 0) {
    rams::Result<wire::OwnerStateReply> r = wire::OwnerStateReply::Decode(body);
    if (!r.ok()) {
      if (auto asker = probe.asker.lock()) {
        asker->io_thread_.AssertHeld();  // every session runs on the one io thread
        asker->Reply(probe.request, Encode(wire::OwnerStateReply{}));
      }
      return ProtocolViolation(nullptr, r.status());
    }
    state = r->state;
  }
  if (auto asker = probe.asker.lock()) {
    asker->io_thread_.AssertHeld();  // every session runs on the one io thread
    asker->Reply(probe.request, Encode(wire::OwnerStateReply{.state = state}));
  }
}

void Session::DropProbes() {
  for (auto& [id, probe] : probes_) {
    if (auto asker = probe.asker.lock()) {
      asker->io_thread_.AssertHeld();  // every session runs on the one io thread
      asker->Reply(probe.request, Encode(wire::OwnerStateReply{}));
    }
  }
  probes_.clear();
}

void Session::SendPageGrant(const rams::mapping::DirectoryAction& grant, uint64_t epoch) {
  io_thread_.AssertHeld();
  if (pending_gets_.erase(grant.tag) == 0) return;  // not ours, or the session ended
  wire::PageGetReply reply{.epoch = epoch,
                           .flags = grant.lost_pages ? wire::kSegmentLostPages : 0u};
  for (const rams::mapping::PageGrantOut& g : grant.grants) {
    reply.grants.push_back(wire::PageGrant{.page = g.page, .version = g.version,
                                           .flags = g.data_included ? wire::kGrantData : 0u,
                                           .data = g.data});
  }
  wire::Bytes out;
  reply.EncodeTo(&out);
  Header h{.opcode = static_cast<uint8_t>(wire::Opcode::kPageGet), .flags = wire::kFlagReply,
           .request_id = grant.tag};
  Enqueue(Frame(h, out), /*in_order=*/true);
}

void Session::SendRecall(const std::string& segment, rams::mapping::RecallKind kind,
                         uint64_t page, uint64_t version) {
  io_thread_.AssertHeld();
  if (closing_) return;
  auto handle = mapping_handles_.find(segment);
  if (handle == mapping_handles_.end()) return;  // never mapped here: nothing to recall
  if (recalls_.size() >= wire::kMaxRecallsPerSession) {
    // A host this far behind is not answering: the recall timeout cuts it
    // off; sending more would only grow its queue.
    return;
  }
  const uint64_t id = next_server_request_id_++;
  recalls_[id] = OutstandingRecall{.segment = segment, .page = page};
  wire::Bytes out;
  wire::RecallRequest{.handle = handle->second, .page = page, .version = version}.EncodeTo(&out);
  const auto op = kind == rams::mapping::RecallKind::kInvalidate ? wire::Opcode::kInvalidate
                                                                 : wire::Opcode::kDowngrade;
  Header h{.opcode = static_cast<uint8_t>(op), .flags = 0, .request_id = id};
  Enqueue(Frame(h, out), /*in_order=*/true);
}

void Session::HandleRecallReply(const Header& h, Body body) {
  if (probes_.contains(h.request_id)) return HandleProbeReply(h, body);
  auto it = recalls_.find(h.request_id);
  if (it == recalls_.end()) {
    return ProtocolViolation(nullptr, Error(EPROTO, "reply to request " +
                                                        std::to_string(h.request_id) +
                                                        ", which the server did not send"));
  }
  const OutstandingRecall recall = it->second;
  recalls_.erase(it);
  std::span<const std::byte> dirty;
  wire::Bytes copy;  // the data outlives the receive buffer's next fill
  if (h.status == 0) {
    rams::Result<wire::RecallReply> r = wire::RecallReply::Decode(body);
    if (!r.ok()) return ProtocolViolation(nullptr, r.status());
    if ((r->flags & wire::kPageDirty) != 0) {
      copy.assign(r->data.begin(), r->data.end());
      dirty = copy;
    }
  }
  // An error reply counts as acknowledged without data (protocol.md §8).
  Status s = server_.mapping().Acknowledge(id_, recall.segment, recall.page, dirty);
  if (!s.ok()) spdlog::debug("connection {}: recall reply: {}", id_, s.ToString());
}

void Session::CutOff() {
  io_thread_.AssertHeld();
  spdlog::warn("connection {} from {}: cut off (a recall went unanswered)", id_, peer_);
  Abort();
}

void Session::EndMapping() {
  if (!mapping_registered_) return;
  mapping_registered_ = false;
  pending_gets_.clear();
  recalls_.clear();
  DropProbes();
  server_.mapping().HostGone(id_);
}

}  // namespace ramsd
