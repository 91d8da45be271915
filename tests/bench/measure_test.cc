// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include <gtest/gtest.h>

#include "measure.h"
#include "report.h"

namespace rams::bench {
namespace {

TEST(SpreadOf, QuartilesInterpolateBetweenSamples) {
  Spread s = SpreadOf({5, 1, 4, 2, 3});
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.p25, 2);
  EXPECT_EQ(s.p50, 3);
  EXPECT_EQ(s.p75, 4);
  EXPECT_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(SpreadOf({1, 2}).p25, 1.25);
}

TEST(Ticks, AdvanceAndHaveAPositiveRate) {
  uint64_t a = Ticks();
  usleep(1000);
  EXPECT_GT(Ticks(), a);
  EXPECT_GT(TicksPerSecond(), 0);
}

// Each event is either counted or reported refused with its errno, never
// both, never neither; the software task-clock, where granted, sees work.
TEST(Counters, EachEventIsCountedOrRefusedWithItsErrno) {
  Counters c;
  volatile uint64_t sink = 0;
  Timed t = TimeOnce(c, [&] {
    for (int i = 0; i < 5'000'000; ++i) sink = sink + i;
  });
  EXPECT_GT(t.seconds, 0);
  for (int e = 0; e < kEventCount; ++e) {
    EXPECT_EQ(t.counts.available[e], t.counts.error[e] == 0) << EventName(e);
  }
  if (t.counts.available[kTaskClock]) {
    EXPECT_GT(t.counts.value[kTaskClock], 0);
  }
  Counts per = t.counts.PerOperation(4);
  EXPECT_DOUBLE_EQ(per.value[kTaskClock], t.counts.value[kTaskClock] / 4);
}

nlohmann::json EmitAndRead(const Record& r) {
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("rams-measure-test-" + std::to_string(getpid()));
  setenv("RAMS_BENCH_DIR", dir.c_str(), 1);
  EXPECT_TRUE(Emit(r));
  std::ifstream in(dir + "/" + r.name + ".json");
  nlohmann::json j = nlohmann::json::parse(in);
  std::filesystem::remove_all(dir);
  return j;
}

// The ratio of interleaved rounds is the median of the per-round ratios,
// which differs from the ratio of the medians when a slow round hits both.
TEST(Emit, RatioIsTheMedianOfPerRoundRatios) {
  Record r{"measure_test_rounds", 0, "us", "anchor", 0, "<= 1.1"};
  r.samples = {10, 20, 100};
  r.anchor_samples = {10, 10, 100};  // per-round ratios 1, 2, 1
  r.value = Median(r.samples);
  r.anchor_value = Median(r.anchor_samples);
  nlohmann::json j = EmitAndRead(r);
  EXPECT_DOUBLE_EQ(j["ratio"].get<double>(), 1.0);  // the ratio of medians would be 2
  EXPECT_EQ(j["ratio_method"], "median of per-round ratios");
  EXPECT_EQ(j["spread"]["max"].get<double>(), 100);
  EXPECT_TRUE(j["environment"].contains("cpu_model"));
  EXPECT_TRUE(j["environment"].contains("load_average_1min"));
}

TEST(Emit, WithoutRoundsTheRatioIsValueOverAnchor) {
  nlohmann::json j = EmitAndRead({"measure_test_plain", 3, "us", "anchor", 2, ""});
  EXPECT_DOUBLE_EQ(j["ratio"].get<double>(), 1.5);
  EXPECT_EQ(j["counters_scope"], "totals of everything the program ran since its previous record");
}

TEST(Interleave, TakesTurnsAndCountsEveryRound) {
  int measures = 0, anchors = 0;
  Pair p = Interleave(4, 10, [&] { ++measures; }, [&] { ++anchors; });
  EXPECT_EQ(measures, 4);
  EXPECT_EQ(anchors, 4);
  Record r = FromPair("x", "us", "y", "", p, [](double s) { return s * 1e6; });
  EXPECT_EQ(r.samples.size(), 4u);
  EXPECT_EQ(r.anchor_samples.size(), 4u);
  EXPECT_TRUE(r.counts.has_value());
}

}  // namespace
}  // namespace rams::bench
