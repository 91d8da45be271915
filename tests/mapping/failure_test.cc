// SPDX-License-Identifier: MIT
// Defined failures: fork, non-root processes, a stalled or lost home, a
// pager that goes away. Nothing may hang and nothing may read zeros.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "cluster.h"
#include "common/test_util.h"

namespace rams::mapping::testing {
namespace {

using ::rams::testing::ForkChild;
using ::rams::testing::WaitChild;

constexpr int kSigbus = 128 + SIGBUS;
constexpr int kSigsegv = 128 + SIGSEGV;

// read(2) of one byte from a pipe into `at`: 0 or the errno it failed with.
int KernelWriteInto(std::byte* at) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  char b = 'k';
  if (write(fds[1], &b, 1) != 1) return -1;
  ssize_t n = read(fds[0], at, 1);
  int err = n == 1 ? 0 : errno;
  close(fds[0]);
  close(fds[1]);
  return err;
}

TEST(FailureTest, ForkedChildLosesTheMappingCleanly) {
  Cluster c({.hosts = 1});
  RAMS_ASSERT_CLUSTER_UP(c);
  std::vector<std::byte> page(kPageBytes, std::byte{0x5a});
  c.home.WriteCoherent(0, page);
  pid_t k = ForkChild([&c] {
    auto m = c.Map(0);
    if (!m.ok()) return 2;
    volatile std::byte* p = (*m)->data().data();
    if (p[0] != std::byte{0x5a}) return 3;
    pid_t grandchild = ForkChild([p] {
      DieOnFaultSignals();
      return p[0] == std::byte{0x5a} ? 10 : 11;
    });
    int rc = WaitChild(grandchild);
    return rc == kSigsegv ? 0 : 20 + rc;  // not inherited: SIGSEGV, never zeros
  });
  EXPECT_EQ(WaitChild(k), 0);
}

TEST(FailureTest, KernelModeAccessIsServedForPrivilegedProcesses) {
  Cluster c({.hosts = 1});
  RAMS_ASSERT_CLUSTER_UP(c);
  auto m = c.Map(0);
  ASSERT_TRUE(m.ok());
  if ((*m)->user_mode_only()) GTEST_SKIP() << "this process only gets user-mode faults";
  EXPECT_EQ(KernelWriteInto((*m)->data().data() + 7 * kPageBytes), 0);
  EXPECT_EQ(c.home.ReadCoherent(7)[0], std::byte{'k'});
}

// As uid 65534 under vm.unprivileged_userfaultfd=0 (and /dev/userfaultfd
// 0600 root, as on Debian 12): user-mode faults work; a kernel-mode access
// to a page not present fails with EFAULT at once, never hangs.
TEST(FailureTest, NonRootProcessGetsUserModeFaultsAndClearKernelErrors) {
  std::ifstream sysctl("/proc/sys/vm/unprivileged_userfaultfd");
  int unprivileged = -1;
  sysctl >> unprivileged;
  if (unprivileged != 0) GTEST_SKIP() << "vm.unprivileged_userfaultfd is not 0";
  if (getuid() != 0) GTEST_SKIP() << "needs root to become uid 65534";
  Cluster c({.hosts = 1, .access = {.owner_uid = 65534, .owner_gid = 65534, .mode = 0600}});
  RAMS_ASSERT_CLUSTER_UP(c);
  pid_t k = ForkChild([&c] {
    if (setgid(65534) != 0 || setuid(65534) != 0) return 2;
    auto m = c.Map(0);
    if (!m.ok()) return 3;
    if (!(*m)->user_mode_only()) {
      return access("/dev/userfaultfd", R_OK | W_OK) == 0 ? 0 : 8;  // it was open to us
    }
    std::byte* p = (*m)->data().data();
    if (KernelWriteInto(p) != EFAULT) return 4;        // absent page
    volatile std::byte* v = p + kPageBytes;
    if (*v != std::byte{0}) return 5;                   // user-mode read fault
    if (KernelWriteInto(p + kPageBytes) != EFAULT) return 6;  // held shared: no write
    p[2 * kPageBytes] = std::byte{1};                   // user-mode write: exclusive
    if (KernelWriteInto(p + 2 * kPageBytes) != 0) return 7;
    return 0;
  });
  EXPECT_EQ(WaitChild(k, std::chrono::seconds(30)), 0);
  EXPECT_EQ(c.home.ReadCoherent(2)[0], std::byte{'k'});
}

TEST(FailureTest, StalledHomeTurnsAFaultIntoSigbus) {
  Cluster c({.hosts = 1, .home_timeout = std::chrono::milliseconds(300)});
  RAMS_ASSERT_CLUSTER_UP(c);
  c.home.SetStalled(true);
  pid_t k = ForkChild([&c] {
    DieOnFaultSignals();
    auto m = c.Map(0);
    if (!m.ok()) return 2;
    volatile std::byte* p = (*m)->data().data();
    return p[0] == std::byte{0} ? 3 : 4;  // must not return: SIGBUS
  });
  EXPECT_EQ(WaitChild(k, std::chrono::seconds(20)), kSigbus);
  EXPECT_GE(c.stats(0).failed_faults, 1u);
}

// A kernel-mode access retries its fault instead of taking the SIGBUS (only
// a fatal signal ends it): the second failure of the same thread on the
// same page kills the process, so the read(2) cannot wait forever.
TEST(FailureTest, StalledHomeEndsAKernelModeAccess) {
  Cluster c({.hosts = 1, .home_timeout = std::chrono::milliseconds(300)});
  RAMS_ASSERT_CLUSTER_UP(c);
  c.home.SetStalled(true);
  pid_t k = ForkChild([&c] {
    signal(SIGBUS, [](int) {});  // caught: only a fatal signal ends the access
    auto m = c.Map(0);
    if (!m.ok()) return 2;
    if ((*m)->user_mode_only()) raise(SIGKILL);  // never reaches the pager: EFAULT
    int err = KernelWriteInto((*m)->data().data());
    return 10 + err;  // must not return
  });
  EXPECT_EQ(WaitChild(k, std::chrono::seconds(20)), 128 + SIGKILL);
}

TEST(FailureTest, LostSessionFailsFaultsAtOnce) {
  Cluster c({.hosts = 1});
  RAMS_ASSERT_CLUSTER_UP(c);
  c.home.Disconnect(0);
  pid_t k = ForkChild([&c] {
    DieOnFaultSignals();
    auto m = c.Map(0);
    if (!m.ok()) return 2;
    volatile std::byte* p = (*m)->data().data();
    return p[0] == std::byte{0} ? 3 : 4;
  });
  EXPECT_EQ(WaitChild(k, std::chrono::seconds(20)), kSigbus);
}

TEST(FailureTest, PagerGoneRevokesTheMappingNeverZeros) {
  Cluster c({.hosts = 1});
  RAMS_ASSERT_CLUSTER_UP(c);
  std::vector<std::byte> page(kPageBytes, std::byte{0x77});
  c.home.WriteCoherent(1, page);
  int ready[2], gone[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(gone), 0);
  pid_t k = ForkChild([&] {
    DieOnFaultSignals();
    auto m = c.Map(0);
    if (!m.ok()) return 2;
    volatile std::byte* p = (*m)->data().data();
    if (p[0] != std::byte{0}) return 3;
    char b = 'r';
    if (write(ready[1], &b, 1) != 1 || read(gone[0], &b, 1) != 1) return 4;
    return p[kPageBytes] == std::byte{0x77} ? 5 : 6;  // must not return
  });
  char b;
  ASSERT_EQ(read(ready[0], &b, 1), 1);
  c.pagers[0].reset();
  ASSERT_EQ(write(gone[1], "g", 1), 1);
  const int rc = WaitChild(k, std::chrono::seconds(20));
  EXPECT_TRUE(rc == kSigbus || rc == kSigsegv) << rc;
}

}  // namespace
}  // namespace rams::mapping::testing
