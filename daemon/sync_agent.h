/* SPDX-License-Identifier: MIT */
// SyncAgent: the one ramsd thread that runs a session's operations on sync
// objects (rams::Mutex, CondVar, Barrier) in the home segment's mapping, in
// arrival order. rams sync objects are owned by threads, so this thread IS
// the remote session's owner identity on the home host: it holds the mutexes
// the session locked, and it is the barrier member the session joined. When
// the session ends the agent exits holding whatever it holds, which the sync
// objects see as a holder's death (docs/protocol.md §4 "Sync objects", docs/sync.md).
//
// SyncGate: what every agent shares with the server — the io_context to post
// completions to (cleared when the server goes away) and the bound on the
// number of agents alive.
//
// Thread safety: SyncGate is safe from any thread. A SyncAgent is driven from
// the io thread (Start, Submit, Stop); its jobs run on its own thread, which
// is detached and keeps its state alive through shared_ptr. Invariants:
//  1. At most kMaxSyncQueuePerSession jobs are queued or running per agent.
//  2. Once stopping, no job starts; the running one sees its cancel flag.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>

#include "rams/status.h"
#include "sys/local_mutex.h"

namespace ramsd {

class SyncGate {
 public:
  SyncGate(asio::io_context& io, uint32_t max_agents) : io_(&io), max_agents_(max_agents) {}
  // Runs `fn` on the io thread unless the server is gone.
  void Post(std::function<void()> fn) EXCLUDES(mu_);
  bool TryAddAgent() EXCLUDES(mu_);
  void AgentExited() EXCLUDES(mu_);
  // Waits up to `limit` for every agent to exit, then stops posting.
  // Returns the agents still alive (stuck in a Barrier::Wait without timeout).
  uint32_t Close(std::chrono::milliseconds limit) EXCLUDES(mu_);
  uint32_t agents() const EXCLUDES(mu_);

 private:
  mutable rams::sys::LocalMutex mu_;
  rams::sys::LocalCondVar cv_;  // an agent exited
  asio::io_context* io_ GUARDED_BY(mu_);  // null once closed
  const uint32_t max_agents_;
  uint32_t agents_ GUARDED_BY(mu_) = 0;
};

// State a session's jobs keep on its agent thread.
struct AgentState {
  // Mutexes (by address in the agent's mapping) that the agent holds after
  // acquiring them with kOwnerDied, not yet made consistent.
  std::set<const void*> died_held;
};

class SyncAgent {
 public:
  using Job = std::function<void(AgentState& state, const std::atomic<bool>& cancel)>;

  // EAGAIN when the server runs kMaxSyncAgentsPerServer agents already (or
  // no thread could be created).
  static rams::Result<std::shared_ptr<SyncAgent>> Start(std::shared_ptr<SyncGate> gate);
  ~SyncAgent() { Stop(); }

  // Queues `job`. EBUSY when the session's queue is full.
  rams::Status Submit(Job job);
  // Cancels the running job, drops the queued ones and lets the thread exit.
  void Stop();

 private:
  struct Shared {
    rams::sys::LocalMutex mu;
    rams::sys::LocalCondVar cv;  // a job was queued, or stopping was set
    std::deque<Job> queue GUARDED_BY(mu);
    uint32_t pending GUARDED_BY(mu) = 0;  // queued + running
    bool stopping GUARDED_BY(mu) = false;
    std::atomic<bool> cancel{false};
  };
  static void Run(std::shared_ptr<Shared> shared, std::shared_ptr<SyncGate> gate);
  explicit SyncAgent(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  std::shared_ptr<Shared> shared_;
};

}  // namespace ramsd
