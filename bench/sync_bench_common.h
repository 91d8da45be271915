/* SPDX-License-Identifier: MIT */
// Shared pieces of the sync benchmark (sync_bench.cc): shared memory for one
// measure, timing, and pthread mutex setup.
//
// Thread safety: single-threaded benchmark driver code.
#pragma once

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "rams/segment.h"
#include "report.h"

namespace rams::bench::sync_bench {

using Clock = std::chrono::steady_clock;
using rams::bench::Median;

constexpr int kReps = 5;
constexpr size_t kRegionBytes = 1 << 20;

inline double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Shared memory for one measure: a rams segment (so the rams objects live
// where they would in real use) or, for the anchors, anonymous shared memory.
struct Region {
  std::byte* base = nullptr;
  std::optional<rams::Segment> segment;
  std::string name;
  bool anonymous = false;

  static Region Rams() {
    Region r;
    r.name = "rams-bench-sync-" + std::to_string(getpid());
    auto seg = rams::Segment::Create(r.name, kRegionBytes, 0600, true);
    if (!seg.ok()) {
      fprintf(stderr, "%s\n", seg.status().ToString().c_str());
      exit(1);
    }
    r.segment.emplace(std::move(*seg));
    r.base = r.segment->Map()->data();
    return r;
  }
  static Region Anonymous() {
    Region r;
    r.anonymous = true;
    void* p = mmap(nullptr, kRegionBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) exit(1);
    r.base = static_cast<std::byte*>(p);
    return r;
  }
  void Release() {
    if (anonymous) munmap(base, kRegionBytes);
    segment.reset();
    if (!name.empty()) rams::Segment::Remove(name).IgnoreError();
  }
};


inline void InitPthreadMutex(pthread_mutex_t* mu, bool robust) {
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  if (robust) pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(mu, &ma);
}

}  // namespace rams::bench::sync_bench
