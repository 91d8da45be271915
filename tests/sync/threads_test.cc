// SPDX-License-Identifier: MIT
// The sync primitives between threads of one process (also run under TSan):
// the same objects in segment memory, with threads instead of processes.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <thread>
#include <vector>

#include "rams/barrier.h"
#include "rams/condvar.h"
#include "rams/mutex.h"
#include "rams/rams.h"
#include "rams/rwlock.h"
#include "rams/semaphore.h"
#include "sync_fixture.h"

namespace rams::testing {
namespace {

using namespace std::chrono_literals;

class ThreadsTest : public SyncTest {};

TEST_P(ThreadsTest, MutexCounterIsExact) {
  struct State {
    Mutex mu;
    uint64_t counter = 0;
  };
  State* s = Place<State>(0);
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIterations; ++i) {
        auto r = s->mu.Lock();
        if (!r.ok() || *r != Acquired::kClean) {
          ++errors;
          return;
        }
        ++s->counter;
        s->mu.Unlock();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(s->counter, uint64_t{kThreads} * kIterations);
}

TEST_P(ThreadsTest, ThreadExitingWhileHoldingIsAnOwnerDeath) {
  Mutex* mu = Place<Mutex>(0);
  uint64_t* data = At<uint64_t>(64);
  *data = 0;
  std::thread([&] {
    ASSERT_TRUE(mu->Lock().ok());
    *data = 42;  // then exits holding it
  }).join();
  auto r = mu->Lock(2s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Acquired::kOwnerDied);
  EXPECT_EQ(*data, 42u);
  mu->MarkConsistent();
  mu->Unlock();
}

TEST_P(ThreadsTest, TimedLockBetweenThreads) {
  Mutex* mu = Place<Mutex>(0);
  ASSERT_TRUE(mu->Lock().ok());
  std::thread([&] {
    EXPECT_EQ(mu->Lock(20ms).code(), ETIMEDOUT);
    EXPECT_EQ(mu->TryLock().code(), EBUSY);
  }).join();
  mu->Unlock();
}

TEST_P(ThreadsTest, CondVarHandsOffEveryItem) {
  struct State {
    Mutex mu;
    CondVar changed;
    uint64_t slot = 0;  // 0 = empty; guarded by mu
    uint64_t sum = 0;   // guarded by mu
  };
  State* s = Place<State>(0);
  constexpr uint64_t kItems = 5000;
  constexpr int kConsumers = 3;
  std::vector<std::thread> consumers;
  std::atomic<int> errors{0};
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      for (;;) {
        if (!s->mu.Lock().ok()) {
          ++errors;
          return;
        }
        auto r = s->changed.Wait(s->mu, 50ms, [&] { return s->slot != 0; });
        if (!r.ok()) {
          ++errors;
          return;
        }
        if (r->timed_out) {
          s->mu.Unlock();
          continue;
        }
        uint64_t item = s->slot;
        s->slot = 0;
        bool last = item == ~uint64_t{0};
        if (!last) s->sum += item;
        s->mu.Unlock();
        s->changed.Broadcast();
        if (last) {
          ASSERT_TRUE(s->mu.Lock().ok());
          s->slot = ~uint64_t{0};  // pass the end marker on
          s->mu.Unlock();
          s->changed.Broadcast();
          return;
        }
      }
    });
  }
  for (uint64_t i = 1; i <= kItems + 1; ++i) {
    ASSERT_TRUE(s->mu.Lock().ok());
    auto r = s->changed.Wait(s->mu, std::nullopt, [&] { return s->slot == 0; });
    ASSERT_TRUE(r.ok());
    s->slot = i <= kItems ? i : ~uint64_t{0};
    s->mu.Unlock();
    s->changed.Broadcast();
  }
  for (auto& t : consumers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(s->sum, kItems * (kItems + 1) / 2);
}

TEST_P(ThreadsTest, RwLockKeepsItsInvariant) {
  struct State {
    RwLock rw;
    uint64_t a = 0;  // guarded by rw; equal to b outside a writer
    uint64_t b = 0;
  };
  State* s = Place<State>(0);
  std::atomic<int> violations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3000; ++i) {
        if (!s->rw.LockShared().ok()) {
          ++violations;
          return;
        }
        if (s->a != s->b) ++violations;
        s->rw.UnlockShared();
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 2000; ++i) {
      if (!s->rw.Lock().ok()) {
        ++violations;
        return;
      }
      ++s->a;
      ++s->b;
      s->rw.Unlock();
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(s->a, 2000u);
}

TEST_P(ThreadsTest, SemaphoreHandsUnitsAcross) {
  Semaphore* sem = Place<Semaphore>(0, 0);
  constexpr int kUnits = 5000;
  std::thread consumer([&] {
    for (int i = 0; i < kUnits; ++i) ASSERT_TRUE(sem->Wait().ok());
  });
  for (int i = 0; i < kUnits; ++i) ASSERT_TRUE(sem->Post().ok());
  consumer.join();
  EXPECT_EQ(sem->Value(), 0u);
}

// Members that leave by exiting once the last generation completed are no
// lost members: a waiter still scanning for dead members when the generation
// completes must not break the barrier for its next use. Short slices make
// the waiters scan often; the exits race with their scans.
TEST_P(ThreadsTest, MembersExitingAfterTheLastGenerationLeaveItWhole) {
  constexpr uint32_t kParties = Barrier::kMaxParties;
  constexpr int kTrials = 10;
  const SyncTuning saved = GetSyncTuning();
  SyncTuning quick = saved;
  quick.spin_iterations = 0;
  quick.first_slice = 20us;
  quick.max_slice = 20us;
  SetSyncTuning(quick);
  int broken = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    Barrier* barrier = Place<Barrier>(0, kParties);
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (uint32_t i = 0; i + 1 < kParties; ++i) {
      threads.emplace_back([&] {
        if (!barrier->Wait(10s).ok()) ++errors;
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2 + trial % 5));
    threads.emplace_back([&] {
      if (!barrier->Wait(10s).ok()) ++errors;
    });
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0) << "trial " << trial;
    broken += barrier->Broken() ? 1 : 0;
  }
  SetSyncTuning(saved);
  EXPECT_EQ(broken, 0) << "of " << kTrials << " trials";
}

TEST_P(ThreadsTest, BarrierRounds) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 300;
  Barrier* barrier = Place<Barrier>(0, kThreads);
  uint64_t* cells = At<uint64_t>(4096);  // one per thread, written before each Wait
  std::atomic<int> errors{0};
  std::atomic<int> lasts{0};
  std::vector<std::thread> threads;
  for (int me = 0; me < kThreads; ++me) {
    threads.emplace_back([&, me] {
      for (int round = 1; round <= kRounds; ++round) {
        cells[me] = static_cast<uint64_t>(round);
        auto r = barrier->Wait();
        if (!r.ok()) {
          ++errors;
          return;
        }
        lasts += *r ? 1 : 0;
        for (int o = 0; o < kThreads; ++o) {
          if (cells[o] < static_cast<uint64_t>(round)) ++errors;
        }
        // Nobody writes a cell for the next round until everyone has read.
        if (!barrier->Wait().ok()) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(lasts.load(), kRounds);
  EXPECT_EQ(barrier->Generation(), uint32_t{2 * kRounds});
}

// INT64_MAX ns is "about forever": now() + it used to overflow into the past
// (the C API's waits then timed out after ~0.7 ms). Each wait below must
// still be blocked after 150 ms, and then succeed when released.
TEST_P(ThreadsTest, HugeTimeoutsSaturateInsteadOfExpiring) {
  constexpr int64_t kHuge = INT64_MAX;
  constexpr auto kHuge_ns = std::chrono::nanoseconds(kHuge);
  struct State {
    rams_mutex mu;
    rams_sem sem;
    Mutex cpp_mu;
    CondVar cv;
    Barrier barrier{2};
  };
  State* s = Place<State>(0);
  ASSERT_EQ(rams_mutex_init(&s->mu), 0);
  ASSERT_EQ(rams_sem_init(&s->sem, 0), 0);
  std::atomic<int> done{0};
  ASSERT_EQ(rams_mutex_lock(&s->mu, -1), 0);
  std::vector<std::thread> waiters;
  std::atomic<int> failures{0};
  waiters.emplace_back([&] {
    if (rams_mutex_lock(&s->mu, kHuge) != 0) ++failures;
    ++done;
    if (rams_mutex_unlock(&s->mu) != 0) ++failures;
  });
  waiters.emplace_back([&] {
    if (rams_sem_wait(&s->sem, kHuge) != 0) ++failures;
    ++done;
  });
  waiters.emplace_back([&] {
    if (!s->cpp_mu.Lock().ok()) return void(++failures);
    auto r = s->cv.Wait(s->cpp_mu, kHuge_ns);
    if (!r.ok() || r->timed_out) ++failures;
    ++done;
    if (r.ok()) s->cpp_mu.Unlock();
  });
  waiters.emplace_back([&] {
    auto r = s->barrier.Wait(kHuge_ns);
    if (!r.ok()) ++failures;
    ++done;
  });
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(done.load(), 0) << "a wait with an INT64_MAX timeout returned early";
  EXPECT_EQ(rams_mutex_unlock(&s->mu), 0);
  EXPECT_EQ(rams_sem_post(&s->sem), 0);
  {
    ASSERT_TRUE(s->cpp_mu.Lock().ok());
    s->cv.Signal();
    s->cpp_mu.Unlock();
  }
  auto b = s->barrier.Wait(5s);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(failures.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, ThreadsTest, RAMS_SYNC_BACKENDS);

}  // namespace
}  // namespace rams::testing
