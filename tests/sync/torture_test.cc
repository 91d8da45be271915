// SPDX-License-Identifier: MIT
// The torture test: for each primitive, kill a process (SIGKILL) at a random
// moment while it holds or waits on the primitive, again and again, while two
// survivor processes keep using it. After every kill the survivors must make
// progress within 1 s (zero hangs), a death while holding must be reported
// exactly once (and never a report without a death), and a broken invariant
// of the protected data must only ever be seen together with a death report.
// RAMS_TORTURE_KILLS sets the kills per primitive (default 2,000).
#include <gtest/gtest.h>

#include <sched.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <random>
#include <string>

#include "torture_harness.h"

namespace rams::testing {

void TortureTest::MutexTorture() {
  TortureTest* t = this;
  Data* d = data_;
  Control* c = ctl_;
  auto survivor = [&](int i) {
    while (c->stop.load() == 0) {
      auto r = d->mu.Lock();
      if (!r.ok()) return c->errors.fetch_add(1), 1;
      t->CheckPair(*r, true);
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
      t->CheckPair(*r, true);
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
  t->Run(survivor, victim, [] {});
}

namespace {

using namespace std::chrono_literals;

TEST_P(TortureTest, Mutex) { MutexTorture(); }

// The same without any /proc (a chroot, a minimal sandbox): the liveness
// check must fall back to kill(0)/pidfd, never call a live holder dead (this
// lost 1,207 updates in 300 kills). Runs in a child with a private mount
// namespace whose /proc is unmounted; the mutex is made there. Runs on the
// posix backend and on a remote mapping (whose child maps it again first).
TEST_P(TortureTest, MutexWithoutProc) {
  if (std::string(GetParam()) == "kernel") GTEST_SKIP() << "the posix backend covers it";
  pid_t child = fork();
  if (child == 0) {
    if (ChildBase() == nullptr) _exit(1);  // before /proc goes: the remote mapping is made again
    struct statfs fs;
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      _exit(77);
    }
    while (statfs("/proc", &fs) == 0 && fs.f_type == 0x9fa0) {
      if (umount2("/proc", MNT_DETACH) != 0) _exit(77);
    }
    new (&data_->mu) Mutex();
    kills_ = std::min(kills_, 300);
    MutexTorture();
    _exit(HasFailure() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    GTEST_SKIP() << "cannot unmount /proc in a private mount namespace";
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the torture without /proc failed (status " << status << "; details above)";
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
      if (r.code() != EPIPE) {
        fprintf(stderr, "survivor %d: %s (stop %u, epoch %u of %u)\n", i, r.status().ToString().c_str(),
                c->stop.load(), epoch, c->reset_epoch.load());
        return c->errors.fetch_add(1), 1;
      }
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
