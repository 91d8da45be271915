/* SPDX-License-Identifier: MIT */
// The host pager embedded in ramsd (docs/host-pager.md): every ramsd runs one
// HostPager for the processes of its host, at --pager-socket. A process
// mapping "HOST:PORT/NAME" makes the pager open that segment at the ramsd of
// HOST:PORT with the client library (the key of --pager-key-file, by default
// ramsd's own --key-file) and serve it from a WirePageSource; the copies of
// the host's processes are one.
//
// Thread safety: RenderPrometheus from any thread; the pager has threads of
// its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "mapping/host_pager.h"
#include "rams/remote.h"
#include "wire/messages.h"
#include "rams/status.h"

namespace ramsd {

struct PagerServiceOptions {
  std::string socket_path = rams::mapping::kDefaultPagerSocket;  // '@' first: abstract
  std::string key;             // for the homes' ramsd (empty: loopback homes without a key)
  uint32_t mode = 0660;        // who may map: ramsd's user and group (root always may)
  std::chrono::milliseconds connect_timeout{5000};  // bounds an OPEN of an unreachable home
  // RemoteOptions::busy_poll of the sessions to homes (ramsd --poll).
  std::chrono::microseconds busy_poll{rams::kAdaptivePoll};
  uint32_t readahead_pages = rams::mapping::kDefaultReadAheadPages;  // PagerTuning's
  uint64_t cache_pages = rams::mapping::kDefaultCachePages;          // PagerTuning's
};

class PagerService {
 public:
  // ENOTSUP/EPERM when userfaultfd cannot serve here (HostPager::Start);
  // EADDRINUSE when another pager listens at the socket.
  static rams::Result<std::unique_ptr<PagerService>> Start(PagerServiceOptions options);

  const std::string& socket_path() const { return pager_->socket_path(); }
  // ramsd_pager_* lines for /metrics: HostPager::Stats summed over segments.
  std::string RenderPrometheus() const;
  // The same totals in MAPPING_STAT's pager fields (and its flag).
  void FillStat(rams::wire::MappingStatReply* reply) const;

 private:
  explicit PagerService(std::unique_ptr<rams::mapping::HostPager> pager)
      : pager_(std::move(pager)) {}
  std::unique_ptr<rams::mapping::HostPager> pager_;
};

}  // namespace ramsd
