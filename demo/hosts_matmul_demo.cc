// SPDX-License-Identifier: MIT
// rams-hosts-demo: the matrix multiplication of `make demo` on a remotely
// mapped segment across two simulated hosts. Each host is its own network,
// mount (private /dev/shm, /tmp, /run) and PID namespace joined to the other
// by a bridge; host 0 is the segment's home (ramsd exporting a posix segment
// in its own /dev/shm), and each host runs a host pager through which its
// processes map the segment. A worker on each host computes half of C in the
// mapping; a process on host 1 checks C against its own product. Needs root
// (namespaces); where they cannot be made, says why and exits 0.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "host_harness.h"
#include "rams/segment.h"

namespace {

constexpr int kN = 1024;
constexpr char kKey[] = "rams-hosts-demo-key-0123456789ab";

int Main() {
  using rams::test::HostPagerProcess;
  using rams::test::HostRamsd;
  rams::test::HostSet hosts;
  const std::string why = hosts.Start(2);
  if (!why.empty()) {
    std::printf("two-host demo skipped: %s\n", why.c_str());
    return 0;
  }
  const std::string name = "rams-hosts-demo." + std::to_string(getpid());
  const uint64_t bytes = uint64_t{3} * kN * kN * sizeof(double);
  if (!rams::test::CreateHomeSegment(hosts.host(0), name, bytes, kKey)) {
    std::printf("cannot create the segment on host 0\n");
    return 1;
  }
  HostRamsd ramsd(hosts.host(0));
  HostPagerProcess pager0(hosts.host(0)), pager1(hosts.host(1));
  std::string error;
  if (!ramsd.Start({"--key-file", "/tmp/key", "--export", name}, &error) ||
      !pager0.Start(kKey, &error) || !pager1.Start(kKey, &error)) {
    std::printf("cannot start the hosts' daemons: %s\n", error.c_str());
    return 1;
  }
  std::printf("two hosts: %s (home of %s, %llu MiB) and %s, one worker each\n",
              hosts.host(0).address().c_str(), name.c_str(),
              static_cast<unsigned long long>(bytes >> 20), hosts.host(1).address().c_str());
  const auto start = std::chrono::steady_clock::now();
  error = rams::test::MatmulOnHosts(hosts.host(0), name, kKey, {&hosts.host(1), &hosts.host(0)},
                                    kN);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t pages = ramsd.Metric("ramsd_mapping_pages_granted_total");
  std::printf("%dx%d product in %.2f s, %lld pages granted by the home\n", kN, kN, seconds,
              static_cast<long long>(pages));
  if (!error.empty()) {
    std::printf("result: WRONG (%s)\n", error.c_str());
    return 1;
  }
  std::printf("result: correct\n");
  return 0;
}

}  // namespace

int main() { return Main(); }
