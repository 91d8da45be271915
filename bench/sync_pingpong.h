/* SPDX-License-Identifier: MIT */
// Two-process ping-pong round trips for the sync benchmark: rams
// Mutex+CondVar (blocking or spinning), pthread process-shared mutex+cond, a
// raw futex, a pipe and a Unix socket.
//
// Thread safety: single-threaded benchmark driver code (forks a partner).
#pragma once

#include <linux/futex.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>
#include <functional>
#include <new>
#include <vector>

#include "rams/condvar.h"
#include "rams/mutex.h"
#include "sync_bench_common.h"

namespace rams::bench::sync_bench {

// ---- ping-pong ----

// One side of a ping-pong: runs `rounds` exchanges as side 0 or 1.
using Side = std::function<void(int side, int rounds)>;

// Round-trip time in microseconds: a child plays side 1, we play side 0,
// warm up, then time `rounds` exchanges.
// The cores of the two sides (-1: unpinned); the child's is set after fork.
inline int g_parent_cpu = -1, g_child_cpu = -1;

inline double RoundTripUs(const Side& play, int rounds) {
  if (g_parent_cpu >= 0) PinToCpu(g_parent_cpu);
  pid_t child = fork();
  if (child == 0) {
    if (g_child_cpu >= 0) PinToCpu(g_child_cpu);
    play(1, rounds * 2);
    _exit(0);
  }
  play(0, rounds);  // warm-up
  auto t0 = Clock::now();
  play(0, rounds);
  double us = Seconds(t0) / rounds * 1e6;
  waitpid(child, nullptr, 0);
  return us;
}

struct RamsPingPong {
  rams::Mutex mu;
  rams::CondVar cv;
  uint32_t turn = 0;
};

inline double RamsRoundTripUs(uint32_t spin, int rounds) {
  rams::SyncTuning tuning = rams::GetSyncTuning();
  rams::SyncTuning t = tuning;
  t.spin_iterations = spin;
  rams::SetSyncTuning(t);
  Region region = Region::Rams();
  auto* pp = new (region.base) RamsPingPong();
  double us = RoundTripUs(
      [pp](int side, int n) {
        for (int i = 0; i < n; ++i) {
          (void)pp->mu.Lock();
          while (pp->turn != static_cast<uint32_t>(side)) (void)pp->cv.Wait(pp->mu);
          pp->turn = 1 - side;
          pp->mu.Unlock();
          pp->cv.Signal();
        }
      },
      rounds);
  region.Release();
  rams::SetSyncTuning(tuning);
  return us;
}

struct PthreadPingPong {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint32_t turn;
};

inline double PthreadRoundTripUs(int rounds) {
  Region region = Region::Anonymous();
  auto* pp = reinterpret_cast<PthreadPingPong*>(region.base);
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(&pp->mu, &ma);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
  pthread_cond_init(&pp->cv, &ca);
  pp->turn = 0;
  double us = RoundTripUs(
      [pp](int side, int n) {
        for (int i = 0; i < n; ++i) {
          pthread_mutex_lock(&pp->mu);
          while (pp->turn != static_cast<uint32_t>(side)) pthread_cond_wait(&pp->cv, &pp->mu);
          pp->turn = 1 - side;
          pthread_mutex_unlock(&pp->mu);
          pthread_cond_signal(&pp->cv);
        }
      },
      rounds);
  region.Release();
  return us;
}

inline long Futex(std::atomic<uint32_t>* word, int op, uint32_t value) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, nullptr, nullptr, 0);
}

inline double FutexRoundTripUs(int rounds) {
  Region region = Region::Anonymous();
  auto* turn = new (region.base) std::atomic<uint32_t>(0);
  double us = RoundTripUs(
      [turn](int side, int n) {
        auto me = static_cast<uint32_t>(side);
        for (int i = 0; i < n; ++i) {
          uint32_t t;
          // acquire: pairs with the other side's release store of turn below.
          while ((t = turn->load(std::memory_order_acquire)) != me) Futex(turn, FUTEX_WAIT, t);
          // release: pairs with the other side's acquire load of turn above.
          turn->store(1 - me, std::memory_order_release);
          Futex(turn, FUTEX_WAKE, 1);
        }
      },
      rounds);
  region.Release();
  return us;
}

// A byte bounced through two pipes, or through a Unix socket pair.
inline double FdRoundTripUs(bool socket, int rounds) {
  int out[2], in[2];  // per side: where it writes, where it reads
  std::vector<int> all;
  if (socket) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
    out[0] = in[0] = sv[0];
    out[1] = in[1] = sv[1];
    all = {sv[0], sv[1]};
  } else {
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0) return 0;
    out[0] = a[1], in[1] = a[0];
    out[1] = b[1], in[0] = b[0];
    all = {a[0], a[1], b[0], b[1]};
  }
  double us = RoundTripUs(
      [&](int side, int n) {
        char c = 0;
        for (int i = 0; i < n; ++i) {
          if (side == 0) {
            (void)!write(out[0], &c, 1);
            (void)!read(in[0], &c, 1);
          } else {
            (void)!read(in[1], &c, 1);
            (void)!write(out[1], &c, 1);
          }
        }
      },
      rounds);
  for (int fd : all) close(fd);
  return us;
}


}  // namespace rams::bench::sync_bench
