// SPDX-License-Identifier: MIT
// The home's page directory (docs/remote-mapping.md, "The directory").
#include "mapping/page_directory.h"

#include <cerrno>
#include <string>

namespace rams::mapping {

PageDirectory::PageDirectory(uint64_t pages, PageMemory* memory,
                             std::chrono::milliseconds recall_timeout)
    : page_count_(pages), memory_(memory), recall_timeout_(recall_timeout), pages_(pages) {
  for (Page& p : pages_) p.version = 1;  // a copy's version is never 0 (0 = no copy)
}

Status PageDirectory::CheckPage(uint64_t page) const {
  if (page >= page_count_) {
    return Error(EINVAL, "page " + std::to_string(page) + " outside the segment of " +
                             std::to_string(page_count_) + " pages");
  }
  return Status();
}

Status PageDirectory::Get(HostId host, uint64_t tag, uint64_t first, uint32_t count, bool write,
                          uint64_t have_version, DirectoryClock::time_point now) {
  if (count == 0 || first >= page_count_ || count > page_count_ - first) {
    return Error(EINVAL, "pages [" + std::to_string(first) + ", +" + std::to_string(count) +
                             ") outside the segment of " + std::to_string(page_count_) + " pages");
  }
  if (count > 1 && (write || host == kHomeHost)) {
    return Error(EINVAL, "read-ahead is for a host's reads only");
  }
  if (have_version > pages_[first].version) {
    return Error(EINVAL, "version " + std::to_string(have_version) + " of page " +
                             std::to_string(first) + " is newer than the home's");
  }
  if (host != kHomeHost) loss_seen_.try_emplace(host, loss_generation_);
  pages_[first].queue.push_back(
      {.host = host, .tag = tag, .count = count, .write = write, .have_version = have_version});
  if (pages_[first].queue.size() == 1) Advance(first, now);
  return Status();
}

Status PageDirectory::HomeGet(uint64_t tag, uint64_t page, bool write, HomeAccess access,
                              DirectoryClock::time_point now) {
  RAMS_RETURN_IF_ERROR(CheckPage(page));
  pages_[page].queue.push_back(
      {.host = kHomeHost, .tag = tag, .write = write, .access = std::move(access)});
  if (pages_[page].queue.size() == 1) Advance(page, now);
  return Status();
}

void PageDirectory::Advance(uint64_t page, DirectoryClock::time_point now) {
  Page& p = pages_[page];
  while (!p.queue.empty() && p.awaiting.empty()) {
    const Request r = p.queue.front();
    if (!r.cancelled && StartRecalls(page, r, now)) return;
    p.queue.pop_front();
    if (!r.cancelled) Grant(page, r);
    p.bounce = false;
  }
}

// Sends the recalls the head request needs; false when it needs none.
bool PageDirectory::StartRecalls(uint64_t page, const Request& r,
                                 DirectoryClock::time_point now) {
  Page& p = pages_[page];
  for (HostId h : p.holders) {
    if (h == r.host) continue;
    RecallKind kind;
    if (r.write) {
      kind = RecallKind::kInvalidate;
      ++counters_.invalidations;
    } else if (p.state == PageState::kExclusive) {
      kind = RecallKind::kDowngrade;
      ++counters_.downgrades;
    } else {
      continue;  // a read leaves other readers alone
    }
    if (r.write && p.state == PageState::kExclusive && r.host != kHomeHost) p.bounce = true;
    p.awaiting.emplace(h, kind);
    actions_.push_back({.kind = DirectoryAction::Kind::kRecall, .host = h, .recall = kind,
                        .page = page, .version = p.version});
  }
  if (p.awaiting.empty()) return false;
  p.deadline = now + recall_timeout_;
  return true;
}

PageGrantOut PageDirectory::GrantOne(uint64_t page, const Request& r, bool ahead) {
  Page& p = pages_[page];
  PageGrantOut g{.page = page};
  // The exclusive holder's copy is the newest (maybe dirty): never overwrite
  // it, whatever version its request named, unless it names none (0). Then
  // the host has no copy: the reply to its earlier PAGE_GET was lost (the
  // call timed out at the host after the grant was recorded here), and the
  // home's memory is current, since that host never had the page to write.
  // A page granted ahead of another's read names no version (0) and never
  // carries data to its exclusive holder: that host's copy is the newest, and
  // one it dropped meanwhile (its PAGE_DROP behind this reply) must not come
  // back older.
  const bool holds_exclusive = p.state == PageState::kExclusive && p.holders.count(r.host) == 1;
  g.data_included = holds_exclusive ? r.have_version == 0 && !ahead : r.have_version != p.version;
  if (r.write && !holds_exclusive) {
    // Every other copy is gone (StartRecalls): the page moves to r.host.
    ++p.version;
    p.state = PageState::kExclusive;
    p.holders = {r.host};
    p.home_current = false;
    if (p.bounce) ++counters_.bounces;
  } else if (!r.write) {
    p.holders.insert(r.host);
    if (p.state == PageState::kHome) p.state = PageState::kShared;
  }
  if (r.write && !g.data_included) ++counters_.upgrades;
  g.version = p.version;
  if (g.data_included) {
    g.data.resize(kDirectoryPageBytes);
    memory_->ReadPage(page, g.data);
  }
  ++counters_.faults_served;
  return g;
}

void PageDirectory::Grant(uint64_t page, const Request& r) {
  Page& p = pages_[page];
  DirectoryAction a{.kind = DirectoryAction::Kind::kGrant, .host = r.host, .tag = r.tag};
  if (r.host == kHomeHost) {
    // The recalls are done: the home's memory is current; a write makes the
    // home the only copy and its data the next version.
    if (r.write) {
      p.holders.clear();
      p.state = PageState::kHome;
      ++p.version;
      p.home_current = true;
    }
    if (r.access) r.access(page, p.version);
    a.grants.push_back({.page = page, .version = p.version});
    actions_.push_back(std::move(a));
    return;
  }
  a.grants.push_back(GrantOne(page, r, /*ahead=*/false));
  for (uint64_t next = page + 1; next < page + r.count; ++next) {
    if (CanGrantReadNow(next, r.host)) a.grants.push_back(GrantOne(next, {.host = r.host}, /*ahead=*/true));
  }
  uint64_t& seen = loss_seen_[r.host];
  a.lost_pages = seen < loss_generation_;
  seen = loss_generation_;
  actions_.push_back(std::move(a));
}

bool PageDirectory::CanGrantReadNow(uint64_t page, HostId host) const {
  const Page& p = pages_[page];
  return p.queue.empty() &&
         (p.state != PageState::kExclusive || p.holders.count(host) == 1);
}

void PageDirectory::Lose(Page& p) {
  if (p.home_current) return;  // nothing written since the grant reached home
  ++counters_.pages_lost;
  ++p.version;  // the home's data is the newest copy now
  p.home_current = true;
  ++loss_generation_;
}

// `host` leaves the holder set of `p`; its exclusive copy is lost unless
// written home before.
void PageDirectory::Leave(Page& p, HostId host) {
  if (p.holders.erase(host) == 0) return;
  if (p.state == PageState::kExclusive) Lose(p);
  p.state = p.holders.empty() ? PageState::kHome : PageState::kShared;
}

Status PageDirectory::Acknowledge(HostId host, uint64_t page, std::span<const std::byte> dirty,
                                  DirectoryClock::time_point now) {
  if (Status s = CheckPage(page); !s.ok()) return s;
  Page& p = pages_[page];
  auto it = p.awaiting.find(host);
  if (it == p.awaiting.end()) return Error(EPROTO, "acknowledgement of no recall");
  const RecallKind kind = it->second;
  p.awaiting.erase(it);
  Status result;
  const bool exclusive_here = p.state == PageState::kExclusive && p.holders.count(host) == 1;
  if (!dirty.empty()) {
    if (!exclusive_here || dirty.size() != kDirectoryPageBytes) {
      result = Error(EPERM, "dirty data from a host that does not hold the page exclusively");
    } else {
      memory_->WritePage(page, dirty);
    }
  }
  if (exclusive_here) p.home_current = true;  // clean: never written; dirty: written above
  if (kind == RecallKind::kInvalidate) {
    Leave(p, host);
  } else if (exclusive_here) {
    p.state = PageState::kShared;
  }
  if (p.drop_at_ack.erase(host) == 1) Leave(p, host);  // its clean drop, which came first
  if (p.awaiting.empty()) Advance(page, now);
  return result;
}

Result<uint64_t> PageDirectory::Put(HostId host, uint64_t page, uint64_t version,
                                    std::span<const std::byte> data) {
  if (Status s = CheckPage(page); !s.ok()) return s;
  Page& p = pages_[page];
  if (data.size() != kDirectoryPageBytes) return Error(EINVAL, "PAGE_PUT needs a whole page");
  if (p.state != PageState::kExclusive || p.holders.count(host) == 0 || version != p.version) {
    return Error(EPERM, "PAGE_PUT of page " + std::to_string(page) +
                            " not held exclusively at version " + std::to_string(version));
  }
  memory_->WritePage(page, data);
  p.home_current = true;
  p.state = PageState::kShared;
  return p.version;
}

Result<uint64_t> PageDirectory::Drop(HostId host, uint64_t page, uint64_t version,
                                     std::span<const std::byte> dirty,
                                     DirectoryClock::time_point now) {
  if (Status s = CheckPage(page); !s.ok()) return s;
  Page& p = pages_[page];
  const bool exclusive_here = p.state == PageState::kExclusive && p.holders.count(host) == 1;
  if (dirty.empty() && p.awaiting.count(host) == 1) {
    p.drop_at_ack.insert(host);  // the acknowledgement may carry data (Acknowledge)
    return p.version;
  }
  if (!dirty.empty()) {
    if (!exclusive_here || version != p.version || dirty.size() != kDirectoryPageBytes) {
      return Error(EPERM, "dirty PAGE_DROP of page " + std::to_string(page) +
                              " not held exclusively at version " + std::to_string(version));
    }
    memory_->WritePage(page, dirty);
  }
  if (exclusive_here) p.home_current = true;  // a clean drop: never written
  Leave(p, host);
  (void)now;  // an outstanding recall of this page is still acknowledged by the host
  return p.version;
}

void PageDirectory::HostGone(HostId host, DirectoryClock::time_point now) {
  for (uint64_t page = 0; page < page_count_; ++page) {
    Page& p = pages_[page];
    for (size_t i = 0; i < p.queue.size();) {
      if (p.queue[i].host != host) {
        ++i;
      } else if (i == 0) {
        p.queue[i++].cancelled = true;  // in flight: its recalls still complete
      } else {
        p.queue.erase(p.queue.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    const bool was_awaited = p.awaiting.erase(host) == 1;
    p.drop_at_ack.erase(host);
    Leave(p, host);
    if (was_awaited || (!p.queue.empty() && p.queue.front().cancelled)) Advance(page, now);
  }
  loss_seen_.erase(host);
}

std::vector<HostId> PageDirectory::Expire(DirectoryClock::time_point now) {
  std::set<HostId> late;
  for (Page& p : pages_) {
    if (p.awaiting.empty() || now < p.deadline) continue;
    for (const auto& [h, kind] : p.awaiting) {
      if (late.insert(h).second) ++counters_.recalls_timed_out;
    }
  }
  return {late.begin(), late.end()};
}

std::vector<DirectoryAction> PageDirectory::TakeActions() {
  std::vector<DirectoryAction> out;
  out.swap(actions_);
  return out;
}

}  // namespace rams::mapping
