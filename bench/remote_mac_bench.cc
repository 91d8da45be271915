// SPDX-License-Identifier: MIT
// The per-frame MAC's cost (docs/protocol.md §2, "Frame MAC"): one keyed
// ramsd on loopback (core 1), two sessions from this process (core 0) to the
// same segment, one with the MAC (FrameMac::kRequire) and one without
// (kRefuse), measured in alternating rounds; each record's ratio is the median
// of the per-round ratios MAC / no MAC:
//  - 8 B and 4 KiB READ round trips and the 4 KiB WRITE round trip;
//  - 1 MiB WRITE bandwidth (8 in flight, as remote_bench).
// Informational (no goal): the MAC is HMAC-SHA-256 over every frame, in
// software, on both ends.
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "rams/remote.h"
#include "rams/segment.h"
#include "remote_anchors.h"
#include "report.h"

namespace {

using rams::bench::Emit;

using rams::bench::PinSelf;

void Must(const rams::Status& s) {
  if (!s.ok()) {
    fprintf(stderr, "remote_mac_bench: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

constexpr int kRounds = 15;
constexpr const char* kPinning = "client core 0, ramsd core 1";

// Round trips of `op` on the MAC session against the plain one.
template <class Op>
void RoundTrips(const std::string& name, int per_round, rams::RemoteAttachment& mac,
                rams::RemoteAttachment& plain, Op op) {
  const rams::bench::Pair pair = rams::bench::Interleave(
      kRounds, per_round, [&] { for (int i = 0; i < per_round; ++i) Must(op(mac)); },
      [&] { for (int i = 0; i < per_round; ++i) Must(op(plain)); });
  Emit(rams::bench::FromPair(name, "us", "the same session without the frame MAC", "", pair,
                             [](double s) { return s * 1e6; }, kPinning));
}

void Measure(rams::RemoteAttachment& mac, rams::RemoteAttachment& plain) {
  std::vector<std::byte> buf(1 << 20, std::byte{5});
  auto small = std::span(buf).first(8);
  auto page = std::span(buf).first(4096);
  RoundTrips("remote_read_8B_rtt_frame_mac", 2000, mac, plain,
             [&](rams::RemoteAttachment& s) { return s.Read(4096, small); });
  RoundTrips("remote_read_4KiB_rtt_frame_mac", 2000, mac, plain,
             [&](rams::RemoteAttachment& s) { return s.Read(4096, page); });
  RoundTrips("remote_write_4KiB_rtt_frame_mac", 2000, mac, plain,
             [&](rams::RemoteAttachment& s) { return s.Write(4096, page); });
  constexpr int kBatches = 8, kInFlight = 8;
  auto bulk = [&](rams::RemoteAttachment& s) {
    for (int b = 0; b < kBatches; ++b) {
      rams::RemoteBatch batch;
      for (int i = 0; i < kInFlight; ++i) batch.Write(s, (i % 2) << 20, buf);
      Must(batch.Run());
    }
  };
  const rams::bench::Pair pair = rams::bench::Interleave(
      kRounds, kBatches * kInFlight, [&] { bulk(mac); }, [&] { bulk(plain); });
  Emit(rams::bench::FromPair("remote_write_1MiB_bandwidth_frame_mac", "MiB/s",
                             "the same session without the frame MAC", "", pair,
                             [](double s) { return 1.0 / s; }, kPinning));
}

}  // namespace

int main() {
  PinSelf(0);
  auto posix = rams::BackendByName("posix");
  if (!posix.ok()) return 1;
  const std::string name = "rams-bench-mac-" + std::to_string(getpid());
  auto seg = rams::Segment::Create(name, 4 << 20, 0600, true, *posix);
  if (!seg.ok()) {
    fprintf(stderr, "%s\n", seg.status().ToString().c_str());
    return 1;
  }
  const std::string dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::create_directories(dir);
  const std::string key = "remote-mac-bench-key-0123456789ab";
  std::ofstream(dir + "/key") << key << "\n";
  chmod((dir + "/key").c_str(), 0600);
  pid_t ramsd = rams::bench::SpawnPinned(
      {rams::bench::BenchRamsdPath(), "--listen", "127.0.0.1:0", "--export", name, "--backend",
       "posix", "--key-file", dir + "/key", "--log-dir", dir, "--log-level", "warn", "--port-file",
       dir + "/port"},
      rams::bench::kServerCpu, dir + "/stderr");
  uint16_t port = 0;
  for (int i = 0; i < 500 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream(dir + "/port") >> port;
  }
  int rc = 1;
  auto with_mac = rams::RemoteSession::Connect(
      "127.0.0.1", port, {.key = key, .frame_mac = rams::FrameMac::kRequire});
  auto without = rams::RemoteSession::Connect(
      "127.0.0.1", port, {.key = key, .frame_mac = rams::FrameMac::kRefuse});
  if (with_mac.ok() && without.ok()) {
    auto a = with_mac->Open(name);
    auto b = without->Open(name);
    if (a.ok() && b.ok()) {
      Measure(**a, **b);
      rc = 0;
    }
  } else {
    fprintf(stderr, "remote_mac_bench: %s\n",
            (with_mac.ok() ? without.status() : with_mac.status()).ToString().c_str());
  }
  rams::bench::StopProcess(ramsd);
  (void)rams::Segment::Remove(name, *posix);
  std::filesystem::remove_all(dir);
  return rc;
}
