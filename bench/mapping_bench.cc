// SPDX-License-Identifier: MIT
// The remote-mapping benchmark (issue 9 §6), loopback: a home ramsd (core 1)
// and, in this process (core 0), two host pagers whose PageSource is a
// WirePageSource on that home. Everything runs twice: sleeping (ramsd
// --busy-poll-us 0 and busy_poll 0, not the adaptive default) and
// busy-polling (ramsd --busy-poll-us 200 and the sessions' busy_poll, the
// mode of the latency goals). Each measure and its anchor run in interleaved
// rounds (bench/report.h):
//  - a cold read fault (first touch of a page this host never held; every
//    other page, so that no miss is sequential and read-ahead stays out of
//    it) vs a 4 KiB one-sided READ of the same home (goal <= 1.5x);
//  - a write upgrade (shared -> exclusive while the other host shares the
//    page: one INVALIDATE) vs the same READ;
//  - a cold sequential read of 64 MiB (4 x 16 MiB) through the mapping, with
//    the pager's default read-ahead, vs one-sided 1 MiB READs of the same
//    amount (bandwidth, goal >= 0.8x).
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "mapping/host_pager.h"
#include "mapping/mapped_segment.h"
#include "mapping/wire_page_source.h"
#include "rams/remote.h"
#include "rams/segment.h"
#include "remote_anchors.h"
#include "report.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace mapping = rams::mapping;

constexpr uint64_t kPage = mapping::kPageBytes;
constexpr uint64_t kSegmentBytes = 128ull << 20;
constexpr int kRounds = 11;
constexpr int kFaultsPerRound = 32;
constexpr uint64_t kFaultStridePages = 2;  // no two misses in a row are sequential
constexpr uint64_t kSweepFrom = 64ull << 20;
constexpr uint64_t kSweepBytes = 16ull << 20;
constexpr int kSweepRounds = 4;
constexpr auto kBusyPoll = std::chrono::microseconds(200);

std::string RamsdPath() {
  if (const char* env = getenv("RAMSD"); env != nullptr) return env;
  auto self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / "daemon" / "ramsd").string();
}

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "mapping_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Host {
  std::unique_ptr<mapping::HostPager> pager;
  std::unique_ptr<mapping::MappedSegment> map;
};

Host StartHost(uint16_t port, const std::string& name, int index,
               const rams::RemoteOptions& options) {
  mapping::HostPagerOptions po;
  po.socket_path = "@rams-mapping-bench-" + std::to_string(getpid()) + "-" + std::to_string(index);
  po.tuning.cache_pages = kSegmentBytes / kPage;  // the whole segment fits: no eviction
  auto pager = mapping::HostPager::Start(po);
  if (!pager.ok()) Die("host pager: " + pager.status().ToString());
  auto source = mapping::WirePageSource::Open("127.0.0.1", port, name, false, options);
  if (!source.ok()) Die("mapping session: " + source.status().ToString());
  if (auto s = (*pager)->AddSegment(name, std::move(*source), {}); !s.ok()) Die(s.ToString());
  auto map = mapping::MappedSegment::Open((*pager)->socket_path(), name, {.write = true});
  if (!map.ok()) Die("map: " + map.status().ToString());
  return Host{std::move(*pager), std::move(*map)};
}

// Starts a home ramsd and measures every figure in one mode.
void Run(rams::Backend* posix, bool busy) {
  const std::string suffix = busy ? "_busypoll" : "";
  const std::string name = "rams-bench-mapping-" + std::to_string(getpid()) + suffix;
  auto seg = rams::Segment::Create(name, kSegmentBytes, 0600, true, posix);
  if (!seg.ok()) Die(seg.status().ToString());
  const std::string dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::create_directories(dir);
  std::vector<std::string> argv = {RamsdPath(), "--listen", "127.0.0.1:0", "--export", name,
                                   "--backend", "posix", "--log-dir", dir, "--log-level", "warn",
                                   "--no-pager", "--port-file", dir + "/port"};
  // The busy-polling mode against the sleeping one (not the adaptive default).
  argv.insert(argv.end(), {"--busy-poll-us", std::to_string(busy ? kBusyPoll.count() : 0)});
  pid_t ramsd = rams::bench::SpawnPinned(argv, 1, dir + "/stderr");
  rams::RemoteOptions options;
  options.busy_poll = busy ? kBusyPoll : std::chrono::microseconds(0);
  uint16_t port = 0;
  for (int i = 0; i < 500 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream(dir + "/port") >> port;
  }
  if (port == 0) Die("ramsd did not start (see " + dir + "/stderr)");
  {
    auto session = rams::RemoteSession::Connect("127.0.0.1", port, options);
    if (!session.ok()) Die(session.status().ToString());
    auto remote = session->Open(name);
    if (!remote.ok()) Die(remote.status().ToString());
    Host a = StartHost(port, name, busy ? 2 : 0, options);
    Host b = StartHost(port, name, busy ? 3 : 1, options);
    volatile std::byte* pa = a.map->data().data();
    volatile std::byte* pb = b.map->data().data();
    std::vector<std::byte> buf(1 << 20);
    const std::string pinning = std::string("this process core 0, home ramsd core 1, ") +
                                (busy ? "busy-polling" : "sleeping");

    // Cold read faults vs 4 KiB READs: each round touches pages host A
    // never held (in the first 4 MiB, every other page).
    std::vector<double> fault_us, read_us;
    uint64_t next_page = 1;  // odd pages: page 0 would follow the "previous" miss
    rams::bench::Pair faults = rams::bench::Interleave(
        kRounds, kFaultsPerRound,
        [&] {
          for (int i = 0; i < kFaultsPerRound; ++i) {
            const auto t0 = Clock::now();
            (void)pa[next_page * kPage];
            next_page += kFaultStridePages;
            fault_us.push_back(Us(Clock::now() - t0));
          }
        },
        [&] {
          for (int i = 0; i < kFaultsPerRound; ++i) {
            const auto t0 = Clock::now();
            if (!(*remote)->Read(0, std::span(buf).first(kPage)).ok()) Die("READ");
            read_us.push_back(Us(Clock::now() - t0));
          }
        });
    rams::bench::Record r = rams::bench::FromPair(
        "mapping_read_fault_vs_read_4k" + suffix, "us", "4 KiB one-sided READ", "<= 1.5", faults,
        [](double s) { return s * 1e6; }, pinning);
    r.distribution = fault_us;
    r.anchor_distribution = read_us;
    rams::bench::Emit(r);

    // Write upgrades: both hosts share a page, then A writes it.
    std::vector<double> upgrade_us;
    read_us.clear();
    uint64_t up_page = 4 << 20 >> 12;  // pages 1024.. (the next 4 MiB), every other one
    rams::bench::Pair upgrades = rams::bench::Interleave(
        kRounds, kFaultsPerRound,
        [&] {
          for (int i = 0; i < kFaultsPerRound; ++i, up_page += kFaultStridePages) {
            (void)pb[up_page * kPage];  // B shares it
            (void)pa[up_page * kPage];  // A shares it
            const auto t0 = Clock::now();
            pa[up_page * kPage] = std::byte{1};  // upgrade: B is invalidated
            upgrade_us.push_back(Us(Clock::now() - t0));
          }
        },
        [&] {
          for (int i = 0; i < kFaultsPerRound; ++i) {
            const auto t0 = Clock::now();
            if (!(*remote)->Read(0, std::span(buf).first(kPage)).ok()) Die("READ");
            read_us.push_back(Us(Clock::now() - t0));
          }
        });
    r = rams::bench::FromPair("mapping_write_upgrade_vs_read_4k" + suffix, "us", "4 KiB one-sided READ", "",
                              upgrades, [](double s) { return s * 1e6; }, pinning);
    r.distribution = upgrade_us;
    r.anchor_distribution = read_us;
    rams::bench::Emit(r);

    // A cold sequential sweep through the mapping vs bulk READs, 16 MiB each
    // round, from 64 MiB on (pages neither host has touched).
    uint64_t sweep_at = kSweepFrom;
    uint64_t read_at = kSweepFrom;
    rams::bench::Pair sweep = rams::bench::Interleave(
        kSweepRounds, static_cast<double>(kSweepBytes),
        [&] {
          uint64_t sum = 0;
          for (uint64_t off = 0; off < kSweepBytes; off += kPage) {
            sum += static_cast<uint8_t>(pa[sweep_at + off]);
          }
          sweep_at += kSweepBytes;
          if (sum == UINT64_MAX) Die("impossible");
        },
        [&] {
          for (uint64_t off = 0; off < kSweepBytes; off += buf.size()) {
            if (!(*remote)->Read((read_at + off) % kSegmentBytes, buf).ok()) Die("bulk READ");
          }
          read_at += kSweepBytes;
        });
    // Bandwidth (one operation = one byte): the ratio is ours over the anchor, more is better.
    rams::bench::Emit(rams::bench::FromPair(
        "mapping_cold_sweep_vs_bulk_read" + suffix, "MiB/s", "1 MiB one-sided READs", ">= 0.8", sweep,
        [](double s) { return 1.0 / s / (1 << 20); }, pinning));
  }
  rams::bench::StopProcess(ramsd);
  (void)rams::Segment::Remove(name, posix);
  std::filesystem::remove_all(dir);
}

}  // namespace

int main() {
  rams::bench::PinToCpu(0);
  rams::Backend* posix = *rams::BackendByName("posix");
  Run(posix, /*busy=*/false);
  Run(posix, /*busy=*/true);
  return 0;
}
