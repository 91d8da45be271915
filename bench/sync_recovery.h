/* SPDX-License-Identifier: MIT */
// Crash recovery for the sync benchmark: the time from SIGKILL of a mutex
// holder to a parked waiter's successful lock, rams against a robust pthread
// mutex; and the same for a rams RwLock held exclusively (pthread rwlocks
// are not robust: it is compared with the rams Mutex instead).
//
// Thread safety: single-threaded benchmark driver code (forks holders).
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <new>
#include <random>
#include <vector>

#include "rams/mutex.h"
#include "rams/rwlock.h"
#include "sync_bench_common.h"

namespace rams::bench::sync_bench {

// ---- crash recovery ----

struct RecoveryBoard {
  std::atomic<uint32_t> holder_ready{0};  // iteration whose holder holds
  std::atomic<uint32_t> waiting{0};       // iteration the waiter is locking for
  std::atomic<uint32_t> done{0};          // iteration the waiter finished
  std::atomic<int64_t> locked_ns{0};      // when the waiter got the lock
  std::atomic<uint32_t> bad{0};           // a lock without the death report
  alignas(64) std::byte lock[64 + 256];  // a Mutex, a pthread mutex or a RwLock
};

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

enum class RecoveryLock { kRamsMutex, kPthreadMutex, kRamsRwLock };

// Kills a holder `kills` times while a waiter is parked, at a random time
// 0..max_park_us after the waiter started to lock; returns the microseconds
// from kill() to the waiter holding the lock, sorted. The RwLock's holder and
// waiter lock it exclusively.
inline std::vector<double> Recoveries(int kills, RecoveryLock kind, uint32_t max_park_us,
                                      uint32_t seed) {
  const bool use_rams = kind != RecoveryLock::kPthreadMutex;
  Region region = use_rams ? Region::Rams() : Region::Anonymous();
  auto* board = new (region.base) RecoveryBoard();
  auto* rmu = kind == RecoveryLock::kRamsMutex ? new (board->lock) rams::Mutex() : nullptr;
  static_assert(sizeof(rams::RwLock) <= sizeof(RecoveryBoard::lock));
  auto* rw = kind == RecoveryLock::kRamsRwLock ? new (board->lock) rams::RwLock() : nullptr;
  auto* pmu = reinterpret_cast<pthread_mutex_t*>(board->lock);
  if (!use_rams) InitPthreadMutex(pmu, /*robust=*/true);
  // Lock: true when the previous holder was reported dead (then repaired).
  auto lock = [&]() -> bool {
    if (rw != nullptr) {
      auto r = rw->Lock();  // the exclusive holder that takes the report repairs
      return r.ok() && *r == rams::Acquired::kOwnerDied;
    }
    if (use_rams) {
      auto r = rmu->Lock();
      if (r.ok() && *r == rams::Acquired::kOwnerDied) {
        rmu->MarkConsistent();
        return true;
      }
      return false;
    }
    if (pthread_mutex_lock(pmu) == EOWNERDEAD) {
      pthread_mutex_consistent(pmu);
      return true;
    }
    return false;
  };
  auto unlock = [&] {
    if (rw != nullptr) {
      rw->Unlock();
    } else if (use_rams) {
      rmu->Unlock();
    } else {
      (void)pthread_mutex_unlock(pmu);
    }
  };
  pid_t waiter = fork();
  if (waiter == 0) {
    for (uint32_t k = 1; k <= static_cast<uint32_t>(kills); ++k) {
      while (board->holder_ready.load() != k) sched_yield();
      board->waiting.store(k);
      bool reported = lock();
      board->locked_ns.store(NowNs());
      if (!reported) board->bad.fetch_add(1);
      unlock();
      board->done.store(k);
    }
    _exit(0);
  }
  std::minstd_rand rng(seed);
  std::vector<double> us;
  for (uint32_t k = 1; k <= static_cast<uint32_t>(kills); ++k) {
    pid_t holder = fork();
    if (holder == 0) {
      lock();
      board->holder_ready.store(k);
      pause();
      _exit(0);
    }
    while (board->waiting.load() != k) sched_yield();
    usleep(static_cast<useconds_t>(rng() % (max_park_us + 1)));  // the waiter parks
    int64_t killed = NowNs();
    kill(holder, SIGKILL);
    waitpid(holder, nullptr, 0);
    while (board->done.load() != k) sched_yield();
    us.push_back(double(board->locked_ns.load() - killed) / 1e3);
  }
  waitpid(waiter, nullptr, 0);
  if (board->bad.load() != 0) fprintf(stderr, "%u kills went unreported\n", board->bad.load());
  region.Release();
  std::sort(us.begin(), us.end());
  return us;
}

// The q-quantile (0..1) of sorted samples. REQUIRES: not empty.
inline double Quantile(const std::vector<double>& sorted, double q) {
  size_t i = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}


}  // namespace rams::bench::sync_bench
