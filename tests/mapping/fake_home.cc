// SPDX-License-Identifier: MIT
// The in-memory IVY directory for the pager tests (fake_home.h).
#include "fake_home.h"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <thread>

namespace rams::mapping::testing {

struct FakeHome::PageEntry {
  std::timed_mutex tx;  // one transaction at a time
  int owner = -1;       // exclusive holder
  uint32_t sharers = 0; // bit per host
  uint64_t version = 1;
  std::vector<std::byte> data = std::vector<std::byte>(kPageBytes);
};

// One host's session: its sink, and the thread that delivers pushes in order.
struct FakeHome::HostLink {
  std::atomic<CoherenceSink*> sink{nullptr};  // null once the host's source is gone
  std::atomic<bool> lost{false};
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;
  bool stop = false;
  std::thread thread;

  HostLink() {
    thread = std::thread([this] {
      for (;;) {
        std::function<void()> job;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return stop || !queue.empty(); });
          if (queue.empty()) return;
          job = std::move(queue.front());
          queue.pop_front();
        }
        job();
      }
    });
  }
  ~HostLink() {
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    cv.notify_all();
    thread.join();
  }
  void Post(std::function<void()> job) {
    {
      std::lock_guard lock(mu);
      queue.push_back(std::move(job));
    }
    cv.notify_all();
  }
};

class FakeHome::Client : public PageSource {
 public:
  Client(FakeHome* home, int host) : home_(home), host_(host) {}
  ~Client() override { home_->links_[host_]->sink = nullptr; }
  uint64_t SizeBytes() const override { return home_->size_bytes_; }
  bool ReadOnly() const override { return home_->read_only_; }
  Result<Grant> Get(uint64_t page, Access access, uint64_t have,
                    std::span<std::byte> data) override {
    return home_->Get(host_, page, access, have, data);
  }
  Result<Grant> GetAhead(uint64_t page, uint32_t count, uint64_t have, std::span<std::byte> data,
                         std::vector<AheadGrant>* ahead) override {
    return home_->GetAhead(host_, page, count, have, data, ahead);
  }
  Status Put(uint64_t page, std::span<const std::byte> data) override {
    return home_->Put(host_, page, data);
  }
  Status Drop(uint64_t page, std::span<const std::byte> dirty) override {
    return home_->Drop(host_, page, dirty);
  }
  void SetSink(CoherenceSink* sink) override { home_->links_[host_]->sink = sink; }

 private:
  FakeHome* home_;
  int host_;
};

FakeHome::FakeHome(uint64_t size_bytes, bool read_only, std::chrono::milliseconds timeout)
    : size_bytes_(size_bytes), read_only_(read_only), timeout_(timeout) {
  for (uint64_t i = 0; i < size_bytes / kPageBytes; ++i) {
    pages_.push_back(std::make_unique<PageEntry>());
  }
}

FakeHome::~FakeHome() = default;

std::unique_ptr<PageSource> FakeHome::Connect(int host) {
  links_[host] = std::make_unique<HostLink>();
  return std::make_unique<Client>(this, host);
}

void FakeHome::Disconnect(int host) {
  HostLink* link = links_[host].get();
  if (link->lost.exchange(true)) return;
  link->Post([link] {
    if (CoherenceSink* sink = link->sink) sink->Lost(Error(ENOTCONN, "fake home: session lost"));
  });
}

void FakeHome::PushTo(int host, uint64_t page, bool invalidate, PageEntry& e) {
  HostLink* link = links_[host].get();
  if (link->lost) return;
  struct Ack {
    std::vector<std::byte> dirty = std::vector<std::byte>(kPageBytes);
    bool was_dirty = false;
    Status status;
  };
  auto ack = std::make_shared<Ack>();
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> f = done->get_future();
  link->Post([link, ack, done, page, invalidate, version = e.version] {
    if (CoherenceSink* sink = link->sink) {
      ack->status = invalidate ? sink->Invalidate(page, version, ack->dirty, &ack->was_dirty)
                               : sink->Downgrade(page, version, ack->dirty, &ack->was_dirty);
    }
    done->set_value();
  });
  if (f.wait_for(timeout_) != std::future_status::ready || !ack->status.ok()) {
    // Never acknowledged (or refused): cut off; the home's copy stands.
    Disconnect(host);
    return;
  }
  if (ack->was_dirty) {
    e.data = ack->dirty;
    ++e.version;
  }
}

Result<Grant> FakeHome::Get(int host, uint64_t page, Access access, uint64_t have,
                            std::span<std::byte> data) {
  if (page >= pages_.size() || data.size() < kPageBytes) return Error(EINVAL, "fake home: page");
  if (links_[host]->lost) return Error(ENOTCONN, "fake home: session lost");
  if (access == Access::kWrite && read_only_) return Error(EROFS, "fake home: read-only");
  ++gets_;
  ++gets_by_[host];
  if (stalled_) {
    std::this_thread::sleep_for(timeout_);
    return Error(ETIMEDOUT, "fake home: no answer");
  }
  PageEntry& e = *pages_[page];
  std::unique_lock lock(e.tx, std::defer_lock);
  if (!lock.try_lock_for(timeout_)) return Error(ETIMEDOUT, "fake home: page busy");
  const uint32_t me = 1u << host;
  const bool was_holder = e.owner == host || (e.sharers & me) != 0;
  if (e.owner >= 0 && e.owner != host) {
    PushTo(e.owner, page, /*invalidate=*/access == Access::kWrite, e);
    if (access == Access::kRead && !links_[e.owner]->lost) e.sharers |= 1u << e.owner;
    e.owner = -1;
  }
  if (access == Access::kWrite) {
    for (int s = 0; s < kMaxHosts; ++s) {
      if (s != host && (e.sharers & (1u << s)) != 0) PushTo(s, page, /*invalidate=*/true, e);
    }
    e.sharers = 0;
    e.owner = host;
  } else {
    if (e.owner == host) e.owner = -1;
    e.sharers |= me;
  }
  if (links_[host]->lost) return Error(ENOTCONN, "fake home: session lost");
  Grant g;
  g.version = e.version;
  g.data_included = !(was_holder && have == e.version);
  if (g.data_included) {
    std::memcpy(data.data(), e.data.data(), kPageBytes);
    ++data_grants_;
  }
  return g;
}

Result<Grant> FakeHome::GetAhead(int host, uint64_t page, uint32_t count, uint64_t have,
                                 std::span<std::byte> data, std::vector<AheadGrant>* ahead) {
  if (count == 0 || count > kMaxReadAheadPages || page >= pages_.size() ||
      count > pages_.size() - page) {
    return Error(EINVAL, "fake home: read-ahead range");
  }
  RAMS_ASSIGN_OR_RETURN(Grant g, Get(host, page, Access::kRead, have, data));
  // As the real directory: the following pages this host can be granted
  // shared at once (no transaction in flight, not exclusive elsewhere).
  for (uint64_t next = page + 1; next < page + count; ++next) {
    PageEntry& e = *pages_[next];
    std::unique_lock lock(e.tx, std::try_to_lock);
    if (!lock.owns_lock() || (e.owner >= 0 && e.owner != host)) continue;
    AheadGrant a{.page = next, .version = e.version};
    if (e.owner != host) {
      e.sharers |= 1u << host;
      a.data = e.data;
      ++data_grants_;
    }
    ++ahead_grants_;
    ahead->push_back(std::move(a));
  }
  std::unique_lock lock(hold_mu_);
  hold_cv_.wait_for(lock, timeout_, [&] { return !hold_ahead_; });
  return g;
}

void FakeHome::HoldAheadReplies(bool hold) {
  {
    std::lock_guard lock(hold_mu_);
    hold_ahead_ = hold;
  }
  hold_cv_.notify_all();
}

Status FakeHome::Put(int host, uint64_t page, std::span<const std::byte> data) {
  if (page >= pages_.size() || data.size() != kPageBytes) return Error(EINVAL, "fake home: put");
  PageEntry& e = *pages_[page];
  std::unique_lock lock(e.tx, std::defer_lock);
  if (!lock.try_lock_for(timeout_)) return Error(ETIMEDOUT, "fake home: page busy");
  if (e.owner != host) return Status();  // its data already came with a push
  std::memcpy(e.data.data(), data.data(), kPageBytes);
  ++e.version;
  e.owner = -1;
  e.sharers = 1u << host;
  return Status();
}

Status FakeHome::Drop(int host, uint64_t page, std::span<const std::byte> dirty) {
  if (page >= pages_.size()) return Error(EINVAL, "fake home: drop");
  std::this_thread::sleep_for(std::chrono::milliseconds(drop_delay_ms_.load()));
  PageEntry& e = *pages_[page];
  std::unique_lock lock(e.tx, std::defer_lock);
  if (!lock.try_lock_for(timeout_)) return Error(ETIMEDOUT, "fake home: page busy");
  if (e.owner == host) {
    if (dirty.size() == kPageBytes) {
      std::memcpy(e.data.data(), dirty.data(), kPageBytes);
      ++e.version;
    }
    e.owner = -1;
  }
  e.sharers &= ~(1u << host);
  return Status();
}

void FakeHome::Recall(uint64_t page, PageEntry& e, bool invalidate_all) {
  if (e.owner >= 0) {
    PushTo(e.owner, page, invalidate_all, e);
    if (!invalidate_all) e.sharers |= 1u << e.owner;
    e.owner = -1;
  }
  if (invalidate_all) {
    for (int s = 0; s < kMaxHosts; ++s) {
      if ((e.sharers & (1u << s)) != 0) PushTo(s, page, true, e);
    }
    e.sharers = 0;
  }
}

std::vector<std::byte> FakeHome::ReadCoherent(uint64_t page) {
  PageEntry& e = *pages_[page];
  std::lock_guard lock(e.tx);
  Recall(page, e, /*invalidate_all=*/false);
  return e.data;
}

void FakeHome::WriteCoherent(uint64_t page, std::span<const std::byte> data) {
  PageEntry& e = *pages_[page];
  std::lock_guard lock(e.tx);
  Recall(page, e, /*invalidate_all=*/true);
  std::memcpy(e.data.data(), data.data(), kPageBytes);
  ++e.version;
}

}  // namespace rams::mapping::testing
