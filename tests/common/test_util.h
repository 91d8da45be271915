// Helpers shared by the tests: unique segment names, the list of backends to
// run every scenario on, and fork helpers that turn a child's failure into an
// exit code the parent can assert on.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "rams/backend.h"
#include "rams/segment.h"

namespace rams::testing {

// A name no other test (or concurrent test binary) uses.
inline std::string UniqueName(const std::string& stem) {
  static std::atomic<int> counter{0};
  return "t-" + stem + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

// Every backend present on this machine ("posix" always; "kernel" when
// /dev/rams exists; "remote" when RAMS_TEST_REMOTE names a ramsd).
inline std::vector<std::string> AvailableBackends() {
  std::vector<std::string> out;
  for (const char* name : {"posix", "kernel", "remote"}) {
    if (BackendByName(name).ok()) out.emplace_back(name);
  }
  return out;
}

// Runs `body` in a child process; returns the child's pid. The child exits
// with body's return value (0 = success).
inline pid_t ForkChild(const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    int rc = 1;
    try {
      rc = body();
    } catch (...) {
      rc = 99;
    }
    _exit(rc);
  }
  return pid;
}

// Waits for `pid`; returns its exit code, or 128+signal when killed.
inline int WaitChild(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Removes the segment when the test ends, whatever happens.
class SegmentCleanup {
 public:
  SegmentCleanup(std::string name, Backend* backend) : name_(std::move(name)), backend_(backend) {}
  ~SegmentCleanup() { backend_->Remove(name_).IgnoreError(); }

 private:
  std::string name_;
  Backend* backend_;
};

// Base for tests parameterized by backend name.
class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto b = BackendByName(GetParam());
    if (!b.ok()) GTEST_SKIP() << b.status().ToString();
    backend_ = *b;
  }
  // Creates a fresh segment and removes it when the test ends.
  Segment MakeSegment(const std::string& stem, uint64_t size, uint32_t mode = 0600) {
    std::string name = UniqueName(stem);
    auto seg = Segment::Create(name, size, mode, /*exclusive=*/true, backend_);
    EXPECT_TRUE(seg.ok()) << seg.status().ToString();
    cleanups_.emplace_back(new SegmentCleanup(name, backend_));
    return std::move(*seg);
  }
  Backend* backend_ = nullptr;
  std::vector<std::unique_ptr<SegmentCleanup>> cleanups_;
};

inline std::string BackendParamName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

#define RAMS_INSTANTIATE_BACKEND_TESTS(suite)                                             \
  INSTANTIATE_TEST_SUITE_P(Backends, suite,                                               \
                           ::testing::ValuesIn(::rams::testing::AvailableBackends()), \
                           ::rams::testing::BackendParamName)

}  // namespace rams::testing
