// SPDX-License-Identifier: MIT
#include "mapping_home.h"

#include <spdlog/spdlog.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "check.h"
#include "metrics.h"
#include "session.h"
#include "wire/messages.h"

namespace ramsd {

using rams::Error;
using rams::Status;
namespace mapping = rams::mapping;

namespace {

uint64_t NewEpoch() {
  uint64_t e = 0;
  // getrandom of 8 bytes does not fail short once the pool is ready; a
  // failure falls back to the clock (an epoch only has to differ per start).
  if (getrandom(&e, sizeof e, 0) != static_cast<ssize_t>(sizeof e) || e == 0) {
    e = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) | 1;
  }
  return e;
}

}  // namespace

// The types of MappingHome::Directory's members, in a named namespace: a
// class with external linkage may not hold members of an anonymous
// namespace's types outside the main file (-Wsubobject-linkage in a unity
// build).
namespace home_detail {

// The home's copy, read and written through ramsd's own attachment of the
// segment; the last page is zero-padded and writes past the end are dropped.
class AttachmentMemory : public mapping::PageMemory {
 public:
  explicit AttachmentMemory(rams::Attachment* a) : a_(a) {}
  void ReadPage(uint64_t page, std::span<std::byte> out) override {
    const auto [offset, len] = Extent(page, out.size());
    std::fill(out.begin() + static_cast<ptrdiff_t>(len), out.end(), std::byte{0});
    if (len == 0) return;
    if (Status s = a_->Read(offset, out.first(len)); !s.ok()) {
      spdlog::error("mapping: read page {} of {}: {}", page, a_->info().name, s.ToString());
    }
  }
  void WritePage(uint64_t page, std::span<const std::byte> data) override {
    const auto [offset, len] = Extent(page, data.size());
    if (len == 0) return;
    if (Status s = a_->Write(offset, data.first(len)); !s.ok()) {
      spdlog::error("mapping: write page {} of {}: {}", page, a_->info().name, s.ToString());
    }
  }

 private:
  std::pair<uint64_t, size_t> Extent(uint64_t page, size_t bytes) const {
    const uint64_t size = a_->info().size_bytes;
    const uint64_t offset = page * mapping::kDirectoryPageBytes;
    if (offset >= size) return {offset, 0};
    return {offset, static_cast<size_t>(std::min<uint64_t>(bytes, size - offset))};
  }
  rams::Attachment* a_;
};

// One entry of a segment's owner table: which mapping session (and PID
// namespace behind it) an index names.
// A directory starts with every index dead (died_at 0): any owner id the
// segment's data holds was written under an earlier directory (before a
// restart of this ramsd), whose hosts' processes lost their mappings with it.
struct OwnerSlot {
  enum class State : uint8_t { kLive, kDead };
  State state = State::kDead;
  uint64_t host_id = 0;
  uint64_t local_domain = 0;
  uint64_t died_at = 0;  // order of deaths: the longest dead is reused first
};

}  // namespace home_detail

using home_detail::AttachmentMemory;
using home_detail::OwnerSlot;

namespace {

// The segment's mapping domain: a value of the segment (its name and its
// creation time), the same across restarts of this ramsd so that sync
// objects made in the mapping before a restart remain usable after it;
// never a local domain's 0 or 1 (and, being a 64-bit hash, as good as
// never another PID namespace's).
uint64_t MappingDomain(int64_t created_unix_ns, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ static_cast<uint64_t>(created_unix_ns);  // FNV-1a, seeded
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return h > 1 ? h : h + 2;
}

}  // namespace

struct MappingHome::Directory {
  Directory(std::string n, std::unique_ptr<rams::Attachment> a, std::chrono::milliseconds timeout,
            uint64_t epoch)
      : name(std::move(n)),
        attachment(std::move(a)),
        memory(attachment.get()),
        dir((attachment->info().size_bytes + mapping::kDirectoryPageBytes - 1) /
                mapping::kDirectoryPageBytes,
            &memory, timeout),
        domain(MappingDomain(attachment->info().created_unix_ns, name)),
        first_index(static_cast<uint32_t>(epoch % rams::wire::kMaxOwnerHosts) + 1) {}
  std::string name;
  std::unique_ptr<rams::Attachment> attachment;
  AttachmentMemory memory;
  mapping::PageDirectory dir;
  const uint64_t domain;
  // Where the search for an index to hand out starts (1..255), a value of the
  // epoch: the indexes of an earlier directory, which objects in the data
  // may still name, are not its first choices (an index handed out again
  // makes such an owner look held by the new host: stuck, never two holders).
  const uint32_t first_index;
  std::array<OwnerSlot, rams::wire::kMaxOwnerHosts + 1> owners;  // [0]: the home, unused
  // WAKEs on the segment; read by parked WAITs on pool threads.
  std::shared_ptr<std::atomic<uint64_t>> wakes = std::make_shared<std::atomic<uint64_t>>(0);
};

MappingHome::MappingHome(asio::io_context& io, rams::Backend* backend,
                         std::chrono::milliseconds recall_timeout)
    : backend_(backend), recall_timeout_(recall_timeout), epoch_(NewEpoch()), timer_(io) {}

MappingHome::~MappingHome() = default;

rams::Result<MappingHome::Directory*> MappingHome::Find(const std::string& segment, bool create,
                                                        bool read_only) {
  if (auto it = directories_.find(segment); it != directories_.end()) return it->second.get();
  if (!create) return Error(EPERM, segment + ": no host maps it");
  if (backend_ == nullptr) return Error(EOPNOTSUPP, "mapping: no backend");
  RAMS_ASSIGN_OR_RETURN(
      std::unique_ptr<rams::Attachment> a,
      backend_->Open(segment, {.open_mode = read_only ? rams::OpenMode::kOpenReadOnly
                                                      : rams::OpenMode::kOpen}));
  if (a->info().size_bytes == 0) return Error(EINVAL, segment + ": empty segment");
  auto d = std::make_unique<Directory>(segment, std::move(a), recall_timeout_, epoch_);
  Directory* raw = d.get();
  directories_.emplace(segment, std::move(d));
  spdlog::info("mapping: {} mapped by a host ({} pages, epoch {:016x})", segment,
               (raw->attachment->info().size_bytes + mapping::kDirectoryPageBytes - 1) /
                   mapping::kDirectoryPageBytes,
               epoch_);
  return raw;
}

Status MappingHome::Get(Session* host, uint64_t host_id, const std::string& segment, uint64_t tag,
                        uint64_t first, uint32_t count, bool write, uint64_t have_version,
                        bool read_only_export) {
  if (stopped_) return Error(ESHUTDOWN, "mapping: shutting down");
  RAMS_ASSIGN_OR_RETURN(Directory * d, Find(segment, true, read_only_export));
  hosts_[host_id] = host;
  RAMS_RETURN_IF_ERROR(d->dir.Get(host_id, tag, first, count, write, have_version,
                                  mapping::DirectoryClock::now()));
  Dispatch(*d);
  return Status::Ok();
}

rams::Result<uint64_t> MappingHome::Put(uint64_t host_id, const std::string& segment,
                                        uint64_t page, uint64_t version,
                                        std::span<const std::byte> data) {
  RAMS_ASSIGN_OR_RETURN(Directory * d, Find(segment, false));
  rams::Result<uint64_t> r = d->dir.Put(host_id, page, version, data);
  Dispatch(*d);
  return r;
}

rams::Result<uint64_t> MappingHome::Drop(uint64_t host_id, const std::string& segment,
                                         uint64_t page, uint64_t version,
                                         std::span<const std::byte> dirty) {
  rams::Result<Directory*> d = Find(segment, false);
  // Nothing mapped, so nothing held: a drop of an unheld page changes nothing.
  if (!d.ok()) return uint64_t{0};
  rams::Result<uint64_t> r =
      (*d)->dir.Drop(host_id, page, version, dirty, mapping::DirectoryClock::now());
  Dispatch(**d);
  return r;
}

Status MappingHome::Acknowledge(uint64_t host_id, const std::string& segment, uint64_t page,
                                std::span<const std::byte> dirty) {
  RAMS_ASSIGN_OR_RETURN(Directory * d, Find(segment, false));
  Status s = d->dir.Acknowledge(host_id, page, dirty, mapping::DirectoryClock::now());
  Dispatch(*d);
  return s;
}

bool MappingHome::Access(const std::string& segment, uint64_t offset, uint64_t length,
                         bool write, std::function<void(uint64_t page)> apply,
                         std::function<void()> done) {
  auto it = directories_.find(segment);
  if (it == directories_.end() || length == 0) return false;
  Directory& d = *it->second;
  const uint64_t first = offset / mapping::kDirectoryPageBytes;
  const uint64_t last = (offset + length - 1) / mapping::kDirectoryPageBytes;
  struct Pending {
    uint64_t left;
    std::function<void(uint64_t)> apply;
    std::function<void()> done;
  };
  auto pending = std::make_shared<Pending>(
      Pending{.left = last - first + 1, .apply = std::move(apply), .done = std::move(done)});
  for (uint64_t page = first; page <= last; ++page) {
    Status s = d.dir.HomeGet(++next_home_tag_, page, write,
                             [pending](uint64_t p, uint64_t) {
                               pending->apply(p);
                               if (--pending->left == 0) pending->done();
                             },
                             mapping::DirectoryClock::now());
    // The caller checked the range against the segment: a page outside
    // it is our own bug.
    RAMS_CHECK(s.ok());
  }
  Dispatch(d);
  return true;
}

rams::Result<MappingHome::OwnerIndex> MappingHome::AssignOwnerIndex(Session* host,
                                                                     uint64_t host_id,
                                                                     const std::string& segment,
                                                                     uint64_t local_domain,
                                                                     bool read_only_export) {
  if (stopped_) return Error(ESHUTDOWN, "mapping: shutting down");
  RAMS_ASSIGN_OR_RETURN(Directory * d, Find(segment, true, read_only_export));
  using State = OwnerSlot::State;
  uint32_t held = 0;
  uint32_t reuse_index = 0;
  const uint32_t slots = static_cast<uint32_t>(d->owners.size()) - 1;
  for (uint32_t n = 0; n < slots; ++n) {
    const uint32_t i = (d->first_index - 1 + n) % slots + 1;
    const OwnerSlot& o = d->owners[i];
    if (o.state == State::kLive && o.host_id == host_id) {
      if (o.local_domain == local_domain) return OwnerIndex{d->domain, i};
      ++held;
    } else if (o.state == State::kDead &&
               (reuse_index == 0 || o.died_at < d->owners[reuse_index].died_at)) {
      reuse_index = i;
    }
  }
  if (held >= rams::wire::kMaxOwnerIndexesPerSession) {
    return Error(ENOSPC, "MAP_OWNER: this session holds " + std::to_string(held) +
                             " host indexes of " + segment);
  }
  // Every index not live is dead; the ones of an earlier directory (died_at
  // 0) are handed out first, from first_index on, then the one dead
  // longest. An object still naming a dead owner of that index then looks
  // owned by the new host, which errs on the side of "alive"
  // (docs/remote-mapping.md).
  const uint32_t index = reuse_index;
  if (index == 0) return Error(ENOSPC, "MAP_OWNER: all host indexes of " + segment + " are live");
  d->owners[index] = OwnerSlot{.state = State::kLive, .host_id = host_id,
                               .local_domain = local_domain};
  hosts_[host_id] = host;
  spdlog::info("mapping: {}: host index {} for connection {}", segment, index, host_id);
  return OwnerIndex{d->domain, index};
}

MappingHome::HostStates MappingHome::OwnerHosts(const std::string& segment) const {
  HostStates out;
  auto it = directories_.find(segment);
  if (it == directories_.end()) return out;
  out.domain = it->second->domain;
  for (uint32_t i = 1; i < it->second->owners.size(); ++i) {
    const OwnerSlot& o = it->second->owners[i];
    if (o.state == OwnerSlot::State::kLive) out.live[i / 64] |= uint64_t{1} << (i % 64);
    if (o.state == OwnerSlot::State::kDead) out.dead[i / 64] |= uint64_t{1} << (i % 64);
  }
  return out;
}

MappingHome::ProbeTarget MappingHome::OwnerProbeTarget(const std::string& segment,
                                                       uint32_t index) const {
  auto it = directories_.find(segment);
  if (it == directories_.end() || index == 0 || index >= it->second->owners.size()) return {};
  const OwnerSlot& o = it->second->owners[index];
  if (o.state == OwnerSlot::State::kDead) return {.dead = true};
  auto host = hosts_.find(o.host_id);
  if (host == hosts_.end()) return {};
  return {.host = host->second, .local_domain = o.local_domain};
}

std::shared_ptr<const std::atomic<uint64_t>> MappingHome::Wakes(
    const std::string& segment) const {
  auto it = directories_.find(segment);
  if (it == directories_.end()) return nullptr;
  return it->second->wakes;
}

void MappingHome::CountWake(const std::string& segment) {
  auto it = directories_.find(segment);
  // Release: pairs with the acquire load of a parked WAIT, which then sees
  // the wake as one that may have gone to nobody (it returns, spuriously
  // at worst).
  if (it != directories_.end()) it->second->wakes->fetch_add(1, std::memory_order_release);
}

void MappingHome::HostGone(uint64_t host_id) {
  if (hosts_.erase(host_id) == 0) return;
  for (auto& [name, d] : directories_) {
    for (uint32_t i = 1; i < d->owners.size(); ++i) {
      OwnerSlot& o = d->owners[i];
      if (o.state != OwnerSlot::State::kLive || o.host_id != host_id) continue;
      o.state = OwnerSlot::State::kDead;
      o.died_at = ++owner_deaths_;
      spdlog::warn("mapping: {}: host index {} (connection {}) is gone: its owners are dead",
                   name, i, host_id);
    }
    const uint64_t lost_before = d->dir.counters().pages_lost;
    d->dir.HostGone(host_id, mapping::DirectoryClock::now());
    const uint64_t lost = d->dir.counters().pages_lost - lost_before;
    if (lost != 0) {
      spdlog::warn("mapping: {} page(s) of {} lost with host {} (they fall back to the home's "
                   "last copy)",
                   lost, name, host_id);
    }
    Dispatch(*d);
  }
}

void MappingHome::Dispatch(Directory& d) {
  for (mapping::DirectoryAction& a : d.dir.TakeActions()) {
    if (a.host == mapping::kHomeHost) continue;  // one-sided: applied by HomeGet's access
    auto it = hosts_.find(a.host);
    if (it == hosts_.end()) continue;  // gone: the directory has forgotten it too
    if (a.kind == mapping::DirectoryAction::Kind::kGrant) {
      it->second->SendPageGrant(a, epoch_);
    } else {
      it->second->SendRecall(d.name, a.recall, a.page, a.version);
    }
  }
  ArmTimer();
}

void MappingHome::ArmTimer() {
  if (timer_armed_ || stopped_ || hosts_.empty()) return;
  timer_armed_ = true;
  // A quarter of the timeout: a silent host is cut off within 1.25 timeouts.
  timer_.expires_after(std::max(recall_timeout_ / 4, std::chrono::milliseconds(1)));
  timer_.async_wait([this](const std::error_code& ec) {
    timer_armed_ = false;
    if (!ec) OnTimer();
  });
}

void MappingHome::OnTimer() {
  std::vector<uint64_t> overdue;
  for (auto& [name, d] : directories_) {
    for (uint64_t h : d->dir.Expire(mapping::DirectoryClock::now())) overdue.push_back(h);
  }
  std::sort(overdue.begin(), overdue.end());
  overdue.erase(std::unique(overdue.begin(), overdue.end()), overdue.end());
  for (uint64_t h : overdue) {
    auto it = hosts_.find(h);
    if (it == hosts_.end()) continue;
    ++hosts_cut_off_;
    spdlog::warn("mapping: host {} did not acknowledge a recall within {} ms: cut off", h,
                 recall_timeout_.count());
    Session* s = it->second;
    HostGone(h);      // the others proceed now
    s->CutOff();      // and its connection closes
  }
  ArmTimer();
}

void MappingHome::Stop() {
  stopped_ = true;
  timer_.cancel();
}

MappingCounters MappingHome::counters() const {
  MappingCounters c{.segments = directories_.size()};
  for (const auto& [name, d] : directories_) {
    const mapping::DirectoryCounters& x = d->dir.counters();
    c.pages.faults_served += x.faults_served;
    c.pages.invalidations += x.invalidations;
    c.pages.downgrades += x.downgrades;
    c.pages.upgrades += x.upgrades;
    c.pages.bounces += x.bounces;
    c.pages.recalls_timed_out += x.recalls_timed_out;
    c.pages.pages_lost += x.pages_lost;
  }
  return c;
}

std::string MappingHome::RenderPrometheus() const {
  const MappingCounters c = counters();
  std::string out;
  auto add = [&out](const char* name, const char* type, const char* help, uint64_t v) {
    AppendMetric(out, name, type, help, v);
  };
  add("ramsd_mapping_segments", "gauge", "segments some host maps (directories)", c.segments);
  add("ramsd_mapping_hosts", "gauge", "mapping sessions known to the directories", hosts_.size());
  add("ramsd_mapping_pages_granted_total", "counter", "pages granted to hosts (PAGE_GET)",
      c.pages.faults_served);
  add("ramsd_mapping_invalidations_total", "counter", "INVALIDATE requests sent",
      c.pages.invalidations);
  add("ramsd_mapping_downgrades_total", "counter", "DOWNGRADE requests sent", c.pages.downgrades);
  add("ramsd_mapping_upgrades_total", "counter", "write grants without data", c.pages.upgrades);
  add("ramsd_mapping_page_bounces_total", "counter",
      "exclusive grants of a page another host held exclusively", c.pages.bounces);
  add("ramsd_mapping_recalls_timed_out_total", "counter", "recalls not acknowledged in time",
      c.pages.recalls_timed_out);
  add("ramsd_mapping_hosts_cut_off_total", "counter", "hosts cut off for a silent recall",
      hosts_cut_off_);
  add("ramsd_mapping_pages_lost_total", "counter",
      "exclusive copies lost with their host (fell back to the home's copy)", c.pages.pages_lost);
  add("ramsd_mapping_epoch", "gauge", "this ramsd's directory epoch (low 32 bits)",
      epoch_ & 0xffffffffu);
  return out;
}

}  // namespace ramsd
