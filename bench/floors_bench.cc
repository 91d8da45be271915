// SPDX-License-Identifier: MIT
// The floors of the machine (issue 17 §2), each against the next cheaper
// mechanism, interleaved round by round, medians of per-round ratios:
//  - raw futex ping-pong vs a pipe round trip;
//  - raw TCP loopback ping-pong sleeping in read(2) vs the futex ping-pong;
//  - the same busy-polling (recv MSG_DONTWAIT) vs sleeping;
//  - memcpy of 1 MiB vs 4 KiB blocks, same bytes per round (bandwidth).
// The ping-pongs run twice: both processes on core 0 ("same core") and the
// partner on core 1 ("cross core"); on a VM a cross-core wake-up costs an
// order of magnitude more than a same-core switch. Busy polling is measured
// cross core only: polling for a partner that waits for our core only burns
// the time slice. The figures are informational (no goals): other
// benchmarks measure them again beside the figures they judge.
#include <cstring>
#include <string>
#include <vector>

#include "floors.h"
#include "report.h"

namespace {

using namespace rams::bench;  // NOLINT: the benchmark's own layer

const int kRounds = Quick() ? 3 : 11;
const int kExchanges = Quick() ? 200 : 2000;

double Us(double seconds) { return seconds * 1e6; }

bool PingPongs(int partner_cpu, const std::string& suffix, const std::string& pinning) {
  bool ok = true;
  FutexFloor futex(partner_cpu);
  FdFloor pipe_floor(FdFloor::kPipe, partner_cpu);
  FdFloor tcp(FdFloor::kTcpSleeping, partner_cpu);
  auto f = [&] { futex.RoundTrips(kExchanges); };
  ok &= Emit(FromPair("floor_futex_pingpong" + suffix, "us", "pipe round trip" + suffix, "",
                      Interleave(kRounds, kExchanges, f, [&] { pipe_floor.RoundTrips(kExchanges); }),
                      Us, pinning));
  ok &= Emit(FromPair("floor_tcp_sleeping_pingpong" + suffix, "us", "raw futex ping-pong" + suffix,
                      "", Interleave(kRounds, kExchanges, [&] { tcp.RoundTrips(kExchanges); }, f),
                      Us, pinning));
  if (partner_cpu != 0) {
    FdFloor busy(FdFloor::kTcpBusyPoll, partner_cpu);
    ok &= Emit(FromPair("floor_tcp_busypoll_pingpong" + suffix, "us",
                        "raw TCP sleeping ping-pong" + suffix, "",
                        Interleave(kRounds, kExchanges, [&] { busy.RoundTrips(kExchanges); },
                                   [&] { tcp.RoundTrips(kExchanges); }),
                        Us, pinning));
  }
  return ok;
}

bool Memcpy() {
  const size_t kBytesPerRound = Quick() ? 4 << 20 : 64 << 20;
  std::vector<char> src(1 << 20, 1), dst(1 << 20, 2);
  auto copy = [&](size_t block) {
    for (size_t done = 0; done < kBytesPerRound; done += block) {
      std::memcpy(dst.data(), src.data(), block);
      asm volatile("" ::: "memory");
    }
  };
  return Emit(FromPair("floor_memcpy_1MiB", "MiB/s", "memcpy 4 KiB blocks", "",
                       Interleave(kRounds, kBytesPerRound, [&] { copy(1 << 20); },
                                  [&] { copy(4096); }),
                       [](double s) { return 1 / s / (1 << 20); }, "core 0"));
}

}  // namespace

int main() {
  if (!PinToCpu(0)) return 1;
  bool ok = PingPongs(0, "_samecore", "both processes on core 0");
  if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
    ok &= PingPongs(1, "_crosscore", "measuring process on core 0, partner on core 1");
  } else {
    printf("floors_bench: one core only: no cross-core ping-pongs\n");
  }
  ok &= Memcpy();
  return ok ? 0 : 1;
}
