/* SPDX-License-Identifier: MIT */
// FakeHome: an in-memory page directory with IVY semantics, for testing the
// host pager without a network. Each "host" gets its own PageSource
// (Connect); a transaction on a page (one at a time per page) pushes
// Downgrade/Invalidate to the other hosts' sinks and waits for their
// acknowledgements (dirty data included) before it grants. Pushes to one
// host are delivered in order on that host's own thread, as the wire does.
// A host that does not acknowledge within the push timeout is cut off (its
// sink gets Lost) and the others proceed.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "mapping/page_source.h"

namespace rams::mapping::testing {

class FakeHome {
 public:
  static constexpr int kMaxHosts = 8;
  FakeHome(uint64_t size_bytes, bool read_only = false,
           std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  ~FakeHome();

  // The PageSource of host `host` (0 <= host < kMaxHosts), once per host.
  std::unique_ptr<PageSource> Connect(int host);

  // The page's current data, recalling an exclusive copy first (how a
  // one-sided READ stays coherent with mappings).
  std::vector<std::byte> ReadCoherent(uint64_t page);
  // Writes `data` at the home after invalidating every copy (a one-sided WRITE).
  void WriteCoherent(uint64_t page, std::span<const std::byte> data);

  uint64_t gets() const { return gets_; }                 // every Get call
  uint64_t data_grants() const { return data_grants_; }   // grants that carried data
  uint64_t gets_by(int host) const { return gets_by_[host]; }
  uint64_t ahead_grants() const { return ahead_grants_; }  // pages granted read-ahead
  // While stalled, Get waits for the timeout and fails ETIMEDOUT.
  void SetStalled(bool stalled) { stalled_ = stalled; }
  // Every Drop waits this long before it reaches the directory (a PAGE_DROP
  // slow on the wire), so a transaction can overtake it.
  void SetDropDelay(std::chrono::milliseconds delay) { drop_delay_ms_ = delay.count(); }
  // While held, GetAhead makes its grants and then waits (for the release,
  // at most the timeout) before it returns them: a reply slow on the wire,
  // so the host can change the pages granted meanwhile.
  void HoldAheadReplies(bool hold);
  // The session of `host` breaks: its sink gets Lost, its calls fail.
  void Disconnect(int host);

 private:
  class Client;
  struct PageEntry;
  struct HostLink;
  Result<Grant> Get(int host, uint64_t page, Access access, uint64_t have,
                    std::span<std::byte> data);
  Result<Grant> GetAhead(int host, uint64_t page, uint32_t count, uint64_t have,
                         std::span<std::byte> data, std::vector<AheadGrant>* ahead);
  Status Put(int host, uint64_t page, std::span<const std::byte> data);
  Status Drop(int host, uint64_t page, std::span<const std::byte> dirty);
  // Pushes to `host` and applies its dirty data; cuts it off on timeout.
  void PushTo(int host, uint64_t page, bool invalidate, PageEntry& e);
  void Recall(uint64_t page, PageEntry& e, bool invalidate_all);

  const uint64_t size_bytes_;
  const bool read_only_;
  const std::chrono::milliseconds timeout_;
  std::vector<std::unique_ptr<PageEntry>> pages_;
  std::unique_ptr<HostLink> links_[kMaxHosts];
  std::atomic<uint64_t> gets_{0};
  std::atomic<uint64_t> data_grants_{0};
  std::atomic<uint64_t> ahead_grants_{0};
  std::atomic<uint64_t> gets_by_[kMaxHosts] = {};
  std::atomic<bool> stalled_{false};
  std::atomic<int64_t> drop_delay_ms_{0};
  std::mutex hold_mu_;
  std::condition_variable hold_cv_;
  bool hold_ahead_ = false;  // guarded by hold_mu_
};

}  // namespace rams::mapping::testing
