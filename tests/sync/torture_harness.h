/* SPDX-License-Identifier: MIT */
// The torture harness (torture_test.cc has the scenarios): the shared
// counters, the protected data, and the fixture that spawns two survivor
// processes, then kills victim processes one after another at random moments
// and checks the survivors' reaction after each kill.
//
// Thread safety: Control's counters are atomics shared by the test process,
// the survivors and the victims; Data's plain fields are guarded by the
// primitive under test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <random>

#include "rams/barrier.h"
#include "rams/condvar.h"
#include "rams/mutex.h"
#include "rams/rwlock.h"
#include "rams/semaphore.h"
#include "sync_fixture.h"

namespace rams::testing {

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
void Breathe();

// The victim's time inside a critical section: usually a few hundred
// instructions, sometimes long enough for the survivors to park.
void Dawdle(std::minstd_rand& rng);

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
  // Runs kills_ kills: survivors run survivor(0..1), each victim runs
  // victim(seed) until killed; stop() releases blocked survivors at the end.
  // With `barrier`, a kill must break the barrier for both survivors (who
  // count it in broken_seen and wait for reset_epoch) instead of them
  // progressing.
  void Run(const Body& survivor, const Body& victim, const std::function<void()>& stop,
           bool barrier = false);

  // The Mutex scenario (torture_test.cc), also run without /proc.
  void MutexTorture();

  Control* ctl_ = nullptr;
  Data* data_ = nullptr;
  int kills_ = 0;
  uint32_t seed_ = 0;
};

}  // namespace rams::testing
