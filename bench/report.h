/* SPDX-License-Identifier: MIT */
// The benchmark record format and the timing helpers every benchmark uses.
// A record is one JSON file, BENCH_DIR/<name>.json, with the fields
//   name, value, unit, anchor, anchor_value, ratio, goal
// where ratio = value / anchor_value and goal states the wanted ratio
// (">= 0.9" for throughput, "<= 0.8" for latency, "" when informational).
// All measures of a benchmark program are taken in one run; each value is a
// median over repetitions, since the machines are shared and noisy.
//
// Thread safety: none needed; benchmark drivers are single-threaded.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace rams::bench {

struct Record {
  std::string name;
  double value = 0;
  std::string unit;
  std::string anchor;
  double anchor_value = 0;
  std::string goal;  // e.g. ">= 0.9"; empty when informational
};

// Writes the record to $RAMS_BENCH_DIR (default build/bench/results) and prints a
// line. Returns false when it could not be written.
bool Emit(const Record& r);

// Median of the samples. REQUIRES: not empty.
double Median(std::vector<double> samples);

// Runs `body` `reps` times and returns the median wall time in seconds.
double MedianSeconds(int reps, const std::function<void()>& body);

// Whether the ratio meets the goal ("" always does).
bool MeetsGoal(double ratio, const std::string& goal);

}  // namespace rams::bench
