/* SPDX-License-Identifier: MIT */
// MappedSegment: a remote segment mapped into the calling process through
// its host's pager (host_pager.h). Open connects to the pager's Unix socket,
// maps the host's memfd for the segment (read-only for read-only exports),
// registers the range with a userfaultfd of this process and hands that to
// the pager over SCM_RIGHTS. From then on loads and stores in data() fault
// pages in from the home, coherently with the other hosts.
//
// Rules a user must know (docs/host-pager.md):
//  - fork: the mapping is MADV_DONTFORK; a child does not inherit it and an
//    access there is SIGSEGV (it never reads zeros). A child maps it again,
//    at the parent's address (MapOptions::address) when the parent's
//    pointers into it must stay valid.
//  - user_mode_only(): the kernel let this process have only user-mode
//    faults (vm.unprivileged_userfaultfd=0). Kernel accesses to a page not
//    yet present (read(2) into the mapping, a futex on it) then fail with
//    EFAULT instead of faulting the page in; touch the page first.
//  - A fault the pager cannot satisfy (home gone, timeout) is SIGBUS on the
//    faulting thread; a handler must not return to the faulting access.
//  - If the pager goes away, the mapping is revoked (PROT_NONE): SIGSEGV.
//  - Check (and Flush) report what became of the segment: EOWNERDEAD once
//    after the home reported pages lost with a host that held them
//    exclusively; the session's error once the host's copy is lost.
//
// Thread safety: data() may be used by every thread; Flush may be called
// from any thread; destruction must not race with use.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <thread>

#include "rams/status.h"
#include "sync/owner_domain.h"
#include "sys/sys.h"

namespace rams::mapping {

// What the home says about the hosts of a mapping domain (MAP_HOSTS):
// bitmaps of 256 host indexes, bit i of word i / 64.
struct HostStates {
  uint64_t domain = 0;  // 0: the home knows no such mapping
  std::array<uint64_t, 4> live{};
  std::array<uint64_t, 4> dead{};
};

struct MapOptions {
  bool write = true;  // map read-write (EROFS for a read-only export)
  // Asks the home about the hosts of the segment (RemoteAttachment: MAP_HOSTS
  // on its own session). Empty: the mapping registers no owner domain, so
  // sync objects in it stay single-host.
  std::function<Result<HostStates>()> host_states;
  // Asks the home whether thread `tid` of live host `index` is alive, as
  // that host's pager sees it (RemoteAttachment: OWNER_ALIVE). Empty: such
  // an owner is alive while its host is.
  std::function<Result<internal::Liveness>(uint32_t index, uint32_t tid)> thread_state;
  // Map exactly here (page-aligned), never over another mapping: EEXIST
  // when [address, address + size) is not free. nullptr: where the kernel
  // chooses.
  void* address = nullptr;
};

class MappedSegment {
 public:
  static Result<std::unique_ptr<MappedSegment>> Open(std::string_view pager_socket,
                                                     std::string_view name, MapOptions options);
  ~MappedSegment();
  MappedSegment(const MappedSegment&) = delete;
  MappedSegment& operator=(const MappedSegment&) = delete;

  std::span<std::byte> data() const { return {static_cast<std::byte*>(base_), size_bytes_}; }
  bool read_only() const { return read_only_; }
  bool user_mode_only() const { return user_mode_only_; }
  // The owner domain of sync objects in the mapping (0: none) and this
  // process's host index in it (docs/remote-mapping.md "Owners across hosts").
  uint64_t owner_domain() const { return owner_domain_; }
  uint32_t owner_index() const { return owner_index_; }
  // Writes this host's dirty pages of the segment back to the home (the
  // mapping's msync: msync(2) itself does not reach the pager), then
  // answers as Check.
  Status Flush();
  // What became of the segment since this mapping last asked (or was made):
  // EOWNERDEAD once after the home reported that exclusive copies of some of
  // its pages were lost with their host (those pages went back to the
  // home's last version); the session's error (ENOTCONN, ECONNRESET,
  // ESTALE, ...) once this host's copy is lost, every access being SIGBUS;
  // ENOTCONN when the pager is gone. Ok otherwise.
  Status Check();

 private:
  MappedSegment() = default;
  Status Map(int memfd, void* address);
  Status Register(const struct PagerReply& reply);
  Status RegisterOwners(const struct PagerReply& reply, MapOptions& options);
  void Watch();

  sys::UniqueFd sock_;
  sys::UniqueFd uffd_;  // kept open: a dead pager leaves faults blocked, not zero-filled
  void* base_ = nullptr;
  uint64_t size_bytes_ = 0;
  bool read_only_ = false;
  bool user_mode_only_ = false;
  uint64_t owner_domain_ = 0;
  uint32_t owner_index_ = 0;
  std::unique_ptr<internal::HostLiveness> liveness_;  // registered while set
  sys::UniqueFd wake_;  // eventfd that ends the watcher
  std::thread watcher_; // revokes the mapping when the pager's socket closes
  std::atomic<bool> revoked_{false};
};

}  // namespace rams::mapping
