// SPDX-License-Identifier: MIT
#include "kernel_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "mapping/wire_page_source.h"
#include "sys/adaptive_poll.h"
#include "metrics.h"
#include "rams/remote.h"

namespace ramsd {

namespace {

using rams::mapping::Access;
using rams::mapping::kPageBytes;
using rams::mapping::PageSource;

static_assert(kPageBytes == RAMS_REMOTE_PAGE_BYTES, "the channel's pages are the protocol's");

// A push for a page whose grant is being installed waits this long for it
// (well inside a home's recall timeout, 2 s by default).
constexpr auto kInstallWait = std::chrono::milliseconds(500);
// A grant overtaken by pushes is asked again at most this often.
constexpr int kFetchAttempts = 5;
// How often an idle worker looks at the stop flag while the module is quiet.
constexpr int kPollSliceMs = 100;
// A waiting LOCK or WAIT asks the home for at most this long at a time.
constexpr std::chrono::nanoseconds kWaitSlice = std::chrono::seconds(1);
// Most LOCK and WAIT requests waiting at once; more are refused (ENOLCK, EAGAIN).
constexpr int kMaxBlocking = 256;
// A home handle's connection refused during its handshake (the home bounds
// them) is tried again this often, after 100, 200, ... ms: on top of the
// client's own three quick tries (10-40 ms, Connection::Open), for a home
// whose handshakes stay crowded longer than those.
constexpr int kConnectRetries = 5;
constexpr auto kConnectBackoff = std::chrono::milliseconds(100);

int ErrnoOf(const rams::Status& s) {
  const int code = s.code();
  return code > 0 && code < 4096 ? code : EIO;
}

// A failed call on the control handle: logged, and a slice passes before
// the caller tries again (no busy loop on a broken handle).
bool HandleFailed(const char* call) {
  spdlog::error("kernel channel: {}: {}", call, std::strerror(errno));
  poll(nullptr, 0, kPollSliceMs);
  return false;
}

}  // namespace

// One remote segment served for the module: its source at the home and what
// this host holds of each page, as far as the grants and pushes tell.
class KernelChannel::Remote : public rams::mapping::CoherenceSink {
 public:
  Remote(KernelChannel* channel, uint64_t id, std::unique_ptr<PageSource> source,
         rams::RemoteAddress address)
      : channel_(channel), id_(id), source_(std::move(source)), address_(std::move(address)) {}
  ~Remote() override { CloseHandles(); }

  PageSource& source() { return *source_; }

  rams::Status Invalidate(uint64_t page, uint64_t version, std::span<std::byte> dirty_out,
                          bool* dirty) override {
    return Push(page, version, dirty_out, dirty, RAMS_CTL_INVALIDATE);
  }
  rams::Status Downgrade(uint64_t page, uint64_t version, std::span<std::byte> dirty_out,
                         bool* dirty) override {
    return Push(page, version, dirty_out, dirty, RAMS_CTL_DOWNGRADE);
  }
  // The module has no way yet to tell a mapping's users (docs/kernel-abi.md): logged and counted.
  void PagesLost() override {
    ++channel_->counters_.pages_lost_reports;
    spdlog::warn("kernel channel: the home of segment {} reports exclusive pages lost with a host",
                 id_);
  }
  void Lost(rams::Status why) override {
    std::lock_guard<std::mutex> l(mu_);
    if (!lost_) spdlog::warn("kernel channel: segment {} lost its home: {}", id_, why.ToString());
    lost_ = true;
  }

  // Serves a READ or WRITE request; every path answers it.
  void Fetch(const rams_ctl_request& r);
  // RELEASE: the exclusive pages' data back to the home (PAGE_DROP).
  void HandBack();
  // A handle's call (LOCK..CLOSE); every path answers it.
  void Call(const rams_ctl_request& r);
  void CloseHandles();

 private:
  // One /dev/rams handle's own session and handle at the home: its leases
  // are the home handle's, so they end when it closes.
  struct HomeHandle {
    explicit HomeHandle(rams::RemoteSession s) : session(std::move(s)) {}
    rams::RemoteSession session;
    std::unique_ptr<rams::RemoteAttachment> attachment;
    std::atomic<bool> closed{false};
  };
  // The handle's home handle; opened when `open` and there is none.
  rams::Result<std::shared_ptr<HomeHandle>> HomeHandleFor(uint64_t handle, bool open);
  void CloseHandle(uint64_t handle);
  // Whether a waiting call should stop asking (its handle closed, ramsd stops).
  bool Abandoned(const HomeHandle& h) const {
    return h.closed.load() || channel_->stopping_.load(std::memory_order_relaxed);
  }
  void AnswerValue(uint64_t id, uint64_t value);
  void Lock(const rams_ctl_request& r, rams::RemoteAttachment& seg, const HomeHandle& h);
  void Wait(const rams_ctl_request& r, rams::RemoteAttachment& seg);
  void Store(const rams_ctl_request& r, rams::RemoteAttachment& seg);

  enum class Held : uint8_t { kNone, kRead, kWrite };
  struct Page {
    Held held = Held::kNone;
    uint64_t version = 0;
    uint64_t pushes = 0;
    uint64_t push_version = 0;  // the newest version a push named
    bool fetching = false;
    bool discarding = false;  // the fetch drops a discarded grant at the home
  };
  // Drops at the home the copy of a grant Fetch discarded with no copy left here; l holds mu_.
  void DropDiscarded(std::unique_lock<std::mutex>& l, Page& p, uint64_t page);
  // CTL_PUSH in the module; the data when it was dirty.
  rams::Status PushToModule(uint64_t page, uint32_t kind, std::span<std::byte> out, bool* dirty);
  rams::Status Push(uint64_t page, uint64_t version, std::span<std::byte> dirty_out, bool* dirty,
                    uint32_t kind);

  KernelChannel* const channel_;
  const uint64_t id_;
  const std::unique_ptr<PageSource> source_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::unordered_map<uint64_t, Page> pages_;  // under mu_
  bool lost_ = false;                         // under mu_
  const rams::RemoteAddress address_;
  std::mutex connect_mu_;  // held while a home handle is being opened
  std::mutex handles_mu_;
  std::map<uint64_t, std::shared_ptr<HomeHandle>> handles_;  // under handles_mu_
};

rams::Result<std::shared_ptr<KernelChannel::Remote::HomeHandle>>
KernelChannel::Remote::HomeHandleFor(uint64_t handle, bool open) {
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    if (auto it = handles_.find(handle); it != handles_.end()) return it->second;
  }
  if (!open) return rams::Error(ENOENT, "no home handle for handle " + std::to_string(handle));
  // One handshake at a time (a home bounds the connections in their
  // handshake: many handles starting at once would be refused), outside
  // handles_mu_ since connecting takes a round trip or more.
  std::lock_guard<std::mutex> connecting(connect_mu_);
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    if (auto it = handles_.find(handle); it != handles_.end()) return it->second;
  }
  const rams::RemoteOptions options{.key = channel_->options_.key,
                                    .timeout = channel_->options_.connect_timeout,
                                    .busy_poll = channel_->options_.busy_poll};
  rams::Result<rams::RemoteSession> connected =
      rams::RemoteSession::Connect(address_.host, address_.port, options);
  for (int retry = 0; retry < kConnectRetries && !connected.ok() &&
                      connected.code() == ECONNRESET; ++retry) {
    std::this_thread::sleep_for(kConnectBackoff * (retry + 1));  // others' handshakes
    connected = rams::RemoteSession::Connect(address_.host, address_.port, options);
  }
  RAMS_ASSIGN_OR_RETURN(rams::RemoteSession session, std::move(connected));
  auto made = std::make_shared<HomeHandle>(std::move(session));
  RAMS_ASSIGN_OR_RETURN(made->attachment,
                        made->session.Open(address_.name, source_->ReadOnly()));
  std::lock_guard<std::mutex> l(handles_mu_);
  auto [it, inserted] = handles_.emplace(handle, made);
  if (inserted) ++channel_->counters_.home_handles;
  return it->second;  // a racing call's, when it came first
}

void KernelChannel::Remote::CloseHandle(uint64_t handle) {
  std::shared_ptr<HomeHandle> h;
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    if (auto it = handles_.find(handle); it != handles_.end()) {
      h = std::move(it->second);
      handles_.erase(it);
    }
  }
  if (!h) return;
  h->closed.store(true);
  --channel_->counters_.home_handles;
  // The home handle closes with the last call using it (a waiting one ends
  // within a slice).
}

void KernelChannel::Remote::CloseHandles() {
  std::map<uint64_t, std::shared_ptr<HomeHandle>> handles;
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    handles.swap(handles_);
  }
  for (auto& [id, h] : handles) {
    h->closed.store(true);
    --channel_->counters_.home_handles;
  }
}

void KernelChannel::Remote::AnswerValue(uint64_t id, uint64_t value) {
  rams_ctl_answer a{};
  a.id = id;
  a.value = value;
  channel_->Answer(a);
}

void KernelChannel::Remote::Call(const rams_ctl_request& r) {
  ++channel_->counters_.calls;
  if (r.kind == RAMS_CTL_CLOSE) {
    CloseHandle(r.op.handle);
    return AnswerValue(r.id, 0);
  }
  // UNLOCK and LOCKED name a lease, which only a LOCK on an open home handle made.
  const bool open = r.kind != RAMS_CTL_UNLOCK && r.kind != RAMS_CTL_LOCKED;
  rams::Result<std::shared_ptr<HomeHandle>> h = HomeHandleFor(r.op.handle, open);
  if (!h.ok()) {
    if (r.kind == RAMS_CTL_LOCKED && h.code() == ENOENT) return AnswerValue(r.id, 0);
    spdlog::warn("kernel channel: segment {} handle {}: {}", id_, r.op.handle,
                 h.status().ToString());
    return channel_->AnswerError(r.id, ErrnoOf(h.status()));
  }
  rams::RemoteAttachment& seg = *(*h)->attachment;
  switch (r.kind) {
    case RAMS_CTL_LOCK:
      return Lock(r, seg, **h);
    case RAMS_CTL_UNLOCK: {
      rams::Status s = seg.Unlock(r.op.lock_id);
      return s.ok() ? AnswerValue(r.id, 0) : channel_->AnswerError(r.id, ErrnoOf(s));
    }
    case RAMS_CTL_LOCKED: {
      rams::Result<bool> held = seg.Held(r.op.lock_id);
      return held.ok() ? AnswerValue(r.id, *held ? 1 : 0)
                       : channel_->AnswerError(r.id, ErrnoOf(held.status()));
    }
    case RAMS_CTL_WAIT:
      return Wait(r, seg);
    case RAMS_CTL_WAKE: {
      rams::Result<uint32_t> woken = seg.Wake(r.op.offset, r.op.value);
      if (!woken.ok()) return channel_->AnswerError(r.id, ErrnoOf(woken.status()));
      return AnswerValue(r.id, std::min<uint64_t>(*woken, r.op.value));
    }
    case RAMS_CTL_STORE:
      return Store(r, seg);
  }
  channel_->AnswerError(r.id, EINVAL);
}

// Asks in slices: a LOCK the home holds back past a slice is asked again,
// until granted, its own timeout, or abandoned.
void KernelChannel::Remote::Lock(const rams_ctl_request& r, rams::RemoteAttachment& seg,
                                 const HomeHandle& h) {
  const bool timed = (r.flags & RAMS_CTL_TIMED) != 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(r.op.timeout_ns);
  for (;;) {
    std::chrono::nanoseconds slice = kWaitSlice;
    if (timed) {
      slice = std::max(std::chrono::nanoseconds(0),
                       std::min(slice, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           deadline - std::chrono::steady_clock::now())));
    }
    rams::Result<rams::LockId> id =
        seg.Lock(r.op.offset, r.op.length, {.writes = r.op.value, .timeout = slice});
    if (id.ok()) return AnswerValue(r.id, *id);
    const int code = ErrnoOf(id.status());
    const bool held_back = code == ETIMEDOUT || code == EWOULDBLOCK;
    if (!held_back || (timed && std::chrono::steady_clock::now() >= deadline)) {
      return channel_->AnswerError(r.id, timed && r.op.timeout_ns == 0 && held_back ? EWOULDBLOCK
                                                                                    : code);
    }
    if (Abandoned(h)) return channel_->AnswerError(r.id, ECANCELED);
  }
}

// One slice: a WAIT still parked when the slice ends returns as woken (a
// spurious wake-up, which futex semantics allow), unless its own timeout ended.
void KernelChannel::Remote::Wait(const rams_ctl_request& r, rams::RemoteAttachment& seg) {
  const bool timed = (r.flags & RAMS_CTL_TIMED) != 0;
  const auto own = std::chrono::nanoseconds(r.op.timeout_ns);
  const std::chrono::nanoseconds slice = timed ? std::min(own, kWaitSlice) : kWaitSlice;
  rams::Status s = seg.Wait(r.op.offset, r.op.value, slice);
  if (s.ok()) return AnswerValue(r.id, 0);
  const int code = ErrnoOf(s);
  if (code == ETIMEDOUT && !(timed && own <= kWaitSlice)) return AnswerValue(r.id, 0);
  channel_->AnswerError(r.id, code);
}

void KernelChannel::Remote::Store(const rams_ctl_request& r, rams::RemoteAttachment& seg) {
  if (r.op.length == 0 || r.op.length > RAMS_CTL_STORE_MAX) {
    return channel_->AnswerError(r.id, EINVAL);
  }
  std::vector<std::byte> bytes(r.op.length);
  rams_ctl_data d{};
  d.id = r.id;
  d.data = reinterpret_cast<uintptr_t>(bytes.data());
  d.length = r.op.length;
  if (ioctl(channel_->fd_.get(), RAMS_IOC_CTL_DATA, &d) != 0) {
    spdlog::warn("kernel channel: CTL_DATA {}: {}", r.id, std::strerror(errno));
    return channel_->AnswerError(r.id, EIO);
  }
  rams::Status s = seg.Write(r.op.offset, bytes);
  if (!s.ok()) return channel_->AnswerError(r.id, ErrnoOf(s));
  AnswerValue(r.id, r.op.length);
}

rams::Status KernelChannel::Remote::PushToModule(uint64_t page, uint32_t kind,
                                                 std::span<std::byte> out, bool* dirty) {
  rams_ctl_push p{};
  p.segment = id_;
  p.page = page;
  p.kind = kind;
  p.data = reinterpret_cast<uintptr_t>(out.data());
  if (ioctl(channel_->fd_.get(), RAMS_IOC_CTL_PUSH, &p) != 0) {
    return rams::ErrnoError("CTL_PUSH segment " + std::to_string(id_) + " page " +
                            std::to_string(page));
  }
  *dirty = p.dirty != 0;
  return rams::Status::Ok();
}

rams::Status KernelChannel::Remote::Push(uint64_t page, uint64_t version,
                                         std::span<std::byte> dirty_out, bool* dirty,
                                         uint32_t kind) {
  *dirty = false;
  if (dirty_out.size() < kPageBytes) return rams::Error(EINVAL, "push: short buffer");
  std::unique_lock<std::mutex> l(mu_);
  Page& p = pages_[page];
  // A push naming a version newer than the copy held here (or any, with no
  // copy) follows a grant the home sent us first, which is being installed:
  // let it land. One naming the copy held here came before the grant being
  // fetched, which the home holds back until it is acknowledged: no wait.
  const bool after_a_grant = p.held == Held::kNone || version > p.version;
  if (p.fetching && !p.discarding && after_a_grant) {
    changed_.wait_for(l, kInstallWait, [&] { return !p.fetching || p.discarding; });
  }
  ++p.pushes;
  p.push_version = std::max(p.push_version, version);
  RAMS_RETURN_IF_ERROR(PushToModule(page, kind, dirty_out, dirty));
  if (kind == RAMS_CTL_INVALIDATE) {
    p.held = Held::kNone;
    ++channel_->counters_.invalidations;
  } else {
    if (p.held == Held::kWrite) p.held = Held::kRead;
    ++channel_->counters_.downgrades;
  }
  if (*dirty) ++channel_->counters_.write_backs;
  return rams::Status::Ok();
}

void KernelChannel::Remote::Fetch(const rams_ctl_request& r) {
  const Access access = r.kind == RAMS_CTL_WRITE ? Access::kWrite : Access::kRead;
  std::vector<std::byte> data(kPageBytes);
  std::unique_lock<std::mutex> l(mu_);
  if (lost_ || r.page >= (source_->SizeBytes() + kPageBytes - 1) / kPageBytes) {
    l.unlock();
    spdlog::warn("kernel channel: segment {} page {}: {}", id_, r.page,
                 lost_ ? "the home is lost" : "past the end");
    return channel_->AnswerError(r.id, lost_ ? EIO : EINVAL);
  }
  Page& p = pages_[r.page];
  changed_.wait(l, [&] { return !p.fetching; });
  p.fetching = true;
  bool keep_copy = (r.flags & RAMS_CTL_HAVE_COPY) != 0;
  // What the module says it holds never exceeds what this host holds (the
  // pushes since only lower the latter): a request naming less is stale.
  const Held asked_with = keep_copy ? Held::kRead : Held::kNone;
  if (p.held > asked_with) {
    ++channel_->counters_.stale_requests;
    spdlog::warn("kernel channel: segment {} page {}: the module asks for it ({}) while holding "
                 "it {}", id_, r.page, access == Access::kWrite ? "write" : "read",
                 p.held == Held::kWrite ? "exclusively" : "shared");
  }
  int error = EIO;
  bool overtaken = true;  // every attempt's grant was discarded
  for (int attempt = 0; attempt < kFetchAttempts; ++attempt) {
    const uint64_t have = keep_copy && p.held != Held::kNone ? p.version : 0;
    const uint64_t pushes = p.pushes;
    l.unlock();
    rams::Result<rams::mapping::Grant> grant = source_->Get(r.page, access, have, data);
    l.lock();
    if (!grant.ok()) {
      error = ErrnoOf(grant.status());
      spdlog::warn("kernel channel: segment {} page {}: {}", id_, r.page,
                   grant.status().ToString());
      overtaken = false;
      break;
    }
    // A push overtook the grant: ask again, unless every such push came
    // before the grant (older versions: they were of the copy it replaces).
    if (p.pushes != pushes && p.push_version >= grant->version) {
      ++channel_->counters_.retries;
      keep_copy = false;
      if (p.held == Held::kNone) DropDiscarded(l, p, r.page);
      continue;
    }
    rams_ctl_answer a{};
    a.id = r.id;
    a.grant = access == Access::kWrite ? RAMS_CTL_GRANT_WRITE : RAMS_CTL_GRANT_READ;
    a.data = grant->data_included ? reinterpret_cast<uintptr_t>(data.data()) : 0;
    if (ioctl(channel_->fd_.get(), RAMS_IOC_CTL_ANSWER, &a) != 0) {
      if (errno == EINVAL && !grant->data_included) {  // the module's copy went meanwhile
        ++channel_->counters_.retries;
        keep_copy = false;
        p.held = Held::kNone;
        DropDiscarded(l, p, r.page);
        continue;
      }
      spdlog::warn("kernel channel: CTL_ANSWER {}: {}", r.id, std::strerror(errno));
      overtaken = false;
      break;
    }
    p.held = access == Access::kWrite ? Held::kWrite : Held::kRead;
    p.version = grant->version;
    ++channel_->counters_.fetches;
    if (!grant->data_included) ++channel_->counters_.upgrades;
    p.fetching = false;
    changed_.notify_all();
    return;
  }
  p.fetching = false;
  changed_.notify_all();
  l.unlock();
  if (overtaken) {
    spdlog::warn("kernel channel: segment {} page {}: {} grants in a row overtaken by pushes",
                 id_, r.page, kFetchAttempts);
  }
  channel_->AnswerError(r.id, error);
}

// The home counts a discarded grant as this host's copy, and answers the
// next ask of a page it thinks held exclusively with a grant without data
// (an upgrade), which a host with no copy cannot take: the copy is dropped
// at the home first (clean: the module never saw the grant's data). Pushes
// meanwhile are for that grant and do not wait for this fetch.
void KernelChannel::Remote::DropDiscarded(std::unique_lock<std::mutex>& l, Page& p,
                                          uint64_t page) {
  p.discarding = true;
  l.unlock();
  rams::Status s = source_->Drop(page, {});
  l.lock();
  p.discarding = false;
  if (!s.ok()) spdlog::warn("kernel channel: segment {} page {}: {}", id_, page, s.ToString());
}

void KernelChannel::Remote::HandBack() {
  std::vector<std::byte> data(kPageBytes);
  std::vector<uint64_t> exclusive;
  std::unique_lock<std::mutex> l(mu_);
  // The list first: a recall arriving meanwhile adds pages to pages_ (a
  // rehash, which would end an iteration), and may take a listed page first.
  for (const auto& [page, p] : pages_) {
    if (p.held == Held::kWrite) exclusive.push_back(page);
  }
  for (const uint64_t page : exclusive) {
    Page& p = pages_[page];  // stays valid: unordered_map rehashes keep references
    changed_.wait(l, [&] { return !p.fetching; });
    if (p.held != Held::kWrite) continue;  // a recall took it meanwhile
    bool dirty = false;
    rams::Status s = PushToModule(page, RAMS_CTL_INVALIDATE, data, &dirty);
    p.held = Held::kNone;
    if (!s.ok()) {
      spdlog::warn("kernel channel: release: {}", s.ToString());
      continue;
    }
    // A recall of this page waits (bounded) until the drop is on its way,
    // so the home has the data before it hears that the copy is gone.
    p.fetching = true;
    l.unlock();
    s = source_->Drop(page, dirty ? std::span<const std::byte>(data)
                                  : std::span<const std::byte>());
    l.lock();
    p.fetching = false;
    changed_.notify_all();
    if (dirty && s.ok()) ++channel_->counters_.write_backs;
    if (!s.ok()) spdlog::warn("kernel channel: release page {}: {}", page, s.ToString());
  }
}

rams::Result<std::unique_ptr<KernelChannel>> KernelChannel::Start(KernelChannelOptions options) {
  rams::sys::UniqueFd fd(open(options.device.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return rams::ErrnoError("open " + options.device);
  rams_version v{};
  if (ioctl(fd.get(), RAMS_IOC_VERSION, &v) != 0) return rams::ErrnoError("RAMS_IOC_VERSION");
  if ((v.features & RAMS_FEATURE_REMOTE) == 0) {
    return rams::Error(EOPNOTSUPP, "rams.ko has no remote segments (an older module)");
  }
  if (ioctl(fd.get(), RAMS_IOC_CONTROL) != 0) {
    return rams::ErrnoError(errno == EBUSY ? "RAMS_IOC_CONTROL: another ramsd holds the channel"
                                           : "RAMS_IOC_CONTROL");
  }
  // An epoll instance per worker, each watching the handle exclusively: the
  // module's wake-up for a request wakes one idle worker, not all of them.
  std::vector<rams::sys::UniqueFd> waits;
  for (int i = 0; i < std::max(options.workers, 1); ++i) {
    rams::sys::UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
    if (ep.get() < 0) return rams::ErrnoError("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.fd = fd.get();
    if (epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) {
      return rams::ErrnoError("epoll_ctl (EPOLLEXCLUSIVE) on the control handle");
    }
    waits.push_back(std::move(ep));
  }
  return std::unique_ptr<KernelChannel>(
      new KernelChannel(std::move(options), std::move(fd), std::move(waits)));
}

KernelChannel::KernelChannel(KernelChannelOptions options, rams::sys::UniqueFd fd,
                             std::vector<rams::sys::UniqueFd> waits)
    : options_(std::move(options)), fd_(std::move(fd)), waits_(std::move(waits)) {
  for (const rams::sys::UniqueFd& ep : waits_) {
    workers_.emplace_back([this, ep = ep.get()] { WorkerLoop(ep); });
  }
}

KernelChannel::~KernelChannel() {
  // Idle workers see it within a poll slice, those serving when they are done.
  stopping_.store(true, std::memory_order_relaxed);
  for (std::thread& t : workers_) t.join();
  {
    // Each waiting call ends within a slice once it sees stopping_.
    std::unique_lock<std::mutex> l(blocking_mu_);
    blocking_done_.wait(l, [&] { return blocking_ == 0; });
  }
  // The sources close with remotes_; fd_ closes last, which fails what the
  // module still waits for.
  std::map<uint64_t, std::shared_ptr<Remote>> remotes;
  {
    std::lock_guard<std::mutex> l(mu_);
    remotes.swap(remotes_);
  }
}

bool KernelChannel::ReceiveOne(int wait_fd, rams::sys::AdaptivePoll* poll, rams_ctl_request* r) {
  const auto take = [&] {
    *r = rams_ctl_request{};
    if (ioctl(fd_.get(), RAMS_IOC_CTL_RECV, r) != 0) return false;
    ++counters_.requests;
    return true;
  };
  const auto none_yet = [] { return errno == EAGAIN || errno == EINTR; };
  // A request queued already, else one that comes within the slice (another
  // worker woken for it may take it first).
  if (take()) return true;
  if (!none_yet()) return HandleFailed("CTL_RECV");
  const bool adaptive = options_.busy_poll.count() < 0;
  if (poll != nullptr && options_.busy_poll.count() != 0) {
    const std::chrono::microseconds budget = adaptive ? poll->Budget() : options_.busy_poll;
    if (budget.count() > 0) {
      const auto until = std::chrono::steady_clock::now() + budget;
      bool got = false;
      while (!got && std::chrono::steady_clock::now() < until) {
        got = take();
        if (!got && !none_yet()) return HandleFailed("CTL_RECV");
      }
      if (adaptive) poll->Record(got);
      if (got) return true;
    }
  }
  epoll_event e;
  if (epoll_wait(wait_fd, &e, 1, kPollSliceMs) < 0 && errno != EINTR) {
    return HandleFailed("epoll_wait");
  }
  if (take()) return true;
  return none_yet() ? false : HandleFailed("CTL_RECV");
}

void KernelChannel::WorkerLoop(int wait_fd) {
  rams::sys::AdaptivePoll poll;
  bool served = false;
  while (!stopping_.load(std::memory_order_relaxed)) {
    rams_ctl_request r;
    served = ReceiveOne(wait_fd, served ? &poll : nullptr, &r);
    if (served) Serve(r);
  }
}

void KernelChannel::Serve(const rams_ctl_request& r) {
  switch (r.kind) {
    case RAMS_CTL_ATTACH:
      return Attach(r);
    case RAMS_CTL_RELEASE:
      return Release(r);
    case RAMS_CTL_READ:
    case RAMS_CTL_WRITE:
      if (std::shared_ptr<Remote> remote = Find(r.segment)) return remote->Fetch(r);
      spdlog::warn("kernel channel: request {} names segment {}, which is not served", r.id,
                   r.segment);
      return AnswerError(r.id, EIO);
    case RAMS_CTL_LOCK:
    case RAMS_CTL_UNLOCK:
    case RAMS_CTL_LOCKED:
    case RAMS_CTL_WAIT:
    case RAMS_CTL_WAKE:
    case RAMS_CTL_STORE:
    case RAMS_CTL_CLOSE: {
      std::shared_ptr<Remote> remote = Find(r.segment);
      if (!remote) return AnswerError(r.id, EIO);
      const bool may_wait = (r.kind == RAMS_CTL_LOCK || r.kind == RAMS_CTL_WAIT) &&
                            !((r.flags & RAMS_CTL_TIMED) && r.op.timeout_ns == 0);
      if (may_wait) return ServeBlocking(std::move(remote), r);
      return remote->Call(r);
    }
  }
  spdlog::warn("kernel channel: request {} of unknown kind {}", r.id, r.kind);
  AnswerError(r.id, EINVAL);
}

void KernelChannel::ServeBlocking(std::shared_ptr<Remote> remote, const rams_ctl_request& r) {
  {
    std::lock_guard<std::mutex> l(blocking_mu_);
    if (blocking_ >= kMaxBlocking) {
      return AnswerError(r.id, r.kind == RAMS_CTL_LOCK ? ENOLCK : EAGAIN);
    }
    ++blocking_;
  }
  std::thread([this, remote = std::move(remote), r] {
    remote->Call(r);
    std::lock_guard<std::mutex> l(blocking_mu_);
    if (--blocking_ == 0) blocking_done_.notify_all();
  }).detach();
}

void KernelChannel::Attach(const rams_ctl_request& r) {
  const std::string name(r.name, strnlen(r.name, sizeof(r.name)));
  rams::Result<rams::RemoteAddress> a = rams::ParseRemoteAddress(name);
  if (!a.ok() || a->name.empty()) return AnswerError(r.id, EINVAL);
  const rams::RemoteOptions remote{.key = options_.key, .timeout = options_.connect_timeout,
                                   .busy_poll = options_.busy_poll};
  const bool read_only = (r.flags & RAMS_CTL_RDONLY) != 0;
  auto source = rams::mapping::WirePageSource::Open(a->host, a->port, a->name, read_only, remote);
  if (!read_only && (source.code() == EROFS || source.code() == EACCES)) {
    source = rams::mapping::WirePageSource::Open(a->host, a->port, a->name, true, remote);
  }
  if (!source.ok()) {
    spdlog::warn("kernel channel: attach {}: {}", name, source.status().ToString());
    return AnswerError(r.id, ErrnoOf(source.status()));
  }
  auto served = std::make_shared<Remote>(this, r.segment, std::move(*source), std::move(*a));
  served->source().SetSink(served.get());
  {
    std::lock_guard<std::mutex> l(mu_);
    remotes_[r.segment] = served;
  }
  rams_ctl_answer ans{};
  ans.id = r.id;
  ans.size = served->source().SizeBytes();
  ans.flags = served->source().ReadOnly() ? RAMS_CTL_RDONLY : 0;
  if (!Answer(ans)) {
    std::lock_guard<std::mutex> l(mu_);
    remotes_.erase(r.segment);
    return;
  }
  ++counters_.attaches;
  spdlog::info("kernel channel: serving {} as segment {} ({} bytes{})", name, r.segment, ans.size,
               ans.flags ? ", read-only" : "");
}

void KernelChannel::Release(const rams_ctl_request& r) {
  std::shared_ptr<Remote> remote;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = remotes_.find(r.segment); it != remotes_.end()) {
      remote = std::move(it->second);
      remotes_.erase(it);
    }
  }
  if (remote) remote->HandBack();
  rams_ctl_answer a{};
  a.id = r.id;
  Answer(a);
}

std::shared_ptr<KernelChannel::Remote> KernelChannel::Find(uint64_t segment) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = remotes_.find(segment);
  return it == remotes_.end() ? nullptr : it->second;
}

bool KernelChannel::Answer(const rams_ctl_answer& a) {
  if (ioctl(fd_.get(), RAMS_IOC_CTL_ANSWER, &a) == 0) return true;
  spdlog::warn("kernel channel: CTL_ANSWER {}: {}", a.id, std::strerror(errno));
  return false;
}

void KernelChannel::AnswerError(uint64_t id, int code) {
  ++counters_.failed;
  rams_ctl_answer a{};
  a.id = id;
  a.status = -code;
  Answer(a);
}

KernelChannelStats KernelChannel::Stats() const {
  KernelChannelStats s{.requests = counters_.requests.load(),
                       .attaches = counters_.attaches.load(),
                       .fetches = counters_.fetches.load(),
                       .upgrades = counters_.upgrades.load(),
                       .retries = counters_.retries.load(),
                       .invalidations = counters_.invalidations.load(),
                       .downgrades = counters_.downgrades.load(),
                       .write_backs = counters_.write_backs.load(),
                       .failed = counters_.failed.load(),
                       .stale_requests = counters_.stale_requests.load(),
                       .pages_lost_reports = counters_.pages_lost_reports.load(),
                       .calls = counters_.calls.load(),
                       .home_handles = static_cast<uint64_t>(counters_.home_handles.load())};
  std::lock_guard<std::mutex> l(mu_);
  s.segments = remotes_.size();
  return s;
}

std::string KernelChannel::RenderPrometheus() const {
  struct Line {
    const char* name;
    const char* type;
    const char* help;
    uint64_t KernelChannelStats::*field;
  };
  static constexpr Line kLines[] = {
      {"ramsd_kernel_requests_total", "counter", "Requests received from rams.ko.",
       &KernelChannelStats::requests},
      {"ramsd_kernel_attaches_total", "counter", "Remote segments opened for rams.ko.",
       &KernelChannelStats::attaches},
      {"ramsd_kernel_fetches_total", "counter", "Page grants installed in rams.ko.",
       &KernelChannelStats::fetches},
      {"ramsd_kernel_upgrades_total", "counter", "Write grants that kept the module's copy.",
       &KernelChannelStats::upgrades},
      {"ramsd_kernel_retries_total", "counter", "Grants discarded because a recall overtook them.",
       &KernelChannelStats::retries},
      {"ramsd_kernel_invalidations_total", "counter", "INVALIDATEs applied in rams.ko.",
       &KernelChannelStats::invalidations},
      {"ramsd_kernel_downgrades_total", "counter", "DOWNGRADEs applied in rams.ko.",
       &KernelChannelStats::downgrades},
      {"ramsd_kernel_write_backs_total", "counter", "Dirty pages of rams.ko handed back to homes.",
       &KernelChannelStats::write_backs},
      {"ramsd_kernel_failed_requests_total", "counter", "Requests answered with an error.",
       &KernelChannelStats::failed},
      {"ramsd_kernel_stale_requests_total", "counter",
       "Page requests of rams.ko for less than this host held (0 unless a fault raced a grant).",
       &KernelChannelStats::stale_requests},
      {"ramsd_kernel_pages_lost_reports_total", "counter",
       "Homes' reports of exclusive pages lost with another host.",
       &KernelChannelStats::pages_lost_reports},
      {"ramsd_kernel_calls_total", "counter",
       "Calls of rams.ko handles (LOCK..STORE) performed at homes.", &KernelChannelStats::calls},
      {"ramsd_kernel_home_handles", "gauge", "Home handles open for rams.ko handles.",
       &KernelChannelStats::home_handles},
      {"ramsd_kernel_segments", "gauge", "Remote segments served for rams.ko.",
       &KernelChannelStats::segments},
  };
  const KernelChannelStats s = Stats();
  std::string out;
  for (const Line& line : kLines) AppendMetric(out, line.name, line.type, line.help, s.*line.field);
  return out;
}

}  // namespace ramsd
