// SPDX-License-Identifier: MIT
// sys::AdaptivePoll: polls while polling pays, stops after a run of empty
// polls, probes now and then while stopped, and resumes on a probe's hit.
#include "sys/adaptive_poll.h"

#include <gtest/gtest.h>

namespace rams::sys {
namespace {

TEST(AdaptivePollTest, PollsWhileItPays) {
  AdaptivePoll p;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(p.Budget(), AdaptivePoll::kMaxSpin);
    // Empty polls now and then, fewer than kMissesToStop in a row.
    p.Record(i % AdaptivePoll::kMissesToStop != 0);
  }
  EXPECT_FALSE(p.stopped());
}

TEST(AdaptivePollTest, StopsAfterMissesInARowThenOnlyProbes) {
  AdaptivePoll p;
  for (int i = 0; i < AdaptivePoll::kMissesToStop; ++i) {
    ASSERT_EQ(p.Budget(), AdaptivePoll::kMaxSpin);
    p.Record(false);
  }
  EXPECT_TRUE(p.stopped());
  // Three probe periods of misses: one poll per period, the rest sleep at once.
  int polls = 0;
  for (int i = 0; i < 3 * AdaptivePoll::kProbeEvery; ++i) {
    if (p.Budget().count() > 0) {
      ++polls;
      p.Record(false);
    }
  }
  EXPECT_EQ(polls, 3);
  EXPECT_TRUE(p.stopped());
}

TEST(AdaptivePollTest, AProbeThatHitsResumesPolling) {
  AdaptivePoll p;
  for (int i = 0; i < AdaptivePoll::kMissesToStop; ++i) p.Record(false);
  ASSERT_TRUE(p.stopped());
  while (p.Budget().count() == 0) {
  }
  p.Record(true);
  EXPECT_FALSE(p.stopped());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(p.Budget(), AdaptivePoll::kMaxSpin);
}

}  // namespace
}  // namespace rams::sys
