// SPDX-License-Identifier: MIT
// The remote benchmark (issue 5 §7): ramsd and the client on loopback, pinned
// to cores 1 and 0, against the anchors measured the same way in the same
// run (remote_anchors.h):
//  - 8 B and 4 KiB READ and WRITE round trips (p50) vs ucx_perftest's
//    ucp_put_lat round trip (goal <= 1.0x) and vs redis GET/SET p50 (<= 0.5x);
//  - FETCH_ADD and CAS round trips vs ucp_fadd / ucp_cswap (<= 1.0x);
//  - pipelined 64 B WRITEs per second on one connection vs redis-benchmark
//    -P 16 SET (>= 1.0x);
//  - 1 MiB WRITE bandwidth vs iperf3 (>= 0.7x);
//  - 8 B READ round trips interleaved with a raw TCP ping-pong in the same
//    mode (issue 17: <= 1.1x sleeping, <= 1.1x busy-polling), with CDFs.
// ucx_perftest reports ping-pong latency one way, so the put round trip is
// twice its figure; its get/fadd/cswap figures are per operation.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>

#include "rams/remote.h"
#include "rams/segment.h"
#include "floors.h"
#include "remote_anchors.h"
#include "report.h"

namespace {

using Clock = std::chrono::steady_clock;
using rams::bench::Emit;
using rams::bench::Median;

constexpr int kRoundTrips = 20000;

using rams::bench::PinSelf;

// p50 of one call's latency, in microseconds.
template <class Fn>
double P50Us(int n, Fn fn) {
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    if (!fn().ok()) {
      fprintf(stderr, "remote_bench: an operation failed\n");
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return Median(us);
}

void EmitVs(const std::string& name, double value, const char* unit, const std::string& anchor,
            std::optional<double> anchor_value, const char* goal) {
  if (!anchor_value) {
    printf("%s: %.3f %s (anchor %s not measured)\n", name.c_str(), value, unit, anchor.c_str());
    return;
  }
  Emit({name, value, unit, anchor, *anchor_value, goal});
}

struct Ours {
  double read_us[2], write_us[2], fadd_us, cas_us, pipelined_ops, write_mibps;
  double small_during_bulk_p50_us, small_during_bulk_p99_us;
  // 8 B READs interleaved with a raw TCP ping-pong of 8 B in the same mode
  // (sleeping or busy-polling), the partner on ramsd's core.
  rams::bench::Record vs_floor;
};

// Rounds of 500 8 B READs and 500 raw TCP round trips, taking turns; each
// operation is timed alone, for the CDFs.
rams::bench::Record VsTcpFloor(rams::RemoteAttachment& seg, bool busy) {
  using rams::bench::FdFloor;
  constexpr int kPerRound = 500;
  FdFloor floor(busy ? FdFloor::kTcpBusyPoll : FdFloor::kTcpSleeping, rams::bench::kServerCpu);
  std::vector<std::byte> small(8);
  std::vector<double> ours, raw;
  auto timed = [](std::vector<double>& into, auto&& op) {
    for (int i = 0; i < kPerRound; ++i) {
      auto t0 = Clock::now();
      op();
      into.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
  };
  rams::bench::Pair pair = rams::bench::Interleave(
      11, kPerRound,
      [&] { timed(ours, [&] { if (!seg.Read(0, small).ok()) std::exit(1); }); },
      [&] { timed(raw, [&] { floor.RoundTrips(1); }); });
  const std::string mode = busy ? "busy-polling" : "sleeping";
  rams::bench::Record r = rams::bench::FromPair(
      std::string("remote_read_8B") + (busy ? "_busypoll" : "") + "_rtt_vs_tcp_floor", "us",
      "raw TCP " + mode + " ping-pong (8 B)", "<= 1.1", pair, [](double s) { return s * 1e6; },
      "client core 0, ramsd and the TCP partner core 1");
  r.distribution = std::move(ours);
  r.anchor_distribution = std::move(raw);
  return r;
}

// p50 and p99 of 8 B READs on a session while another thread keeps 1 MiB
// WRITEs going on the same session (small operations behind bulk ones).
std::pair<double, double> SmallDuringBulk(rams::RemoteAttachment& seg) {
  std::atomic<bool> stop{false};
  std::thread bulk([&] {
    std::vector<std::byte> mib(1 << 20, std::byte{3});
    while (!stop) {
      if (!seg.Write(1 << 20, mib).ok()) std::exit(1);
    }
  });
  std::vector<double> us;
  std::vector<std::byte> small(8);
  for (int i = 0; i < 5000; ++i) {
    auto t0 = Clock::now();
    if (!seg.Read(0, small).ok()) std::exit(1);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  stop = true;
  bulk.join();
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

Ours MeasureOurs(rams::RemoteAttachment& seg) {
  Ours o{};
  const size_t sizes[2] = {8, 4096};
  std::vector<std::byte> buf(1 << 20, std::byte{5});
  for (int s = 0; s < 2; ++s) {
    auto span = std::span(buf).first(sizes[s]);
    o.write_us[s] = P50Us(kRoundTrips, [&] { return seg.Write(4096, span); });
    o.read_us[s] = P50Us(kRoundTrips, [&] { return seg.Read(4096, span); });
  }
  o.fadd_us = P50Us(kRoundTrips, [&] { return seg.FetchAdd(0, 1).status(); });
  uint64_t v = 0;
  o.cas_us = P50Us(kRoundTrips, [&] {
    auto r = seg.CompareExchange(0, v, v + 1);
    if (r.ok()) v = *r == v ? v + 1 : *r;
    return r.status();
  });
  // Pipelined 64 B writes: batches of 1024, the window keeps 64 in flight.
  std::vector<double> rates;
  for (int rep = 0; rep < 5; ++rep) {
    rams::RemoteBatch batch;
    for (int i = 0; i < 1024 * 16; ++i) batch.Write(seg, 64 * (i % 1024), std::span(buf).first(64));
    const size_t n = batch.size();
    auto t0 = Clock::now();
    if (!batch.Run().ok()) std::exit(1);
    rates.push_back(n / std::chrono::duration<double>(Clock::now() - t0).count());
  }
  o.pipelined_ops = Median(rates);
  // 1 MiB writes, a few in flight, for about two seconds.
  int writes = 0;
  auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::seconds(2)) {
    rams::RemoteBatch batch;
    for (int i = 0; i < 8; ++i) batch.Write(seg, (i % 2) << 20, buf);
    if (!batch.Run().ok()) std::exit(1);
    writes += 8;
  }
  o.write_mibps = writes / std::chrono::duration<double>(Clock::now() - t0).count();
  std::tie(o.small_during_bulk_p50_us, o.small_during_bulk_p99_us) = SmallDuringBulk(seg);
  return o;
}

// Runs ramsd and measures; busy: both sides poll instead of sleeping.
std::optional<Ours> RunOurs(rams::Backend* posix, bool busy) {
  const std::string name = "rams-bench-remote-" + std::to_string(getpid());
  auto seg = rams::Segment::Create(name, 4 << 20, 0600, true, posix);
  if (!seg.ok()) {
    fprintf(stderr, "%s\n", seg.status().ToString().c_str());
    return std::nullopt;
  }
  const std::string dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::create_directories(dir);
  std::vector<std::string> argv = {rams::bench::BenchRamsdPath(), "--listen", "127.0.0.1:0",
                                   "--export", name,
                                   "--backend", "posix", "--log-dir", dir, "--log-level", "warn",
                                   "--port-file", dir + "/port"};
  if (busy) argv.insert(argv.end(), {"--busy-poll-us", "200"});
  pid_t ramsd = rams::bench::SpawnPinned(argv, 1, dir + "/stderr");
  uint16_t port = 0;
  for (int i = 0; i < 500 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream(dir + "/port") >> port;
  }
  std::optional<Ours> result;
  rams::RemoteOptions options;
  if (busy) options.busy_poll = std::chrono::microseconds(200);
  auto session = rams::RemoteSession::Connect("127.0.0.1", port, options);
  if (session.ok()) {
    auto remote = session->Open(name);
    if (remote.ok()) {
      result = MeasureOurs(**remote);
      result->vs_floor = VsTcpFloor(**remote, busy);
    }
  } else {
    fprintf(stderr, "remote_bench: %s\n", session.status().ToString().c_str());
  }
  rams::bench::StopProcess(ramsd);
  (void)rams::Segment::Remove(name, posix);
  std::filesystem::remove_all(dir);
  return result;
}

}  // namespace

int main() {
  PinSelf(0);
  auto posix = rams::BackendByName("posix");
  if (!posix.ok()) return 1;
  const std::optional<Ours> sleeping = RunOurs(*posix, false);
  const std::optional<Ours> busy = RunOurs(*posix, true);
  if (!sleeping || !busy) return 1;

  using namespace rams::bench;  // NOLINT: the anchors
  const char* labels[2] = {"8B", "4KiB"};
  const size_t sizes[2] = {8, 4096};
  for (int s = 0; s < 2; ++s) {
    auto put = UcxLatencyUs("ucp_put_lat", sizes[s], kRoundTrips);
    std::optional<double> put_rtt;
    if (put) put_rtt = *put * 2;
    auto get = UcxLatencyUs("ucp_get", sizes[s], 2000);
    auto redis_set = RedisP50Us("set", sizes[s], kRoundTrips);
    auto redis_get = RedisP50Us("get", sizes[s], kRoundTrips);
    for (const auto& [o, mode] : {std::pair{*sleeping, ""}, std::pair{*busy, "_busypoll"}}) {
      const std::string l = std::string(labels[s]) + mode;
      EmitVs("remote_write_" + l + "_rtt_vs_ucx", o.write_us[s], "us", "ucp_put_lat round trip",
             put_rtt, "<= 1.0");
      EmitVs("remote_read_" + l + "_rtt_vs_ucx", o.read_us[s], "us", "ucp_put_lat round trip",
             put_rtt, "<= 1.0");
      EmitVs("remote_read_" + l + "_vs_ucx_get", o.read_us[s], "us", "ucp_get", get, "");
      EmitVs("remote_write_" + l + "_rtt_vs_redis", o.write_us[s], "us",
             "redis SET p50 (1 client)", redis_set, "<= 0.5");
      EmitVs("remote_read_" + l + "_rtt_vs_redis", o.read_us[s], "us", "redis GET p50 (1 client)",
             redis_get, "<= 0.5");
    }
  }
  auto fadd = UcxLatencyUs("ucp_fadd", 8, 5000);
  auto cswap = UcxLatencyUs("ucp_cswap", 8, 5000);
  auto redis_pipe = RedisPipelinedRps(64, 16, 200000);
  auto iperf = Iperf3MiBps(3);
  for (const auto& [o, mode] : {std::pair{*sleeping, ""}, std::pair{*busy, "_busypoll"}}) {
    const std::string m = mode;
    Emit(o.vs_floor);
    EmitVs("remote_fetch_add_rtt" + m, o.fadd_us, "us", "ucp_fadd", fadd, "<= 1.0");
    EmitVs("remote_cas_rtt" + m, o.cas_us, "us", "ucp_cswap", cswap, "<= 1.0");
    EmitVs("remote_pipelined_64B_ops" + m, o.pipelined_ops, "op/s",
           "redis-benchmark -P 16 SET 64B", redis_pipe, ">= 1.0");
    EmitVs("remote_write_1MiB_bandwidth" + m, o.write_mibps, "MiB/s", "iperf3 loopback (-l 1M)",
           iperf, ">= 0.7");
    // Informational: small READs while 1 MiB WRITEs share the session, against
    // the same READs on an idle session.
    EmitVs("remote_read_8B_during_bulk_p50" + m, o.small_during_bulk_p50_us, "us",
           "8B READ p50, idle session", o.read_us[0], "");
    EmitVs("remote_read_8B_during_bulk_p99" + m, o.small_during_bulk_p99_us, "us",
           "8B READ p50, idle session", o.read_us[0], "");
  }
  return 0;
}
