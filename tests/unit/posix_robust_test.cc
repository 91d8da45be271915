// SPDX-License-Identifier: MIT
// The posix backend's io_mu (src/posix/layout.h) is a robust, process-shared
// mutex: a process killed while holding it leaves the segment usable by the
// others. Under qemu-user the kernel never learns a robust list
// (set_robust_list is ENOSYS there), so a dead holder would wedge the mutex:
// the test skips with that reason (tests/SKIPS.md).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <vector>

#include "common/test_util.h"
#include "posix/layout.h"
#include "posix/posix_backend.h"

namespace rams {
namespace {

using testing::ForkChild;
using testing::KernelKeepsRobustLists;
using testing::kNoRobustLists;
using testing::WaitChild;

TEST(PosixRobustTest, HolderKilledInsideTheIoMutexDoesNotWedgeTheSegment) {
  if (!KernelKeepsRobustLists()) {
    GTEST_SKIP() << kNoRobustLists << ": a dead holder's robust mutex is never released";
  }
  auto backend = BackendByName("posix");
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  const std::string name = "robust." + std::to_string(getpid());
  auto seg = Segment::Create(name, 4096, 0600, /*exclusive=*/true, *backend);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  testing::SegmentCleanup cleanup(name, *backend);

  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t holder = ForkChild([&] {
    int fd = shm_open(posix::ShmName(name).c_str(), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return 2;
    void* map = mmap(nullptr, posix::kHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) return 3;
    auto* header = static_cast<posix::Header*>(map);
    if (pthread_mutex_lock(&header->io_mu) != 0) return 4;
    if (write(ready[1], "x", 1) != 1) return 5;
    pause();  // killed here, holding io_mu
    return 6;
  });
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1) << "the holder did not lock io_mu";
  close(ready[0]);
  kill(holder, SIGKILL);
  EXPECT_EQ(WaitChild(holder), 128 + SIGKILL);

  // In a child that WaitChild kills after 20 s, so a wedged mutex fails the
  // test instead of hanging it.
  pid_t user = ForkChild([&] {
    std::vector<std::byte> buf(8, std::byte{7});
    if (!seg->Write(0, buf).ok()) return 2;
    std::vector<std::byte> back(8);
    if (!seg->Read(0, back).ok() || back != buf) return 3;
    return 0;
  });
  EXPECT_EQ(WaitChild(user, std::chrono::seconds(20)), 0)
      << "-1 means io_mu stayed locked after its holder died";
  std::vector<std::byte> back(8);
  EXPECT_TRUE(seg->Read(0, back).ok());
}

}  // namespace
}  // namespace rams
