// SPDX-License-Identifier: MIT
// RwLock across processes: the reader/writer invariant, and dead readers and
// writers released and reported.
#include "rams/rwlock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>

#include "sync_fixture.h"

namespace rams::testing {
namespace {

using namespace std::chrono_literals;

struct RwShared {
  RwLock rw;
  std::atomic<uint32_t> readers_inside{0};
  std::atomic<uint32_t> writers_inside{0};
  std::atomic<uint32_t> violations{0};
  std::atomic<uint32_t> max_readers{0};
  std::atomic<uint32_t> ready{0};
  uint64_t a = 0;  // guarded by rw; a == b outside a writer
  uint64_t b = 0;
};

class RwLockTest : public SharedStateTest<RwShared> {
};

int Reader(RwShared* s, int iterations) {
  for (int i = 0; i < iterations; ++i) {
    auto r = s->rw.LockShared();
    if (!r.ok() || *r != Acquired::kClean) return 1;
    uint32_t n = s->readers_inside.fetch_add(1) + 1;
    uint32_t m = s->max_readers.load();
    while (n > m && !s->max_readers.compare_exchange_weak(m, n)) {
    }
    if (s->writers_inside.load() != 0 || s->a != s->b) s->violations.fetch_add(1);
    if (i % 16 == 0) sched_yield();
    s->readers_inside.fetch_sub(1);
    s->rw.UnlockShared();
  }
  return 0;
}

int Writer(RwShared* s, int iterations) {
  for (int i = 0; i < iterations; ++i) {
    auto r = s->rw.Lock();
    if (!r.ok() || *r != Acquired::kClean) return 1;
    if (s->writers_inside.fetch_add(1) != 0 || s->readers_inside.load() != 0) {
      s->violations.fetch_add(1);
    }
    ++s->a;
    if (i % 16 == 0) sched_yield();
    ++s->b;
    s->writers_inside.fetch_sub(1);
    s->rw.Unlock();
  }
  return 0;
}

TEST_P(RwLockTest, ReadersShareWritersExclude) {
  RwShared* s = shared();
  std::vector<pid_t> children;
  for (int i = 0; i < 6; ++i) children.push_back(ForkChild([s] { return Reader(s, 3000); }));
  for (int i = 0; i < 3; ++i) children.push_back(ForkChild([s] { return Writer(s, 1000); }));
  for (pid_t c : children) EXPECT_EQ(WaitChild(c, 60s), 0);
  EXPECT_EQ(s->violations.load(), 0u);
  EXPECT_EQ(s->a, 3000u);
  EXPECT_EQ(s->b, 3000u);
}

TEST_P(RwLockTest, SharedHoldsCoexistAndExcludeWriters) {
  RwLock& rw = shared()->rw;
  ASSERT_TRUE(rw.LockShared().ok());
  EXPECT_EQ(rw.Lock().code(), EDEADLK);
  pid_t child = ForkChild([&] {
    auto r = rw.TryLockShared();
    if (!r.ok()) return 1;
    if (rw.TryLock().code() != EDEADLK) return 2;
    rw.UnlockShared();
    if (rw.TryLock().code() != EBUSY) return 3;
    if (rw.Lock(50ms).code() != ETIMEDOUT) return 4;
    return 0;
  });
  EXPECT_EQ(WaitChild(child), 0);
  rw.UnlockShared();
  auto w = rw.TryLock();
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(rw.LockShared().code(), EDEADLK);
  child = ForkChild([&] { return rw.TryLockShared().code() == EBUSY ? 0 : 1; });
  EXPECT_EQ(WaitChild(child), 0);
  rw.Unlock();
}

TEST_P(RwLockTest, AWriterThatTimesOutLetsReadersIn) {
  RwShared* s = shared();
  ASSERT_TRUE(s->rw.LockShared().ok());
  pid_t writer = ForkChild([s] { return s->rw.Lock(100ms).code() == ETIMEDOUT ? 0 : 1; });
  EXPECT_EQ(WaitChild(writer), 0);
  pid_t reader = ForkChild([s] {
    auto r = s->rw.LockShared(1s);
    if (!r.ok()) return 1;
    s->rw.UnlockShared();
    return 0;
  });
  EXPECT_EQ(WaitChild(reader), 0);
  s->rw.UnlockShared();
}

TEST_P(RwLockTest, DeadReaderIsReleasedAndReported) {
  RwShared* s = shared();
  ASSERT_EQ(WaitChild(ForkChild([s] { return s->rw.LockShared().ok() ? 0 : 1; })), 0);
  auto start = std::chrono::steady_clock::now();
  auto r = s->rw.Lock(2s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Acquired::kReaderDied);
  EXPECT_LT(SecondsSince(start), kDeathNoticedSeconds);
  s->rw.Unlock();
  r = s->rw.Lock();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Acquired::kClean);
  s->rw.Unlock();
}

TEST_P(RwLockTest, DeadWriterIsReportedToReadersUntilAWriterRepairs) {
  RwShared* s = shared();
  pid_t holder = ForkChild([s] {
    if (!s->rw.Lock().ok()) return 1;
    s->ready.fetch_add(1);
    pause();
    return 2;
  });
  WaitReady(1);
  std::vector<pid_t> readers;
  for (int i = 0; i < 3; ++i) {
    readers.push_back(ForkChild([s] {
      s->ready.fetch_add(1);
      auto r = s->rw.LockShared();
      if (!r.ok()) return 3;
      s->rw.UnlockShared();
      return *r == Acquired::kOwnerDied ? 1 : 0;
    }));
  }
  WaitReady(4);
  usleep(200'000);
  auto start = std::chrono::steady_clock::now();
  kill(holder, SIGKILL);
  EXPECT_EQ(WaitChild(holder), 128 + SIGKILL);
  int reports = 0;
  for (pid_t r : readers) {
    int code = WaitChild(r, 5s);
    EXPECT_TRUE(code == 0 || code == 1) << code;
    reports += code == 1;
  }
  EXPECT_LT(SecondsSince(start), kDeathNoticedSeconds);
  EXPECT_EQ(reports, 3);  // readers cannot repair: each is told
  // The next exclusive acquirer is told last; then it is clean again.
  auto w = s->rw.Lock(1s);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, Acquired::kOwnerDied);
  s->rw.Unlock();
  auto r = s->rw.LockShared(1s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Acquired::kClean);
  s->rw.UnlockShared();
}

INSTANTIATE_TEST_SUITE_P(Backends, RwLockTest, RAMS_SYNC_BACKENDS);

}  // namespace
}  // namespace rams::testing
