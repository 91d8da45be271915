/* SPDX-License-Identifier: MIT */
// BlockingPool: threads for the operations ramsd must not run on its event
// loop because they block — a WAIT parked on the home host, a LOCK waiting for
// a holder. Each job runs on its own pool thread (idle threads are reused);
// there are at most `max_threads` jobs at once, beyond which Submit refuses.
// After a burst the pool shrinks back: a thread idle for `idle_linger`
// (kIdleLinger in ramsd) exits while more than kKeepIdle threads are idle
// (its successor joins it).
//
// Thread safety: Submit and the destructor may be called from any thread; the
// destructor waits for running jobs, which must observe their cancel flags.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "sys/local_mutex.h"

namespace ramsd {

class BlockingPool {
 public:
  static constexpr size_t kKeepIdle = 4;
  static constexpr std::chrono::seconds kIdleLinger{10};

  explicit BlockingPool(size_t max_threads,
                        std::chrono::steady_clock::duration idle_linger = kIdleLinger)
      : max_threads_(max_threads), idle_linger_(idle_linger) {}
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Runs `job` on a pool thread. False when max_threads jobs are running.
  bool Submit(std::function<void()> job) EXCLUDES(mu_);

 private:
  void Worker() EXCLUDES(mu_);
  // Joins the threads that exited for idleness.
  void JoinExited() REQUIRES(mu_);

  // Constant after construction.
  const size_t max_threads_;
  const std::chrono::steady_clock::duration idle_linger_;

  rams::sys::LocalMutex mu_;
  rams::sys::LocalCondVar cv_;  // a job was queued, or stopping_ was set
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  std::vector<std::thread> threads_ GUARDED_BY(mu_);
  size_t busy_ GUARDED_BY(mu_) = 0;  // jobs queued or running
  size_t idle_ GUARDED_BY(mu_) = 0;  // threads waiting for a job
  std::vector<std::thread::id> exited_ GUARDED_BY(mu_);  // idle threads that returned
  bool stopping_ GUARDED_BY(mu_) = false;
};

}  // namespace ramsd
