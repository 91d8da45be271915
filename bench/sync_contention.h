/* SPDX-License-Identifier: MIT */
// Mutex contention for the sync benchmark: uncontended lock+unlock, and a
// counter incremented under the lock by several processes (throughput and
// fairness), rams against pthread.
//
// Thread safety: single-threaded benchmark driver code (forks workers).
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <new>
#include <utility>
#include <vector>

#include "rams/mutex.h"
#include "sync_bench_common.h"

namespace rams::bench::sync_bench {

// ---- uncontended ----

// Median ns per lock+unlock pair, rams and robust pthread measured in turns
// so that both see the same background load.
inline std::pair<double, double> UncontendedNs(int iterations) {
  Region mine = Region::Rams();
  Region theirs = Region::Anonymous();
  auto* mu = new (mine.base) rams::Mutex();
  auto* pmu = reinterpret_cast<pthread_mutex_t*>(theirs.base);
  InitPthreadMutex(pmu, /*robust=*/true);
  std::vector<double> a, b;
  for (int r = 0; r < 2 * kReps + 1; ++r) {
    auto t0 = Clock::now();
    for (int i = 0; i < iterations; ++i) {
      (void)mu->Lock();
      mu->Unlock();
    }
    a.push_back(Seconds(t0) / iterations * 1e9);
    t0 = Clock::now();
    for (int i = 0; i < iterations; ++i) {
      pthread_mutex_lock(pmu);
      pthread_mutex_unlock(pmu);
    }
    b.push_back(Seconds(t0) / iterations * 1e9);
  }
  mine.Release();
  theirs.Release();
  return {Median(a), Median(b)};
}

// ---- contended counter ----

struct Counted {
  double per_second = 0;
  double fairness = 0;  // max / min acquisitions per process
};

constexpr int kMaxProcesses = 20;

struct CounterBoard {
  std::atomic<uint32_t> ready{0};
  std::atomic<uint32_t> go{0};
  std::atomic<uint32_t> stop{0};
  uint64_t counter = 0;
  uint64_t per_process[kMaxProcesses] = {};
  alignas(64) std::byte lock[64];  // the mutex under test
};

// `processes` children increment one counter under the lock for `seconds`.
inline Counted Count(int processes, double seconds,
                     const std::function<void(std::byte*)>& lock,
                     const std::function<void(std::byte*)>& unlock, CounterBoard* board) {
  std::vector<pid_t> children;
  for (int p = 0; p < processes; ++p) {
    pid_t c = fork();
    if (c == 0) {
      board->ready.fetch_add(1);
      while (board->go.load() == 0) sched_yield();
      uint64_t mine = 0;
      // relaxed: the stop flag publishes nothing; the counter is read after wait().
      while (board->stop.load(std::memory_order_relaxed) == 0) {
        lock(board->lock);
        ++board->counter;
        unlock(board->lock);
        ++mine;
      }
      board->per_process[p] = mine;
      _exit(0);
    }
    children.push_back(c);
  }
  while (board->ready.load() < static_cast<uint32_t>(processes)) usleep(100);
  auto t0 = Clock::now();
  board->go.store(1);
  usleep(static_cast<useconds_t>(seconds * 1e6));
  board->stop.store(1);
  for (pid_t c : children) waitpid(c, nullptr, 0);
  double elapsed = Seconds(t0);
  uint64_t total = 0, most = 0, least = ~uint64_t{0};
  for (int p = 0; p < processes; ++p) {
    total += board->per_process[p];
    most = std::max(most, board->per_process[p]);
    least = std::min(least, board->per_process[p]);
  }
  Counted c;
  c.per_second = double(total) / elapsed;
  c.fairness = least == 0 ? double(most) : double(most) / double(least);
  if (board->counter != total) {
    fprintf(stderr, "counter %llu != acquisitions %llu: exclusion broken\n",
            (unsigned long long)board->counter, (unsigned long long)total);
    exit(1);
  }
  return c;
}

inline Counted CountOnce(int processes, bool use_rams) {
  Region region = use_rams ? Region::Rams() : Region::Anonymous();
  auto* board = new (region.base) CounterBoard();
  Counted c;
  if (use_rams) {
    new (board->lock) rams::Mutex();
    c = Count(processes, 0.2,
              [](std::byte* l) { (void)std::launder(reinterpret_cast<rams::Mutex*>(l))->Lock(); },
              [](std::byte* l) { std::launder(reinterpret_cast<rams::Mutex*>(l))->Unlock(); },
              board);
  } else {
    InitPthreadMutex(reinterpret_cast<pthread_mutex_t*>(board->lock), /*robust=*/false);
    c = Count(processes, 0.2,
              [](std::byte* l) { pthread_mutex_lock(reinterpret_cast<pthread_mutex_t*>(l)); },
              [](std::byte* l) { pthread_mutex_unlock(reinterpret_cast<pthread_mutex_t*>(l)); },
              board);
  }
  region.Release();
  return c;
}

// Medians over runs that alternate rams and pthread.
inline std::pair<Counted, Counted> MedianCounts(int processes) {
  std::vector<double> rate[2], fairness[2];
  for (int r = 0; r < kReps; ++r) {
    for (int k = 0; k < 2; ++k) {
      Counted c = CountOnce(processes, k == 0);
      rate[k].push_back(c.per_second);
      fairness[k].push_back(c.fairness);
    }
  }
  return {Counted{Median(rate[0]), Median(fairness[0])},
          Counted{Median(rate[1]), Median(fairness[1])}};
}


}  // namespace rams::bench::sync_bench
