// SPDX-License-Identifier: MIT
// CondVar across processes: producer/consumer without lost or duplicated
// items, no lost wake-ups, and dead waiters, signalers and mutex holders.
#include "rams/condvar.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>

#include "rams/mutex.h"
#include "sync_fixture.h"

namespace rams::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kProducers = 3;
constexpr int kConsumers = 3;
constexpr int kItemsPerProducer = 2000;
constexpr int kItems = kProducers * kItemsPerProducer;
constexpr int kRing = 16;

struct Queue {
  Mutex mu;
  CondVar not_empty;
  CondVar not_full;
  uint32_t head = 0;  // guarded by mu
  uint32_t tail = 0;  // guarded by mu
  uint32_t ring[kRing] = {};
  uint32_t consumed = 0;  // guarded by mu
  uint32_t turn = 0;      // guarded by mu (ping-pong)
  std::atomic<uint32_t> ready{0};
  // Items consumed, for the parent to watch without the lock (relaxed: only
  // a count that moves, ordered with nothing).
  std::atomic<uint32_t> progress{0};
  uint8_t seen[kItems] = {};  // guarded by mu
};

class CondVarTest : public SharedStateTest<Queue> {
 protected:
  Queue* q() { return shared(); }
  void RunProducersAndConsumers(Timeout wait_timeout);
};

// Each wait may time out; the loops re-check their predicate either way.
int Produce(Queue* q, int producer, Timeout timeout) {
  for (int i = 0; i < kItemsPerProducer; ++i) {
    if (!q->mu.Lock().ok()) return 1;
    while (q->tail - q->head == kRing) {
      auto r = q->not_full.Wait(q->mu, timeout);
      if (!r.ok() || r->lock != Acquired::kClean) return 2;
    }
    q->ring[q->tail % kRing] = static_cast<uint32_t>(producer * kItemsPerProducer + i);
    ++q->tail;
    q->mu.Unlock();
    q->not_empty.Signal();
  }
  return 0;
}

int Consume(Queue* q, Timeout timeout) {
  for (;;) {
    if (!q->mu.Lock().ok()) return 1;
    auto r = q->not_empty.Wait(q->mu, timeout, [q] { return q->tail != q->head || q->consumed == kItems; });
    if (!r.ok() || r->lock != Acquired::kClean) return 2;
    if (r->timed_out) {
      q->mu.Unlock();
      continue;
    }
    if (q->consumed == kItems) {
      q->mu.Unlock();
      q->not_empty.Broadcast();  // the others may be waiting for the end too
      return 0;
    }
    uint32_t item = q->ring[q->head % kRing];
    ++q->head;
    if (item >= kItems) return 3;
    ++q->seen[item];
    ++q->consumed;
    q->progress.fetch_add(1, std::memory_order_relaxed);
    q->mu.Unlock();
    q->not_full.Signal();
  }
}

void CondVarTest::RunProducersAndConsumers(Timeout wait_timeout) {
  Queue* queue = q();
  std::vector<pid_t> children;
  for (int c = 0; c < kConsumers; ++c) {
    children.push_back(ForkChild([=] { return Consume(queue, wait_timeout); }));
  }
  for (int p = 0; p < kProducers; ++p) {
    children.push_back(ForkChild([=] { return Produce(queue, p, wait_timeout); }));
  }
  // A hang is no item consumed for 30 s, not a fixed limit for all of them:
  // under ASan on a loaded host the remote backend's run took over 60 s.
  auto consumed = [queue] { return queue->progress.load(std::memory_order_relaxed); };
  for (pid_t c : children) EXPECT_EQ(WaitChildWhileProgressing(c, consumed, 30s), 0);
  EXPECT_EQ(queue->consumed, static_cast<uint32_t>(kItems));
  int wrong = 0;
  for (uint8_t n : queue->seen) wrong += n != 1;
  EXPECT_EQ(wrong, 0) << "items lost or duplicated";
}

TEST_P(CondVarTest, ProducersAndConsumersLoseAndDuplicateNothing) {
  RunProducersAndConsumers(std::nullopt);
}

TEST_P(CondVarTest, ProducersAndConsumersWithTimeouts) { RunProducersAndConsumers(2ms); }

TEST_P(CondVarTest, NoLostWakeUpInPingPong) {
  // With one-second slices a lost wake-up would show as a one-second wait.
  SyncTuning saved = GetSyncTuning();
  SyncTuning slow = saved;
  slow.max_slice = 1s;
  slow.first_slice = 1s;
  SetSyncTuning(slow);
  Queue* queue = q();
  auto player = [queue](uint32_t me) {
    double worst = 0;
    for (int round = 0; round < 1000; ++round) {
      if (!queue->mu.Lock().ok()) return 1;
      auto start = std::chrono::steady_clock::now();
      while (queue->turn % 2 != me) {
        if (!queue->not_empty.Wait(queue->mu).ok()) return 2;
      }
      worst = std::max(worst, SecondsSince(start));
      ++queue->turn;
      queue->mu.Unlock();
      queue->not_empty.Signal();
    }
    return worst < 0.5 ? 0 : 3;
  };
  pid_t a = ForkChild([&] { return player(0); });
  pid_t b = ForkChild([&] { return player(1); });
  EXPECT_EQ(WaitChild(a, 60s), 0);
  EXPECT_EQ(WaitChild(b, 60s), 0);
  EXPECT_EQ(queue->turn, 2000u);
  SetSyncTuning(saved);
}

TEST_P(CondVarTest, DeadWaiterBlocksNeitherSignalersNorOtherWaiters) {
  Queue* queue = q();
  auto waiter = [queue] {
    if (!queue->mu.Lock().ok()) return 1;
    queue->ready.fetch_add(1);
    auto r = queue->not_empty.Wait(queue->mu, std::nullopt, [queue] { return queue->turn != 0; });
    if (!r.ok() || r->lock != Acquired::kClean || r->timed_out) return 2;
    queue->mu.Unlock();
    return 0;
  };
  pid_t doomed = ForkChild(waiter);
  WaitReady(1);
  pid_t survivor = ForkChild(waiter);
  WaitReady(2);
  usleep(50'000);  // both parked
  kill(doomed, SIGKILL);
  EXPECT_EQ(WaitChild(doomed), 128 + SIGKILL);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(queue->mu.Lock().ok());
  queue->turn = 1;
  queue->mu.Unlock();
  queue->not_empty.Signal();
  queue->not_empty.Signal();
  EXPECT_LT(SecondsSince(start), 0.1);
  EXPECT_EQ(WaitChild(survivor, 5s), 0);
  EXPECT_LT(SecondsSince(start), kDeathNoticedSeconds);
}

TEST_P(CondVarTest, DeadSignalerDoesNotStrandTimedWaiters) {
  Queue* queue = q();
  pid_t signaler = ForkChild([queue] {
    queue->ready.fetch_add(1);
    pause();  // dies without ever signaling
    return 0;
  });
  WaitReady(1);
  ASSERT_TRUE(queue->mu.Lock().ok());
  kill(signaler, SIGKILL);
  auto start = std::chrono::steady_clock::now();
  auto r = queue->not_empty.Wait(queue->mu, 200ms, [queue] { return queue->turn != 0; });
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->lock, Acquired::kClean);
  EXPECT_TRUE(queue->mu.HeldByCaller());
  double s = SecondsSince(start);
  EXPECT_GE(s, 0.199);
  EXPECT_LT(s, 1.0);
  queue->mu.Unlock();
  EXPECT_EQ(WaitChild(signaler), 128 + SIGKILL);
}

TEST_P(CondVarTest, WaitReportsAMutexHolderThatDied) {
  Queue* queue = q();
  pid_t waiter = ForkChild([queue] {
    if (!queue->mu.Lock().ok()) return 1;
    queue->ready.fetch_add(1);
    auto r = queue->not_empty.Wait(queue->mu, std::nullopt, [queue] { return queue->turn != 0; });
    if (!r.ok() || r->lock != Acquired::kOwnerDied) return 2;
    queue->mu.MarkConsistent();
    queue->mu.Unlock();
    return 0;
  });
  WaitReady(1);
  pid_t killer = ForkChild([queue] {
    if (!queue->mu.Lock().ok()) return 1;
    queue->turn = 1;
    queue->not_empty.Signal();
    raise(SIGKILL);  // dies holding the mutex
    return 2;
  });
  EXPECT_EQ(WaitChild(killer), 128 + SIGKILL);
  EXPECT_EQ(WaitChild(waiter, 5s), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, CondVarTest, RAMS_SYNC_BACKENDS);

}  // namespace
}  // namespace rams::testing
