// SPDX-License-Identifier: MIT
// The remote benchmark (issue 5 §7): ramsd and the client on loopback, pinned
// to cores 1 and 0, against the anchors measured the same way in the same
// run (remote_anchors.h):
//  - 8 B and 4 KiB READ and WRITE round trips (p50) vs ucx_perftest's
//    ucp_put_lat round trip (goal <= 1.0x) and vs redis GET/SET p50 (<= 0.5x);
//  - FETCH_ADD and CAS round trips vs ucp_fadd / ucp_cswap (<= 1.0x);
//  - pipelined 64 B WRITEs per second on one connection vs redis-benchmark
//    -P 16 SET (>= 1.0x);
//  - 1 MiB WRITE bandwidth vs iperf3, interleaved in rounds (issue 17:
//    >= 0.9x);
//  - 8 B READ round trips interleaved with a raw TCP ping-pong in the same
//    mode (issue 17: <= 1.1x sleeping, <= 1.1x busy-polling), with CDFs;
//  - issue 17's adaptive polling (the default): 8 B READ round trips on an
//    adaptive ramsd and session interleaved with a busy-polling pair
//    (<= 1.3x), and the CPU an idle adaptive ramsd with an idle connected
//    session uses over 10 s, from /proc/PID/stat (<= 1% of a core).
// Every measure runs in the three modes: sleeping (ramsd --poll sleep,
// busy_poll 0: no suffix), busy polling (200 us: _busypoll) and adaptive
// (_adaptive).
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
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include "rams/remote.h"
#include "rams/status.h"
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
  double read_us[2], write_us[2], fadd_us, cas_us, pipelined_ops;
  double small_during_bulk_p50_us, small_during_bulk_p99_us;
  // 8 B READs interleaved with a raw TCP ping-pong of 8 B in the same mode
  // (sleeping or busy-polling), the partner on ramsd's core.
  std::optional<rams::bench::Record> vs_floor;
  // 1 MiB WRITEs interleaved with iperf3 (absent without iperf3).
  std::optional<rams::bench::Record> bandwidth_vs_iperf;
};

enum class Mode { kSleeping, kBusy, kAdaptive };
constexpr Mode kModes[] = {Mode::kSleeping, Mode::kBusy, Mode::kAdaptive};
constexpr std::chrono::microseconds kBusyPoll{200};

// The records' suffix of a mode.
std::string Suffix(Mode m) {
  return m == Mode::kSleeping ? "" : m == Mode::kBusy ? "_busypoll" : "_adaptive";
}

std::string ModeName(Mode m) {
  return m == Mode::kSleeping ? "sleeping" : m == Mode::kBusy ? "busy-polling" : "adaptive";
}

// Rounds of 500 8 B READs and 500 raw TCP round trips, taking turns; each
// operation is timed alone, for the CDFs.
rams::bench::Record VsTcpFloor(rams::RemoteAttachment& seg, Mode m) {
  const bool busy = m == Mode::kBusy;
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
  rams::bench::Record r = rams::bench::FromPair(
      "remote_read_8B" + Suffix(m) + "_rtt_vs_tcp_floor", "us",
      "raw TCP " + ModeName(m) + " ping-pong (8 B)", "<= 1.1", pair, [](double s) { return s * 1e6; },
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

// 1 MiB WRITEs of `buf`, eight in flight, for about `how_long`.
double WriteMiBps(rams::RemoteAttachment& seg, std::span<const std::byte> buf,
                  std::chrono::milliseconds how_long) {
  int writes = 0;
  auto t0 = Clock::now();
  while (Clock::now() - t0 < how_long) {
    rams::RemoteBatch batch;
    for (int i = 0; i < 8; ++i) batch.Write(seg, (i % 2) << 20, buf);
    if (!batch.Run().ok()) std::exit(1);
    writes += 8;
  }
  return writes / std::chrono::duration<double>(Clock::now() - t0).count();
}

// Rounds of 1 s of 1 MiB WRITEs and 1 s of iperf3 -l 1M, taking turns (the
// anchor first in odd rounds); nullopt without iperf3.
std::optional<rams::bench::Record> BandwidthVsIperf(rams::RemoteAttachment& seg, Mode m) {
  constexpr int kRounds = 5;
  std::vector<std::byte> buf(1 << 20, std::byte{7});
  rams::bench::Record r{.name = "remote_write_1MiB_bandwidth" + Suffix(m) + "_vs_iperf3",
                        .unit = "MiB/s", .anchor = "iperf3 loopback (-l 1M), same rounds",
                        .goal = ">= 0.9",
                        .pinning = "client and iperf3 client core 0, ramsd and iperf3 -s core 1"};
  for (int round = 0; round < kRounds; ++round) {
    for (int turn = 0; turn < 2; ++turn) {
      if ((turn == 0) == (round % 2 == 1)) {
        std::optional<double> anchor = rams::bench::Iperf3MiBps(1);
        if (!anchor) return std::nullopt;
        r.anchor_samples.push_back(*anchor);
      } else {
        r.samples.push_back(WriteMiBps(seg, buf, std::chrono::seconds(1)));
      }
    }
  }
  r.value = Median(r.samples);
  r.anchor_value = Median(r.anchor_samples);
  return r;
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
  std::tie(o.small_during_bulk_p50_us, o.small_during_bulk_p99_us) = SmallDuringBulk(seg);
  return o;
}

// ramsd on core 1 in one mode, serving one segment, and a session to it in
// the same mode.
class Server {
 public:
  Server(rams::Backend* posix, Mode m, const std::string& tag)
      : posix_(posix), name_("rams-bench-remote-" + tag + "-" + std::to_string(getpid())) {
    auto seg = rams::Segment::Create(name_, 4 << 20, 0600, true, posix);
    if (!seg.ok()) {
      fprintf(stderr, "%s\n", seg.status().ToString().c_str());
      return;
    }
    dir_ = std::filesystem::temp_directory_path() / name_;
    std::filesystem::create_directories(dir_);
    std::vector<std::string> argv = {rams::bench::BenchRamsdPath(), "--listen", "127.0.0.1:0",
                                     "--export", name_, "--backend", "posix", "--log-dir", dir_,
                                     "--log-level", "warn", "--port-file", dir_ + "/port"};
    rams::RemoteOptions options;  // the default: adaptive
    if (m == Mode::kBusy) {
      argv.insert(argv.end(), {"--poll", "busy", "--busy-poll-us",
                               std::to_string(kBusyPoll.count())});
      options.busy_poll = kBusyPoll;
    } else if (m == Mode::kSleeping) {
      argv.insert(argv.end(), {"--poll", "sleep"});
      options.busy_poll = std::chrono::microseconds(0);
    }
    pid_ = rams::bench::SpawnPinned(argv, rams::bench::kServerCpu, dir_ + "/stderr");
    uint16_t port = 0;
    for (int i = 0; i < 500 && port == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::ifstream(dir_ + "/port") >> port;
    }
    auto session = rams::RemoteSession::Connect("127.0.0.1", port, options);
    if (!session.ok()) {
      fprintf(stderr, "remote_bench: %s\n", session.status().ToString().c_str());
      return;
    }
    session_.emplace(std::move(*session));
    auto remote = session_->Open(name_);
    if (!remote.ok()) {
      fprintf(stderr, "remote_bench: %s\n", remote.status().ToString().c_str());
      return;
    }
    seg_ = std::move(*remote);
  }
  ~Server() {
    seg_.reset();
    session_.reset();
    rams::bench::StopProcess(pid_);
    (void)rams::Segment::Remove(name_, posix_);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  rams::RemoteAttachment* segment() { return seg_.get(); }
  pid_t pid() const { return pid_; }

 private:
  rams::Backend* posix_;
  std::string name_, dir_;
  pid_t pid_ = -1;
  std::optional<rams::RemoteSession> session_;
  std::unique_ptr<rams::RemoteAttachment> seg_;
};

// Runs ramsd in mode `m` and measures.
std::optional<Ours> RunOurs(rams::Backend* posix, Mode m) {
  Server server(posix, m, "m" + std::to_string(static_cast<int>(m)));
  if (server.segment() == nullptr) return std::nullopt;
  Ours o = MeasureOurs(*server.segment());
  if (m != Mode::kAdaptive) o.vs_floor = VsTcpFloor(*server.segment(), m);
  o.bandwidth_vs_iperf = BandwidthVsIperf(*server.segment(), m);
  return o;
}

// 8 B READ round trips back to back on an adaptive pair and on a
// busy-polling pair, in alternating rounds (both ramsd on core 1).
std::optional<rams::bench::Record> AdaptiveVsBusy(rams::Backend* posix) {
  constexpr int kPerRound = 2000;
  Server adaptive(posix, Mode::kAdaptive, "adaptive"), busy(posix, Mode::kBusy, "busy");
  if (adaptive.segment() == nullptr || busy.segment() == nullptr) return std::nullopt;
  std::vector<std::byte> small(8);
  std::vector<double> adaptive_us, busy_us;  // each READ timed, for the CDFs
  auto reads = [&](rams::RemoteAttachment& seg, std::vector<double>& us) {
    for (int i = 0; i < kPerRound; ++i) {
      auto t0 = Clock::now();
      if (!seg.Read(0, small).ok()) std::exit(1);
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
  };
  rams::bench::Pair pair = rams::bench::Interleave(
      11, kPerRound, [&] { reads(*adaptive.segment(), adaptive_us); },
      [&] { reads(*busy.segment(), busy_us); });
  rams::bench::Record r = rams::bench::FromPair(
      "remote_read_8B_adaptive_rtt_vs_busypoll", "us",
      "the same on a busy-polling ramsd and session (200 us)", "<= 1.3", pair,
      [](double s) { return s * 1e6; }, "client core 0, both ramsd core 1");
  r.distribution = std::move(adaptive_us);
  r.anchor_distribution = std::move(busy_us);
  return r;
}

// User plus system CPU seconds of `pid` so far, from /proc/PID/stat.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // from field 3 on
  std::string field;
  unsigned long long ticks = 0;
  for (int i = 3; fields >> field && i <= 15; ++i) {
    if (i == 14 || i == 15) ticks += std::stoull(field);  // utime, stime
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The CPU an adaptive ramsd uses over 10 s after a burst of round trips,
// its session connected and idle.
std::optional<rams::bench::Record> IdleCpu(rams::Backend* posix) {
  constexpr double kIdleSeconds = 10;
  Server server(posix, Mode::kAdaptive, "idle");
  if (server.segment() == nullptr) return std::nullopt;
  std::vector<std::byte> small(8);
  for (int i = 0; i < 5000; ++i) {
    if (!server.segment()->Read(0, small).ok()) std::exit(1);
  }
  const double cpu0 = ProcessCpuSeconds(server.pid());
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(kIdleSeconds));
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  return rams::bench::Record{.name = "ramsd_idle_cpu_adaptive",
                             .value = ProcessCpuSeconds(server.pid()) - cpu0,
                             .unit = "s CPU",
                             .anchor = "wall time idle (ratio: share of a core)",
                             .anchor_value = wall,
                             .goal = "<= 0.01",
                             .pinning = "ramsd core 1"};
}

}  // namespace

int main() {
  PinSelf(0);
  auto posix = rams::BackendByName("posix");
  if (!posix.ok()) return 1;
  std::optional<Ours> ours[3];
  for (Mode m : kModes) {
    ours[static_cast<int>(m)] = RunOurs(*posix, m);
    if (!ours[static_cast<int>(m)]) return 1;
  }
  const std::optional<rams::bench::Record> adaptive_vs_busy = AdaptiveVsBusy(*posix);
  const std::optional<rams::bench::Record> idle = IdleCpu(*posix);
  if (!adaptive_vs_busy || !idle) return 1;

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
    for (Mode m : kModes) {
      const Ours& o = *ours[static_cast<int>(m)];
      const std::string l = std::string(labels[s]) + Suffix(m);
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
  for (Mode mode : kModes) {
    const Ours& o = *ours[static_cast<int>(mode)];
    const std::string m = Suffix(mode);
    if (o.vs_floor) Emit(*o.vs_floor);
    if (o.bandwidth_vs_iperf) Emit(*o.bandwidth_vs_iperf);
    EmitVs("remote_fetch_add_rtt" + m, o.fadd_us, "us", "ucp_fadd", fadd, "<= 1.0");
    EmitVs("remote_cas_rtt" + m, o.cas_us, "us", "ucp_cswap", cswap, "<= 1.0");
    EmitVs("remote_pipelined_64B_ops" + m, o.pipelined_ops, "op/s",
           "redis-benchmark -P 16 SET 64B", redis_pipe, ">= 1.0");
    // Informational: small READs while 1 MiB WRITEs share the session, against
    // the same READs on an idle session.
    EmitVs("remote_read_8B_during_bulk_p50" + m, o.small_during_bulk_p50_us, "us",
           "8B READ p50, idle session", o.read_us[0], "");
    EmitVs("remote_read_8B_during_bulk_p99" + m, o.small_during_bulk_p99_us, "us",
           "8B READ p50, idle session", o.read_us[0], "");
  }
  Emit(*adaptive_vs_busy);
  Emit(*idle);
  return 0;
}
