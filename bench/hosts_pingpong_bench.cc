// SPDX-License-Identifier: MIT
// The page ping-pong across simulated hosts (issue 9's anchor for
// tests/remote/hosts_test.cc PingPongTakingTurns) vs a raw TCP ping-pong
// between the same two network namespaces. Hosts are the multi-host tests'
// (tests/remote/host_harness.h); host 0 is the home, hosts 1 and 2 each run
// a host pager and one process. Measure: the two processes take strict turns
// incrementing one counter in a remotely mapped page (a CAS when the count
// is theirs), so every hand-off moves the page from one host to the other
// through the home. Anchor: the two processes pass one byte back and forth
// over a TCP connection from host 1 to host 2 (TCP_NODELAY), one hand-off
// per message. Both are per hand-off; measure and anchor run in alternating
// rounds (bench/report.h's Interleave), each round after both processes are
// set up (mapped, connected), so only the hand-offs are timed. Needs root;
// elsewhere it says why and writes no record.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host_harness.h"
#include "report.h"

namespace {

using rams::test::Host;
using rams::test::HostProcess;

constexpr char kKey[] = "rams-hosts-bench-key-0123456789ab";
constexpr uint16_t kPort = 7790;  // the anchor's, on host 2's address
constexpr uint64_t kCounter = 64;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "hosts_pingpong_bench: %s\n", what.c_str());
  std::exit(1);
}

// Runs `a` on host 1 and `b` on host 2, each given a ready and a go pipe:
// it writes a byte to ready when set up and starts when it reads go. Times
// from go to both ends, in seconds.
double TimedPair(rams::test::HostSet& hosts,
                 const std::function<int(int ready, int go)>& a,
                 const std::function<int(int ready, int go)>& b) {
  int ready[2], go[2];
  if (pipe(ready) != 0 || pipe(go) != 0) Die("pipe");
  HostProcess pa = hosts.host(1).Spawn([&] { return a(ready[1], go[0]); });
  HostProcess pb = hosts.host(2).Spawn([&] { return b(ready[1], go[0]); });
  close(ready[1]);
  close(go[0]);
  char c = 0;
  if (read(ready[0], &c, 1) != 1 || read(ready[0], &c, 1) != 1) Die("a side did not get ready");
  const auto start = std::chrono::steady_clock::now();
  if (write(go[1], "gg", 2) != 2) Die("go");
  const int ra = Host::Wait(pa), rb = Host::Wait(pb);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  close(ready[0]);
  close(go[1]);
  if (ra != 0 || rb != 0) Die("a side failed: " + std::to_string(ra) + " " + std::to_string(rb));
  return seconds;
}

// Waits for go after telling ready; false when the pipes broke.
bool ReadyGo(int ready, int go) {
  char c = 1;
  return write(ready, &c, 1) == 1 && read(go, &c, 1) == 1;
}

// Passes one byte back and forth over `fd`: `steps` messages in all, this
// side sending those of `parity` (0: the first).
int Bounce(int fd, uint64_t steps, uint64_t parity) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char c = 0;
  for (uint64_t i = 0; i < steps; ++i) {
    const bool ok = i % 2 == parity ? write(fd, &c, 1) == 1 : read(fd, &c, 1) == 1;
    if (!ok) return 5;
  }
  close(fd);
  return 0;
}

}  // namespace

int main() {
  const uint64_t steps = rams::bench::Quick() ? 20 : 400;
  const int rounds = rams::bench::Quick() ? 2 : 7;
  rams::test::HostSet hosts;
  if (const std::string why = hosts.Start(3); !why.empty()) {
    std::printf("hosts_pingpong_bench skipped: %s\n", why.c_str());
    return 0;
  }
  const std::string name = "rams-hosts-pp-bench." + std::to_string(getpid());
  Host& home = hosts.host(0);
  if (!rams::test::CreateHomeSegment(home, name, 1 << 16, kKey)) Die("cannot create the segment");
  rams::test::HostRamsd ramsd(home);
  std::string error;
  if (!ramsd.Start({"--key-file", "/tmp/key", "--export", name, "--no-pager"}, &error)) Die(error);
  std::vector<std::unique_ptr<rams::test::HostPagerProcess>> pagers;
  for (int h = 1; h <= 2; ++h) {
    pagers.push_back(std::make_unique<rams::test::HostPagerProcess>(hosts.host(h)));
    if (!pagers.back()->Start(kKey, &error)) Die(error);
  }

  // One round of the measure: the counter back to 0, then `steps` turns.
  auto page_round = [&] {
    if (hosts.host(1).Run([&] {
          return rams::test::WithMapping(home, name, kKey, [](std::byte* base) {
            std::atomic_ref(*reinterpret_cast<uint64_t*>(base + kCounter)).store(0);
            return 0;
          });
        }) != 0) {
      Die("resetting the counter failed");
    }
    auto side = [&](int me) {
      return [&, me](int ready, int go) {
        return rams::test::WithMapping(home, name, kKey, [&, me](std::byte* base) {
          std::atomic_ref counter(*reinterpret_cast<uint64_t*>(base + kCounter));
          (void)counter.load();  // the page is here before the clock starts
          if (!ReadyGo(ready, go)) return 2;
          for (;;) {
            const uint64_t v = counter.load();
            if (v >= steps) return 0;
            if (v % 2 == static_cast<uint64_t>(me)) {
              uint64_t expected = v;
              if (!counter.compare_exchange_strong(expected, v + 1)) return 3;
            }
          }
        });
      };
    };
    return TimedPair(hosts, side(0), side(1));
  };
  // One round of the anchor: host 2 accepts, host 1 connects, then bounce.
  const std::string peer = hosts.host(2).address();
  auto tcp_round = [&] {
    auto server = [&](int ready, int go) {
      const int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const int reuse = 1;
      setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
      sockaddr_in a{.sin_family = AF_INET, .sin_port = htons(kPort), .sin_addr = {}, .sin_zero = {}};
      inet_pton(AF_INET, peer.c_str(), &a.sin_addr);
      if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 1) != 0) return 7;
      const int fd = accept(l, nullptr, nullptr);
      if (fd < 0 || !ReadyGo(ready, go)) return 8;
      return Bounce(fd, steps, 1);
    };
    auto client = [&](int ready, int go) {
      sockaddr_in a{.sin_family = AF_INET, .sin_port = htons(kPort), .sin_addr = {}, .sin_zero = {}};
      inet_pton(AF_INET, peer.c_str(), &a.sin_addr);
      int fd = -1;
      for (int tries = 0; tries < 500; ++tries) {  // until host 2 listens
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
        close(fd);
        fd = -1;
        usleep(2000);
      }
      if (fd < 0 || !ReadyGo(ready, go)) return 9;
      return Bounce(fd, steps, 0);
    };
    return TimedPair(hosts, client, server);
  };

  rams::bench::Pair pair;
  pair.operations_per_round = static_cast<double>(steps);
  for (int r = 0; r < rounds; ++r) {
    if (r % 2 == 1) pair.anchor_seconds.push_back(tcp_round());
    pair.measure_seconds.push_back(page_round());
    if (r % 2 == 0) pair.anchor_seconds.push_back(tcp_round());
  }
  rams::bench::Emit(rams::bench::FromPair(
      "mapping_page_pingpong_vs_tcp", "us",
      "one byte each way over TCP between the same two namespaces", "", pair,
      [](double s) { return s * 1e6; },
      std::to_string(steps) + " hand-offs of one page between hosts 1 and 2 (netns veth and "
                              "bridge), home on host 0, sleeping mode, unpinned"));
  ramsd.Stop(SIGTERM);
  return 0;
}
