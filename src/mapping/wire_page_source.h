/* SPDX-License-Identifier: MIT */
// WirePageSource: a PageSource over one mapping session with the segment's
// home ramsd (docs/protocol.md §8). PAGE_GET/PUT/DROP are calls on the
// session; the home's INVALIDATE/DOWNGRADE requests are read by a thread of
// its own, handed to the CoherenceSink one at a time in the order they
// arrived, and answered after the sink applied them (with the data when the
// local copy was dirty). When the session breaks the sink is told once
// (Lost) and every later call fails with the session's error. The directory
// epoch of the first grant is kept; a grant under another epoch (the home
// restarted) is Lost too: the home's directory no longer knows this host's
// copies (docs/remote-mapping.md rule 7).
//
// Thread safety: Get/Put/Drop from any thread; the sink's callbacks run on
// the recall thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "mapping/page_source.h"
#include "rams/export.h"
#include "rams/remote.h"
#include "sys/local_mutex.h"
#include "wire/messages.h"

namespace rams::remote_internal {
class Connection;
}

namespace rams::mapping {

// Hidden like the connection it holds: librams-internal, linked statically.
class RAMS_HIDDEN WirePageSource : public PageSource {
 public:
  // Connects to ramsd at host:port asking for the mapping feature and opens
  // `segment` (read-only when `read_only`). EOPNOTSUPP when the home does
  // not serve mapping.
  static Result<std::unique_ptr<WirePageSource>> Open(std::string_view host, uint16_t port,
                                                      std::string_view segment, bool read_only,
                                                      const RemoteOptions& options);
  ~WirePageSource() override;

  uint64_t SizeBytes() const override { return size_bytes_; }
  bool ReadOnly() const override { return read_only_; }
  Result<Grant> Get(uint64_t page, Access access, uint64_t have_version,
                    std::span<std::byte> data) override;
  Result<Grant> GetAhead(uint64_t page, uint32_t count, uint64_t have_version,
                         std::span<std::byte> data, std::vector<AheadGrant>* ahead) override;
  Status Put(uint64_t page, std::span<const std::byte> data) override;
  Status Drop(uint64_t page, std::span<const std::byte> dirty) override;
  void SetSink(CoherenceSink* sink) override;
  // MAP_OWNER on the mapping session.
  Result<OwnerIndex> Owner(uint64_t local_domain) override;

  // Recalls answered so far (tests, stats).
  uint64_t recalls_answered() const { return recalls_answered_.load(std::memory_order_relaxed); }

 private:
  WirePageSource(std::shared_ptr<remote_internal::Connection> conn, uint32_t handle,
                 uint64_t size_bytes, bool read_only);
  uint64_t PageCount() const { return (size_bytes_ + kPageBytes - 1) / kPageBytes; }
  // One PAGE_GET of `count` pages from `page` (the extra ones into `ahead`).
  Result<Grant> Fetch(uint64_t page, uint32_t count, Access access, uint64_t have_version,
                      std::span<std::byte> data, std::vector<AheadGrant>* ahead) EXCLUDES(mu_);
  Status CheckGrants(const wire::PageGetReply& reply, uint64_t page, uint32_t count,
                     uint64_t have_version) const;
  void RecallLoop();
  // OWNER_PROBE: whether thread `tid` of the PID namespace of domain
  // `local_domain` is alive, as this process sees it (wire::kOwner*).
  static uint32_t ProbeOwner(uint64_t local_domain, uint32_t tid);
  void ReportLost(const Status& why);
  uint64_t VersionOf(uint64_t page) EXCLUDES(mu_);
  // A PUT/DROP answered EPERM: stale (Ok) when a recall of `page` crossed it,
  // applied since the page's last grant or still queued; else the error.
  Status StaleOrError(uint64_t page, Status s) EXCLUDES(mu_);

  const std::shared_ptr<remote_internal::Connection> conn_;
  const uint32_t handle_;
  const uint64_t size_bytes_;
  const bool read_only_;

  sys::LocalMutex mu_;
  // The version of each page this host was granted (PUT and DROP name it).
  std::unordered_map<uint64_t, uint64_t> versions_ GUARDED_BY(mu_);
  // Pages recalled (INVALIDATE or DOWNGRADE applied) since their last grant.
  std::unordered_set<uint64_t> recalled_ GUARDED_BY(mu_);
  uint64_t epoch_ GUARDED_BY(mu_) = 0;
  bool lost_ GUARDED_BY(mu_) = false;
  CoherenceSink* sink_ GUARDED_BY(mu_) = nullptr;
  sys::LocalCondVar sink_cv_;  // the sink was set

  // Relaxed: a flag polled by the recall thread, and a counter.
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> recalls_answered_{0};
  std::thread recall_thread_;
};

}  // namespace rams::mapping
