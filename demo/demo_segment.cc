// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "demos.h"

namespace rams::demo {

std::optional<DemoSegment> DemoSegment::Create(Backend* backend, std::string name, uint64_t bytes) {
  auto seg = Segment::Create(name, bytes, 0600, /*exclusive=*/true, backend);
  if (!seg.ok()) {
    fprintf(stderr, "rams-demo: %s\n", seg.status().ToString().c_str());
    return std::nullopt;
  }
  return DemoSegment(backend, std::move(*seg));
}

DemoSegment::DemoSegment(Backend* backend, Segment segment)
    : backend_(backend), segment_(std::move(segment)), creator_pid_(getpid()) {}

DemoSegment::DemoSegment(DemoSegment&& other) noexcept
    : backend_(std::exchange(other.backend_, nullptr)),
      segment_(std::move(other.segment_)),
      creator_pid_(other.creator_pid_) {}

DemoSegment::~DemoSegment() {
  if (getpid() == creator_pid_ && backend_ != nullptr) {
    backend_->Remove(segment_.name()).IgnoreError();
  }
}

}  // namespace rams::demo
