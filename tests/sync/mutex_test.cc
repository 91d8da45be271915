// SPDX-License-Identifier: MIT
// Mutex across processes: exclusion, timeouts, and what happens when a holder
// dies (owner-dead report, consistency, not-recoverable).
#include "rams/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "sync_fixture.h"

namespace rams::testing {
namespace {

using namespace std::chrono_literals;

// What the test process shares with its children.
struct MutexShared {
  Mutex mu;
  uint64_t counter = 0;
  uint32_t inside = 0;       // threads inside the critical section
  uint32_t violations = 0;   // times more than one was inside
  std::atomic<uint32_t> ready{0};
  std::atomic<uint32_t> done{0};
};

class MutexTest : public SharedStateTest<MutexShared> {
};

TEST_P(MutexTest, LockTryLockUnlock) {
  Mutex& mu = shared()->mu;
  auto r = mu.Lock();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Acquired::kClean);
  EXPECT_TRUE(mu.HeldByCaller());
  EXPECT_EQ(mu.TryLock().code(), EBUSY);
  EXPECT_EQ(mu.Lock().code(), EDEADLK);
  pid_t child = ForkChild([&] { return mu.TryLock().code() == EBUSY ? 0 : 1; });
  EXPECT_EQ(WaitChild(child), 0);
  mu.Unlock();
  child = ForkChild([&] {
    auto t = mu.TryLock();
    if (!t.ok() || *t != Acquired::kClean) return 1;
    mu.Unlock();
    return 0;
  });
  EXPECT_EQ(WaitChild(child), 0);
  EXPECT_FALSE(mu.HeldByCaller());
}

TEST_P(MutexTest, AttachChecksTheLayout) {
  EXPECT_TRUE(Mutex::Attach(&shared()->mu).ok());
  EXPECT_EQ(Mutex::Attach(base_ + 4096).code(), EINVAL);  // zeroes: never initialized
}

TEST_P(MutexTest, TimedLockTimesOutWhileALiveHolderKeepsIt) {
  Mutex& mu = shared()->mu;
  ASSERT_TRUE(mu.Lock().ok());
  pid_t child = ForkChild([&] {
    auto start = std::chrono::steady_clock::now();
    auto r = mu.Lock(150ms);
    double s = SecondsSince(start);
    if (r.code() != ETIMEDOUT) return 1;
    return s >= 0.149 && s < 1.0 ? 0 : 2;
  });
  EXPECT_EQ(WaitChild(child), 0);
  mu.Unlock();
}

TEST_P(MutexTest, TwentyProcessesExcludeEachOther) {
  constexpr int kProcesses = 20;
  constexpr int kIterations = 1000;
  MutexShared* s = shared();
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    children.push_back(ForkChild([s] {
      s->ready.fetch_add(1);
      while (s->done.load() == 0) sched_yield();  // start together
      for (int i = 0; i < kIterations; ++i) {
        auto r = s->mu.Lock();
        if (!r.ok() || *r != Acquired::kClean) return 1;
        if (++s->inside != 1) ++s->violations;
        uint64_t c = s->counter;
        if (i % 64 == 0) sched_yield();  // widen the window for a broken lock
        s->counter = c + 1;
        --s->inside;
        s->mu.Unlock();
      }
      return 0;
    }));
  }
  WaitReady(kProcesses);
  s->done.store(1);
  for (pid_t c : children) EXPECT_EQ(WaitChild(c, 120s), 0);
  EXPECT_EQ(s->counter, uint64_t{kProcesses} * kIterations);
  EXPECT_EQ(s->violations, 0u);
}

TEST_P(MutexTest, DeadOwnerIsReportedAndRecovered) {
  Mutex& mu = shared()->mu;
  pid_t child = ForkChild([&] { return mu.Lock().ok() ? 0 : 1; });  // exits holding it
  ASSERT_EQ(WaitChild(child), 0);
  auto start = std::chrono::steady_clock::now();
  auto r = mu.Lock();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Acquired::kOwnerDied);
  EXPECT_LT(SecondsSince(start), kDeathNoticedSeconds);
  mu.MarkConsistent();
  mu.Unlock();
  r = mu.Lock();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Acquired::kClean);
  mu.Unlock();
}

TEST_P(MutexTest, TryLockReportsADeadOwner) {
  Mutex& mu = shared()->mu;
  pid_t child = ForkChild([&] {
    if (!mu.Lock().ok()) return 1;
    raise(SIGKILL);
    return 2;
  });
  ASSERT_EQ(WaitChild(child), 128 + SIGKILL);
  auto r = mu.TryLock();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Acquired::kOwnerDied);
  mu.MarkConsistent();
  mu.Unlock();
}

TEST_P(MutexTest, DeadOwnerIsSeenWhileZombie) {
  MutexShared* s = shared();
  pid_t child = ForkChild([s] {
    if (!s->mu.Lock().ok()) return 1;
    s->ready.fetch_add(1);
    raise(SIGKILL);
    return 2;
  });
  WaitReady(1);
  // Not reaped yet: the child is a zombie (or about to be) while we lock.
  auto r = s->mu.Lock(2s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Acquired::kOwnerDied);
  s->mu.MarkConsistent();
  s->mu.Unlock();
  EXPECT_EQ(WaitChild(child), 128 + SIGKILL);
}

TEST_P(MutexTest, UnlockWithoutConsistentMakesItNotRecoverable) {
  Mutex& mu = shared()->mu;
  pid_t child = ForkChild([&] { return mu.Lock().ok() ? 0 : 1; });
  ASSERT_EQ(WaitChild(child), 0);
  auto r = mu.Lock();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(*r, Acquired::kOwnerDied);
  mu.Unlock();
  EXPECT_TRUE(mu.NotRecoverable());
  EXPECT_EQ(mu.Lock().code(), ENOTRECOVERABLE);
  EXPECT_EQ(mu.TryLock().code(), ENOTRECOVERABLE);
  child = ForkChild([&] { return mu.Lock(1s).code() == ENOTRECOVERABLE ? 0 : 1; });
  EXPECT_EQ(WaitChild(child), 0);
}

TEST_P(MutexTest, OwnerDiedIsReportedAgainWhenTheRepairerDies) {
  Mutex& mu = shared()->mu;
  ASSERT_EQ(WaitChild(ForkChild([&] { return mu.Lock().ok() ? 0 : 1; })), 0);
  // The second holder gets owner-died and dies before MarkConsistent.
  ASSERT_EQ(WaitChild(ForkChild([&] {
              auto r = mu.Lock();
              return r.ok() && *r == Acquired::kOwnerDied ? 0 : 1;
            })),
            0);
  auto r = mu.Lock();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Acquired::kOwnerDied);
  mu.MarkConsistent();
  mu.Unlock();
}

TEST_P(MutexTest, ParkedWaitersProceedWithinASecondOfTheHolderDeath) {
  constexpr int kWaiters = 4;
  MutexShared* s = shared();
  pid_t holder = ForkChild([s] {
    if (!s->mu.Lock().ok()) return 1;
    s->ready.fetch_add(1);
    pause();
    return 2;
  });
  WaitReady(1);
  std::vector<pid_t> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(ForkChild([s] {
      s->ready.fetch_add(1);
      auto r = s->mu.Lock();
      if (!r.ok()) return 3;
      int code = 0;
      if (*r == Acquired::kOwnerDied) {
        code = 1;
        s->mu.MarkConsistent();
      }
      s->mu.Unlock();
      return code;
    }));
  }
  WaitReady(1 + kWaiters);
  usleep(300'000);  // let them park and their slices grow
  auto start = std::chrono::steady_clock::now();
  kill(holder, SIGKILL);
  EXPECT_EQ(WaitChild(holder), 128 + SIGKILL);
  int died_reports = 0;
  for (pid_t w : waiters) {
    int code = WaitChild(w, 5s);
    EXPECT_TRUE(code == 0 || code == 1) << code;
    died_reports += code == 1;
  }
  EXPECT_LT(SecondsSince(start), kDeathNoticedSeconds);
  EXPECT_EQ(died_reports, 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, MutexTest, RAMS_SYNC_BACKENDS);

}  // namespace
}  // namespace rams::testing
