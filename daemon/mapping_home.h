/* SPDX-License-Identifier: MIT */
// MappingHome: ramsd's side of remote mapping as the home of its exports
// (docs/remote-mapping.md, docs/protocol.md §8). It keeps one
// mapping::PageDirectory per exported segment that some host maps, reading
// and writing the home's copy through ramsd's own attachment of the segment,
// and carries out the directory's actions: grants become PAGE_GET replies,
// recalls become INVALIDATE/DOWNGRADE requests to the holding host's session.
// A host is a mapping session (its id is the session id); a host that does
// not acknowledge a recall within the recall timeout is cut off (its
// connection closed), after which the directory goes on with the others.
//
// Thread safety: none; everything runs on the server's io thread, as the
// sessions do.
#pragma once

#include <asio.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mapping/page_directory.h"
#include "rams/backend.h"
#include "rams/status.h"

namespace ramsd {

class Session;

// The totals of every directory, for /metrics.
struct MappingCounters {
  uint64_t segments = 0;  // directories (segments some host has mapped)
  rams::mapping::DirectoryCounters pages;
};

class MappingHome {
 public:
  MappingHome(asio::io_context& io, rams::Backend* backend,
              std::chrono::milliseconds recall_timeout);
  ~MappingHome();

  uint64_t epoch() const { return epoch_; }

  // The session's PAGE_GET/PUT/DROP and recall acknowledgements. `host` is
  // the session; the first call registers it (HostGone unregisters it).
  // `read_only_export`: the directory's attachment (made by the first Get)
  // is read-only, its data mapped PROT_READ (write grants never reach it).
  rams::Status Get(Session* host, uint64_t host_id, const std::string& segment, uint64_t tag,
                   uint64_t first, uint32_t count, bool write, uint64_t have_version,
                   bool read_only_export);
  rams::Result<uint64_t> Put(uint64_t host_id, const std::string& segment, uint64_t page,
                             uint64_t version, std::span<const std::byte> data);
  rams::Result<uint64_t> Drop(uint64_t host_id, const std::string& segment, uint64_t page,
                              uint64_t version, std::span<const std::byte> dirty);
  rams::Status Acknowledge(uint64_t host_id, const std::string& segment, uint64_t page,
                           std::span<const std::byte> dirty);
  // A one-sided access to bytes [offset, offset + length) of `segment`
  // (docs/remote-mapping.md "Other access paths"). When some host maps the
  // segment, each touched page is recalled (write: every copy invalidated
  // and the version bumped; read: an exclusive copy downgraded) and
  // `apply(page)` runs the moment that page's recalls are done, before the
  // page's next transaction; `done` runs after the last page, possibly
  // inside this call. Returns false, running nothing, when no host maps it.
  bool Maps(const std::string& segment) const { return directories_.contains(segment); }
  bool Access(const std::string& segment, uint64_t offset, uint64_t length, bool write,
              std::function<void(uint64_t page)> apply, std::function<void()> done);
  // Owners across hosts (docs/remote-mapping.md "Owners across hosts"): the
  // segment's mapping domain and the host index of `host`'s processes of
  // PID-namespace domain `local_domain`, allocated on first use (ENOSPC when
  // every index is taken by a live host, or the session holds
  // kMaxOwnerIndexesPerSession). Registers the host as Get does (and makes
  // the directory as Get does, read-only for a read-only export).
  struct OwnerIndex {
    uint64_t domain = 0;
    uint32_t host_index = 0;
  };
  rams::Result<OwnerIndex> AssignOwnerIndex(Session* host, uint64_t host_id,
                                            const std::string& segment, uint64_t local_domain,
                                            bool read_only_export);
  // The live and dead host indexes of `segment`'s mapping domain (bitmaps
  // as wire::MapHostsReply); domain 0 when no host maps it.
  struct HostStates {
    uint64_t domain = 0;
    std::array<uint64_t, 4> live{};
    std::array<uint64_t, 4> dead{};
  };
  HostStates OwnerHosts(const std::string& segment) const;
  // Who can tell whether an owner of host index `index` of `segment` is
  // alive (OWNER_ALIVE): dead when the index is; else, while it is live,
  // its session and the PID-namespace domain its MAP_OWNER named.
  struct ProbeTarget {
    bool dead = false;
    Session* host = nullptr;  // null: cannot tell
    uint64_t local_domain = 0;
  };
  ProbeTarget OwnerProbeTarget(const std::string& segment, uint32_t index) const;
  // The number of WAKEs on a mapped `segment` (null when no host maps it):
  // a WAIT parked on the home's copy of a word watches it, since a host
  // that changes the word in its copy and then WAKEs leaves the home's
  // copy unchanged. CountWake runs before the WAKE's futex wake.
  std::shared_ptr<const std::atomic<uint64_t>> Wakes(const std::string& segment) const;
  void CountWake(const std::string& segment);
  // The host's session ended: it leaves every directory (pages it held
  // exclusively are lost, docs/remote-mapping.md rule 6).
  void HostGone(uint64_t host_id);
  // Stops the recall timer (server shutdown).
  void Stop();

  MappingCounters counters() const;
  uint64_t hosts() const { return hosts_.size(); }
  uint64_t hosts_cut_off() const { return hosts_cut_off_; }
  std::string RenderPrometheus() const;

 private:
  struct Directory;
  rams::Result<Directory*> Find(const std::string& segment, bool create, bool read_only = false);
  void Dispatch(Directory& dir);
  void ArmTimer();
  void OnTimer();

  rams::Backend* backend_;
  const std::chrono::milliseconds recall_timeout_;
  const uint64_t epoch_;
  asio::steady_timer timer_;
  bool timer_armed_ = false;
  bool stopped_ = false;
  std::map<std::string, std::unique_ptr<Directory>> directories_;
  std::map<uint64_t, Session*> hosts_;  // registered mapping sessions
  uint64_t next_home_tag_ = 0;
  uint64_t hosts_cut_off_ = 0;
  uint64_t owner_deaths_ = 0;  // orders OwnerSlot::died_at
};

}  // namespace ramsd
