// BlockingPool: threads for the operations ramsd must not run on its event
// loop because they block — a WAIT parked on the home host, a LOCK waiting for
// a holder. Each job runs on its own pool thread (idle threads are reused);
// there are at most `max_threads` jobs at once, beyond which Submit refuses.
// After a burst the pool shrinks back: a thread idle for kIdleLinger exits
// while more than kKeepIdle threads are idle (its successor joins it).
//
// Thread safety: Submit and the destructor may be called from any thread; the
// destructor waits for running jobs, which must observe their cancel flags.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ramsd {

class BlockingPool {
 public:
  static constexpr size_t kKeepIdle = 4;
  static constexpr std::chrono::seconds kIdleLinger{10};

  explicit BlockingPool(size_t max_threads) : max_threads_(max_threads) {}
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Runs `job` on a pool thread. False when max_threads jobs are running.
  bool Submit(std::function<void()> job);

 private:
  void Worker();
  // Joins the threads that exited for idleness. REQUIRES: mu_ held.
  void JoinExited();

  const size_t max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  std::vector<std::thread> threads_;         // guarded by mu_
  size_t busy_ = 0;                          // jobs queued or running; guarded by mu_
  size_t idle_ = 0;                          // threads waiting for a job; guarded by mu_
  std::vector<std::thread::id> exited_;      // idle threads that returned; guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
};

}  // namespace ramsd
