// SPDX-License-Identifier: MIT
// remote_ramsd_test's benchmark of remote segments through /dev/rams, run on
// the client host of the guest (the CPU is emulated: only the ratios mean
// something). Measure and anchor run in alternating rounds on the same two
// hosts; each ratio is the median of the rounds' ratios (bench/report.h).
//  - remote_read_fault_kernel_vs_pager: a read fault on a page this host has
//    no copy of, mapped through /dev/rams (the module asks this host's ramsd
//    on the control channel), against the same fault through the userfaultfd
//    host pager of a ramsd on this host (RemoteAttachment::Map); goal <= 1.0x.
//  - remote_pread_4KiB_kernel_vs_read: a 4 KiB pread through /dev/rams of a
//    page this host has no copy of (a READ request, the page is then cached)
//    against a one-sided 4 KiB READ over this process's own session with the
//    home (librams' remote client); goal <= 1.2x.
// Every round touches pages of its own (a window of kPages per measure and
// round), so no measure finds another's copy or makes the home recall it;
// the pages are touched in a stride-7 order so that the pager's read-ahead
// of sequential faults does not stand in for faults.
//
//   remote_bench HOST:PORT/NAME KEY_FILE    (RAMS_PAGER_SOCKET names the pager)
//
// NAME's segment must hold kWindowBytes; records are JSON files in
// $RAMS_BENCH_DIR. Exits 1 when a measure fails.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rams/backend.h"
#include "rams/remote.h"
#include "rams/segment.h"
#include "report.h"

namespace {

using rams::bench::Emit;
using rams::bench::FromPair;
using rams::bench::Interleave;

constexpr uint64_t kPage = 4096;
constexpr int kRounds = 11;
constexpr uint64_t kPages = 32;  // pages per measure and round
constexpr int kWindows = 4;      // kernel fault, pager fault, kernel pread, one-sided READ
// The segment the home must export: a window per measure and round.
constexpr uint64_t kWindowBytes = kWindows * kRounds * kPages * kPage;

bool Fail(const std::string& what, const rams::Status& s) {
  std::fprintf(stderr, "remote_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  return false;
}

// The first byte of page `window * kRounds * kPages + round * kPages + i`.
uint64_t Offset(int window, int round, uint64_t i) {
  return ((uint64_t(window) * kRounds + uint64_t(round)) * kPages + i) * kPage;
}

// Touches the kPages pages of a window's round in stride-7 order; the sum
// keeps the loads.
uint64_t TouchRound(const std::byte* base, int window, int round) {
  uint64_t sum = 0;
  for (uint64_t k = 0; k < kPages; ++k) {
    const volatile std::byte* p = base + Offset(window, round, (k * 7) % kPages);
    sum += uint64_t(*p);
  }
  return sum;
}

double Micros(double seconds) { return seconds * 1e6; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: remote_bench HOST:PORT/NAME KEY_FILE\n");
    return 2;
  }
  const std::string name = argv[1];
  auto kernel = rams::BackendByName("kernel");
  if (!kernel.ok()) return Fail("the kernel backend", kernel.status()), 1;
  auto address = rams::ParseRemoteAddress(name);
  if (!address.ok()) return Fail(name, address.status()), 1;
  auto key = rams::LoadRemoteKey(argv[2]);
  if (!key.ok()) return Fail(argv[2], key.status()), 1;
  rams::RemoteOptions options;
  options.key = *key;

  // Through /dev/rams: this host's ramsd on the control channel.
  auto k_seg = rams::Segment::Open(name, {}, *kernel);
  if (!k_seg.ok()) return Fail("open " + name + " through /dev/rams", k_seg.status()), 1;
  if (k_seg->size() < kWindowBytes) {
    std::fprintf(stderr, "remote_bench: %s has %llu bytes, want %llu\n", name.c_str(),
                 (unsigned long long)k_seg->size(), (unsigned long long)kWindowBytes);
    return 1;
  }
  auto k_map = k_seg->Map();
  if (!k_map.ok()) return Fail("map through /dev/rams", k_map.status()), 1;
  // Straight to the home: a session of this process's own, mapped through the host pager.
  auto session = rams::RemoteSession::Connect(address->host, address->port, options);
  if (!session.ok()) return Fail("connect to the home", session.status()), 1;
  auto remote = session->Open(address->name);
  if (!remote.ok()) return Fail("open at the home", remote.status()), 1;
  rams::Segment r_seg(std::move(*remote));
  auto r_map = r_seg.Map();
  if (!r_map.ok()) return Fail("map through the host pager", r_map.status()), 1;

  bool ok = true;
  uint64_t sink = 0;
  int k_round = 0, p_round = 0;
  rams::bench::Pair faults = Interleave(
      kRounds, kPages, [&] { sink += TouchRound(k_map->data(), 0, k_round++); },
      [&] { sink += TouchRound(r_map->data(), 1, p_round++); });
  ok &= Emit(FromPair("remote_read_fault_kernel_vs_pager", "us", "userfaultfd host pager read fault",
                      "<= 1.0", faults, Micros));

  std::vector<std::byte> buf(kPage);
  int kr_round = 0, rr_round = 0;
  rams::bench::Pair reads = Interleave(
      kRounds, kPages,
      [&] {
        for (uint64_t i = 0; i < kPages; ++i) {
          rams::Status s = k_seg->Read(Offset(2, kr_round, i), buf);
          if (!s.ok()) ok = Fail("pread through /dev/rams", s);
        }
        ++kr_round;
      },
      [&] {
        for (uint64_t i = 0; i < kPages; ++i) {
          rams::Status s = r_seg.Read(Offset(3, rr_round, i), buf);
          if (!s.ok()) ok = Fail("one-sided READ", s);
        }
        ++rr_round;
      });
  ok &= Emit(FromPair("remote_pread_4KiB_kernel_vs_read", "us", "one-sided 4 KiB READ (librams)",
                      "<= 1.2", reads, Micros));
  std::printf("remote_bench: done (%llu)\n", (unsigned long long)(sink & 1));
  return ok ? 0 : 1;
}
