// SPDX-License-Identifier: MIT
#include "mapping/wire_page_source.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "remote/connection.h"
#include "sync/owner.h"
#include "wire/messages.h"

namespace rams::mapping {

using remote_internal::Call;
using remote_internal::Clock;

namespace {


// How often the recall thread looks at stop_ while the home is quiet.
constexpr std::chrono::milliseconds kRecallPollSlice{100};

}  // namespace

Result<std::unique_ptr<WirePageSource>> WirePageSource::Open(std::string_view host, uint16_t port,
                                                             std::string_view segment,
                                                             bool read_only,
                                                             const RemoteOptions& options) {
  RAMS_ASSIGN_OR_RETURN(std::shared_ptr<remote_internal::Connection> conn,
                        remote_internal::Connection::Open(
                            host, port, options,
                            wire::kAllFeatures | wire::kFeatureMapping | wire::kFeatureOwnerProbe));
  if ((conn->features() & wire::kFeatureMapping) == 0) {
    return Error(EOPNOTSUPP, "ramsd at " + conn->peer() + " does not serve remote mapping");
  }
  Call open{.opcode = wire::Opcode::kOpen};
  RAMS_RETURN_IF_ERROR(conn->RoundTrip(
      &open, Encode(wire::OpenRequest{.flags = read_only ? wire::kOpenReadOnly : 0u,
                                      .name = segment})));
  RAMS_ASSIGN_OR_RETURN(wire::OpenReply reply, wire::OpenReply::Decode(open.body));
  if (reply.size_bytes == 0) return Error(EINVAL, "map " + std::string(segment) + ": empty segment");
  return std::unique_ptr<WirePageSource>(
      new WirePageSource(std::move(conn), reply.handle, reply.size_bytes, read_only));
}

WirePageSource::WirePageSource(std::shared_ptr<remote_internal::Connection> conn, uint32_t handle,
                               uint64_t size_bytes, bool read_only)
    : conn_(std::move(conn)), handle_(handle), size_bytes_(size_bytes), read_only_(read_only) {
  recall_thread_ = std::thread([this] { RecallLoop(); });
}

WirePageSource::~WirePageSource() {
  stop_.store(true, std::memory_order_relaxed);
  {
    sys::LocalMutexLock l(mu_);
    sink_cv_.NotifyAll();
  }
  recall_thread_.join();
}

Result<OwnerIndex> WirePageSource::Owner(uint64_t local_domain) {
  Call call{.opcode = wire::Opcode::kMapOwner};
  RAMS_RETURN_IF_ERROR(conn_->RoundTrip(
      &call, Encode(wire::MapOwnerRequest{.handle = handle_, .local_domain = local_domain})));
  RAMS_ASSIGN_OR_RETURN(wire::MapOwnerReply reply, wire::MapOwnerReply::Decode(call.body));
  return OwnerIndex{.domain = reply.domain, .host_index = reply.host_index};
}

void WirePageSource::SetSink(CoherenceSink* sink) {
  sys::LocalMutexLock l(mu_);
  sink_ = sink;
  sink_cv_.NotifyAll();
}

uint64_t WirePageSource::VersionOf(uint64_t page) {
  sys::LocalMutexLock l(mu_);
  auto it = versions_.find(page);
  return it == versions_.end() ? 0 : it->second;
}

void WirePageSource::ReportLost(const Status& why) {
  CoherenceSink* sink = nullptr;
  {
    sys::LocalMutexLock l(mu_);
    if (lost_) return;
    lost_ = true;
    sink = sink_;
  }
  if (sink != nullptr) sink->Lost(why);
}

Result<Grant> WirePageSource::Get(uint64_t page, Access access, uint64_t have_version,
                                  std::span<std::byte> data) {
  return Fetch(page, 1, access, have_version, data, nullptr);
}

Result<Grant> WirePageSource::GetAhead(uint64_t page, uint32_t count, uint64_t have_version,
                                       std::span<std::byte> data,
                                       std::vector<AheadGrant>* ahead) {
  if (count == 0 || count > kMaxReadAheadPages || page >= PageCount() ||
      count > PageCount() - page) {
    return Error(EINVAL, "PAGE_GET: read-ahead range outside the segment or too long");
  }
  return Fetch(page, count, Access::kRead, have_version, data, ahead);
}

// The home's reply is hostile input too: the first grant must be `page`, the
// others strictly increasing inside the range asked for (one without data is
// a page this host holds exclusively already).
Status WirePageSource::CheckGrants(const wire::PageGetReply& reply, uint64_t page,
                                   uint32_t count, uint64_t have_version) const {
  const wire::PageGrant& g = reply.grants.front();
  if (g.page != page) return Error(EPROTO, "PAGE_GET: the home granted another page");
  if ((g.flags & wire::kGrantData) == 0 && have_version == 0) {
    return Error(EPROTO, "PAGE_GET: a grant without data for a page this host does not hold");
  }
  if (reply.grants.size() > count) return Error(EPROTO, "PAGE_GET: more pages than asked for");
  uint64_t last = page;
  for (size_t i = 1; i < reply.grants.size(); ++i) {
    const wire::PageGrant& a = reply.grants[i];
    if (a.page <= last || a.page - page >= count) {
      return Error(EPROTO, "PAGE_GET: a read-ahead grant out of order or out of range");
    }
    last = a.page;
  }
  return Status::Ok();
}

Result<Grant> WirePageSource::Fetch(uint64_t page, uint32_t count, Access access,
                                    uint64_t have_version, std::span<std::byte> data,
                                    std::vector<AheadGrant>* ahead) {
  static_assert(kMaxReadAheadPages == wire::kMaxPagesPerGet);
  if (data.size() != kPageBytes) return Error(EINVAL, "PAGE_GET: the buffer is not one page");
  Call call{.opcode = wire::Opcode::kPageGet};
  RAMS_RETURN_IF_ERROR(conn_->RoundTrip(
      &call, Encode(wire::PageGetRequest{
                 .handle = handle_,
                 .access = access == Access::kWrite ? wire::kAccessWrite : wire::kAccessRead,
                 .count = static_cast<uint16_t>(count), .first_page = page,
                 .have_version = have_version})));
  RAMS_ASSIGN_OR_RETURN(wire::PageGetReply reply, wire::PageGetReply::Decode(call.body));
  RAMS_RETURN_IF_ERROR(CheckGrants(reply, page, count, have_version));
  const wire::PageGrant& g = reply.grants.front();
  bool epoch_changed = false;
  {
    sys::LocalMutexLock l(mu_);
    if (lost_) return Error(ENOTCONN, "the mapping session was lost");
    if (epoch_ == 0) epoch_ = reply.epoch;
    epoch_changed = reply.epoch != epoch_;
    if (!epoch_changed) {
      for (const wire::PageGrant& x : reply.grants) {
        versions_[x.page] = x.version;
        recalled_.erase(x.page);
      }
    }
  }
  if (epoch_changed) {
    // The home restarted: its directory does not know our copies (rule 7).
    ReportLost(Error(ESTALE, "the home restarted (new directory epoch)"));
    return Error(ESTALE, "PAGE_GET: the home restarted (new directory epoch)");
  }
  if ((reply.flags & wire::kSegmentLostPages) != 0) {
    fprintf(stderr, "rams: pages of a mapped segment on %s were lost with a host that held "
                    "them exclusively\n",
            conn_->peer().c_str());
    CoherenceSink* sink = nullptr;
    {
      sys::LocalMutexLock l(mu_);
      sink = sink_;
    }
    if (sink != nullptr) sink->PagesLost();
  }
  if ((g.flags & wire::kGrantData) != 0) std::copy(g.data.begin(), g.data.end(), data.begin());
  for (size_t i = 1; ahead != nullptr && i < reply.grants.size(); ++i) {
    const wire::PageGrant& a = reply.grants[i];
    ahead->push_back({.page = a.page, .version = a.version,
                      .data = std::vector<std::byte>(a.data.begin(), a.data.end())});
  }
  return Grant{.version = g.version, .data_included = (g.flags & wire::kGrantData) != 0};
}

Status WirePageSource::Put(uint64_t page, std::span<const std::byte> data) {
  if (data.size() != kPageBytes) return Error(EINVAL, "PAGE_PUT: not one page");
  Call call{.opcode = wire::Opcode::kPagePut};
  Status s = conn_->RoundTrip(&call, Encode(wire::PagePutRequest{.handle = handle_, .page = page,
                                                                 .version = VersionOf(page),
                                                                 .data = data}));
  // EPERM: the page is no longer ours exclusively — when an INVALIDATE or
  // DOWNGRADE crossed this write-back its acknowledgement carried the same
  // data home (docs/remote-mapping.md, Status); otherwise it is an error.
  if (s.code() == EPERM) return StaleOrError(page, s);
  RAMS_RETURN_IF_ERROR(s);
  RAMS_ASSIGN_OR_RETURN(wire::U64Reply reply, wire::U64Reply::Decode(call.body));
  sys::LocalMutexLock l(mu_);
  versions_[page] = reply.value;
  return Status::Ok();
}

Status WirePageSource::Drop(uint64_t page, std::span<const std::byte> dirty) {
  if (!dirty.empty() && dirty.size() != kPageBytes) return Error(EINVAL, "PAGE_DROP: not one page");
  Call call{.opcode = wire::Opcode::kPageDrop};
  Status s = conn_->RoundTrip(
      &call, Encode(wire::PageDropRequest{.handle = handle_,
                                          .flags = dirty.empty() ? 0u : wire::kPageDirty,
                                          .page = page, .version = VersionOf(page),
                                          .data = dirty}));
  {
    sys::LocalMutexLock l(mu_);
    versions_.erase(page);
  }
  if (s.code() == EPERM) return StaleOrError(page, s);  // as for Put
  return s;
}

Status WirePageSource::StaleOrError(uint64_t page, Status s) {
  // The home sent the recall before answering: it is queued, or was taken
  // (and so is in recalled_, under the same lock).
  const bool crossed = conn_->InspectServerRequests(
      [&](const std::deque<remote_internal::ServerRequest>& queued) {
        for (const remote_internal::ServerRequest& r : queued) {
          auto recall = wire::RecallRequest::Decode(r.body);
          if (recall.ok() && recall->handle == handle_ && recall->page == page) return true;
        }
        sys::LocalMutexLock l(mu_);
        return recalled_.count(page) != 0;
      });
  if (crossed) return Status::Ok();
  return Status(s.code(), "page " + std::to_string(page) + " (no recall crossed it): " +
                              s.message());
}

uint32_t WirePageSource::ProbeOwner(uint64_t local_domain, uint32_t tid) {
  // This process (the host's pager) sees the threads of its own PID
  // namespace only; an owner of another namespace of this host cannot be
  // told from here. Tag 0: existence (a reused tid looks alive).
  if (local_domain != internal::SelfDomain()) return wire::kOwnerCannotTell;
  switch (internal::CheckOwner(tid)) {
    case internal::Liveness::kDead: return wire::kOwnerDead;
    case internal::Liveness::kAlive: return wire::kOwnerAlive;
    case internal::Liveness::kUnknown: return wire::kOwnerCannotTell;
  }
  return wire::kOwnerCannotTell;
}

void WirePageSource::RecallLoop() {
  CoherenceSink* sink = nullptr;
  {
    sys::LocalMutexLock l(mu_);
    while (sink_ == nullptr && !stop_.load(std::memory_order_relaxed)) sink_cv_.Wait(mu_);
    sink = sink_;
  }
  std::vector<std::byte> page(kPageBytes);
  while (!stop_.load(std::memory_order_relaxed)) {
    Result<remote_internal::ServerRequest> r =
        conn_->NextServerRequest(Clock::now() + kRecallPollSlice,
                                 [this](const remote_internal::ServerRequest& taken) {
                                   auto recall = wire::RecallRequest::Decode(taken.body);
                                   if (!recall.ok()) return;
                                   sys::LocalMutexLock l(mu_);
                                   recalled_.insert(recall->page);
                                 });
    if (!r.ok()) {
      if (r.code() == ETIMEDOUT) continue;
      return ReportLost(r.status());
    }
    if (r->header.opcode == static_cast<uint8_t>(wire::Opcode::kOwnerProbe)) {
      rams::Result<wire::OwnerProbeRequest> probe = wire::OwnerProbeRequest::Decode(r->body);
      if (!probe.ok() || probe->handle != handle_) {
        return ReportLost(Error(EPROTO, "a malformed owner probe from " + conn_->peer()));
      }
      const wire::OwnerStateReply reply{.state = ProbeOwner(probe->local_domain, probe->tid)};
      conn_->AnswerServerRequest(r->header, Encode(reply)).IgnoreError();  // broken: next turn
      continue;
    }
    rams::Result<wire::RecallRequest> recall = wire::RecallRequest::Decode(r->body);
    if (!recall.ok() || recall->handle != handle_) {
      // Our only handle, a well-formed body: anything else is a broken home.
      return ReportLost(Error(EPROTO, "a malformed recall from " + conn_->peer()));
    }
    bool dirty = false;
    const bool invalidate = r->header.opcode == static_cast<uint8_t>(wire::Opcode::kInvalidate);
    Status s = invalidate ? sink->Invalidate(recall->page, recall->version, page, &dirty)
                          : sink->Downgrade(recall->page, recall->version, page, &dirty);
    if (invalidate) {
      sys::LocalMutexLock l(mu_);
      versions_.erase(recall->page);
    }
    wire::RecallReply reply{.flags = (s.ok() && dirty) ? wire::kPageDirty : 0u};
    if (s.ok() && dirty) reply.data = page;
    if (!conn_->AnswerServerRequest(r->header, Encode(reply)).ok()) continue;  // broken: next turn
    recalls_answered_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace rams::mapping
