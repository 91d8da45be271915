// SPDX-License-Identifier: MIT
// The alive words (alive.h): a holder's death wakes a parked waiter through
// the kernel's robust-list walk, not at the end of a parking slice.
#include "sync/alive.h"

#include "common/test_util.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <new>
#include <string>
#include <thread>

#include "rams/mutex.h"
#include "rams/rwlock.h"
#include "rams/sync_common.h"
#include "sync/owner.h"

namespace rams::internal {
namespace {

// Why this machine has no alive words (the skip reason), or "".
std::string NoAliveWords() {
  if (access("/dev/shm", W_OK) != 0) return "no writable /dev/shm for the registry";
  if (!rams::testing::KernelKeepsRobustLists()) return rams::testing::kNoRobustLists;
  return "";
}

// Forks a holder that takes the lock with `lock`, publishes its owner id in
// board->holder and waits to be killed; returns once the id is there (or
// after 10 s: the caller's check of board->holder fails then).
template <class B, class Lock>
pid_t ForkHolder(B* board, Lock lock) {
  pid_t holder = fork();
  if (holder == 0) {
    if (!lock()) _exit(1);
    board->holder.store(SelfOwnerId());
    pause();
    _exit(0);
  }
  for (int i = 0; i < 10'000 && board->holder.load() == 0; ++i) usleep(1000);
  return holder;
}

struct Board {
  Mutex mu;
  std::atomic<uint32_t> holder{0};  // the holder's owner id once it holds
};

TEST(AliveTest, HoldersDeathIsANoticeNotASliceRunningOut) {
  if (std::string why = NoAliveWords(); !why.empty()) GTEST_SKIP() << why;
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* b = new (p) Board();
  pid_t holder = ForkHolder(b, [b] { return b->mu.Lock().ok(); });
  const uint32_t owner = b->holder.load();
  ASSERT_NE(owner, 0u);
  const auto& word = reinterpret_cast<const std::atomic<uint32_t>&>(
      *(reinterpret_cast<const uint32_t*>(&b->mu) + 4));
  const uint32_t seen = word.load();
  ASSERT_EQ(seen & kOwnerIdMask, owner);
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    kill(holder, SIGKILL);
  });
  // 30 s: far longer than the test can wait for a slice to run out.
  Park park = ParkWatchingOwner(&word, seen, owner, std::chrono::seconds(30));
  killer.join();
  waitpid(holder, nullptr, 0);
  if (park == Park::kWoken && syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, 0) < 0 &&
      errno == ENOSYS) {
    GTEST_SKIP() << "no futex_waitv (Linux < 5.16): waiters use their slices";
  }
  EXPECT_EQ(park, Park::kOwnerNotice);
  auto r = b->mu.TryLock();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Acquired::kOwnerDied);
  b->mu.MarkConsistent();
  b->mu.Unlock();
  munmap(p, 4096);
}

struct RwBoard {
  RwLock rw;
  std::atomic<uint32_t> holder{0};  // the exclusive holder's owner id once it holds
};

// A RwLock writer or reader parked behind an exclusive holder that dies is
// woken by the holder's alive word: OwnerNoticeCount moves. The slices are
// set to 1 s so that nothing else would end the park before the kill.
void ExpectToldOfDeadWriter(bool shared) {
  if (std::string why = NoAliveWords(); !why.empty()) GTEST_SKIP() << why;
  if (syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, 0) < 0 && errno == ENOSYS) {
    GTEST_SKIP() << "no futex_waitv (Linux < 5.16): waiters use their slices";
  }
  const SyncTuning saved = GetSyncTuning();
  SyncTuning slow = saved;
  slow.first_slice = std::chrono::seconds(1);
  slow.max_slice = std::chrono::seconds(1);
  SetSyncTuning(slow);
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* b = new (p) RwBoard();
  pid_t holder = ForkHolder(b, [b] { return b->rw.Lock().ok(); });
  ASSERT_NE(b->holder.load(), 0u);
  // The RwLock's waiters_ word (after the 16-byte header, writer_, epoch_).
  const auto& waiters = reinterpret_cast<const std::atomic<uint32_t>&>(
      *(reinterpret_cast<const uint32_t*>(&b->rw) + 6));
  const uint64_t notices = OwnerNoticeCount();
  std::thread killer([&] {
    for (int i = 0; i < 30'000 && waiters.load() == 0; ++i) usleep(1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // parked by then
    kill(holder, SIGKILL);
  });
  Result<Acquired> r = shared ? b->rw.LockShared() : b->rw.Lock();
  killer.join();
  waitpid(holder, nullptr, 0);
  SetSyncTuning(saved);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Acquired::kOwnerDied);
  EXPECT_GT(OwnerNoticeCount(), notices) << "recovered by a slice running out, not by the alive word";
  if (shared) {
    EXPECT_TRUE(b->rw.CheckedUnlockShared().ok());
  } else {
    EXPECT_TRUE(b->rw.CheckedUnlock().ok());
  }
  munmap(p, 4096);
}

TEST(AliveTest, RwLockWriterIsToldOfADeadExclusiveHolder) { ExpectToldOfDeadWriter(/*shared=*/false); }

TEST(AliveTest, RwLockReaderIsToldOfADeadExclusiveHolder) { ExpectToldOfDeadWriter(/*shared=*/true); }

// An owner without a registration (none, or no robust lists to keep one
// true): the park is an ordinary futex wait that runs out.
TEST(AliveTest, WithoutAnAliveWordTheParkIsAPlainWait) {
  std::atomic<uint32_t> word{7};
  const uint32_t nobody = MakeOwnerId(kOwnerTidMask, 1, 1);  // no thread has this tid
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ParkWatchingOwner(&word, 7, nobody, std::chrono::milliseconds(50)), Park::kRanOut);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  // A changed word does not park at all.
  EXPECT_EQ(ParkWatchingOwner(&word, 8, nobody, std::chrono::seconds(30)), Park::kWoken);
}

}  // namespace
}  // namespace rams::internal
