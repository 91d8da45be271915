// SPDX-License-Identifier: MIT
#include "host_pager_service.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "mapping/pager_socket.h"
#include "metrics.h"
#include "mapping/wire_page_source.h"
#include "rams/remote.h"

namespace ramsd {

namespace {

// Opens "HOST:PORT/NAME" at its home: writable when the export allows it,
// else read-only (the pager then refuses writable mappings with EROFS).
rams::Result<rams::mapping::ProvidedSegment> Provide(const PagerServiceOptions& o,
                                                     std::string_view name) {
  RAMS_ASSIGN_OR_RETURN(rams::RemoteAddress a, rams::ParseRemoteAddress(name));
  if (a.name.empty()) return rams::Error(EINVAL, "map " + std::string(name) + ": want HOST:PORT/NAME");
  const rams::RemoteOptions remote{.key = o.key, .timeout = o.connect_timeout,
                                   .busy_poll = o.busy_poll};
  auto source = rams::mapping::WirePageSource::Open(a.host, a.port, a.name, false, remote);
  if (source.code() == EROFS || source.code() == EACCES) {
    source = rams::mapping::WirePageSource::Open(a.host, a.port, a.name, true, remote);
  }
  if (!source.ok()) {
    spdlog::warn("pager: map {}: {}", name, source.status().ToString());
    return source.status();
  }
  spdlog::info("pager: serving {} ({} bytes{})", name, (*source)->SizeBytes(),
               (*source)->ReadOnly() ? ", read-only" : "");
  return rams::mapping::ProvidedSegment{
      .source = std::move(*source),
      .access = {.owner_uid = geteuid(), .owner_gid = getegid(), .mode = o.mode}};
}

}  // namespace

rams::Result<std::unique_ptr<PagerService>> PagerService::Start(PagerServiceOptions options) {
  const std::string& path = options.socket_path;
  if (!path.empty() && path[0] != '@') {
    // The default lives in /run/rams, which a package or unit creates; make
    // it when ramsd may, and let bind report what is wrong otherwise.
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    // HostPager replaces a stale socket file; a live one is another pager's.
    if (rams::mapping::ConnectPager(path).ok()) {
      return rams::Error(EADDRINUSE, "host pager socket " + path + ": another pager listens there");
    }
  }
  rams::mapping::HostPagerOptions pager_options{.socket_path = path};
  pager_options.tuning.readahead_pages = options.readahead_pages;
  pager_options.tuning.cache_pages = options.cache_pages;
  pager_options.provider = [o = options](std::string_view name) { return Provide(o, name); };
  RAMS_ASSIGN_OR_RETURN(std::unique_ptr<rams::mapping::HostPager> pager,
                        rams::mapping::HostPager::Start(std::move(pager_options)));
  // Whoever may connect is decided by SO_PEERCRED against --pager-mode, not by
  // the socket file's mode (which ramsd's umask would otherwise narrow).
  if (path[0] != '@' && chmod(path.c_str(), 0666) != 0) {
    return rams::ErrnoError("chmod host pager socket " + path);
  }
  return std::unique_ptr<PagerService>(new PagerService(std::move(pager)));
}

namespace {

using rams::mapping::PagerStats;
struct Line {
  const char* name;
  const char* type;
  const char* help;
  uint64_t PagerStats::*field;
};
constexpr Line kLines[] = {
    {"ramsd_pager_faults_total", "counter", "Page faults of local mappings handled.",
     &PagerStats::faults},
    {"ramsd_pager_fetches_total", "counter", "Pages fetched from homes (grants installed).",
     &PagerStats::fetches},
    {"ramsd_pager_read_ahead_total", "counter", "Pages installed ahead of a sequential read miss.",
     &PagerStats::read_ahead},
    {"ramsd_pager_upgrades_total", "counter", "Shared pages taken exclusively on a write.",
     &PagerStats::upgrades},
    {"ramsd_pager_retries_total", "counter", "Grants discarded because a recall overtook them.",
     &PagerStats::retries},
    {"ramsd_pager_invalidations_total", "counter", "INVALIDATEs from homes applied.",
     &PagerStats::invalidations},
    {"ramsd_pager_downgrades_total", "counter", "DOWNGRADEs from homes applied.",
     &PagerStats::downgrades},
    {"ramsd_pager_evictions_total", "counter", "Pages evicted from the host cache.",
     &PagerStats::evictions},
    {"ramsd_pager_write_backs_total", "counter", "Dirty pages written back to homes.",
     &PagerStats::write_backs},
    {"ramsd_pager_failed_faults_total", "counter", "Faults answered with SIGBUS.",
     &PagerStats::failed_faults},
    {"ramsd_pager_copies_lost_total", "counter",
     "Exclusive copies dropped unwritten when a home's session was lost.",
     &PagerStats::copies_lost},
    {"ramsd_pager_loss_notices_total", "counter",
     "Homes' reports of pages lost with another host (surfaced as EOWNERDEAD).",
     &PagerStats::loss_notices},
    {"ramsd_pager_resident_pages", "gauge", "Pages cached at this host.",
     &PagerStats::resident_pages},
};

// Every field summed over the served segments and those replaced since.
PagerStats Totals(const rams::mapping::HostPager& pager, uint64_t* segments) {
  const auto all = pager.AllStats();
  *segments = all.size();
  PagerStats total = pager.RetiredStats();
  for (const Line& line : kLines) {
    for (const auto& [name, stats] : all) total.*line.field += stats.*line.field;
  }
  return total;
}

}  // namespace

std::string PagerService::RenderPrometheus() const {
  uint64_t segments = 0;
  const PagerStats total = Totals(*pager_, &segments);
  std::string out;
  AppendMetric(out, "ramsd_pager_segments", "gauge", "Remote segments this host's pager serves.",
               segments);
  for (const Line& line : kLines) {
    AppendMetric(out, line.name, line.type, line.help, total.*line.field);
  }
  return out;
}

void PagerService::FillStat(rams::wire::MappingStatReply* r) const {
  const PagerStats t = Totals(*pager_, &r->pager_segments);
  r->flags |= rams::wire::kMappingStatPager;
  r->faults = t.faults;
  r->fetches = t.fetches;
  r->read_ahead = t.read_ahead;
  r->pager_upgrades = t.upgrades;
  r->pager_invalidations = t.invalidations;
  r->pager_downgrades = t.downgrades;
  r->evictions = t.evictions;
  r->write_backs = t.write_backs;
  r->failed_faults = t.failed_faults;
  r->copies_lost = t.copies_lost;
  r->loss_notices = t.loss_notices;
  r->resident_pages = t.resident_pages;
}

}  // namespace ramsd
