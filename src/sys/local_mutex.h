/* SPDX-License-Identifier: MIT */
// LocalMutex, LocalMutexLock and LocalCondVar: std::mutex and
// std::condition_variable for the threads of one process, annotated for
// clang's thread-safety analysis (rams/thread_annotations.h) so that members
// marked GUARDED_BY(mu_) are checked at compile time. libstdc++'s own types
// carry no annotations. Not for segment memory: rams::Mutex is the mutex that
// processes share. ThreadRole is the capability of state that one thread owns
// without a mutex (ramsd's io thread): GUARDED_BY(role) members, and entry
// points that call role.AssertHeld(), which RAMS_CHECKs the thread.
//
// Thread safety: LocalMutex, LocalCondVar and ThreadRole are shared between
// threads (that is what they are for); a LocalMutexLock belongs to the thread
// that made it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "check.h"

#include "rams/thread_annotations.h"

namespace rams::sys {

class CAPABILITY("mutex") LocalMutex {
 public:
  LocalMutex() = default;
  LocalMutex(const LocalMutex&) = delete;
  LocalMutex& operator=(const LocalMutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // Tells the analysis that the caller holds the mutex (checked by nothing).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class LocalCondVar;
  std::mutex mu_;
};

// Holds a LocalMutex for its scope; Unlock/Lock let go of it for a while
// within the scope.
class SCOPED_CAPABILITY LocalMutexLock {
 public:
  explicit LocalMutexLock(LocalMutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~LocalMutexLock() RELEASE() {
    if (held_) mu_.Unlock();
  }
  LocalMutexLock(const LocalMutexLock&) = delete;
  LocalMutexLock& operator=(const LocalMutexLock&) = delete;

  void Unlock() RELEASE() {
    mu_.Unlock();
    held_ = false;
  }
  void Lock() ACQUIRE() {
    mu_.Lock();
    held_ = true;
  }

 private:
  LocalMutex& mu_;
  bool held_ = true;
};

// A condition variable waited on with a held LocalMutex. Waits may return
// spuriously: callers loop on their condition.
class LocalCondVar {
 public:
  void Wait(LocalMutex& mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // False when `deadline` passed.
  template <class Clock, class Duration>
  bool WaitUntil(LocalMutex& mu, std::chrono::time_point<Clock, Duration> deadline) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

// Held by the first thread that asserts it, and by that thread only.
class CAPABILITY("thread role") ThreadRole {
 public:
  void AssertHeld() ASSERT_CAPABILITY(this) {
    std::thread::id none;
    const std::thread::id self = std::this_thread::get_id();
    // seq_cst: written once; a wrong thread must read the owner, not race it.
    owner_.compare_exchange_strong(none, self);
    RAMS_CHECK(owner_.load() == self);
  }

 private:
  std::atomic<std::thread::id> owner_{};
};

}  // namespace rams::sys
