// SPDX-License-Identifier: MIT
// Defined failures: fork, non-root processes, a stalled or lost home, a
// pager that goes away. Nothing may hang and nothing may read zeros.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

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
  // Without uffd write-protect a read takes the page exclusive, writable.
  auto features = ProbeUffdFeatures();
  ASSERT_TRUE(features.ok()) << features.status().ToString();
  const bool shared_reads = features->wp_shmem;
  pid_t k = ForkChild([&c, shared_reads] {
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
    if (shared_reads && KernelWriteInto(p + kPageBytes) != EFAULT) return 6;  // shared: no write
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

// A provider that blocks until released, like a home that accepts the
// connection and never answers HELLO.
class BlackholeProvider {
 public:
  SegmentProvider Provider() {
    return [this](std::string_view) -> Result<ProvidedSegment> {
      std::unique_lock l(mu_);
      ++entered_;
      cv_.notify_all();
      cv_.wait(l, [&] { return released_; });
      return Error(ETIMEDOUT, "the home never answered HELLO");
    };
  }
  bool AwaitEntered(int calls) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(30), [&] { return entered_ >= calls; });
  }
  int entered() {
    std::lock_guard l(mu_);
    return entered_;
  }
  void Release() {
    std::lock_guard l(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool released_ = false;
};

// One process naming an unreachable home must not stall the host: while
// the provider waits for that home, another process's faults on a served
// segment complete (the provider runs on an opener, not the pager thread),
// and a second OPEN of the same name joins the first instead of taking
// another opener. The provider answers only after the faults are done, so
// a pager that waits for it on its own thread fails here (the child is
// killed after 30 s).
TEST(FailureTest, AnUnreachableHomeStallsOnlyItsOwnOpen) {
  BlackholeProvider blackhole;
  Cluster c({.hosts = 1, .provider = blackhole.Provider()});
  RAMS_ASSERT_CLUSTER_UP(c);
  int ready[2], go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  pid_t k = ForkChild([&c, &ready, &go] {
    auto m = c.Map(0);
    if (!m.ok()) return 2;
    char b = 1;
    if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) != 1) return 3;
    volatile std::byte* p = (*m)->data().data();
    for (uint64_t pg = 0; pg < 4; ++pg) {
      if (p[pg * kPageBytes] != std::byte{0}) return 4;  // read faults
      p[pg * kPageBytes + 1] = std::byte{7};            // write faults
    }
    return 0;
  });
  char b = 0;
  ASSERT_EQ(read(ready[0], &b, 1), 1);
  Result<std::unique_ptr<MappedSegment>> stalled[2] = {Error(EINPROGRESS, ""),
                                                       Error(EINPROGRESS, "")};
  auto open = [&](int i) {
    return std::thread([&, i] {
      stalled[i] = MappedSegment::Open(c.socket(0), "10.77.255.1:7700/blackhole", MapOptions{});
    });
  };
  std::thread openers[2];
  openers[0] = open(0);
  EXPECT_TRUE(blackhole.AwaitEntered(1));
  openers[1] = open(1);
  ASSERT_EQ(write(go[1], &b, 1), 1);
  const int rc = WaitChild(k, std::chrono::seconds(30));
  const int provider_calls = blackhole.entered();
  blackhole.Release();
  for (std::thread& t : openers) t.join();
  for (int fd : {ready[0], ready[1], go[0], go[1]}) close(fd);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(provider_calls, 1);
  for (const auto& s : stalled) EXPECT_EQ(s.code(), ETIMEDOUT) << s.status().ToString();
  EXPECT_EQ(c.home.ReadCoherent(3)[1], std::byte{7});
}

// Waits (bounded) until host 0's pager counted `n` exclusive copies lost.
bool AwaitCopiesLost(const Cluster& c, uint64_t n) {
  for (int i = 0; i < 1000; ++i) {
    if (c.stats(0).copies_lost >= n) return true;
    usleep(10000);
  }
  return false;
}

// A lost session takes the host's copy with it: pages cached before the
// loss, clean or dirty, are SIGBUS in the processes still mapping them,
// never a stale copy the home's directory no longer knows about.
TEST(FailureTest, LostSessionDropsTheCachedCopies) {
  Cluster c({.hosts = 1});
  RAMS_ASSERT_CLUSTER_UP(c);
  std::vector<std::byte> page(kPageBytes, std::byte{0x33});
  c.home.WriteCoherent(0, page);
  int ready[2], go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  pid_t k = ForkChild([&c, &ready, &go] {
    DieOnFaultSignals();
    auto m = c.Map(0);
    if (!m.ok()) return 2;
    volatile std::byte* p = (*m)->data().data();
    if (p[0] != std::byte{0x33}) return 3;  // cached shared
    p[kPageBytes] = std::byte{1};           // cached exclusive, dirty
    char b = 1;
    if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) != 1) return 4;
    return p[0] == std::byte{0x33} ? 5 : 6;  // must not return: SIGBUS
  });
  char b = 0;
  ASSERT_EQ(read(ready[0], &b, 1), 1);
  c.home.Disconnect(0);
  EXPECT_TRUE(AwaitCopiesLost(c, 1));
  ASSERT_EQ(write(go[1], &b, 1), 1);
  EXPECT_EQ(WaitChild(k), kSigbus);
  for (int fd : {ready[0], ready[1], go[0], go[1]}) close(fd);
}

// After its source is lost, a new OPEN of the name asks the provider again
// (a new session, a new epoch): the new mapping works on the home's data,
// while the write the lost copy held is gone.
TEST(FailureTest, ANewMappingAfterALostSessionOpensAFreshSource) {
  std::atomic<FakeHome*> home{nullptr};
  std::atomic<int> provided{0};
  Cluster c({.hosts = 1, .provider = [&](std::string_view) -> Result<ProvidedSegment> {
               return ProvidedSegment{.source = home.load()->Connect(++provided), .access = {}};
             }});
  RAMS_ASSERT_CLUSTER_UP(c);
  home = &c.home;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t k = ForkChild([&c, &ready] {
    auto m = c.Map(0);
    if (!m.ok()) return 2;
    (*m)->data()[kPageBytes] = std::byte{1};  // held exclusively when the session goes
    char b = 1;
    if (write(ready[1], &b, 1) != 1) return 3;
    for (;;) pause();
  });
  char b = 0;
  ASSERT_EQ(read(ready[0], &b, 1), 1);
  close(ready[0]);
  close(ready[1]);
  c.home.WriteCoherent(2, std::vector<std::byte>(kPageBytes, std::byte{0x44}));
  c.home.Disconnect(0);
  EXPECT_TRUE(AwaitCopiesLost(c, 1));
  pid_t again = ForkChild([&c] {
    auto m = c.Map(0);
    if (!m.ok()) return 2;
    volatile std::byte* p = (*m)->data().data();
    if (p[2 * kPageBytes] != std::byte{0x44}) return 3;
    if (p[kPageBytes] != std::byte{0}) return 4;  // the lost write
    p[3 * kPageBytes] = std::byte{5};
    return 0;
  });
  EXPECT_EQ(WaitChild(again), 0);
  kill(k, SIGKILL);
  WaitChild(k);
  EXPECT_EQ(provided, 1);
  EXPECT_EQ(c.home.ReadCoherent(3)[0], std::byte{5});
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
