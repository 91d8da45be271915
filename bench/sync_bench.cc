// SPDX-License-Identifier: MIT
// Sync primitives against their peers, all in one run (issue 3 §5):
//  - two-process blocking ping-pong, rams Mutex+CondVar (no spinning) vs
//    glibc's process-shared pthread mutex+cond (anchor; goal <= 0.8) and vs
//    a raw futex ping-pong (the floor; goal <= 1.3); pipe and Unix socket
//    round trips beside them;
//  - the same with spin-then-park vs a pipe round trip (goal >= 10x faster,
//    i.e. ratio <= 0.1);
//  - uncontended lock+unlock vs a robust process-shared pthread mutex
//    (goal <= 1.0);
//  - a contended counter with 2, 4, 8 and 20 processes vs a process-shared
//    pthread mutex (throughput, goal >= 1.0), with fairness (max/min
//    acquisitions per process);
//  - crash recovery: from SIGKILL of a holder to the parked waiter's lock,
//    median and maximum over RAMS_BENCH_KILLS kills (default 10,000), vs a
//    robust pthread mutex (the kernel's robust list).
// The measures live in sync_pingpong.h, sync_contention.h, sync_recovery.h.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "report.h"
#include "sync_bench_common.h"
#include "sync_contention.h"
#include "sync_pingpong.h"
#include "sync_recovery.h"

namespace {

using rams::bench::Emit;
using rams::bench::Median;
using namespace rams::bench::sync_bench;

bool PingPong() {
  // The variants take turns, several times, and each reports its median:
  // the machine's background load then weighs on all of them alike.
  const int rounds = 10000;
  std::vector<double> pthread_us, futex_us, pipe_us, socket_us, rams_us, rams_spin_us;
  for (int r = 0; r < 2 * kReps + 1; ++r) {
    pthread_us.push_back(PthreadRoundTripUs(rounds));
    rams_us.push_back(RamsRoundTripUs(0, rounds));
    futex_us.push_back(FutexRoundTripUs(rounds));
    pipe_us.push_back(FdRoundTripUs(false, rounds));
    socket_us.push_back(FdRoundTripUs(true, rounds));
    rams_spin_us.push_back(RamsRoundTripUs(2000, rounds));
  }
  const std::string pthread_anchor = "pthread pshared mutex+cond";
  bool ok = true;
  ok &= Emit({"sync_pingpong_blocking", Median(rams_us), "us", pthread_anchor, Median(pthread_us),
              "<= 0.8"});
  ok &= Emit({"sync_pingpong_blocking_vs_futex", Median(rams_us), "us", "raw futex ping-pong",
              Median(futex_us), "<= 1.3"});
  ok &= Emit({"sync_pingpong_pipe", Median(pipe_us), "us", pthread_anchor, Median(pthread_us), ""});
  ok &= Emit({"sync_pingpong_unix_socket", Median(socket_us), "us", pthread_anchor,
              Median(pthread_us), ""});
  ok &= Emit({"sync_pingpong_spin", Median(rams_spin_us), "us", "pipe round trip", Median(pipe_us),
              "<= 0.1"});
  // The goal assumes both processes have a core; on a shared machine the
  // fastest repetition is the closest to that (informational).
  ok &= Emit({"sync_pingpong_spin_best", *std::min_element(rams_spin_us.begin(), rams_spin_us.end()),
              "us", "pipe round trip (best)", *std::min_element(pipe_us.begin(), pipe_us.end()),
              ""});
  return ok;
}

bool Counters() {
  bool ok = true;
  for (int processes : {2, 4, 8, 20}) {
    auto [mine, theirs] = MedianCounts(processes);
    std::string n = "sync_counter_" + std::to_string(processes) + "p";
    ok &= Emit({n, mine.per_second / 1e6, "Mops/s", "pthread pshared mutex", theirs.per_second / 1e6,
                ">= 1.0"});
    ok &= Emit({n + "_fairness", mine.fairness, "max/min", "pthread pshared mutex", theirs.fairness,
                ""});
  }
  return ok;
}

// Rounds of 10 kills of each, interleaved, so that both see the same load;
// each kill comes 0..300 ms after the waiter started to lock.
bool Recovery() {
  bool ok = true;
  const char* env = getenv("RAMS_BENCH_KILLS");
  const int kills = std::max(10, env != nullptr ? atoi(env) : 100);
  constexpr int kRound = 10;
  constexpr uint32_t kMaxParkUs = 300'000;
  std::vector<double> mine, theirs;
  for (int done = 0; done < kills; done += kRound) {
    for (bool use_rams : {true, false}) {
      std::vector<double> round = Recoveries(kRound, use_rams, kMaxParkUs, 42 + done);
      (use_rams ? mine : theirs).insert((use_rams ? mine : theirs).end(), round.begin(), round.end());
    }
  }
  std::sort(mine.begin(), mine.end());
  std::sort(theirs.begin(), theirs.end());
  const std::string anchor = "robust pthread mutex (kernel list)";
  ok &= Emit({"sync_recovery_p50", Quantile(mine, 0.5), "us", anchor, Quantile(theirs, 0.5),
              ""});
  ok &= Emit({"sync_recovery_p99", Quantile(mine, 0.99), "us", anchor, Quantile(theirs, 0.99),
              ""});
  ok &= Emit({"sync_recovery_max", mine.back(), "us", anchor, theirs.back(), ""});
  return ok;
}

}  // namespace

// RAMS_BENCH_ONLY=pingpong|uncontended|counter|recovery runs one group.
static bool Selected(const char* group) {
  const char* only = getenv("RAMS_BENCH_ONLY");
  return only == nullptr || *only == '\0' || std::string(only) == group;
}

int main() {
  bool ok = true;
  if (Selected("pingpong")) ok &= PingPong();
  if (Selected("uncontended")) {
    auto [mine_ns, theirs_ns] = UncontendedNs(2'000'000);
    ok &= Emit({"sync_uncontended_lock_unlock", mine_ns, "ns", "robust pshared pthread mutex",
                theirs_ns, "<= 1.0"});
  }
  if (Selected("counter")) ok &= Counters();
  if (Selected("recovery")) ok &= Recovery();
  return ok ? 0 : 1;
}

