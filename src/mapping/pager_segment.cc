// SPDX-License-Identifier: MIT
// One remote segment at one host: faults, grants, pushes, eviction and
// write-back (pager_segment.h).
#include "mapping/pager_segment.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

namespace rams::mapping {
namespace {

}  // namespace

PagerSegment::PagerSegment(std::string name, std::unique_ptr<PageSource> source,
                           SegmentAccess access, PagerTuning tuning,
                           const UffdFeatures& features, sys::UniqueFd memfd)
    : name_(std::move(name)),
      source_(std::move(source)),
      access_(access),
      tuning_(tuning),
      size_bytes_(source_->SizeBytes()),
      page_count_(size_bytes_ / kPageBytes),
      wp_(tuning.write_protect && features.wp_shmem && !source_->ReadOnly()),
      memfd_(std::move(memfd)),
      pages_(page_count_) {
  assert(size_bytes_ % kPageBytes == 0 && tuning_.cache_pages > 0);
  source_->SetSink(this);
}

PagerSegment::~PagerSegment() {
  // The source stops delivering pushes before the state they touch goes.
  source_.reset();
  // Processes that still map the memfd lose it cleanly: past the end of the
  // file every access is SIGBUS, never a silent zero page.
  if (ftruncate(memfd_.get(), 0) != 0) {
    // Nothing better to do; the uffds close below and wake every fault.
  }
}

Result<OwnerIndex> PagerSegment::Owner(uint64_t local_domain) {
  std::lock_guard lock(owner_mu_);
  if (auto it = owners_.find(local_domain); it != owners_.end()) return it->second;
  RAMS_ASSIGN_OR_RETURN(OwnerIndex o, source_->Owner(local_domain));
  owners_.emplace(local_domain, o);
  return o;
}

Status PagerSegment::AddClient(std::shared_ptr<PagerClient> client) {
  if (wp_) {
    RAMS_RETURN_IF_ERROR(WriteProtect(client->uffd.get(), client->base, size_bytes_, true));
  } else {
    RAMS_RETURN_IF_ERROR(WakeRange(client->uffd.get(), client->base, size_bytes_));
  }
  Lock lock(mu_);
  clients_.push_back(std::move(client));
  return Status();
}

void PagerSegment::RemoveClient(const PagerClient* client) {
  Lock lock(mu_);
  std::erase_if(clients_, [&](const auto& c) { return c.get() == client; });
}

bool PagerSegment::OnFault(const std::shared_ptr<PagerClient>& client, uint64_t addr, bool write,
                           uint32_t tid) {
  if (addr < client->base || addr - client->base >= size_bytes_) return false;
  const uint64_t page = (addr - client->base) / kPageBytes;
  Lock lock(mu_);
  ++stats_.faults;
  Waiter w{client, tid, write};
  if (lost_) {
    FailFault(*client, tid, page);
    return false;
  }
  Page& p = pages_[page];
  const Held need = (write || (!wp_ && !read_only())) ? Held::kExclusive : Held::kShared;
  if (!p.fetching && !p.writing_back && p.held >= need) {
    p.waiters.push_back(std::move(w));
    WakeWaiters(p);
    return false;
  }
  p.waiters.push_back(std::move(w));
  // A read of a page a fetch in flight asks for ahead waits for that fetch.
  if (p.fetching || p.writing_back || (p.ahead_pending && need == Held::kShared)) return false;
  p.fetching = true;
  p.want = need;
  p.ahead = p.held == Held::kNone ? ReadAheadFor(page, need) : 1;
  p.window = ClaimWindow(page);
  return true;
}

uint32_t PagerSegment::ReadAheadFor(uint64_t page, Held need) {
  const bool sequential = page == last_miss_ + 1 || page == window_end_;
  last_miss_ = page;
  uint32_t count = 1;
  if (need == Held::kShared && sequential) {
    count = static_cast<uint32_t>(std::min<uint64_t>(
        std::clamp<uint32_t>(tuning_.readahead_pages, 1, kMaxReadAheadPages), page_count_ - page));
  }
  window_end_ = page + count;
  return count;
}

void PagerSegment::FetchPage(uint64_t page) {
  const auto deadline = std::chrono::steady_clock::now() + tuning_.fault_timeout;
  std::vector<std::byte> data(kPageBytes);
  Lock lock(mu_);
  Page& p = pages_[page];
  const std::vector<uint64_t> window = std::move(p.window);
  p.window.clear();
  std::vector<uint64_t> window_touches;
  for (uint64_t w : window) window_touches.push_back(Touches(pages_[w]));
  std::vector<AheadGrant> ahead;
  bool reserved = false;
  for (;;) {
    if (lost_) {
      FailWaiters(p, lost_why_);
      break;
    }
    if (p.held == Held::kNone && !reserved) {
      MakeRoom(lock, page);
      ++reserved_;
      reserved = true;
    }
    const uint64_t pushes_before = p.pushes;
    const uint64_t have = p.held != Held::kNone ? p.version : 0;
    const Held want = p.want;
    const uint32_t count = want == Held::kShared ? p.ahead : 1;
    ahead.clear();
    lock.unlock();
    Result<Grant> grant =
        count > 1 ? source_->GetAhead(page, count, have, data, &ahead)
                  : source_->Get(page, want == Held::kExclusive ? Access::kWrite : Access::kRead,
                                 have, data);
    lock.lock();
    if (!grant.ok() || lost_) {
      FailWaiters(p, grant.ok() ? lost_why_ : grant.status());
      ahead.clear();
      break;
    }
    if (p.pushes == pushes_before && Install(lock, page, want, *grant, data)) {
      WakeWaiters(p);
      if (reserved) --reserved_;  // the page holds its slot now
      reserved = false;
      break;
    }
    ++stats_.retries;
    if (p.held == Held::kNone) {
      // The home may think we hold the discarded grant: say we do not, so
      // that a push meeting our next fetch is always one for its grant.
      p.discarding = true;  // pushes meanwhile are for that grant: no waiting
      lock.unlock();
      source_->Drop(page, {}).IgnoreError();  // a broken session fails the next Get
      lock.lock();
      p.discarding = false;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      FailWaiters(p, Error(ETIMEDOUT, "fault on " + name_ + ": grants kept being overtaken"));
      ahead.clear();
      break;
    }
  }
  if (reserved) --reserved_;
  p.fetching = false;
  const std::vector<uint64_t> left = InstallAhead(window, window_touches, ahead);
  changed_.notify_all();
  lock.unlock();
  // Read faults that waited for a page the home did not grant ahead (or
  // that could not be installed) fetch it now, one page each.
  for (uint64_t q : left) FetchPage(q);
}

bool PagerSegment::Install(Lock& lock, uint64_t page, Held want, const Grant& grant,
                           std::span<const std::byte> data) {
  (void)lock;
  Page& p = pages_[page];
  if (p.held == Held::kNone) {
    if (!grant.data_included) return false;  // our copy is gone: ask again with none
    if (!CopyIn(page, data, wp_ && want == Held::kShared, p.waiters)) return false;
    resident_.push_back(page);
    ++resident_count_;
  } else if (grant.data_included) {
    // A present copy refreshed: it is write-protected in every mm (inv. 2).
    if (pwrite(memfd_.get(), data.data(), kPageBytes, page * kPageBytes) != kPageBytes) {
      return false;
    }
  }
  if (p.held == Held::kShared && want == Held::kExclusive) ++stats_.upgrades;
  p.held = want;
  ++p.installs;
  p.version = grant.version;
  p.installed_at = std::chrono::steady_clock::now();
  ++stats_.fetches;
  return true;
}

bool PagerSegment::CopyIn(uint64_t page, std::span<const std::byte> data, bool wp,
                          std::span<Waiter> waiters_first) {
  auto copy_to = [&](PagerClient& c) {
    if (c.dead) return false;
    Status s = CopyPage(c.uffd.get(), Addr(c, page), data, wp);
    if (!s.ok() && s.code() != EEXIST) c.dead = true;  // it unmapped or exited
    return s.ok();
  };
  // The faulting mapping first: the copy wakes its thread too.
  for (Waiter& w : waiters_first) {
    if (copy_to(*w.client)) return true;
  }
  for (const auto& c : clients_) {
    if (copy_to(*c)) return true;
  }
  // No live mapping (or the page is somehow there): fill the page cache
  // through the memfd, never through registered memory.
  return pwrite(memfd_.get(), data.data(), kPageBytes, page * kPageBytes) == kPageBytes;
}

std::vector<uint64_t> PagerSegment::ClaimWindow(uint64_t page) {
  Page& p = pages_[page];
  std::vector<uint64_t> window;
  if (p.want != Held::kShared) return window;
  for (uint64_t next = page + 1; next < page + p.ahead; ++next) {
    Page& q = pages_[next];
    // The range asked for ends before a page held or being fetched already:
    // the home would send it (and the pages past it) again.
    if (q.held != Held::kNone || q.fetching || q.writing_back || q.ahead_pending) break;
    q.ahead_pending = true;
    window.push_back(next);
  }
  p.ahead = static_cast<uint32_t>(1 + window.size());
  return window;
}

std::vector<uint64_t> PagerSegment::InstallAhead(std::span<const uint64_t> window,
                                                 std::span<const uint64_t> touches_before,
                                                 std::span<const AheadGrant> ahead) {
  std::vector<uint64_t> left;
  size_t g = 0;
  for (size_t i = 0; i < window.size(); ++i) {
    const uint64_t page = window[i];
    Page& q = pages_[page];
    q.ahead_pending = false;
    // Both lists are in increasing page order (PageSource::GetAhead).
    while (g < ahead.size() && ahead[g].page < page) ++g;
    const AheadGrant* a = g < ahead.size() && ahead[g].page == page ? &ahead[g] : nullptr;
    const bool install = a != nullptr && a->data.size() == kPageBytes &&
                         Touches(q) == touches_before[i] && q.held == Held::kNone && !q.fetching &&
                         !q.writing_back && resident_count_ + reserved_ < tuning_.cache_pages;
    // Left out (not granted, held, pushed or installed since, or no room:
    // read-ahead never evicts): its waiting read faults fetch it on their own.
    if (install && CopyIn(page, a->data, wp_, q.waiters)) {
      resident_.push_back(page);
      ++resident_count_;
      q.held = Held::kShared;
      ++q.installs;
      q.version = a->version;
      q.installed_at = {};  // maybe never used: no minimum hold against recalls
      ++stats_.read_ahead;
      WakeWaiters(q);
    } else if (!q.waiters.empty() && q.held == Held::kNone && !q.fetching && !q.writing_back) {
      q.fetching = true;
      q.want = Held::kShared;
      q.ahead = 1;
      left.push_back(page);
    } else if (!q.waiters.empty() && !q.fetching && !q.writing_back) {
      WakeWaiters(q);  // it came some other way meanwhile
    }
  }
  return left;
}

void PagerSegment::WakeWaiters(Page& p) {
  for (Waiter& w : p.waiters) {
    PagerClient& c = *w.client;
    if (c.dead) continue;
    const uint64_t addr = Addr(c, &p - pages_.data());
    Status s = (wp_ && w.write && p.held == Held::kExclusive)
                   ? WriteProtect(c.uffd.get(), addr, kPageBytes, false)
                   : WakeRange(c.uffd.get(), addr, kPageBytes);
    if (!s.ok()) c.dead = true;
    c.failed_page = ~uint64_t{0};  // it made progress
  }
  p.waiters.clear();
}

void PagerSegment::FailWaiters(Page& p, const Status& why) {
  (void)why;
  for (Waiter& w : p.waiters) FailFault(*w.client, w.tid, &p - pages_.data());
  p.waiters.clear();
}

// A fault the pager cannot satisfy: SIGBUS to the faulting thread (to the
// process when the kernel did not name the thread), then a wake. The same
// thread failing again on the same page made no progress since: it is in a
// kernel-mode access (which retries the fault instead of taking the signal)
// or its handler returned to the access; the process is killed rather than
// left looping, so no fault waits forever.
void PagerSegment::FailFault(PagerClient& c, uint32_t tid, uint64_t page) {
  ++stats_.failed_faults;
  if (c.dead) return;
  if (c.failed_tid == tid && c.failed_page == page) {
    ::kill(c.pid, SIGKILL);
    c.dead = true;
    return;
  }
  c.failed_tid = tid;
  c.failed_page = page;
  if (tid == 0 || syscall(SYS_tgkill, c.pid, static_cast<pid_t>(tid), SIGBUS) != 0) {
    ::kill(c.pid, SIGBUS);
  }
  WakeRange(c.uffd.get(), Addr(c, page), kPageBytes).IgnoreError();
}

void PagerSegment::ProtectEverywhere(uint64_t page, bool protect) {
  if (!wp_) return;
  for (auto& c : clients_) {
    if (c->dead) continue;
    if (!WriteProtect(c->uffd.get(), Addr(*c, page), kPageBytes, protect).ok()) c->dead = true;
  }
}

Status PagerSegment::ReadLocal(uint64_t page, std::span<std::byte> out) {
  RAMS_ASSIGN_OR_RETURN(ssize_t n, sys::SysCallValue("pread " + name_, [&] {
    return pread(memfd_.get(), out.data(), kPageBytes, page * kPageBytes);
  }));
  if (n != kPageBytes) return Error(EIO, "pread " + name_ + ": short");
  return Status();
}

Status PagerSegment::DropLocal(uint64_t page) {
  // PUNCH_HOLE drops the page from every process's mapping at once (unlike
  // MADV_DONTNEED, which would only clear the caller's PTEs); the markers
  // written after it keep inv. 2 on kernels without WP_UNPOPULATED.
  Status s = sys::SysCall("fallocate PUNCH_HOLE " + name_, [&] {
    return fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                     static_cast<off_t>(page * kPageBytes), kPageBytes);
  });
  ProtectEverywhere(page, true);
  return s;
}

Status PagerSegment::CaptureAndDrop(uint64_t page, std::span<std::byte> out) {
  if (wp_) {
    // umap's order: write-protect, copy out, then drop.
    ProtectEverywhere(page, true);
    RAMS_RETURN_IF_ERROR(ReadLocal(page, out));
    return DropLocal(page);
  }
  // Without write-protect a local process may store to the page until the
  // punch unmaps it from every mm (a copy taken before the punch misses the
  // stores in between: the lost update of issue 9). So the pager keeps the
  // page itself: vmsplice puts a reference to it (not a copy) in a pipe, the
  // punch unmaps it everywhere (flushing the TLBs) and drops it from the
  // file, and the pipe then yields its final content. Stores after the punch
  // fault as missing and wait for the next grant.
  int fds[2];
  RAMS_RETURN_IF_ERROR(sys::SysCall("pipe " + name_, [&] { return pipe2(fds, O_CLOEXEC); }));
  const sys::UniqueFd rd(fds[0]), wr(fds[1]);
  void* view = mmap(nullptr, kPageBytes, PROT_READ, MAP_SHARED, memfd_.get(),
                    static_cast<off_t>(page * kPageBytes));
  if (view == MAP_FAILED) return ErrnoError("mmap " + name_);
  struct iovec iov = {view, kPageBytes};
  auto spliced = sys::SysCallValue("vmsplice " + name_, [&] {
    return vmsplice(wr.get(), &iov, 1, 0);
  });
  munmap(view, kPageBytes);
  RAMS_RETURN_IF_ERROR(spliced.status());
  if (*spliced != kPageBytes) return Error(EIO, "vmsplice " + name_ + ": short");
  RAMS_RETURN_IF_ERROR(DropLocal(page));
  size_t got = 0;
  while (got < kPageBytes) {
    RAMS_ASSIGN_OR_RETURN(ssize_t n, sys::SysCallValue("read pipe " + name_, [&] {
      return read(rd.get(), out.data() + got, kPageBytes - got);
    }));
    if (n == 0) return Error(EIO, "read pipe " + name_ + ": short");
    got += static_cast<size_t>(n);
  }
  return Status();
}

}  // namespace rams::mapping
