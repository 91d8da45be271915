// SPDX-License-Identifier: MIT
// Barrier across processes: generations, and a dead or late member breaking
// it.
#include "rams/barrier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>

#include "sync_fixture.h"

namespace rams::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kParties = 5;
constexpr int kRounds = 200;

struct BarrierShared {
  Barrier barrier{kParties};
  Barrier pair{2};
  std::atomic<uint32_t> round_of[kParties] = {};
  std::atomic<uint32_t> lasts{0};
  std::atomic<uint32_t> violations{0};
  std::atomic<uint32_t> ready{0};
};

class BarrierTest : public SyncTest {
 protected:
  BarrierShared* shared() { return At<BarrierShared>(0); }
  void SetUp() override {
    SyncTest::SetUp();
    if (!IsSkipped() && !HasFatalFailure()) Place<BarrierShared>(0);
  }
};

TEST_P(BarrierTest, GenerationsKeepEveryoneInStep) {
  BarrierShared* s = shared();
  std::vector<pid_t> children;
  for (int me = 0; me < kParties; ++me) {
    children.push_back(ForkChild([s, me] {
      if (!s->barrier.Join().ok()) return 1;
      for (uint32_t round = 1; round <= kRounds; ++round) {
        s->round_of[me].store(round);
        auto r = s->barrier.Wait();
        if (!r.ok()) return 2;
        if (*r) s->lasts.fetch_add(1);
        // Everyone reached this round, and nobody can be past the next one.
        for (auto& other : s->round_of) {
          uint32_t o = other.load();
          if (o < round || o > round + 1) s->violations.fetch_add(1);
        }
      }
      s->barrier.Leave();
      return 0;
    }));
  }
  // A hang is no round for 30 s: the arm64 guest on a loaded host took
  // 0.5 s a round, more than a fixed 60 s allows for the 200.
  auto rounds = [s] {
    uint64_t sum = 0;
    for (auto& r : s->round_of) sum += r.load();
    return sum;
  };
  for (pid_t c : children) EXPECT_EQ(WaitChildWhileProgressing(c, rounds, 30s), 0);
  EXPECT_EQ(s->violations.load(), 0u);
  EXPECT_EQ(s->lasts.load(), uint32_t{kRounds});
  EXPECT_EQ(s->barrier.Generation(), uint32_t{kRounds});
  EXPECT_FALSE(s->barrier.Broken());
}

TEST_P(BarrierTest, DeadMemberBreaksItWithinASecond) {
  BarrierShared* s = shared();
  pid_t doomed = ForkChild([s] {
    if (!s->barrier.Join().ok()) return 1;
    s->ready.fetch_add(1);
    pause();  // never arrives
    return 2;
  });
  std::vector<pid_t> waiters;
  for (int i = 0; i < 2; ++i) {
    waiters.push_back(ForkChild([s] {
      s->ready.fetch_add(1);
      auto r = s->barrier.Wait();
      return r.code() == EPIPE ? 0 : 1;
    }));
  }
  while (s->ready.load() < 3) usleep(100);
  usleep(100'000);
  auto start = std::chrono::steady_clock::now();
  kill(doomed, SIGKILL);
  EXPECT_EQ(WaitChild(doomed), 128 + SIGKILL);
  for (pid_t w : waiters) EXPECT_EQ(WaitChild(w, 5s), 0);
  EXPECT_LT(SecondsSince(start), kDeathNoticedSeconds);
  EXPECT_TRUE(s->barrier.Broken());
  EXPECT_EQ(s->barrier.Wait(1s).code(), EPIPE);
  s->barrier.Leave();  // we joined by waiting; the new parties need the slot
  // Reset frees the dead member's slot; five live parties complete a round.
  s->barrier.Reset();
  EXPECT_FALSE(s->barrier.Broken());
  std::vector<pid_t> parties;
  for (int i = 0; i < kParties; ++i) {
    parties.push_back(ForkChild([s] {
      auto r = s->barrier.Wait(5s);
      return r.ok() ? 0 : 1;
    }));
  }
  for (pid_t p : parties) EXPECT_EQ(WaitChild(p, 10s), 0);
}

TEST_P(BarrierTest, TimeoutBreaksIt) {
  BarrierShared* s = shared();
  pid_t late = ForkChild([s] {
    if (!s->pair.Join().ok()) return 1;
    s->ready.fetch_add(1);
    pause();
    return 2;
  });
  while (s->ready.load() < 1) usleep(100);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s->pair.Wait(100ms).code(), ETIMEDOUT);
  EXPECT_GE(SecondsSince(start), 0.099);
  EXPECT_TRUE(s->pair.Broken());
  EXPECT_EQ(s->pair.Wait(100ms).code(), EPIPE);
  kill(late, SIGKILL);
  EXPECT_EQ(WaitChild(late), 128 + SIGKILL);
}

TEST_P(BarrierTest, JoinIsLimitedToParties) {
  BarrierShared* s = shared();
  ASSERT_TRUE(s->pair.Join().ok());
  ASSERT_TRUE(s->pair.Join().ok());  // idempotent
  EXPECT_EQ(WaitChild(ForkChild([s] { return s->pair.Join().ok() ? 0 : 1; })), 0);
  // The two slots hold us and a dead child.
  EXPECT_EQ(WaitChild(ForkChild([s] { return s->pair.Join().code() == EBUSY ? 0 : 1; })), 0);
  s->pair.Reset();  // frees the dead child's slot
  EXPECT_EQ(WaitChild(ForkChild([s] {
              if (!s->pair.Join().ok()) return 1;
              s->pair.Leave();
              return 0;
            })),
            0);
}

INSTANTIATE_TEST_SUITE_P(Backends, BarrierTest, RAMS_SYNC_BACKENDS);

}  // namespace
}  // namespace rams::testing
