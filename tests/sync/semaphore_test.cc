// SPDX-License-Identifier: MIT
// Semaphore across processes: counts, bounded concurrency, timeouts, and a
// dead waiter that took a wake-up.
#include "rams/semaphore.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>

#include "sync_fixture.h"

namespace rams::testing {
namespace {

using namespace std::chrono_literals;

struct SemShared {
  Semaphore items;
  Semaphore slots{2};
  std::atomic<uint32_t> inside{0};
  std::atomic<uint32_t> max_inside{0};
  std::atomic<uint32_t> taken{0};
  std::atomic<uint32_t> ready{0};
};

class SemaphoreTest : public SyncTest {
 protected:
  SemShared* shared() { return At<SemShared>(0); }
  void SetUp() override {
    SyncTest::SetUp();
    if (!IsSkipped() && !HasFatalFailure()) Place<SemShared>(0);
  }
};

TEST_P(SemaphoreTest, CountsUnits) {
  Semaphore* sem = Place<Semaphore>(4096, 3);
  ASSERT_TRUE(Semaphore::Attach(sem).ok());
  EXPECT_EQ(sem->Value(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(sem->TryWait().ok());
  EXPECT_EQ(sem->TryWait().code(), EAGAIN);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sem->Wait(100ms).code(), ETIMEDOUT);
  EXPECT_GE(SecondsSince(start), 0.099);
  EXPECT_TRUE(sem->Post().ok());
  EXPECT_EQ(sem->Value(), 1u);
  EXPECT_TRUE(sem->Wait(0ms).ok());
  Semaphore* full = Place<Semaphore>(8192, Semaphore::kMaxValue);
  EXPECT_EQ(full->Post().code(), EOVERFLOW);
}

TEST_P(SemaphoreTest, ProducersAndConsumersBalance) {
  SemShared* s = shared();
  constexpr int kPairs = 8;
  constexpr int kUnits = 1000;
  std::vector<pid_t> children;
  for (int i = 0; i < kPairs; ++i) {
    children.push_back(ForkChild([s] {
      for (int u = 0; u < kUnits; ++u) {
        if (!s->items.Wait().ok()) return 1;
        s->taken.fetch_add(1);
      }
      return 0;
    }));
    children.push_back(ForkChild([s] {
      for (int u = 0; u < kUnits; ++u) {
        if (!s->items.Post().ok()) return 1;
        if (u % 32 == 0) sched_yield();
      }
      return 0;
    }));
  }
  for (pid_t c : children) EXPECT_EQ(WaitChild(c, 60s), 0);
  EXPECT_EQ(s->taken.load(), uint32_t{kPairs * kUnits});
  EXPECT_EQ(s->items.Value(), 0u);
}

TEST_P(SemaphoreTest, BoundsConcurrency) {
  SemShared* s = shared();
  std::vector<pid_t> children;
  for (int i = 0; i < 8; ++i) {
    children.push_back(ForkChild([s] {
      for (int u = 0; u < 300; ++u) {
        if (!s->slots.Wait().ok()) return 1;
        uint32_t n = s->inside.fetch_add(1) + 1;
        uint32_t m = s->max_inside.load();
        while (n > m && !s->max_inside.compare_exchange_weak(m, n)) {
        }
        sched_yield();
        s->inside.fetch_sub(1);
        if (!s->slots.Post().ok()) return 2;
      }
      return 0;
    }));
  }
  for (pid_t c : children) EXPECT_EQ(WaitChild(c, 60s), 0);
  EXPECT_LE(s->max_inside.load(), 2u);
  EXPECT_GE(s->max_inside.load(), 1u);
  EXPECT_EQ(s->slots.Value(), 2u);
}

TEST_P(SemaphoreTest, DeadWaiterDoesNotStrandTheOthers) {
  SemShared* s = shared();
  auto waiter = [s] {
    s->ready.fetch_add(1);
    return s->items.Wait(5s).ok() ? 0 : 1;
  };
  pid_t doomed = ForkChild(waiter);
  pid_t survivor = ForkChild(waiter);
  while (s->ready.load() < 2) usleep(100);
  usleep(50'000);
  kill(doomed, SIGKILL);
  EXPECT_EQ(WaitChild(doomed), 128 + SIGKILL);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(s->items.Post().ok());
  EXPECT_EQ(WaitChild(survivor, 5s), 0);
  EXPECT_LT(SecondsSince(start), kDeathNoticedSeconds);
}

INSTANTIATE_TEST_SUITE_P(Backends, SemaphoreTest, RAMS_SYNC_BACKENDS);

}  // namespace
}  // namespace rams::testing
