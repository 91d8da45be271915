// The sync primitives between threads of one process (also run under TSan):
// the same objects in segment memory, with threads instead of processes.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "rams/condvar.h"
#include "rams/mutex.h"
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

INSTANTIATE_TEST_SUITE_P(Backends, ThreadsTest, RAMS_SYNC_BACKENDS);

}  // namespace
}  // namespace rams::testing
