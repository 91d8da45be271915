// SPDX-License-Identifier: MIT
// PagerSegment's side of coherence: the home's pushes, eviction for room,
// write-back and flush (pager_segment.h).
#include <unistd.h>

#include <cstring>
#include <thread>

#include "mapping/pager_segment.h"

namespace rams::mapping {
namespace {

constexpr auto kInstallWait = std::chrono::milliseconds(50);

}  // namespace

void PagerSegment::MakeRoom(Lock& lock, uint64_t page) {
  // Stale FIFO entries (pages dropped by pushes) are skipped, and the queue
  // is rebuilt when they would make it grow without bound.
  if (resident_.size() > 2 * page_count_ + 16) {
    resident_.clear();
    for (uint64_t i = 0; i < page_count_; ++i) {
      if (pages_[i].held != Held::kNone) resident_.push_back(i);
    }
  }
  size_t looked = 0;
  while (resident_count_ + reserved_ >= tuning_.cache_pages && looked < resident_.size()) {
    const uint64_t victim = resident_.front();
    resident_.pop_front();
    Page& v = pages_[victim];
    if (v.held == Held::kNone) continue;
    if (victim == page || v.fetching || v.writing_back) {
      resident_.push_back(victim);
      ++looked;
      continue;
    }
    ++stats_.evictions;
    HandBack(lock, victim, /*drop=*/true).IgnoreError();  // a lost home fails the faults
  }
}

Status PagerSegment::HandBack(Lock& lock, uint64_t page, bool drop) {
  Page& p = pages_[page];
  const bool dirty = p.held == Held::kExclusive;
  // Without write-protect a copy that stays mapped stays writable: a flush
  // drops it too (inv. 2).
  if (!wp_) drop = true;
  if (dirty) {
    p.in_flight.resize(kPageBytes);
    if (drop) {
      RAMS_RETURN_IF_ERROR(CaptureAndDrop(page, p.in_flight));
    } else {
      ProtectEverywhere(page, true);
      RAMS_RETURN_IF_ERROR(ReadLocal(page, p.in_flight));
    }
  }
  if (drop) {
    if (!dirty) RAMS_RETURN_IF_ERROR(DropLocal(page));
    p.held = Held::kNone;
    --resident_count_;
  } else if (dirty) {
    p.held = Held::kShared;
  } else {
    return Status();
  }
  p.writing_back = true;
  const std::span<const std::byte> data(p.in_flight);
  lock.unlock();
  Status s = drop ? source_->Drop(page, data) : source_->Put(page, data);
  lock.lock();
  if (dirty) ++stats_.write_backs;
  p.writing_back = false;
  p.in_flight.clear();
  WakeWaiters(p);  // faults that came meanwhile fault again
  changed_.notify_all();
  return s;
}

Status PagerSegment::Flush() {
  Status first;
  Lock lock(mu_);
  for (uint64_t page = 0; page < page_count_; ++page) {
    Page& p = pages_[page];
    if (p.held != Held::kExclusive) continue;
    changed_.wait(lock, [&] { return !p.fetching && !p.writing_back; });
    if (p.held != Held::kExclusive) continue;
    Status s = HandBack(lock, page, /*drop=*/false);
    if (first.ok() && !s.ok()) first = s;
  }
  if (first.ok() && lost_) return lost_why_;
  return first;
}

void PagerSegment::WaitMinHold(Lock& lock, const Page& p) {
  const auto until = p.installed_at + tuning_.min_hold;
  if (std::chrono::steady_clock::now() >= until) return;
  lock.unlock();
  std::this_thread::sleep_until(until);
  lock.lock();
}

Status PagerSegment::Push(uint64_t page, std::span<std::byte> dirty_out, bool* dirty,
                          bool invalidate) {
  *dirty = false;
  if (page >= page_count_ || dirty_out.size() < kPageBytes) {
    return Error(EINVAL, "push for page " + std::to_string(page) + " of " + name_);
  }
  Lock lock(mu_);
  Page& p = pages_[page];
  if (p.fetching && p.held == Held::kNone && !p.discarding) {
    // The home thinks we hold a page we are still fetching: its grant to us
    // came first and is being installed (a discarded grant is dropped at the
    // home, inv. 4). Let the install finish rather than waste the grant; the
    // wait is bounded for a grant the home made after our Get gave up.
    changed_.wait_for(lock, kInstallWait, [&] { return !p.fetching || p.held != Held::kNone; });
  }
  ++p.pushes;  // a grant in flight for this page is stale now (inv. 4)
  ++(invalidate ? stats_.invalidations : stats_.downgrades);
  if (p.held != Held::kNone) WaitMinHold(lock, p);
  if (p.writing_back && !p.in_flight.empty()) {
    // Our Put/Drop is still on its way: the home gets its data here.
    std::memcpy(dirty_out.data(), p.in_flight.data(), kPageBytes);
    *dirty = true;
  }
  if (p.held == Held::kNone) return Status();
  if (!wp_) invalidate = true;  // a copy that cannot be write-protected cannot be shared
  if (p.held == Held::kExclusive) {
    if (invalidate) {
      RAMS_RETURN_IF_ERROR(CaptureAndDrop(page, dirty_out));
      *dirty = true;
      ++stats_.write_backs;
      p.held = Held::kNone;
      --resident_count_;
      return Status();
    }
    ProtectEverywhere(page, true);
    RAMS_RETURN_IF_ERROR(ReadLocal(page, dirty_out));
    *dirty = true;
    ++stats_.write_backs;
    p.held = Held::kShared;
  }
  if (invalidate && p.held != Held::kNone) {
    RAMS_RETURN_IF_ERROR(DropLocal(page));
    p.held = Held::kNone;
    --resident_count_;
  }
  return Status();
}

Status PagerSegment::Invalidate(uint64_t page, uint64_t /*version*/,
                                std::span<std::byte> dirty_out, bool* dirty) {
  return Push(page, dirty_out, dirty, /*invalidate=*/true);
}

Status PagerSegment::Downgrade(uint64_t page, uint64_t /*version*/,
                               std::span<std::byte> dirty_out, bool* dirty) {
  return Push(page, dirty_out, dirty, /*invalidate=*/false);
}

void PagerSegment::Lost(Status why) {
  Lock lock(mu_);
  if (lost_) return;
  lost_ = true;
  lost_why_ = std::move(why);
  // The home's directory no longer knows this host's copies (a new epoch, or
  // no home at all): none may be read or written again. Past the end of the
  // file every access faults as SIGBUS in every process at once.
  if (ftruncate(memfd_.get(), 0) != 0) {
    // Cannot happen on a memfd we own; the faults still fail below.
  }
  for (Page& p : pages_) {
    if (p.held == Held::kExclusive) ++stats_.copies_lost;
    p.held = Held::kNone;
    if (!p.fetching && !p.waiters.empty()) FailWaiters(p, lost_why_);
  }
  resident_.clear();
  resident_count_ = 0;
}

bool PagerSegment::lost() const {
  Lock lock(mu_);
  return lost_;
}

Status PagerSegment::Check(uint64_t* notices) const {
  Lock lock(mu_);
  if (lost_) return lost_why_;
  *notices = stats_.loss_notices;
  return Status();
}

void PagerSegment::PagesLost() {
  Lock lock(mu_);
  ++stats_.loss_notices;
}

PagerStats PagerSegment::Stats() const {
  Lock lock(mu_);
  PagerStats s = stats_;
  s.resident_pages = resident_count_;
  return s;
}

}  // namespace rams::mapping
