// SPDX-License-Identifier: MIT
// A remote segment mapped through the host pager (mapped_segment.h).
#include "mapping/mapped_segment.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <string>

#include "mapping/pager_socket.h"
#include "mapping/uffd.h"

namespace rams::mapping {
namespace {

PagerRequest MakeRequest(PagerOp op) {
  PagerRequest req{};
  req.magic = kPagerMagic;
  req.version = kPagerVersion;
  req.op = static_cast<uint32_t>(op);
  return req;
}

// One request, one reply; the reply's error becomes the Status.
Status Call(int sock, const PagerRequest& req, int send_fd, PagerReply* reply,
            sys::UniqueFd* fd_out, std::string_view what) {
  RAMS_RETURN_IF_ERROR(SendMessage(sock, &req, sizeof(req), send_fd));
  sys::UniqueFd ignored;
  RAMS_RETURN_IF_ERROR(ReceiveMessage(sock, reply, sizeof(*reply), fd_out ? fd_out : &ignored));
  if (reply->magic != kPagerMagic) return Error(EPROTO, std::string(what) + ": bad reply");
  if (reply->error != 0) {
    return Error(reply->error > 0 ? reply->error : EPROTO, std::string(what));
  }
  return Status();
}

// Liveness of the other hosts of a mapping domain, from the home. A dead
// index may be handed out again (every index of a new directory starts
// dead, and the one dead longest is reused when none is left), so a death
// is only believed from an answer asked after the caller read the owner id
// (a fresh question, whatever the cache holds): a host that got the index
// since wrote its owner ids after the home gave it out. Other answers are
// reused for kFreshFor (they err on "alive"), so that a waiter's slices
// cost the home at most one question each.
class HomeHostLiveness final : public internal::HostLiveness {
 public:
  HomeHostLiveness(uint64_t domain, std::function<Result<HostStates>()> ask,
                   std::function<Result<internal::Liveness>(uint32_t, uint32_t)> ask_thread)
      : domain_(domain), ask_(std::move(ask)), ask_thread_(std::move(ask_thread)) {}

  // One question each time (no cache): a waiter asks once per parking slice.
  internal::Liveness CheckThread(uint32_t index, uint32_t tid) override {
    if (!ask_thread_) return internal::Liveness::kUnknown;
    Result<internal::Liveness> r = ask_thread_(index, tid);
    return r.ok() ? *r : internal::Liveness::kUnknown;
  }

  internal::Liveness CheckHost(uint32_t index) override {
    if (index == 0 || index > internal::kMaxHostIndex) return internal::Liveness::kUnknown;
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (!asked_ || now - asked_at_ >= kFreshFor || Bit(dead_, index)) {
      asked_ = false;
      Result<HostStates> r = ask_();
      // Another domain: the home knows no such mapping (it lost it); its
      // answer says nothing about our hosts (cannot tell).
      if (!r.ok() || r->domain != domain_) return internal::Liveness::kUnknown;
      dead_ = r->dead;
      live_ = r->live;
      asked_ = true;
      asked_at_ = now;
    }
    if (Bit(dead_, index)) return internal::Liveness::kDead;
    return Bit(live_, index) ? internal::Liveness::kAlive : internal::Liveness::kUnknown;
  }

 private:
  static constexpr std::chrono::milliseconds kFreshFor{1};
  static bool Bit(const std::array<uint64_t, 4>& bits, uint32_t i) {
    return ((bits[i / 64] >> (i % 64)) & 1) != 0;
  }
  const uint64_t domain_;
  const std::function<Result<HostStates>()> ask_;
  const std::function<Result<internal::Liveness>(uint32_t, uint32_t)> ask_thread_;
  std::mutex mu_;  // one question at a time; guards the rest
  std::array<uint64_t, 4> dead_{};
  std::array<uint64_t, 4> live_{};
  bool asked_ = false;
  std::chrono::steady_clock::time_point asked_at_;
};

}  // namespace

Result<std::unique_ptr<MappedSegment>> MappedSegment::Open(std::string_view pager_socket,
                                                           std::string_view name,
                                                           MapOptions options) {
  if (name.empty() || name.size() >= kPagerNameBytes) return Error(EINVAL, "map: segment name");
  std::unique_ptr<MappedSegment> m(new MappedSegment());
  RAMS_ASSIGN_OR_RETURN(m->sock_, ConnectPager(pager_socket));
  PagerRequest req = MakeRequest(PagerOp::kOpen);
  req.flags = options.write ? kOpenWrite : 0;
  std::memcpy(req.name, name.data(), name.size());
  // Our PID namespace's domain names the thread ids we write as owners; 0
  // (cannot tell now) asks for no owner index.
  req.domain = options.host_states ? internal::SelfDomain() : 0;
  PagerReply reply{};
  sys::UniqueFd memfd;
  const std::string what = "map " + std::string(name);
  RAMS_RETURN_IF_ERROR(Call(m->sock_.get(), req, -1, &reply, &memfd, what));
  if (!memfd.valid() || reply.size_bytes == 0 || reply.size_bytes % 4096 != 0) {
    return Error(EPROTO, what + ": bad OPEN reply");
  }
  m->size_bytes_ = reply.size_bytes;
  m->read_only_ = reply.read_only != 0;
  RAMS_RETURN_IF_ERROR(m->Map(memfd.get(), options.address));
  RAMS_RETURN_IF_ERROR(m->Register(reply));
  RAMS_RETURN_IF_ERROR(m->RegisterOwners(reply, options));
  RAMS_ASSIGN_OR_RETURN(int ev, sys::SysCallValue("eventfd", [] {
    return eventfd(0, EFD_CLOEXEC);
  }));
  m->wake_.Reset(ev);
  m->watcher_ = std::thread([p = m.get()] { p->Watch(); });
  return m;
}

Status MappedSegment::Map(int memfd, void* address) {
  const int prot = read_only_ ? PROT_READ : PROT_READ | PROT_WRITE;
  const int flags = MAP_SHARED | (address != nullptr ? MAP_FIXED_NOREPLACE : 0);
  void* p = mmap(address, size_bytes_, prot, flags, memfd, 0);
  if (p == MAP_FAILED) return ErrnoError("mmap remote mapping");
  if (address != nullptr && p != address) {
    // Kernels before 4.17 take MAP_FIXED_NOREPLACE as a mere hint.
    munmap(p, size_bytes_);
    return Error(EEXIST, "mmap remote mapping: the address asked for is not free");
  }
  base_ = p;
  // fork: the child does not inherit the range (SIGSEGV there, never zeros).
  return sys::SysCall("madvise DONTFORK", [&] { return madvise(base_, size_bytes_, MADV_DONTFORK); });
}

Status MappedSegment::Register(const PagerReply& reply) {
  RAMS_ASSIGN_OR_RETURN(uffd_, OpenUserfaultfd(&user_mode_only_));
  RAMS_RETURN_IF_ERROR(HandshakeUffd(uffd_.get(), reply.uffd_features));
  RAMS_RETURN_IF_ERROR(RegisterUffd(uffd_.get(), base_, size_bytes_, reply.write_protect != 0));
  PagerRequest req = MakeRequest(PagerOp::kRegister);
  req.addr = reinterpret_cast<uint64_t>(base_);
  req.len = size_bytes_;
  req.flags = (reply.write_protect ? kRegisterWp : 0) | (user_mode_only_ ? kRegisterUserOnly : 0);
  PagerReply ack{};
  return Call(sock_.get(), req, uffd_.get(), &ack, nullptr, "register remote mapping");
}

Status MappedSegment::RegisterOwners(const PagerReply& reply, MapOptions& options) {
  if (reply.owner_domain == 0 || !options.host_states) return Status();
  if (reply.owner_domain == internal::kNoProcDomain || reply.owner_index == 0 ||
      reply.owner_index > internal::kMaxHostIndex) {
    return Error(EPROTO, "map: bad owner domain from the pager");
  }
  auto liveness =
      std::make_unique<HomeHostLiveness>(reply.owner_domain, std::move(options.host_states),
                                         std::move(options.thread_state));
  RAMS_RETURN_IF_ERROR(internal::RegisterOwnerDomain(
      base_, size_bytes_,
      internal::OwnerDomain{.domain = reply.owner_domain, .host_index = reply.owner_index,
                            .liveness = liveness.get()}));
  liveness_ = std::move(liveness);
  owner_domain_ = reply.owner_domain;
  owner_index_ = reply.owner_index;
  return Status();
}

void MappedSegment::Watch() {
  pollfd fds[2] = {{sock_.get(), POLLIN | POLLRDHUP, 0}, {wake_.get(), POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0 && errno == EINTR) continue;
    if (fds[1].revents != 0) return;
    if (fds[0].revents & (POLLHUP | POLLRDHUP | POLLERR)) break;
    if (fds[0].revents & POLLIN) {
      // Replies are read by Flush; only a hang-up matters here.
      char probe;
      if (recv(sock_.get(), &probe, 1, MSG_PEEK | MSG_DONTWAIT) == 0) break;
      usleep(1000);
    }
  }
  // The pager is gone: revoke the range, then release the faults blocked in
  // our uffd, which fault again into PROT_NONE (SIGSEGV), never into zeros.
  revoked_ = true;
  mprotect(base_, size_bytes_, PROT_NONE);
  uffd_.Reset();
}

Status MappedSegment::Flush() {
  if (revoked_) return Error(ENOTCONN, "flush: the host pager is gone");
  PagerRequest req = MakeRequest(PagerOp::kFlush);
  PagerReply reply{};
  return Call(sock_.get(), req, -1, &reply, nullptr, "flush remote mapping");
}

Status MappedSegment::Check() {
  if (revoked_) return Error(ENOTCONN, "check: the host pager is gone");
  PagerRequest req = MakeRequest(PagerOp::kCheck);
  PagerReply reply{};
  Status s = Call(sock_.get(), req, -1, &reply, nullptr, "remote mapping");
  if (s.code() == EOWNERDEAD) {
    return Error(EOWNERDEAD, "remote mapping: pages were lost with a host that held them "
                             "exclusively (they went back to the home's last version)");
  }
  return s;
}

MappedSegment::~MappedSegment() {
  if (liveness_) internal::UnregisterOwnerDomain(base_);
  if (watcher_.joinable()) {
    uint64_t one = 1;
    if (write(wake_.get(), &one, sizeof(one)) != sizeof(one)) std::abort();
    watcher_.join();
  }
  if (base_ != nullptr) munmap(base_, size_bytes_);
}

}  // namespace rams::mapping
