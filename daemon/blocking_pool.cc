// Threads for blocking operations.
#include "blocking_pool.h"

namespace ramsd {

BlockingPool::~BlockingPool() {
  std::vector<std::thread> threads;
  {
    std::lock_guard l(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (std::thread& t : threads) t.join();
}

bool BlockingPool::Submit(std::function<void()> job) {
  std::lock_guard l(mu_);
  JoinExited();
  if (stopping_ || busy_ >= max_threads_) return false;
  ++busy_;
  queue_.push_back(std::move(job));
  if (idle_ >= queue_.size()) {  // an idle thread for every queued job
    cv_.notify_one();
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
  std::unique_lock l(mu_);
  for (;;) {
    ++idle_;
    const bool woken = cv_.wait_for(l, kIdleLinger, [this] { return stopping_ || !queue_.empty(); });
    if (!woken && idle_ > kKeepIdle) {
      --idle_;
      exited_.push_back(std::this_thread::get_id());
      return;  // releases mu_; only the return is left, so joining under mu_ is safe
    }
    --idle_;
    if (!woken) continue;
    if (queue_.empty()) return;  // stopping, nothing left to run
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    l.unlock();
    job();
    job = nullptr;  // destroy captures outside the lock
    l.lock();
    --busy_;
  }
}

}  // namespace ramsd
