/* SPDX-License-Identifier: MIT */
// The two parts of `make demo`: the shared matrix multiplication and the
// seed's two-process lock sequence. Each prints its steps and returns 0 when
// the result is correct.
#pragma once

#include <optional>
#include <string>

#include "rams/segment.h"

namespace rams::demo {

// A segment that is removed when this goes out of scope, in the process
// that created it (forked children leave it alone).
class DemoSegment {
 public:
  // Creates it exclusively; prints the error and returns nullopt on failure.
  static std::optional<DemoSegment> Create(Backend* backend, std::string name, uint64_t bytes);
  DemoSegment(DemoSegment&& other) noexcept;
  DemoSegment& operator=(DemoSegment&&) = delete;
  ~DemoSegment();
  Segment& operator*() { return segment_; }
  Segment* operator->() { return &segment_; }

 private:
  DemoSegment(Backend* backend, Segment segment);
  Backend* backend_;
  Segment segment_;
  int creator_pid_;
};

int RunMatmulDemo(Backend* backend, int n, int procs);
int RunSeedSequenceDemo(Backend* backend, int lease_writes);

}  // namespace rams::demo
