// SPDX-License-Identifier: MIT
// The remote-mapping benchmark (issue 9 §6), loopback, sleeping mode: a home
// ramsd (core 1) and, in this process (core 0), two host pagers whose
// PageSource is a WirePageSource on that home. Each measure and its anchor
// run in interleaved rounds (bench/report.h):
//  - a cold read fault (first touch of a page this host never held) vs a
//    4 KiB one-sided READ of the same home (goal <= 1.5x);
//  - a write upgrade (shared -> exclusive while the other host shares the
//    page: one INVALIDATE) vs the same READ;
//  - a cold sequential read of 16 MiB through the mapping vs 16 one-sided
//    1 MiB READs of the same range (bandwidth, goal >= 0.8x).
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
constexpr uint64_t kSegmentBytes = 64ull << 20;
constexpr int kRounds = 11;
constexpr int kFaultsPerRound = 32;
constexpr uint64_t kSweepBytes = 16ull << 20;
constexpr int kSweepRounds = 3;

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

Host StartHost(uint16_t port, const std::string& name, int index) {
  mapping::HostPagerOptions po;
  po.socket_path = "@rams-mapping-bench-" + std::to_string(getpid()) + "-" + std::to_string(index);
  po.tuning.cache_pages = kSegmentBytes / kPage;  // the whole segment fits: no eviction
  auto pager = mapping::HostPager::Start(po);
  if (!pager.ok()) Die("host pager: " + pager.status().ToString());
  auto source = mapping::WirePageSource::Open("127.0.0.1", port, name, false, {});
  if (!source.ok()) Die("mapping session: " + source.status().ToString());
  if (auto s = (*pager)->AddSegment(name, std::move(*source), {}); !s.ok()) Die(s.ToString());
  auto map = mapping::MappedSegment::Open((*pager)->socket_path(), name, {.write = true});
  if (!map.ok()) Die("map: " + map.status().ToString());
  return Host{std::move(*pager), std::move(*map)};
}

}  // namespace

int main() {
  rams::bench::PinToCpu(0);
  rams::Backend* posix = *rams::BackendByName("posix");
  const std::string name = "rams-bench-mapping-" + std::to_string(getpid());
  auto seg = rams::Segment::Create(name, kSegmentBytes, 0600, true, posix);
  if (!seg.ok()) Die(seg.status().ToString());
  const std::string dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::create_directories(dir);
  pid_t ramsd = rams::bench::SpawnPinned(
      {RamsdPath(), "--listen", "127.0.0.1:0", "--export", name, "--backend", "posix", "--log-dir",
       dir, "--log-level", "warn", "--no-pager", "--port-file", dir + "/port"},
      1, dir + "/stderr");
  uint16_t port = 0;
  for (int i = 0; i < 500 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream(dir + "/port") >> port;
  }
  if (port == 0) Die("ramsd did not start (see " + dir + "/stderr)");
  {
    auto session = rams::RemoteSession::Connect("127.0.0.1", port, {});
    if (!session.ok()) Die(session.status().ToString());
    auto remote = session->Open(name);
    if (!remote.ok()) Die(remote.status().ToString());
    Host a = StartHost(port, name, 0);
    Host b = StartHost(port, name, 1);
    volatile std::byte* pa = a.map->data().data();
    volatile std::byte* pb = b.map->data().data();
    std::vector<std::byte> buf(1 << 20);
    const std::string pinning = "this process core 0, home ramsd core 1";

    // Cold read faults vs 4 KiB READs: each round touches pages host A
    // never held (the first 4 MiB, page by page).
    std::vector<double> fault_us, read_us;
    uint64_t next_page = 0;
    rams::bench::Pair faults = rams::bench::Interleave(
        kRounds, kFaultsPerRound,
        [&] {
          for (int i = 0; i < kFaultsPerRound; ++i) {
            const auto t0 = Clock::now();
            (void)pa[(next_page++) * kPage];
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
        "mapping_read_fault_vs_read_4k", "us", "4 KiB one-sided READ", "<= 1.5", faults,
        [](double s) { return s * 1e6; }, pinning);
    r.distribution = fault_us;
    r.anchor_distribution = read_us;
    rams::bench::Emit(r);

    // Write upgrades: both hosts share a page, then A writes it.
    std::vector<double> upgrade_us;
    read_us.clear();
    uint64_t up_page = 4 << 20 >> 12;  // pages 1024.. (the next 4 MiB)
    rams::bench::Pair upgrades = rams::bench::Interleave(
        kRounds, kFaultsPerRound,
        [&] {
          for (int i = 0; i < kFaultsPerRound; ++i, ++up_page) {
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
    r = rams::bench::FromPair("mapping_write_upgrade_vs_read_4k", "us", "4 KiB one-sided READ", "",
                              upgrades, [](double s) { return s * 1e6; }, pinning);
    r.distribution = upgrade_us;
    r.anchor_distribution = read_us;
    rams::bench::Emit(r);

    // A cold sequential sweep through the mapping vs bulk READs, 16 MiB each
    // round, from 16 MiB on (pages neither host has touched).
    uint64_t sweep_at = 16ull << 20;
    uint64_t read_at = 16ull << 20;
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
        "mapping_cold_sweep_vs_bulk_read", "MiB/s", "1 MiB one-sided READs", ">= 0.8", sweep,
        [](double s) { return 1.0 / s / (1 << 20); }, pinning));
  }
  rams::bench::StopProcess(ramsd);
  (void)rams::Segment::Remove(name, posix);
  std::filesystem::remove_all(dir);
  return 0;
}
