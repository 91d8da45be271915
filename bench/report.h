/* SPDX-License-Identifier: MIT */
// The benchmark record format and the timing helpers every benchmark uses.
// A record is one JSON file, BENCH_DIR/<name>.json, with the fields
//   name, value, unit, anchor, anchor_value, ratio, goal,
//   spread {min,p25,p50,p75,max} of the measure and of the anchor,
//   rounds, ratio_method, pinning,
//   counters / anchor_counters: each event of measure.h per operation, or
//     {"available": false, "errno": ...} when the kernel refused it,
//   counters_scope: what the counters cover,
//   quantiles / anchor_quantiles: percentiles 0..100 of single operations,
//     where the benchmark timed them one by one,
//   environment: commit, date, host, CPU model, kernel, load average, ...
// When the measure and its anchor were taken in interleaved rounds
// (Interleave below), value and anchor_value are the medians of their rounds
// and ratio is the median of the per-round ratios; otherwise ratio =
// value / anchor_value. goal states the wanted ratio (">= 0.9" for
// throughput, "<= 0.8" for latency, "" when informational).
//
// Thread safety: none needed; benchmark drivers are single-threaded.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "measure.h"

namespace rams::bench {

struct Record {
  std::string name;
  double value = 0;
  std::string unit;
  std::string anchor;
  double anchor_value = 0;
  std::string goal;  // e.g. ">= 0.9"; empty when informational
  // Per-round values of an interleaved measure (same length, same unit).
  std::vector<double> samples, anchor_samples;
  // Per operation, over all rounds. Without them, Emit records the counts
  // of everything the program ran since its previous record.
  std::optional<Counts> counts, anchor_counts;
  std::string pinning;  // which cores, e.g. "client core 0, server core 1"
  // Single-operation latencies (or any per-operation figure), recorded as
  // their percentiles 0, 1, ..., 100 (a CDF) under "quantiles".
  std::vector<double> distribution, anchor_distribution;
};

// Writes the record to $RAMS_BENCH_DIR (default build/bench/results) and prints a
// line. Returns false when it could not be written.
bool Emit(const Record& r);

// Median of the samples. REQUIRES: not empty.
double Median(std::vector<double> samples);

// Runs `body` `reps` times and returns the median wall time in seconds.
double MedianSeconds(int reps, const std::function<void()>& body);

// RAMS_BENCH_QUICK=1: a functional pass (the aarch64 check under
// qemu-user), few rounds and few workers, timings not meant to be judged.
bool Quick();

// Whether the ratio meets the goal ("" always does).
bool MeetsGoal(double ratio, const std::string& goal);

// A measure and its anchor taken in alternating rounds (the anchor first in
// odd rounds, so neither always runs on a freshly warmed or freshly loaded
// machine), `operations` operations per round.
struct Pair {
  std::vector<double> measure_seconds, anchor_seconds;
  Counts measure_counts, anchor_counts;  // totals over all rounds
  double operations_per_round = 1;
};
Pair Interleave(int rounds, double operations_per_round, const std::function<void()>& measure,
                const std::function<void()>& anchor);

// The record of a Pair; `to_value` converts a round's seconds per operation
// into the record's unit (e.g. microseconds, MiB/s).
Record FromPair(const std::string& name, const std::string& unit, const std::string& anchor,
                const std::string& goal, const Pair& pair,
                const std::function<double(double seconds_per_operation)>& to_value,
                const std::string& pinning = "unpinned");

}  // namespace rams::bench
