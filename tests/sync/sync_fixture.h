/* SPDX-License-Identifier: MIT */
// Test fixture shared by the sync tests: each test runs once per backend
// ("posix", "kernel", "remote"; an absent kernel backend is skipped with the
// reason) on a fresh segment mapped into the test process, and forks
// children (ForkChild) that use the mapping at the same address: inherited
// from a posix or kernel mapping, mapped again by the child from a remote
// one (a remote mapping is not inherited, see ChildBase).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstddef>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rams/backend.h"
#include "common/test_util.h"
#include "mapping/mapped_segment.h"
#include "rams/remote.h"
#include "rams/segment.h"
#include "rams/wait.h"
#include "remote_home.h"
#include "wait_ranges.h"

namespace rams::testing {

inline constexpr uint64_t kSegmentBytes = 1 << 20;

// A child's report of why it cannot use the segment (ChildBase).
inline std::byte* ChildFailed(const char* what, const Status& status) {
  fprintf(stderr, "child %d: %s: %s\n", getpid(), what, status.ToString().c_str());
  return nullptr;
}

class SyncTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (remote()) {
      // A segment of the home ramsd, opened through the remote backend and
      // mapped through the host ramsd's pager.
      RemoteHome& home = RemoteHome::Get();
      auto name = home.TakeSegment(kSegmentBytes);
      if (HasFatalFailure()) return;
      ASSERT_TRUE(name.ok()) << name.status().ToString();
      if (!home.pager_running()) {
        GTEST_SKIP() << "ramsd started without its host pager (userfaultfd cannot serve here)";
      }
      name_ = *name;
      backend_ = home.backend();
      auto segment = Segment::Open(name_, {}, backend_);
      ASSERT_TRUE(segment.ok()) << segment.status().ToString();
      segment_.emplace(std::move(*segment));
    } else {
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
    }
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
    // A remote segment is removed with its home (RemoteHome).
    if (backend_ != nullptr && !remote()) Segment::Remove(name_, backend_).IgnoreError();
  }

  bool remote() const { return std::string_view(GetParam()) == "remote"; }

  // In a child forked from the test process: makes the segment's bytes
  // usable at base_ in this process and returns base_ (nullptr, with the
  // reason on stderr, when it cannot). A posix or kernel mapping is
  // inherited. A remote mapping is not (MADV_DONTFORK: an access there is
  // SIGSEGV, never zeros), nor is the parent's connection (librams drops its
  // wait range in the child), so the child opens the segment on a session of
  // its own, maps it again through the pager at the parent's address, so
  // that the parent's pointers stay valid, and routes its words' waits to
  // its own attachment. What it opens lives until the child exits.
  std::byte* ChildBase() {
    if (!remote()) return base_;
    RemoteHome& home = RemoteHome::Get();
    auto session = RemoteSession::Connect("127.0.0.1", home.home_port());
    if (!session.ok()) return ChildFailed("connect", session.status());
    auto attachment = session->Open(name_);
    if (!attachment.ok()) return ChildFailed("open", attachment.status());
    auto mapped = mapping::MappedSegment::Open(
        home.pager_socket(), session->peer() + "/" + name_,
        mapping::MapOptions{.write = true, .address = base_});
    if (!mapped.ok()) return ChildFailed("map", mapped.status());
    Status registered =
        internal::RegisterWaitRangeNotInherited(base_, kSegmentBytes, attachment->get());
    if (!registered.ok()) return ChildFailed("register the wait range", registered);
    // Kept until the child exits (children _exit, running no destructors).
    new RemoteSession(std::move(*session));
    attachment->release();
    mapped->release();
    return base_;
  }

  // As testing::ForkChild, the body running after ChildBase(); a child that
  // cannot map the segment exits with 98.
  pid_t ForkChild(const std::function<int()>& body) {
    return ::rams::testing::ForkChild([&] { return ChildBase() != nullptr ? body() : 98; });
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

// Sync objects live in mapped memory; "remote" maps a segment of a ramsd on
// loopback through the host pager (remote_home.h). The proxies for objects
// driven by the home's sync agent have their own suite
// (tests/remote/sync_objects_test.cc). The kernel suite selects "kernel" by
// its index (1).
#define RAMS_SYNC_BACKENDS ::testing::Values("posix", "kernel", "remote")

// How long survivors may take to notice an owner's death and go on. The
// primitives notice within 1 s (docs/sync.md: a parked waiter's slices are at
// most 100 ms); the tests allow 3 s because make test runs them beside other
// suites' builds on 2 cores, where 1.05 s was seen. A death that is never
// noticed still fails: the children's own limits are longer (5 s).
inline constexpr double kDeathNoticedSeconds = 3.0;

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
