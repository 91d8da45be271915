/* SPDX-License-Identifier: MIT */
// Test fixture shared by the sync tests: each test runs once per backend
// ("posix", "kernel"; absent ones are skipped with the reason) on a
// fresh segment mapped into the test process, and forks children that
// inherit the mapping.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "rams/backend.h"
#include "common/test_util.h"
#include "rams/segment.h"

namespace rams::testing {

inline constexpr uint64_t kSegmentBytes = 1 << 20;

class SyncTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    auto backend = BackendByName(GetParam());
    if (!backend.ok()) {
      GTEST_SKIP() << "backend " << GetParam() << " unavailable: " << backend.status().ToString();
    }
    backend_ = *backend;
    static int counter = 0;
    name_ = "synctest." + std::to_string(getpid()) + "." + std::to_string(counter++);
    auto segment = Segment::Create(name_, kSegmentBytes, 0600, /*exclusive=*/true, backend_);
    ASSERT_TRUE(segment.ok()) << segment.status().ToString();
    segment_.emplace(std::move(*segment));
    auto bytes = segment_->Map();
    if (bytes.code() == ENOTSUP) {
      GTEST_SKIP() << "backend " << GetParam()
                   << " cannot map segments (sync objects live in mapped memory): "
                   << bytes.status().ToString();
    }
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    base_ = bytes->data();
  }

  void TearDown() override {
    segment_.reset();
    if (backend_ != nullptr) Segment::Remove(name_, backend_).IgnoreError();
  }

  // Constructs a T at `offset` of the segment.
  template <class T, class... Args>
  T* Place(size_t offset, Args&&... args) {
    return new (base_ + offset) T(std::forward<Args>(args)...);
  }
  template <class T>
  T* At(size_t offset) {
    return std::launder(reinterpret_cast<T*>(base_ + offset));
  }

  Backend* backend_ = nullptr;
  std::string name_;
  std::optional<Segment> segment_;
  std::byte* base_ = nullptr;
};

// Sync objects live in mapped memory: the remote attachment cannot map, so
// remote sync objects have their own suite (tests/remote/sync_objects_test.cc).
#define RAMS_SYNC_BACKENDS ::testing::Values("posix", "kernel")

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A SyncTest whose segment starts with one `State` object, which has an
// atomic `ready` count that child processes bump once they are set up.
template <class State>
class SharedStateTest : public SyncTest {
 protected:
  State* shared() { return At<State>(0); }
  void SetUp() override {
    SyncTest::SetUp();
    if (!IsSkipped() && !HasFatalFailure()) Place<State>(0);
  }
  // Waits (up to 10 s) until `n` children have checked in.
  void WaitReady(uint32_t n) {
    auto start = std::chrono::steady_clock::now();
    while (shared()->ready.load() < n && SecondsSince(start) < 10) usleep(100);
    ASSERT_GE(shared()->ready.load(), n);
  }
};

}  // namespace rams::testing
