// SPDX-License-Identifier: MIT
// The remote commands: `rams stat HOST:PORT` (a ramsd's exports,
// connections and remote-mapping counters) and `rams ping HOST:PORT` (round-trip latency percentiles).
// `rams read/write HOST:PORT/NAME ...` go through OpenTarget (target.h).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "commands.h"
#include "rams/remote.h"
#include "target.h"

namespace rams::cli {
namespace {

Result<RemoteSession> Connect(const std::string& target) {
  RAMS_ASSIGN_OR_RETURN(RemoteAddress address, ParseRemoteAddress(target));
  if (!address.name.empty()) {
    return Error(EINVAL, "'" + target + "': want HOST:PORT without a segment name");
  }
  RAMS_ASSIGN_OR_RETURN(RemoteOptions options, RemoteOptionsFromEnvironment());
  return RemoteSession::Connect(address.host, address.port, options);
}

// MAPPING_STAT's counters by name: the home's, then the host pager's.
using Counter = std::pair<const char*, uint64_t RemoteMappingStat::*>;
constexpr Counter kHomeCounters[] = {
    {"segments", &RemoteMappingStat::segments},
    {"hosts", &RemoteMappingStat::hosts},
    {"pages_granted", &RemoteMappingStat::pages_granted},
    {"invalidations", &RemoteMappingStat::invalidations},
    {"downgrades", &RemoteMappingStat::downgrades},
    {"upgrades", &RemoteMappingStat::upgrades},
    {"page_bounces", &RemoteMappingStat::page_bounces},
    {"recalls_timed_out", &RemoteMappingStat::recalls_timed_out},
    {"hosts_cut_off", &RemoteMappingStat::hosts_cut_off},
    {"pages_lost", &RemoteMappingStat::pages_lost},
};
constexpr Counter kPagerCounters[] = {
    {"segments", &RemoteMappingStat::pager_segments},
    {"faults", &RemoteMappingStat::faults},
    {"fetches", &RemoteMappingStat::fetches},
    {"read_ahead", &RemoteMappingStat::read_ahead},
    {"upgrades", &RemoteMappingStat::pager_upgrades},
    {"invalidations", &RemoteMappingStat::pager_invalidations},
    {"downgrades", &RemoteMappingStat::pager_downgrades},
    {"evictions", &RemoteMappingStat::evictions},
    {"write_backs", &RemoteMappingStat::write_backs},
    {"failed_faults", &RemoteMappingStat::failed_faults},
    {"copies_lost", &RemoteMappingStat::copies_lost},
    {"loss_notices", &RemoteMappingStat::loss_notices},
    {"resident_pages", &RemoteMappingStat::resident_pages},
};

nlohmann::json MappingJson(const RemoteMappingStat& m) {
  nlohmann::json home = {{"epoch", m.epoch}};
  for (const auto& [name, field] : kHomeCounters) home[name] = m.*field;
  nlohmann::json pager = nullptr;
  if (m.pager) {
    pager = nlohmann::json::object();
    for (const auto& [name, field] : kPagerCounters) pager[name] = m.*field;
  }
  return {{"home", home}, {"pager", pager}};
}

void PrintMapping(const RemoteMappingStat& m) {
  printf("mapping home: epoch %016" PRIx64 "\n", m.epoch);
  for (const auto& [name, field] : kHomeCounters) printf("  %-20s %" PRIu64 "\n", name, m.*field);
  if (!m.pager) {
    printf("host pager:   none\n");
    return;
  }
  printf("host pager:\n");
  for (const auto& [name, field] : kPagerCounters) printf("  %-20s %" PRIu64 "\n", name, m.*field);
}

int Stat(const std::string& target, bool json) {
  auto session = Connect(target);
  if (!session.ok()) return Report(session.status());
  auto stat = session->Stat();
  if (!stat.ok()) return Report(stat.status());
  // A ramsd older than MAPPING_STAT answers EOPNOTSUPP: shown without it.
  auto mapping = session->MappingStat();
  if (!mapping.ok() && mapping.code() != EOPNOTSUPP) return Report(mapping.status());
  const double uptime_s = std::chrono::duration<double>(stat->uptime).count();
  if (json) {
    nlohmann::json exports = nlohmann::json::array();
    for (const RemoteExport& e : stat->exports) {
      exports.push_back({{"name", e.name}, {"read_only", e.read_only}, {"size_bytes", e.size_bytes}});
    }
    nlohmann::json out = {{"server", session->peer()},
                          {"uptime_s", uptime_s},
                          {"connections", stat->connections},
                          {"exports", exports}};
    if (mapping.ok()) out["mapping"] = MappingJson(*mapping);
    printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  printf("server:       %s\n", session->peer().c_str());
  printf("uptime:       %.1f s\n", uptime_s);
  printf("connections:  %u\n", stat->connections);
  printf("exports:      %zu\n", stat->exports.size());
  for (const RemoteExport& e : stat->exports) {
    printf("  %-32s %s %12" PRIu64 " bytes\n", e.name.c_str(), e.read_only ? "ro" : "rw",
           e.size_bytes);
  }
  if (mapping.ok()) PrintMapping(*mapping);
  return kExitOk;
}

int Ping(const std::string& target, int count, bool json) {
  if (count < 1 || count > 1000000) return Report(Error(EINVAL, "ping: --count 1..1000000"));
  auto session = Connect(target);
  if (!session.ok()) return Report(session.status());
  std::vector<double> us;
  us.reserve(count);
  for (int i = 0; i < count; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    Status s = session->Ping();
    if (!s.ok()) return Report(s);
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[std::min(us.size() - 1, size_t(p * (us.size() - 1) + 0.5))]; };
  if (json) {
    nlohmann::json out = {{"server", session->peer()}, {"count", count},
                          {"min_us", us.front()},      {"p50_us", pct(0.5)},
                          {"p90_us", pct(0.9)},        {"p99_us", pct(0.99)},
                          {"max_us", us.back()}};
    printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  printf("%d pings to %s: min %.1f us, p50 %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us\n",
         count, session->peer().c_str(), us.front(), pct(0.5), pct(0.9), pct(0.99), us.back());
  return kExitOk;
}

struct RemoteArgs {
  std::string stat_target, ping_target;
  bool stat_json = false, ping_json = false;
  int count = 100;
};

}  // namespace

void AddRemoteCommands(CLI::App& app, GlobalOptions& /*g*/, int& rc) {
  static RemoteArgs a;
  auto* stat = app.add_subcommand(
      "stat",
      "Show a ramsd's exports, connections and remote-mapping counters (key: file named by "
      "RAMS_KEY_FILE)");
  stat->add_option("server", a.stat_target, "HOST:PORT")->required();
  stat->add_flag("--json", a.stat_json, "machine-readable output");
  stat->callback([&] { rc = Stat(a.stat_target, a.stat_json); });

  auto* ping = app.add_subcommand("ping", "Measure round trips to a ramsd (latency percentiles)");
  ping->add_option("server", a.ping_target, "HOST:PORT")->required();
  ping->add_option("-c,--count", a.count, "number of pings")->capture_default_str();
  ping->add_flag("--json", a.ping_json, "machine-readable output");
  ping->callback([&] { rc = Ping(a.ping_target, a.count, a.ping_json); });
}

}  // namespace rams::cli
