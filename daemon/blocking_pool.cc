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

void BlockingPool::Worker() {
  mu_.Lock();
  for (;;) {
    ++idle_;
    while (!stopping_ && queue_.empty()) cv_.Wait(mu_);
    --idle_;
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
