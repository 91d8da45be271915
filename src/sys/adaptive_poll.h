/* SPDX-License-Identifier: MIT */
// AdaptivePoll: how long a waiter polls (spins on non-blocking reads) before
// it sleeps, learned from whether polling paid. ramsd's event loop and the
// client's reader both use it in their default ("adaptive") mode: after
// activity they poll for at most kMaxSpin, so that a burst of round trips
// runs near the busy-polling figure without the two wake-ups of a sleeping
// round trip; when the next event keeps coming later than that (a peer that
// talks every few milliseconds, or over a slow network) polling only burns
// the core, so after kMissesToStop polls in a row that ended empty it stops
// polling, and tries again once every kProbeEvery waits.
//
// A wait whose event was already there (the first non-blocking read found
// it) is no poll: only what happened after polling started is Recorded.
//
// Thread safety: none; one waiter (the reader, the event loop) owns it.
#pragma once

#include <chrono>

namespace rams::sys {

class AdaptivePoll {
 public:
  static constexpr std::chrono::microseconds kMaxSpin{50};
  static constexpr int kMissesToStop = 8;
  static constexpr int kProbeEvery = 64;

  // How long to poll in this wait: kMaxSpin, or zero while polling stopped
  // paying (except on a probe).
  std::chrono::microseconds Budget() {
    if (misses_ < kMissesToStop) return kMaxSpin;
    if (++waits_since_probe_ < kProbeEvery) return std::chrono::microseconds(0);
    waits_since_probe_ = 0;
    return kMaxSpin;
  }
  // The outcome of a poll Budget() allowed: `hit` when the event came while
  // polling, false when the budget ran out first (the waiter then slept).
  void Record(bool hit) {
    if (hit) {
      misses_ = 0;
      waits_since_probe_ = 0;
    } else if (misses_ < kMissesToStop) {
      ++misses_;
    }
  }
  // Whether polling stopped paying (Budget() is zero but on probes).
  bool stopped() const { return misses_ >= kMissesToStop; }

 private:
  int misses_ = 0;             // polls in a row that ended empty (capped)
  int waits_since_probe_ = 0;  // while stopped
};

}  // namespace rams::sys
