// SPDX-License-Identifier: MIT
#include "report.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

namespace rams::bench {

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

bool MeetsGoal(double ratio, const std::string& goal) {
  if (goal.empty()) return true;
  double bound = std::atof(goal.c_str() + 2);
  if (goal.rfind(">=", 0) == 0) return ratio >= bound;
  if (goal.rfind("<=", 0) == 0) return ratio <= bound;
  return false;
}

bool Emit(const Record& r) {
  const char* env = getenv("RAMS_BENCH_DIR");
  std::string dir = env != nullptr && *env != '\0' ? env : "build/bench/results";
  mkdir(dir.c_str(), 0755);
  double ratio = r.anchor_value != 0 ? r.value / r.anchor_value : 0;
  nlohmann::json j{{"name", r.name},   {"value", r.value},          {"unit", r.unit},
                   {"anchor", r.anchor}, {"anchor_value", r.anchor_value},
                   {"ratio", ratio},   {"goal", r.goal}};
  std::ofstream out(dir + "/" + r.name + ".json");
  out << j.dump(2) << "\n";
  printf("%-40s %12.3f %-8s vs %-34s %12.3f  ratio %6.3f  goal %-7s %s\n", r.name.c_str(), r.value,
         r.unit.c_str(), r.anchor.c_str(), r.anchor_value, ratio, r.goal.empty() ? "-" : r.goal.c_str(),
         MeetsGoal(ratio, r.goal) ? "" : "(missed)");
  fflush(stdout);
  return out.good();
}

}  // namespace rams::bench
