// SPDX-License-Identifier: MIT
// ramsd's BlockingPool (daemon/blocking_pool.h): after a burst of blocking
// jobs, the threads that served it exit again once idle, down to kKeepIdle.
#include "blocking_pool.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace ramsd {
namespace {

using namespace std::chrono_literals;

// The threads of this process, from /proc/self/task.
size_t ThreadCount() {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return 0;
  size_t n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

template <class Done>
bool Eventually(Done done, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Jobs that block until released, as parked WAITs do.
class Gate {
 public:
  void Enter() {
    std::unique_lock<std::mutex> l(mu_);
    ++inside_;
    cv_.notify_all();
    cv_.wait(l, [&] { return open_; });
    --inside_;
    cv_.notify_all();
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool WaitInside(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, 10s, [&] { return inside_ == n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0;
  bool open_ = false;
};

TEST(BlockingPoolTest, ShrinksBackAfterABurst) {
  constexpr int kBurst = 48;
  // A sanitizer may start a thread of its own at the first pthread_create
  // (TSan does): start one before counting, and count once it has left the
  // thread list (a joined thread may still be listed for a moment: slow
  // enough to see under qemu-user).
  std::atomic<bool> go{false};
  std::thread first([&] {
    while (!go.load()) std::this_thread::sleep_for(1ms);
  });
  const size_t with_first = ThreadCount();
  go = true;
  first.join();
  ASSERT_TRUE(Eventually([&] { return ThreadCount() < with_first; }, 5s));
  const size_t before = ThreadCount();
  ASSERT_GT(before, 0u);
  BlockingPool pool(64, 200ms);
  Gate gate;
  for (int i = 0; i < kBurst; ++i) ASSERT_TRUE(pool.Submit([&] { gate.Enter(); }));
  ASSERT_TRUE(gate.WaitInside(kBurst));
  EXPECT_GE(ThreadCount(), before + kBurst);
  gate.Open();
  ASSERT_TRUE(gate.WaitInside(0));
  // Idle for the linger, all but kKeepIdle exit (the last one to exit is
  // joined by the next Submit, but it has already left the thread list).
  EXPECT_TRUE(Eventually([&] { return ThreadCount() <= before + BlockingPool::kKeepIdle; }, 5s))
      << ThreadCount() - before << " pool threads left";
  // And the pool still serves.
  std::atomic<bool> ran{false};
  ASSERT_TRUE(pool.Submit([&] { ran = true; }));
  EXPECT_TRUE(Eventually([&] { return ran.load(); }, 5s));
}

TEST(BlockingPoolTest, RefusesBeyondMaxThreads) {
  BlockingPool pool(4, 200ms);
  Gate gate;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(pool.Submit([&] { gate.Enter(); }));
  ASSERT_TRUE(gate.WaitInside(4));
  EXPECT_FALSE(pool.Submit([] {}));
  gate.Open();
  ASSERT_TRUE(gate.WaitInside(0));
  EXPECT_TRUE(Eventually([&] { return pool.Submit([] {}); }, 5s));
}

}  // namespace
}  // namespace ramsd
