// SPDX-License-Identifier: MIT
// Sync objects on memory a peer scribbles: the checked forms and the C API
// answer with an error, nothing aborts, and nothing reads or writes outside
// the object (a guard page after it turns any such access into a crash).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "rams/barrier.h"
#include "rams/condvar.h"
#include "rams/mutex.h"
#include "rams/rams.h"
#include "rams/rwlock.h"
#include "sync/owner.h"

namespace rams {
namespace {

constexpr size_t kPage = 4096;

// Two pages, the second PROT_NONE; objects are placed to end at the guard.
class HostileMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    void* p = mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    base_ = static_cast<std::byte*>(p);
    ASSERT_EQ(mprotect(base_ + kPage, kPage, PROT_NONE), 0);
  }
  void TearDown() override { munmap(base_, 2 * kPage); }
  template <class T, class... Args>
  T* AtEnd(Args&&... args) {
    return new (base_ + kPage - sizeof(T)) T(std::forward<Args>(args)...);
  }
  // The 32-bit word at byte `offset` of an object, as a peer would write it.
  static void Scribble(void* object, size_t offset, uint32_t value) {
    memcpy(static_cast<std::byte*>(object) + offset, &value, sizeof value);
  }
  static uint32_t Peek(const void* object, size_t offset) {
    uint32_t v;
    memcpy(&v, static_cast<const std::byte*>(object) + offset, sizeof v);
    return v;
  }
  std::byte* base_ = nullptr;
};

constexpr size_t kMutexWord = 16;  // after the SyncHeader (mutex.h)
constexpr uint32_t kDiedBit = 1u << 31;

TEST_F(HostileMemoryTest, MutexTakenFromTheHolderIsAnError) {
  auto* mu = AtEnd<Mutex>();
  ASSERT_TRUE(mu->Lock().ok());
  const uint32_t self = internal::SelfOwnerId();
  Scribble(mu, kMutexWord, self ^ 1);  // a peer names another owner
  EXPECT_EQ(mu->CheckedUnlock().code(), EPERM);
  EXPECT_EQ(mu->CheckedMarkConsistent().code(), EINVAL);
  EXPECT_EQ(rams_mutex_unlock(reinterpret_cast<rams_mutex*>(mu)), -EPERM);
  EXPECT_EQ(rams_mutex_consistent(reinterpret_cast<rams_mutex*>(mu)), -EINVAL);
  Scribble(mu, kMutexWord, self);
  EXPECT_TRUE(mu->CheckedUnlock().ok());
}

// ramsd's abort (issue 12): take a mutex over from a dead owner, then a
// client rewrites the word to our id without the died bit; MarkConsistent
// must refuse, not abort.
TEST_F(HostileMemoryTest, MarkConsistentOnARewrittenWordIsAnError) {
  auto* mu = AtEnd<Mutex>();
  Scribble(mu, kMutexWord, 1u << internal::kOwnerTagShift);  // a dead (tid 0) owner
  auto r = mu->TryLock();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(*r, Acquired::kOwnerDied);
  const uint32_t self = internal::SelfOwnerId();
  ASSERT_NE(Peek(mu, kMutexWord) & kDiedBit, 0u);
  Scribble(mu, kMutexWord, self);
  EXPECT_EQ(mu->CheckedMarkConsistent().code(), EINVAL);
  EXPECT_TRUE(mu->CheckedUnlock().ok());
  EXPECT_FALSE(mu->NotRecoverable());
}

TEST_F(HostileMemoryTest, CondWaitWithoutTheMutexIsAnError) {
  auto* mu = new (base_) Mutex();
  auto* cv = AtEnd<CondVar>();
  EXPECT_EQ(cv->Wait(*mu, std::chrono::milliseconds(1)).code(), EPERM);
  ASSERT_TRUE(mu->Lock().ok());
  Scribble(mu, kMutexWord, 0);  // a peer released it behind our back
  EXPECT_EQ(cv->Wait(*mu, std::chrono::milliseconds(1)).code(), EPERM);
  EXPECT_EQ(rams_cond_wait(reinterpret_cast<rams_cond*>(cv), reinterpret_cast<rams_mutex*>(mu), 0),
            -EPERM);
}

TEST_F(HostileMemoryTest, RwLockTakenFromTheHolderIsAnError) {
  auto* rw = AtEnd<RwLock>();
  ASSERT_TRUE(rw->Lock().ok());
  EXPECT_EQ(rw->CheckedUnlockShared().code(), EPERM);
  EXPECT_EQ(rams_rwlock_rdunlock(reinterpret_cast<rams_rwlock*>(rw)), -EPERM);
  EXPECT_TRUE(rw->CheckedUnlock().ok());
  EXPECT_EQ(rw->CheckedUnlock().code(), EPERM);
  EXPECT_EQ(rams_rwlock_wrunlock(reinterpret_cast<rams_rwlock*>(rw)), -EPERM);
}

constexpr size_t kBarrierParties = 16;  // after the SyncHeader (barrier.h)

// Today Join/Wait/Leave/Reset scan members_ up to a parties_ re-read from
// shared memory: here that walks into the guard page.
TEST_F(HostileMemoryTest, BarrierPartiesRewriteCannotScanPastTheObject) {
  auto* b = AtEnd<Barrier>(2);
  ASSERT_TRUE(Barrier::Attach(b).ok());
  Scribble(b, kBarrierParties, 100'000);
  EXPECT_EQ(b->Join().code(), EINVAL);
  EXPECT_EQ(b->Wait(std::chrono::milliseconds(1)).code(), EINVAL);
  EXPECT_EQ(rams_barrier_wait(reinterpret_cast<rams_barrier*>(b), RAMS_FOREVER), -EINVAL);
  b->Leave();
  b->Reset();
  EXPECT_EQ(Barrier::Attach(b).code(), EINVAL);
  Scribble(b, kBarrierParties, 0);
  EXPECT_EQ(b->Join().code(), EINVAL);
  // Back in range, it works again; 1 party means every Wait is the last.
  Scribble(b, kBarrierParties, 1);
  auto last = b->Wait(std::chrono::seconds(1));
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_TRUE(*last);
}

}  // namespace
}  // namespace rams
