// SPDX-License-Identifier: MIT
// The torture harness: see torture_harness.h.
#include "torture_harness.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace rams::testing {

using namespace std::chrono_literals;

void Breathe() { usleep(30); }

void Dawdle(std::minstd_rand& rng) {
  for (uint32_t i = rng() % 200; i > 0; --i) std::atomic_signal_fence(std::memory_order_seq_cst);
  if (rng() % 4 == 0) usleep(rng() % 200);
}

void TortureTest::Run(const Body& survivor, const Body& victim,
                      const std::function<void()>& stop, bool barrier) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::minstd_rand rng(seed_);
  std::vector<pid_t> survivors;
  for (int i = 0; i < kSurvivors; ++i) survivors.push_back(ForkChild([&, i] { return survivor(i); }));
  int hangs = 0, missed_reports = 0, extra_reports = 0;
  double worst_recovery_s = 0;
  int held = 0;
  for (int k = 0; k < kills_ && hangs == 0; ++k) {
    ctl_->victim_started.store(0);
    ctl_->victim_holds.store(kNothing);
    uint32_t owner_before = ctl_->owner_died.load(), reader_before = ctl_->reader_died.load();
    uint32_t victim_seed = static_cast<uint32_t>(rng());
    pid_t v = ForkChild([&] { return victim(static_cast<int>(victim_seed)); });
    auto spawned = std::chrono::steady_clock::now();
    while (ctl_->victim_started.load() == 0 && SecondsSince(spawned) < 5) sched_yield();
    usleep(rng() % 700);
    kill(v, SIGKILL);
    WaitChild(v);
    uint32_t holds = ctl_->victim_holds.load();
    held += holds != kNothing;
    auto killed = std::chrono::steady_clock::now();
    if (barrier) {
      // Both survivors must see the barrier broken, then we reset it.
      uint32_t want = static_cast<uint32_t>(kSurvivors * (k + 1));
      while (ctl_->broken_seen.load() < want && SecondsSince(killed) < 1.0) usleep(50);
      if (ctl_->broken_seen.load() < want) ++hangs;
      worst_recovery_s = std::max(worst_recovery_s, SecondsSince(killed));
      // After the last kill no victim joins again: the survivors must stop
      // before the reset releases them, or they would wait, two of three
      // parties, until their Waits time out.
      if (k + 1 == kills_ || hangs != 0) ctl_->stop.store(1);
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
  for (pid_t s : survivors) EXPECT_EQ(WaitChild(s, 10s), 0);
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

}  // namespace rams::testing
