// SPDX-License-Identifier: MIT
// Range locks with write leases, between two handles of one process and
// between processes (including a holder killed with SIGKILL).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/test_util.h"

namespace rams {
namespace {

using namespace std::chrono_literals;
using testing::BackendTest;
using testing::ForkChild;
using testing::WaitChild;

class SegmentLockTest : public BackendTest {
 protected:
  Segment Other(const Segment& seg) {
    auto other = Segment::Open(seg.name(), {}, backend_);
    EXPECT_TRUE(other.ok()) << other.status().ToString();
    return std::move(*other);
  }
};

std::vector<std::byte> Fill(size_t n, uint8_t v) { return std::vector<std::byte>(n, std::byte{v}); }

TEST_P(SegmentLockTest, OthersWritesIntoALockedRangeFailWithEbusy) {
  Segment a = MakeSegment("lk", 4096);
  Segment b = Other(a);
  auto lock = a.Lock(100, 100);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_FALSE(lock->holder_gone());  // nobody to wait for
  EXPECT_EQ(b.Write(150, Fill(10, 2)).code(), EBUSY);
  EXPECT_EQ(b.Write(50, Fill(51, 2)).code(), EBUSY);   // overlaps the first byte
  EXPECT_EQ(b.Write(199, Fill(1, 2)).code(), EBUSY);   // the last byte
  EXPECT_TRUE(b.Write(200, Fill(10, 2)).ok());         // just after
  EXPECT_TRUE(b.Write(90, Fill(10, 2)).ok());          // just before
  EXPECT_TRUE(a.Write(150, Fill(10, 1)).ok());         // the holder may write
  // A refused write changed nothing.
  std::vector<std::byte> out(10);
  ASSERT_TRUE(b.Read(150, out).ok());
  EXPECT_EQ(out, Fill(10, 1));
  // Reads are never refused.
  EXPECT_TRUE(b.Read(100, out).ok());
  ASSERT_TRUE(lock->Unlock().ok());
  EXPECT_TRUE(b.Write(150, Fill(10, 2)).ok());
}

TEST_P(SegmentLockTest, LeaseEndsAfterTheNthWrite) {
  Segment a = MakeSegment("lease", 4096);
  Segment b = Other(a);
  LockOptions opts;
  opts.writes = 3;
  auto lock = b.Lock(0, 4096, opts);
  ASSERT_TRUE(lock.ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a.Write(0, Fill(4, 9)).code(), EBUSY) << "before write " << i;
    EXPECT_TRUE(*lock->Held());
    ASSERT_TRUE(b.Write(uint64_t(i) * 8, Fill(8, uint8_t(i + 1))).ok());
  }
  EXPECT_FALSE(*lock->Held());
  EXPECT_TRUE(a.Write(0, Fill(4, 9)).ok());
  EXPECT_EQ(lock->Unlock().code(), ENOENT);
  // Writes outside the locked range do not use up the lease.
  auto partial = b.Lock(1000, 10, opts);
  ASSERT_TRUE(partial.ok());
  ASSERT_TRUE(b.Write(0, Fill(4, 1)).ok());
  EXPECT_TRUE(*partial->Held());
}

TEST_P(SegmentLockTest, NonBlockingAndTimedLockReportTheHolder) {
  Segment a = MakeSegment("lknb", 4096);
  Segment b = Other(a);
  auto held = a.Lock(0, 64);
  ASSERT_TRUE(held.ok());
  LockOptions now;
  now.timeout = 0ns;
  EXPECT_EQ(b.Lock(32, 64, now).code(), EWOULDBLOCK);
  LockOptions soon;
  soon.timeout = 30ms;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(b.Lock(0, 1, soon).code(), ETIMEDOUT);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  EXPECT_TRUE(b.Lock(64, 64, now).ok());                    // disjoint
  EXPECT_EQ(a.Lock(10, 10, now).code(), EDEADLK);           // own overlap
}

TEST_P(SegmentLockTest, BlockedLockProceedsOnUnlock) {
  Segment a = MakeSegment("lkblk", 4096);
  Segment b = Other(a);
  auto held = a.Lock(0, 4096);
  ASSERT_TRUE(held.ok());
  std::thread releaser([&] {
    std::this_thread::sleep_for(30ms);
    ASSERT_TRUE(held->Unlock().ok());
  });
  LockOptions opts;
  opts.timeout = 10s;
  auto got = b.Lock(0, 4096, opts);
  releaser.join();
  EXPECT_TRUE(got.ok()) << got.status().ToString();
}

TEST_P(SegmentLockTest, ClosingTheHandleReleasesItsLocks) {
  Segment a = MakeSegment("lkclose", 4096);
  {
    Segment b = Other(a);
    auto lock = b.Lock(0, 10);
    ASSERT_TRUE(lock.ok());
    lock->Detach();
    EXPECT_EQ(a.Write(0, Fill(1, 1)).code(), EBUSY);
    EXPECT_EQ(a.Stat()->locks_held, 1u);
  }
  EXPECT_TRUE(a.Write(0, Fill(1, 1)).ok());
  EXPECT_EQ(a.Stat()->locks_held, 0u);
}

TEST_P(SegmentLockTest, KilledHolderReleasesTheLock) {
  Segment a = MakeSegment("lkkill", 4096);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t holder = ForkChild([&] {
    auto seg = Segment::Open(a.name(), {}, backend_);
    if (!seg.ok()) return 2;
    auto lock = seg->Lock(0, 4096);
    if (!lock.ok()) return 3;
    char c = 'x';
    if (write(ready[1], &c, 1) != 1) return 4;
    for (;;) pause();
  });
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  close(ready[1]);
  EXPECT_EQ(a.Write(0, Fill(4, 1)).code(), EBUSY);
  // A blocked locker is released when the holder dies, without waiting
  // for its timeout.
  std::thread killer([&] {
    std::this_thread::sleep_for(50ms);
    kill(holder, SIGKILL);
  });
  LockOptions opts;
  opts.timeout = 20s;
  auto t0 = std::chrono::steady_clock::now();
  auto lock = a.Lock(0, 4096, opts);
  killer.join();
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(WaitChild(holder), 128 + SIGKILL);
  // The kernel backend tells that the holder died holding it (the posix one cannot).
  if (GetParam() == "kernel") {
    EXPECT_TRUE(lock->holder_gone());
  }
  ASSERT_TRUE(lock->Unlock().ok());
  EXPECT_TRUE(a.Write(0, Fill(4, 1)).ok());
}

TEST_P(SegmentLockTest, SeedSequenceAcrossTwoProcesses) {
  Segment p1 = MakeSegment("seed", 4096);
  std::vector<int32_t> first(100);
  for (int i = 0; i < 100; ++i) first[i] = i;
  ASSERT_TRUE(p1.Write(0, std::as_bytes(std::span(first))).ok());
  auto hold = p1.Lock(0, 400);
  ASSERT_TRUE(hold.ok());
  int go[2], refused[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(refused), 0);
  pid_t p2 = ForkChild([&] {
    auto seg = Segment::Open(p1.name(), {}, backend_);
    if (!seg.ok()) return 2;
    int32_t v = -1;
    if (seg->Write(40, std::as_bytes(std::span(&v, 1))).code() != EBUSY) return 3;
    if (write(refused[1], "r", 1) != 1) return 12;
    char c;
    if (read(go[0], &c, 1) != 1) return 4;  // p1 released its lock
    LockOptions opts;
    opts.writes = 2;
    auto lock = seg->Lock(0, 800, opts);
    if (!lock.ok()) return 5;
    std::vector<int32_t> second(100);
    for (int i = 0; i < 100; ++i) second[i] = 1000 + i;
    if (!seg->Write(400, std::as_bytes(std::span(second)).first(200)).ok()) return 6;
    if (!*lock->Held()) return 7;
    if (!seg->Write(600, std::as_bytes(std::span(second)).subspan(200)).ok()) return 8;
    if (*lock->Held()) return 9;  // released itself after 2 writes
    std::vector<int32_t> all(200);
    if (!seg->Read(0, std::as_writable_bytes(std::span(all))).ok()) return 10;
    for (int i = 0; i < 200; ++i) {
      if (all[i] != (i < 100 ? i : 1000 + i - 100)) return 11;
    }
    return 0;
  });
  char r;
  ASSERT_EQ(read(refused[0], &r, 1), 1);  // p2's write was refused
  ASSERT_TRUE(hold->Unlock().ok());
  ASSERT_EQ(write(go[1], "g", 1), 1);
  EXPECT_EQ(WaitChild(p2), 0);
  for (int fd : {go[0], go[1], refused[0], refused[1]}) close(fd);
}

RAMS_INSTANTIATE_BACKEND_TESTS(SegmentLockTest);

}  // namespace
}  // namespace rams
