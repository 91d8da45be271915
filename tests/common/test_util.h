/* SPDX-License-Identifier: MIT */
// Helpers shared by the tests: unique segment names, the list of backends to
// run every scenario on, and the one fork helper (ForkChild/WaitChild) that
// turns a child's failure or hang into an exit code the parent can assert on.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
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

// Whether the kernel keeps this thread's robust futex list (glibc registers
// one for every thread), and so releases a dead holder's robust pthread
// mutex. qemu-user answers ENOSYS: there a process killed inside a posix
// segment's io mutex wedges the segment for good.
inline bool KernelKeepsRobustLists() {
  void* head = nullptr;
  size_t len = 0;
  return syscall(SYS_get_robust_list, 0, &head, &len) == 0 || errno != ENOSYS;
}
inline constexpr const char* kNoRobustLists =
    "get_robust_list is ENOSYS (qemu-user has no robust futex lists)";

// Every local backend present on this machine ("posix" always; "kernel" when
// /dev/rams exists). The remote attachment has its own suites in
// tests/remote, which start their own ramsd.
inline std::vector<std::string> AvailableBackends() {
  std::vector<std::string> out;
  for (const char* name : {"posix", "kernel"}) {
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

// Exit code of `pid` (128 + signal when killed), waiting as long as
// `progress()` (a count that grows while the child's work advances) changes:
// kills it and returns -1 when the count stayed the same for `stall` (a
// hang), -2 when it cannot be waited for. A slow machine (an emulated guest
// on a loaded host) is not taken for a hang.
template <class Progress>
int WaitChildWhileProgressing(pid_t pid, Progress progress, std::chrono::milliseconds stall) {
  auto last = progress();
  auto since = std::chrono::steady_clock::now();
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -2;
    const auto now = std::chrono::steady_clock::now();
    if (auto p = progress(); p != last) {
      last = p;
      since = now;
    } else if (now - since > stall) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    usleep(200);
  }
}

// The same for a child that cannot be watched: waits at most `limit`.
inline int WaitChild(pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  return WaitChildWhileProgressing(pid, [] { return 0; }, limit);
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
