// SPDX-License-Identifier: MIT
// The matrix multiplication on a remotely mapped segment across 1, 2 and 3
// simulated hosts (issue 9 §6) vs the same multiplication on one host
// through a local posix segment, with the same total number of worker
// processes. Hosts are the multi-host tests' (tests/remote/host_harness.h:
// each its own network, mount and PID namespace on one bridge); host 0 is
// the home (ramsd exporting a posix segment in its own /dev/shm) and every
// host runs a host pager. Workers are spread round-robin over the first k
// hosts; A and B are filled through the mapping before each timed round,
// only the multiplication is timed, and C is checked against a product
// computed once in this process. Each remote run and its local anchor run in
// alternating rounds (bench/report.h's order). Needs root; elsewhere it says why and
// writes no record.
#include <sys/mman.h>
#include <sys/wait.h>
#include <csignal>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <cstring>
#include <string>
#include <vector>

#include "host_harness.h"
#include "matmul.h"
#include "rams/segment.h"
#include "report.h"

namespace {

namespace matrix = rams::matrix;
using rams::test::Host;
using rams::test::HostProcess;

constexpr int kN = 1024;
constexpr int kWorkers = 6;  // divides evenly over 1, 2 and 3 hosts
constexpr int kRounds = 3;
constexpr int kMaxHosts = 3;
constexpr char kKey[] = "rams-hosts-bench-key-0123456789ab";
constexpr size_t kElems = size_t{kN} * kN;
constexpr uint64_t kBytes = 3 * kElems * sizeof(double);

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "hosts_matmul_bench: %s\n", what.c_str());
  std::exit(1);
}

// Runs every worker's band of C on the matrices at `base(i)` in its own
// process, started by `spawn`, and waits for them all.
void MultiplyInWorkers(const std::function<HostProcess(int, std::function<int()>)>& spawn,
                       const std::function<int(int, const std::function<int(double*)>&)>& with) {
  std::vector<HostProcess> procs;
  for (int i = 0; i < kWorkers; ++i) {
    procs.push_back(spawn(i, [&with, i] {
      return with(i, [i](double* m) {
        matrix::MultiplyRows(m, m + kElems, m + 2 * kElems, kN, matrix::BandBegin(kN, i, kWorkers),
                             matrix::BandBegin(kN, i + 1, kWorkers));
        return 0;
      });
    }));
  }
  for (const HostProcess& p : procs) {
    if (Host::Wait(p) != 0) Die("a worker failed");
  }
}

bool SameC(const double* m, const std::vector<double>& c) {
  return std::memcmp(m + 2 * kElems, c.data(), kElems * sizeof(double)) == 0;
}

}  // namespace

int main() {
  rams::test::HostSet hosts;
  if (const std::string why = hosts.Start(kMaxHosts); !why.empty()) {
    std::printf("hosts_matmul_bench skipped: %s\n", why.c_str());
    return 0;
  }
  std::vector<double> a(kElems), b(kElems), c(kElems);
  matrix::FillInputs(a.data(), b.data(), kN, 42);
  matrix::MultiplyRows(a.data(), b.data(), c.data(), kN, 0, kN);

  const std::string name = "rams-hosts-bench." + std::to_string(getpid());
  Host& home = hosts.host(0);
  if (!rams::test::CreateHomeSegment(home, name, kBytes, kKey)) {
    Die("cannot create the segment on the home host");
  }
  rams::test::HostRamsd ramsd(home);
  std::vector<std::unique_ptr<rams::test::HostPagerProcess>> pagers;
  std::string error;
  if (!ramsd.Start({"--key-file", "/tmp/key", "--export", name, "--no-pager"}, &error)) Die(error);
  for (int h = 0; h < kMaxHosts; ++h) {
    pagers.push_back(std::make_unique<rams::test::HostPagerProcess>(hosts.host(h)));
    if (!pagers.back()->Start(kKey, &error)) Die(error);
  }

  // The local anchor: the same workers on one posix segment of this host.
  rams::Backend* posix = *rams::BackendByName("posix");
  const std::string local_name = name + ".local";
  auto local = rams::Segment::Create(local_name, kBytes, 0600, true, posix);
  if (!local.ok()) Die(local.status().ToString());
  auto local_bytes = local->Map();
  if (!local_bytes.ok()) Die(local_bytes.status().ToString());
  auto* lm = reinterpret_cast<double*>(local_bytes->data());
  auto run_local = [&] {
    std::memcpy(lm, a.data(), kElems * sizeof(double));
    std::memcpy(lm + kElems, b.data(), kElems * sizeof(double));
    MultiplyInWorkers(
        [](int, std::function<int()> body) {
          pid_t pid = fork();
          if (pid == 0) _exit(body());
          return HostProcess{.waiter = pid, .pid = pid};
        },
        [&](int, const std::function<int(double*)>& body) { return body(lm); });
  };

  for (int k = 1; k <= kMaxHosts; ++k) {
    auto with_mapping = [&](int, const std::function<int(double*)>& body) {
      return rams::test::WithMapping(home, name, kKey, [&](std::byte* base) {
        return body(reinterpret_cast<double*>(base));
      });
    };
    std::function<void()> fill = [&] {
      const int rc = hosts.host(0).Run([&] {
        return with_mapping(0, [&](double* m) {
          std::memcpy(m, a.data(), kElems * sizeof(double));
          std::memcpy(m + kElems, b.data(), kElems * sizeof(double));
          std::memset(m + 2 * kElems, 0, kElems * sizeof(double));
          return 0;
        });
      });
      if (rc != 0) Die("filling A and B failed");
    };
    auto run_remote = [&] {
      MultiplyInWorkers(
          [&](int i, std::function<int()> body) { return hosts.host(i % k).Spawn(body); },
          with_mapping);
    };
    // Interleaved by hand: the fill before each remote round is not timed.
    rams::bench::Pair pair;
    rams::bench::Counters counters;
    auto one = [&](const std::function<void()>& body, std::vector<double>& seconds,
                   rams::bench::Counts& total) {
      rams::bench::Timed t = rams::bench::TimeOnce(counters, body);
      seconds.push_back(t.seconds);
      total += t.counts;
    };
    for (int r = 0; r < kRounds; ++r) {
      fill();
      if (r % 2 == 1) one(run_local, pair.anchor_seconds, pair.anchor_counts);
      one(run_remote, pair.measure_seconds, pair.measure_counts);
      if (r % 2 == 0) one(run_local, pair.anchor_seconds, pair.anchor_counts);
    }
    // The last round's C (zeroed by its fill) is the product.
    const bool remote_right = hosts.host(k - 1).Run([&] {
      return with_mapping(0, [&](double* m) { return SameC(m, c) ? 0 : 1; });
    }) == 0;
    if (!remote_right || !SameC(lm, c)) Die("C differs from the product");
    const std::string hosts_text = std::to_string(k) + (k == 1 ? " host" : " hosts");
    rams::bench::Emit(rams::bench::FromPair(
        "mapping_matmul_" + std::to_string(k) + "hosts_vs_local", "s",
        "the same 6 workers on one local posix segment", k == 2 ? "<= 1.3" : "", pair,
        [](double s) { return s; },
        std::to_string(kN) + "x" + std::to_string(kN) + ", 6 workers over " + hosts_text +
            " (netns), home on host 0, unpinned"));
  }
  (void)rams::Segment::Remove(local_name, posix);
  ramsd.Stop(SIGTERM);
  return 0;
}
