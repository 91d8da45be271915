/* SPDX-License-Identifier: MIT */
// The measurement layer every benchmark uses: a cycle counter (the TSC via
// rdtscp on x86_64, the generic timer cntvct_el0 on aarch64) calibrated once
// against CLOCK_MONOTONIC, perf_event_open counters per measure, and the
// spread of a set of samples.
//
// Counters: the software events task-clock, context switches, CPU
// migrations and page faults, and the hardware events cycles, instructions
// and cache misses. Each is opened for the calling process and its children
// forked afterwards (inherit), user and kernel time where
// perf_event_paranoid allows, user time only otherwise. An event the kernel
// refuses (no PMU on a VM, paranoid 3, seccomp) is reported unavailable with
// the errno, never as zero.
//
// Thread safety: a Counters object belongs to one thread; Ticks() and
// TicksPerSecond() may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace rams::bench {

// The cycle counter: raw ticks, and its rate measured against
// CLOCK_MONOTONIC over 20 ms on first use.
uint64_t Ticks();
double TicksPerSecond();
// "rdtscp" or "cntvct_el0" or "clock_gettime" (other architectures).
const char* TickSource();

enum Event : int {
  kTaskClock,  // ns
  kContextSwitches,
  kCpuMigrations,
  kPageFaults,
  kCycles,
  kInstructions,
  kCacheMisses,
  kEventCount
};
const char* EventName(int e);

// One reading of every event; available[e] false when the kernel refused it.
struct Counts {
  std::array<double, kEventCount> value{};
  std::array<bool, kEventCount> available{};
  std::array<int, kEventCount> error{};  // errno of the refusal
  Counts& operator+=(const Counts& other);
  Counts PerOperation(double operations) const;
};

// The events of one measure. Opens them on construction (children forked
// afterwards are counted once they exit), counts between Start and Stop.
class Counters {
 public:
  Counters();
  ~Counters();
  Counters(const Counters&) = delete;
  Counters& operator=(const Counters&) = delete;
  void Start();
  Counts Stop();

 private:
  std::array<int, kEventCount> fd_;
  std::array<int, kEventCount> error_{};
  std::array<uint64_t, kEventCount> start_{};
};

// p25/p50/p75 and min/max of the samples. REQUIRES: not empty.
struct Spread {
  double min = 0, p25 = 0, p50 = 0, p75 = 0, max = 0;
};
Spread SpreadOf(std::vector<double> samples);

// One timed stretch of `operations` operations: wall seconds from the cycle
// counter and the counters over it.
struct Timed {
  double seconds = 0;
  Counts counts;
};

// Runs body() once under the counters and the cycle counter.
template <class Fn>
Timed TimeOnce(Counters& counters, Fn&& body) {
  counters.Start();
  uint64_t t0 = Ticks();
  body();
  uint64_t t1 = Ticks();
  Timed t;
  t.counts = counters.Stop();
  t.seconds = double(t1 - t0) / TicksPerSecond();
  return t;
}

// The machine and build a record was measured on.
struct Environment {
  std::string commit, date_utc, host, cpu_model, kernel, tick_source;
  double ticks_per_second = 0;
  double load_average_1min = -1;  // -1: /proc/loadavg unreadable
  int cpus = 0;
  std::string perf_event_paranoid;
};
// Commit from $RAMS_BENCH_COMMIT (bench/run sets it), else "unknown".
Environment CurrentEnvironment();

// Pins the calling thread (or a forked child, before exec) to one core.
// Returns false when the core does not exist or sched_setaffinity refuses.
bool PinToCpu(int cpu);

}  // namespace rams::bench
