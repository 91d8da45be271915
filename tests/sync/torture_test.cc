// The torture test: for each primitive, kill a process (SIGKILL) at a random
// moment while it holds or waits on the primitive, again and again, while two
// survivor processes keep using it. After every kill the survivors must make
// progress within 1 s (zero hangs), a death while holding must be reported
// exactly once (and never a report without a death), and a broken invariant
// of the protected data must only ever be seen together with a death report.
// RAMS_TORTURE_KILLS sets the kills per primitive (default 2,000).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <random>

#include "rams/barrier.h"
#include "rams/condvar.h"
#include "rams/mutex.h"
#include "rams/rwlock.h"
#include "rams/semaphore.h"
#include "sync_fixture.h"

namespace rams::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kSurvivors = 2;
enum Holds : uint32_t { kNothing = 0, kExclusive = 1, kShared = 2 };

// Counters in the segment, shared by the test, the survivors and the victim.
struct Control {
  std::atomic<uint32_t> stop{0};
  std::atomic<uint32_t> victim_started{0};
  std::atomic<uint32_t> victim_holds{kNothing};  // final once the victim is dead
  std::atomic<uint64_t> progress[kSurvivors] = {};
  std::atomic<uint32_t> owner_died{0};      // death reports to exclusive acquirers
  std::atomic<uint32_t> reader_died{0};     // RwLock reader-death reports
  std::atomic<uint32_t> flagged_broken{0};  // broken invariant seen with a report
  std::atomic<uint32_t> unflagged_broken{0};
  std::atomic<uint32_t> errors{0};
  std::atomic<uint32_t> broken_seen{0};  // Barrier: EPIPE seen by survivors
  std::atomic<uint32_t> reset_epoch{0};  // Barrier: bumped after each Reset
};

// The protected data: x == y whenever nobody is inside a critical section.
struct Data {
  Mutex mu;
  CondVar not_empty;
  CondVar not_full;
  RwLock rw;
  Semaphore items;
  Barrier barrier{kSurvivors + 1};
  uint64_t x = 0;
  uint64_t y = 0;
  uint32_t tokens = 0;  // CondVar scenario: produced == consumed + tokens
  uint64_t produced = 0;
  uint64_t consumed = 0;
};

// Survivors pause between operations, leaving the two cores to the victim
// and the test often enough for the kills to land at varied moments.
void Breathe() { usleep(30); }

// The victim's time inside a critical section: usually a few hundred
// instructions, sometimes long enough for the survivors to park.
void Dawdle(std::minstd_rand& rng) {
  for (uint32_t i = rng() % 200; i > 0; --i) std::atomic_signal_fence(std::memory_order_seq_cst);
  if (rng() % 4 == 0) usleep(rng() % 200);
}

class TortureTest : public SyncTest {
 protected:
  void SetUp() override {
    SyncTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ctl_ = Place<Control>(0);
    data_ = Place<Data>(4096);
    const char* env = getenv("RAMS_TORTURE_KILLS");
    kills_ = env != nullptr ? atoi(env) : 2000;
    seed_ = static_cast<uint32_t>(getpid()) * 2654435761u ^
            static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    RecordProperty("seed", std::to_string(seed_));
  }

  // The protected pair after acquiring with `how`: repairs and counts.
  void CheckPair(Acquired how, bool count_report) {
    if (how == Acquired::kOwnerDied && count_report) ctl_->owner_died.fetch_add(1);
    if (how == Acquired::kReaderDied) ctl_->reader_died.fetch_add(1);
    if (data_->x != data_->y) {
      (how == Acquired::kOwnerDied ? ctl_->flagged_broken : ctl_->unflagged_broken).fetch_add(1);
    }
  }

  using Body = std::function<int(int)>;
  // Runs the scenario; `after_kill` checks the survivors' reaction.
  void Run(const Body& survivor, const Body& victim, const std::function<void()>& stop,
           bool barrier = false);

  Control* ctl_ = nullptr;
  Data* data_ = nullptr;
  int kills_ = 0;
  uint32_t seed_ = 0;
};

void TortureTest::Run(const Body& survivor, const Body& victim,
                      const std::function<void()>& stop, bool barrier) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::minstd_rand rng(seed_);
  std::vector<pid_t> survivors;
  for (int i = 0; i < kSurvivors; ++i) survivors.push_back(Spawn([&, i] { return survivor(i); }));
  int hangs = 0, missed_reports = 0, extra_reports = 0;
  double worst_recovery_s = 0;
  int held = 0;
  for (int k = 0; k < kills_ && hangs == 0; ++k) {
    ctl_->victim_started.store(0);
    ctl_->victim_holds.store(kNothing);
    uint32_t owner_before = ctl_->owner_died.load(), reader_before = ctl_->reader_died.load();
    uint32_t victim_seed = static_cast<uint32_t>(rng());
    pid_t v = Spawn([&] { return victim(static_cast<int>(victim_seed)); });
    auto spawned = std::chrono::steady_clock::now();
    while (ctl_->victim_started.load() == 0 && SecondsSince(spawned) < 5) sched_yield();
    usleep(rng() % 700);
    kill(v, SIGKILL);
    Reap(v);
    uint32_t holds = ctl_->victim_holds.load();
    held += holds != kNothing;
    auto killed = std::chrono::steady_clock::now();
    if (barrier) {
      // Both survivors must see the barrier broken, then we reset it.
      uint32_t want = static_cast<uint32_t>(kSurvivors * (k + 1));
      while (ctl_->broken_seen.load() < want && SecondsSince(killed) < 1.0) usleep(50);
      if (ctl_->broken_seen.load() < want) ++hangs;
      worst_recovery_s = std::max(worst_recovery_s, SecondsSince(killed));
      data_->barrier.Reset();
      ctl_->reset_epoch.fetch_add(1);
      continue;
    }
    uint64_t before[kSurvivors];
    for (int i = 0; i < kSurvivors; ++i) before[i] = ctl_->progress[i].load();
    auto advanced = [&] {
      for (int i = 0; i < kSurvivors; ++i) {
        if (ctl_->progress[i].load() < before[i] + 2) return false;
      }
      return true;
    };
    while (!advanced() && SecondsSince(killed) < 1.0) usleep(20);
    if (!advanced()) {
      ++hangs;
      break;
    }
    worst_recovery_s = std::max(worst_recovery_s, SecondsSince(killed));
    uint32_t owner_reports = ctl_->owner_died.load() - owner_before;
    uint32_t reader_reports = ctl_->reader_died.load() - reader_before;
    if (holds == kExclusive && owner_reports != 1) ++missed_reports;
    if (holds == kShared && reader_reports != 1) ++missed_reports;
    if (owner_reports > 1 || reader_reports > 1) ++extra_reports;
  }
  ctl_->stop.store(1);
  stop();
  for (pid_t s : survivors) EXPECT_EQ(Reap(s, 10s), 0);
  EXPECT_EQ(hangs, 0) << "survivors made no progress within 1 s of a kill";
  EXPECT_EQ(missed_reports, 0) << "a death while holding was not reported exactly once";
  EXPECT_EQ(extra_reports, 0);
  EXPECT_EQ(ctl_->unflagged_broken.load(), 0u) << "broken invariant without a death report";
  EXPECT_EQ(ctl_->errors.load(), 0u);
  RecordProperty("kills_while_holding", held);
  RecordProperty("worst_recovery_ms", static_cast<int>(worst_recovery_s * 1000));
  printf("%d kills (%d while holding), %u owner-died and %u reader-died reports, %u broken "
         "invariants flagged, worst recovery %.1f ms\n",
         kills_, held, ctl_->owner_died.load(), ctl_->reader_died.load(),
         ctl_->flagged_broken.load(), worst_recovery_s * 1000);
}

TEST_P(TortureTest, Mutex) {
  Data* d = data_;
  Control* c = ctl_;
  auto survivor = [&](int i) {
    while (c->stop.load() == 0) {
      auto r = d->mu.Lock();
      if (!r.ok()) return c->errors.fetch_add(1), 1;
      CheckPair(*r, true);
      d->y = d->x;
      if (*r == Acquired::kOwnerDied) d->mu.MarkConsistent();
      ++d->x;
      ++d->y;
      d->mu.Unlock();
      c->progress[i].fetch_add(1);
      Breathe();
    }
    return 0;
  };
  auto victim = [&](int seed) {
    std::minstd_rand rng(static_cast<uint32_t>(seed));
    c->victim_started.store(1);
    for (;;) {
      auto r = d->mu.Lock();
      if (!r.ok()) return c->errors.fetch_add(1), 1;
      c->victim_holds.store(kExclusive);
      CheckPair(*r, true);
      d->y = d->x;
      if (*r == Acquired::kOwnerDied) d->mu.MarkConsistent();
      ++d->x;
      Dawdle(rng);
      ++d->y;
      c->victim_holds.store(kNothing);
      d->mu.Unlock();
      Dawdle(rng);
    }
  };
  Run(survivor, victim, [] {});
}

TEST_P(TortureTest, CondVar) {
  Data* d = data_;
  Control* c = ctl_;
  // After any acquisition of the mutex: count a report, check and repair
  // produced == consumed + tokens.
  auto check = [c, d](Acquired how) {
    if (how == Acquired::kOwnerDied) c->owner_died.fetch_add(1);
    if (d->produced != d->consumed + d->tokens) {
      (how == Acquired::kOwnerDied ? c->flagged_broken : c->unflagged_broken).fetch_add(1);
      d->consumed = d->produced - d->tokens;
    }
    if (how == Acquired::kOwnerDied) d->mu.MarkConsistent();
  };
  auto lock = [&]() -> bool {
    auto r = d->mu.Lock();
    if (!r.ok()) return c->errors.fetch_add(1), false;
    check(*r);
    return true;
  };
  auto wait = [&](CondVar& cv) -> bool {
    auto r = cv.Wait(d->mu);
    if (!r.ok()) return c->errors.fetch_add(1), false;
    check(r->lock);
    return true;
  };
  // Consumer: takes a token in two steps (the window a kill can break).
  auto consume = [&](bool victim, std::minstd_rand* rng) -> int {
    if (!lock()) return 1;
    if (victim) c->victim_holds.store(kExclusive);
    if (rng != nullptr) Dawdle(*rng);
    while (d->tokens == 0 && c->stop.load() == 0) {
      if (victim) c->victim_holds.store(kNothing);
      if (!wait(d->not_empty)) return 1;
      if (victim) c->victim_holds.store(kExclusive);
    }
    if (d->tokens != 0 && c->stop.load() == 0) {
      --d->tokens;
      if (rng != nullptr) Dawdle(*rng);
      ++d->consumed;
    }
    if (victim) c->victim_holds.store(kNothing);
    d->mu.Unlock();
    d->not_full.Signal();
    return 0;
  };
  auto survivor = [&](int i) {
    while (c->stop.load() == 0) {
      if (i == 0) {  // producer: at most two tokens
        if (!lock()) return 1;
        while (d->tokens >= 2 && c->stop.load() == 0) {
          if (!wait(d->not_full)) return 1;
        }
        ++d->tokens;
        ++d->produced;
        d->mu.Unlock();
        d->not_empty.Signal();
      } else if (consume(false, nullptr) != 0) {
        return 1;
      }
      c->progress[i].fetch_add(1);
      Breathe();
    }
    return 0;
  };
  auto victim = [&](int seed) {
    std::minstd_rand rng(static_cast<uint32_t>(seed));
    c->victim_started.store(1);
    for (;;) {
      if (consume(true, &rng) != 0) return 1;
    }
  };
  auto stop = [&] {
    if (lock()) d->mu.Unlock();
    d->not_empty.Broadcast();
    d->not_full.Broadcast();
  };
  Run(survivor, victim, stop);
}

TEST_P(TortureTest, RwLock) {
  Data* d = data_;
  Control* c = ctl_;
  auto write = [&](bool victim, std::minstd_rand* rng) -> int {
    auto r = d->rw.Lock();
    if (!r.ok()) return c->errors.fetch_add(1), 1;
    if (victim) c->victim_holds.store(kExclusive);
    CheckPair(*r, true);
    d->y = d->x;
    ++d->x;
    if (rng != nullptr) Dawdle(*rng);
    ++d->y;
    if (victim) c->victim_holds.store(kNothing);
    d->rw.Unlock();
    return 0;
  };
  auto read = [&](bool victim, std::minstd_rand* rng) -> int {
    auto r = d->rw.LockShared();
    if (!r.ok()) return c->errors.fetch_add(1), 1;
    if (victim) c->victim_holds.store(kShared);
    // Readers are told of a writer's death until a writer repairs: only the
    // writer's report counts as "the" report.
    CheckPair(*r, false);
    if (rng != nullptr) Dawdle(*rng);
    if (victim) c->victim_holds.store(kNothing);
    d->rw.UnlockShared();
    return 0;
  };
  auto survivor = [&](int i) {
    while (c->stop.load() == 0) {
      if ((i == 0 ? write(false, nullptr) : read(false, nullptr)) != 0) return 1;
      c->progress[i].fetch_add(1);
      Breathe();
    }
    return 0;
  };
  auto victim = [&](int seed) {
    std::minstd_rand rng(static_cast<uint32_t>(seed));
    c->victim_started.store(1);
    for (;;) {
      if ((rng() % 2 == 0 ? write(true, &rng) : read(true, &rng)) != 0) return 1;
      Dawdle(rng);
    }
  };
  Run(survivor, victim, [] {});
}

TEST_P(TortureTest, Semaphore) {
  // No owner, so no report: a dead consumer keeps what it took. What must
  // hold is that the survivors never hang.
  Data* d = data_;
  Control* c = ctl_;
  auto survivor = [&](int i) {
    while (c->stop.load() == 0) {
      if (i == 0) {
        while (d->items.Value() >= 4 && c->stop.load() == 0) usleep(20);
        if (!d->items.Post().ok()) return c->errors.fetch_add(1), 1;
      } else if (!d->items.Wait().ok()) {
        return c->errors.fetch_add(1), 1;
      }
      c->progress[i].fetch_add(1);
      Breathe();
    }
    return 0;
  };
  auto victim = [&](int) {
    c->victim_started.store(1);
    for (;;) {
      if (!d->items.Wait().ok()) return c->errors.fetch_add(1), 1;
    }
  };
  auto stop = [&] {
    for (int i = 0; i < 8; ++i) d->items.Post().IgnoreError();
  };
  Run(survivor, victim, stop);
}

TEST_P(TortureTest, Barrier) {
  Data* d = data_;
  Control* c = ctl_;
  auto survivor = [&](int i) {
    if (!d->barrier.Join().ok()) return c->errors.fetch_add(1), 1;
    while (c->stop.load() == 0) {
      uint32_t epoch = c->reset_epoch.load();
      auto r = d->barrier.Wait(2s);
      if (r.ok()) {
        c->progress[i].fetch_add(1);
        continue;
      }
      if (r.code() != EPIPE) return c->errors.fetch_add(1), 1;
      c->broken_seen.fetch_add(1);  // the death was reported: wait for Reset
      while (c->reset_epoch.load() == epoch && c->stop.load() == 0) usleep(20);
    }
    return 0;
  };
  auto victim = [&](int seed) {
    std::minstd_rand rng(static_cast<uint32_t>(seed));
    if (!d->barrier.Join().ok()) return c->errors.fetch_add(1), 1;
    c->victim_started.store(1);  // a member now: its death must break the barrier
    for (;;) {
      if (!d->barrier.Wait().ok()) return 0;
      Dawdle(rng);
    }
  };
  Run(survivor, victim, [] {}, /*barrier=*/true);
}

INSTANTIATE_TEST_SUITE_P(Backends, TortureTest, RAMS_SYNC_BACKENDS);

}  // namespace
}  // namespace rams::testing
