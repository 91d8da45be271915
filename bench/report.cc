// SPDX-License-Identifier: MIT
#include "report.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

namespace rams::bench {
namespace {

// Counts everything the program (and its children) ran since the previous
// record, for records whose benchmark took no counts of its own. Opened
// before main so that every child is inherited.
Counters& Ambient() {
  static Counters counters;
  return counters;
}
[[maybe_unused]] const bool kAmbientStarted = [] {
  Ambient().Start();
  return true;
}();

nlohmann::json CountsJson(const Counts& c) {
  nlohmann::json j = nlohmann::json::object();
  for (int e = 0; e < kEventCount; ++e) {
    if (c.available[e]) {
      j[EventName(e)] = c.value[e];
    } else {
      j[EventName(e)] = {{"available", false}, {"errno", c.error[e]}};
    }
  }
  return j;
}

nlohmann::json SpreadJson(const std::vector<double>& samples, double value) {
  if (samples.empty()) return {{"min", value}, {"p25", value}, {"p50", value}, {"p75", value},
                               {"max", value}, {"samples", 1}};
  Spread s = SpreadOf(samples);
  return {{"min", s.min}, {"p25", s.p25}, {"p50", s.p50}, {"p75", s.p75}, {"max", s.max},
          {"samples", samples.size()}};
}

nlohmann::json Quantiles(std::vector<double> d) {
  std::sort(d.begin(), d.end());
  nlohmann::json q = nlohmann::json::array();
  for (int i = 0; i <= 100; ++i) q.push_back(d[std::min(d.size() - 1, d.size() * i / 100)]);
  return q;
}

nlohmann::json EnvironmentJson() {
  Environment e = CurrentEnvironment();
  return {{"commit", e.commit},
          {"date", e.date_utc},
          {"host", e.host},
          {"cpu_model", e.cpu_model},
          {"kernel", e.kernel},
          {"cpus", e.cpus},
          {"load_average_1min", e.load_average_1min},
          {"tick_source", e.tick_source},
          {"ticks_per_second", e.ticks_per_second},
          {"perf_event_paranoid", e.perf_event_paranoid},
          {"container", getenv("RAMS_BENCH_CONTAINER") != nullptr},
          {"quick", Quick()}};
}

}  // namespace

double Median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  size_t n = samples.size();
  return n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

double MedianSeconds(int reps, const std::function<void()>& body) {
  std::vector<double> samples;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    body();
    samples.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return Median(samples);
}

bool Quick() {
  const char* q = getenv("RAMS_BENCH_QUICK");
  return q != nullptr && *q != '\0' && *q != '0';
}

bool MeetsGoal(double ratio, const std::string& goal) {
  if (goal.empty()) return true;
  double bound = std::atof(goal.c_str() + 2);
  if (goal.rfind(">=", 0) == 0) return ratio >= bound;
  if (goal.rfind("<=", 0) == 0) return ratio <= bound;
  return false;
}

Pair Interleave(int rounds, double operations_per_round, const std::function<void()>& measure,
                const std::function<void()>& anchor) {
  Pair p;
  p.operations_per_round = operations_per_round;
  Counters counters;
  auto one = [&](const std::function<void()>& body, std::vector<double>& seconds, Counts& total) {
    Timed t = TimeOnce(counters, body);
    seconds.push_back(t.seconds);
    total += t.counts;
  };
  for (int r = 0; r < rounds; ++r) {
    if (r % 2 == 0) one(measure, p.measure_seconds, p.measure_counts);
    one(anchor, p.anchor_seconds, p.anchor_counts);
    if (r % 2 == 1) one(measure, p.measure_seconds, p.measure_counts);
  }
  return p;
}

Record FromPair(const std::string& name, const std::string& unit, const std::string& anchor,
                const std::string& goal, const Pair& pair,
                const std::function<double(double)>& to_value, const std::string& pinning) {
  Record r{name, 0, unit, anchor, 0, goal};
  for (double s : pair.measure_seconds) r.samples.push_back(to_value(s / pair.operations_per_round));
  for (double s : pair.anchor_seconds) r.anchor_samples.push_back(to_value(s / pair.operations_per_round));
  r.value = Median(r.samples);
  r.anchor_value = Median(r.anchor_samples);
  double ops = pair.operations_per_round * double(pair.measure_seconds.size());
  r.counts = pair.measure_counts.PerOperation(ops);
  r.anchor_counts = pair.anchor_counts.PerOperation(ops);
  r.pinning = pinning;
  return r;
}

bool Emit(const Record& r) {
  const char* env = getenv("RAMS_BENCH_DIR");
  std::string dir = env != nullptr && *env != '\0' ? env : "build/bench/results";
  mkdir(dir.c_str(), 0755);
  const bool paired = !r.samples.empty() && r.samples.size() == r.anchor_samples.size();
  double ratio = r.anchor_value != 0 ? r.value / r.anchor_value : 0;
  if (paired) {
    std::vector<double> ratios;
    for (size_t i = 0; i < r.samples.size(); ++i) {
      if (r.anchor_samples[i] != 0) ratios.push_back(r.samples[i] / r.anchor_samples[i]);
    }
    if (!ratios.empty()) ratio = Median(ratios);
  }
  nlohmann::json j{{"name", r.name},   {"value", r.value},          {"unit", r.unit},
                   {"anchor", r.anchor}, {"anchor_value", r.anchor_value},
                   {"ratio", ratio},   {"goal", r.goal}};
  j["ratio_method"] = paired ? "median of per-round ratios" : "value / anchor_value";
  j["rounds"] = r.samples.size();
  j["spread"] = SpreadJson(r.samples, r.value);
  j["anchor_spread"] = SpreadJson(r.anchor_samples, r.anchor_value);
  j["pinning"] = r.pinning.empty() ? "unpinned" : r.pinning;
  if (r.counts) {
    j["counters"] = CountsJson(*r.counts);
    if (r.anchor_counts) j["anchor_counters"] = CountsJson(*r.anchor_counts);
    j["counters_scope"] = "per operation of the measure (anchor_counters: of the anchor)";
  } else {
    j["counters"] = CountsJson(Ambient().Stop());
    j["counters_scope"] = "totals of everything the program ran since its previous record";
  }
  Ambient().Start();
  if (!r.distribution.empty()) j["quantiles"] = Quantiles(r.distribution);
  if (!r.anchor_distribution.empty()) j["anchor_quantiles"] = Quantiles(r.anchor_distribution);
  j["environment"] = EnvironmentJson();
  std::ofstream out(dir + "/" + r.name + ".json");
  out << j.dump(2) << "\n";
  printf("%-40s %12.3f %-8s vs %-34s %12.3f  ratio %6.3f  goal %-7s %s\n", r.name.c_str(), r.value,
         r.unit.c_str(), r.anchor.c_str(), r.anchor_value, ratio, r.goal.empty() ? "-" : r.goal.c_str(),
         MeetsGoal(ratio, r.goal) ? "" : "(missed)");
  fflush(stdout);
  return out.good();
}

}  // namespace rams::bench
