// SPDX-License-Identifier: MIT
// The per-session sync agent thread and the gate it posts through.
#include "sync_agent.h"

#include <cerrno>
#include <system_error>
#include <thread>

#include "wire/frame.h"

namespace ramsd {

void SyncGate::Post(std::function<void()> fn) {
  rams::sys::LocalMutexLock l(mu_);
  if (io_ != nullptr) asio::post(*io_, std::move(fn));
}

bool SyncGate::TryAddAgent() {
  rams::sys::LocalMutexLock l(mu_);
  if (io_ == nullptr || agents_ >= max_agents_) return false;
  ++agents_;
  return true;
}

void SyncGate::AgentExited() {
  rams::sys::LocalMutexLock l(mu_);
  --agents_;
  cv_.NotifyAll();
}

uint32_t SyncGate::Close(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  rams::sys::LocalMutexLock l(mu_);
  while (agents_ != 0 && cv_.WaitUntil(mu_, deadline)) {
  }
  io_ = nullptr;
  return agents_;
}

uint32_t SyncGate::agents() const {
  rams::sys::LocalMutexLock l(mu_);
  return agents_;
}

rams::Result<std::shared_ptr<SyncAgent>> SyncAgent::Start(std::shared_ptr<SyncGate> gate) {
  if (!gate->TryAddAgent()) {
    return rams::Error(EAGAIN, "sync: too many sessions use sync objects on this server");
  }
  auto shared = std::make_shared<Shared>();
  try {
    // Detached: a thread stuck in a Barrier::Wait must not hold up the io
    // thread or shutdown; its state lives in `shared` and `gate`.
    std::thread(&SyncAgent::Run, shared, gate).detach();
  } catch (const std::system_error& e) {
    gate->AgentExited();
    return rams::Error(EAGAIN, std::string("sync: no agent thread: ") + e.what());
  }
  return std::shared_ptr<SyncAgent>(new SyncAgent(std::move(shared)));
}

rams::Status SyncAgent::Submit(Job job) {
  rams::sys::LocalMutexLock l(shared_->mu);
  if (shared_->stopping) return rams::Error(ECANCELED, "sync: session ending");
  if (shared_->pending >= rams::wire::kMaxSyncQueuePerSession) {
    return rams::Error(EBUSY, "sync: too many sync operations queued in this session");
  }
  ++shared_->pending;
  shared_->queue.push_back(std::move(job));
  shared_->cv.NotifyOne();
  return rams::Status::Ok();
}

void SyncAgent::Stop() {
  std::deque<Job> dropped;
  {
    rams::sys::LocalMutexLock l(shared_->mu);
    if (shared_->stopping) return;
    shared_->stopping = true;
    dropped.swap(shared_->queue);
    // Relaxed: the flag carries no data; a running job polls it once per slice.
    shared_->cancel.store(true, std::memory_order_relaxed);
  }
  shared_->cv.NotifyAll();
}  // `dropped` (and the segment references of its jobs) go here

void SyncAgent::Run(std::shared_ptr<Shared> shared, std::shared_ptr<SyncGate> gate) {
  AgentState state;
  shared->mu.Lock();
  for (;;) {
    while (!shared->stopping && shared->queue.empty()) shared->cv.Wait(shared->mu);
    if (shared->stopping) break;
    Job job = std::move(shared->queue.front());
    shared->queue.pop_front();
    shared->mu.Unlock();
    job(state, shared->cancel);
    job = nullptr;  // drop the job's captures outside the lock
    shared->mu.Lock();
    --shared->pending;
  }
  shared->mu.Unlock();
  // The thread ends here, holding whatever the session held: the sync objects
  // see their owner (this thread) die.
  gate->AgentExited();
}

}  // namespace ramsd
