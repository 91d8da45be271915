// SPDX-License-Identifier: MIT
// Threads for blocking operations.
#include "blocking_pool.h"

namespace ramsd {

BlockingPool::~BlockingPool() {
  std::vector<std::thread> threads;
  {
    rams::sys::LocalMutexLock l(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.NotifyAll();
  for (std::thread& t : threads) t.join();
}

bool BlockingPool::Submit(std::function<void()> job) {
  rams::sys::LocalMutexLock l(mu_);
  JoinExited();
  if (stopping_ || busy_ >= max_threads_) return false;
  ++busy_;
  queue_.push_back(std::move(job));
  if (idle_ >= queue_.size()) {  // an idle thread for every queued job
    cv_.NotifyOne();
  } else {
    threads_.emplace_back([this] { Worker(); });
  }
  return true;
}

void BlockingPool::JoinExited() {
  for (std::thread::id id : exited_) {
    for (auto it = threads_.begin(); it != threads_.end(); ++it) {
      if (it->get_id() != id) continue;
      it->join();
      threads_.erase(it);
      break;
    }
  }
  exited_.clear();
}

void BlockingPool::Worker() {
  mu_.Lock();
  for (;;) {
    ++idle_;
    const auto deadline = std::chrono::steady_clock::now() + idle_linger_;
    // Until there is work, or idle_linger_ passes without any.
    while (!stopping_ && queue_.empty() && cv_.WaitUntil(mu_, deadline)) {
    }
    const bool woken = stopping_ || !queue_.empty();
    if (!woken && idle_ > kKeepIdle) {
      --idle_;
      exited_.push_back(std::this_thread::get_id());
      mu_.Unlock();  // only the return is left, so a successor may join this thread under mu_
      return;
    }
    --idle_;
    if (!woken) continue;
    if (queue_.empty()) break;  // stopping, nothing left to run
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    job();
    job = nullptr;  // destroy captures outside the lock
    mu_.Lock();
    --busy_;
  }
  mu_.Unlock();
}

}  // namespace ramsd
