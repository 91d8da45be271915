// SPDX-License-Identifier: MIT
// Prints the records of a bench directory as a Markdown table, sorted by name.
//   bench_table DIR
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: bench_table DIR\n");
    return 2;
  }
  std::vector<nlohmann::json> rows;
  DIR* dir = opendir(argv[1]);
  if (dir == nullptr) {
    perror(argv[1]);
    return 1;
  }
  while (dirent* d = readdir(dir)) {
    std::string f = d->d_name;
    if (f.size() < 5 || f.substr(f.size() - 5) != ".json") continue;
    std::ifstream in(std::string(argv[1]) + "/" + f);
    rows.push_back(nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false));
    if (rows.back().is_discarded()) rows.pop_back();
  }
  closedir(dir);
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a["name"] < b["name"]; });
  printf("| measure | value | unit | anchor | anchor value | ratio | goal | met |\n");
  printf("|---|---:|---|---|---:|---:|---|---|\n");
  for (auto& r : rows) {
    double ratio = r["ratio"].get<double>();
    std::string goal = r["goal"].get<std::string>();
    printf("| %s | %.3f | %s | %s | %.3f | %.3f | %s | %s |\n",
           r["name"].get<std::string>().c_str(), r["value"].get<double>(),
           r["unit"].get<std::string>().c_str(), r["anchor"].get<std::string>().c_str(),
           r["anchor_value"].get<double>(), ratio, goal.empty() ? "-" : goal.c_str(),
           goal.empty() ? "-" : rams::bench::MeetsGoal(ratio, goal) ? "yes" : "no");
  }
  return 0;
}
