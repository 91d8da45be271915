// SPDX-License-Identifier: MIT
// Owner domains of remote mappings (src/sync/owner_domain.h), in one
// process: memory registered as a mapping of a domain gives the objects
// built in it that domain and host-naming owner ids, and an owner of another
// host is dead exactly when the (here faked) home says its host is gone.
// The same across real simulated hosts: tests/remote/hosts_test.cc.
#include "sync/owner_domain.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <thread>

#include "rams/mutex.h"

namespace rams::internal {
namespace {

constexpr uint64_t kDomain = 0xD0D0'1234'5678'9ABCull;
constexpr uint32_t kOurIndex = 5;
constexpr uint32_t kOtherIndex = 7;

class FakeHome : public HostLiveness {
 public:
  Liveness CheckHost(uint32_t index) override {
    asked.fetch_add(1);
    last_index.store(index);
    return answer.load();
  }
  std::atomic<Liveness> answer{Liveness::kAlive};
  std::atomic<int> asked{0};
  std::atomic<uint32_t> last_index{0};
};

class OwnerDomainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem_, MAP_FAILED);
    ASSERT_TRUE(RegisterOwnerDomain(mem_, kBytes,
                                    OwnerDomain{.domain = kDomain, .host_index = kOurIndex,
                                                .liveness = &home_})
                    .ok());
    registered_ = true;
  }
  void TearDown() override {
    if (registered_) UnregisterOwnerDomain(mem_);
    if (mem_ != MAP_FAILED) munmap(mem_, kBytes);
  }
  Mutex* NewMutex() { return new (mem_) Mutex(); }
  uint32_t& Word() { return *reinterpret_cast<uint32_t*>(static_cast<char*>(mem_) + 16); }
  uint64_t HeaderDomain() {
    uint64_t d;
    std::memcpy(&d, static_cast<char*>(mem_) + 8, sizeof d);
    return d;
  }
  static constexpr size_t kBytes = 4096;
  void* mem_ = MAP_FAILED;
  bool registered_ = false;
  FakeHome home_;
};

TEST_F(OwnerDomainTest, AnObjectInTheMappingTakesItsDomainAndNamesTheHost) {
  Mutex* mu = NewMutex();
  EXPECT_EQ(HeaderDomain(), kDomain);
  ASSERT_TRUE(Mutex::Attach(mem_).ok());
  auto r = mu->Lock();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Acquired::kClean);
  const uint32_t word = AsAtomic(Word()).load();
  EXPECT_EQ(OwnerHostIndex(word), kOurIndex);
  EXPECT_EQ(OwnerTid(word), static_cast<uint32_t>(gettid()));
  EXPECT_TRUE(mu->HeldByCaller());
  EXPECT_TRUE(mu->CheckedUnlock().ok());
  EXPECT_EQ(AsAtomic(Word()).load(), 0u);
  // Outside the mapping an object keeps this process's domain.
  alignas(8) unsigned char local[sizeof(Mutex)];
  new (local) Mutex();
  uint64_t local_domain;
  std::memcpy(&local_domain, local + 8, sizeof local_domain);
  EXPECT_EQ(local_domain, SelfDomain());
  // Without the mapping registered the domain is foreign: EXDEV.
  UnregisterOwnerDomain(mem_);
  registered_ = false;
  EXPECT_EQ(mu->Lock().code(), EXDEV);
  EXPECT_EQ(Mutex::Attach(mem_).code(), EXDEV);
}

TEST_F(OwnerDomainTest, AnotherHostsOwnerIsDeadOnlyWhenTheHomeSaysSo) {
  Mutex* mu = NewMutex();
  const uint32_t other = MakeRemoteOwnerId(kOtherIndex, 4242);
  AsAtomic(Word()).store(other);
  home_.answer = Liveness::kAlive;
  EXPECT_EQ(mu->TryLock().code(), EBUSY);
  EXPECT_EQ(home_.last_index.load(), kOtherIndex);
  home_.answer = Liveness::kUnknown;  // cannot tell: not dead
  EXPECT_EQ(mu->TryLock().code(), EBUSY);
  EXPECT_EQ(mu->Lock(std::chrono::milliseconds(20)).code(), ETIMEDOUT);
  home_.answer = Liveness::kDead;
  auto r = mu->Lock(std::chrono::seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Acquired::kOwnerDied);
  EXPECT_TRUE(mu->CheckedMarkConsistent().ok());
  EXPECT_TRUE(mu->CheckedUnlock().ok());
  EXPECT_EQ(*mu->TryLock(), Acquired::kClean);
  EXPECT_TRUE(mu->CheckedUnlock().ok());
}

TEST_F(OwnerDomainTest, OurOwnHostsOwnerIsCheckedLocallyWithoutTheHome) {
  Mutex* mu = NewMutex();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);  // its tid now names no thread
  AsAtomic(Word()).store(MakeRemoteOwnerId(kOurIndex, static_cast<uint32_t>(child)));
  home_.answer = Liveness::kAlive;  // would keep it held if it were asked
  auto r = mu->TryLock();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Acquired::kOwnerDied);
  EXPECT_EQ(home_.asked.load(), 0);
  EXPECT_TRUE(mu->CheckedMarkConsistent().ok());
  EXPECT_TRUE(mu->CheckedUnlock().ok());
  // A live thread of our host (ourselves, seen from another thread's id
  // space) stays alive.
  AsAtomic(Word()).store(MakeRemoteOwnerId(kOurIndex, static_cast<uint32_t>(getpid())));
  std::thread([&] { EXPECT_EQ(mu->TryLock().code(), EBUSY); }).join();
  AsAtomic(Word()).store(0);
}

TEST_F(OwnerDomainTest, TheFastUnlockDoesNotReleaseAnotherHostsLock) {
  Mutex* mu = NewMutex();
  // Another host's owner whose bits equal our local id: Unlock must see
  // it is not ours (EPERM), not compare bits of another id space.
  const uint32_t local = SelfOwnerId();
  ASSERT_NE(local, 0u);
  AsAtomic(Word()).store(local);
  home_.answer = Liveness::kAlive;
  EXPECT_EQ(mu->CheckedUnlock().code(), OwnerHostIndex(local) == kOurIndex ? 0 : EPERM);
  AsAtomic(Word()).store(0);
}

}  // namespace
}  // namespace rams::internal
