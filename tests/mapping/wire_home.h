/* SPDX-License-Identifier: MIT */
// Shared by the tests of mapping over a real ramsd home: the segment's
// initial contents (page i holds bytes i + 1) and processes of one host.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <vector>

#include "mapping/page_source.h"
#include "../remote/ramsd_process.h"

namespace rams::mapping::test_wire {

// Fills `pages` pages of `seg`: every byte of page i is i + 1.
inline void FillPages(test::TempSegment& seg, uint64_t pages) {
  std::vector<std::byte> init(pages * kPageBytes);
  for (size_t i = 0; i < init.size(); ++i) init[i] = std::byte(i / kPageBytes + 1);
  ASSERT_TRUE(seg.segment().Write(0, init).ok());
}

// Runs `body` in `n` child processes one after the other; each must exit 0
// (body's return value is the exit code).
inline void RunChildren(int n, const std::function<int()>& body) {
  for (int child = 0; child < n; ++child) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(body());
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
}

// A child's check: every page of `p` holds the initial bytes (0 when so).
inline int CheckInitialPages(const volatile std::byte* p, uint64_t pages) {
  for (uint64_t i = 0; i < pages; ++i) {
    if (p[i * kPageBytes] != std::byte(i + 1)) return 3;
  }
  return 0;
}

}  // namespace rams::mapping::test_wire
