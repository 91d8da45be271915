// SPDX-License-Identifier: MIT
// Owner ids and liveness: a live thread is alive, an exited, zombie or
// reused-tid owner is dead.
#include "sync/owner.h"
#include "sync/proc_stat.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <thread>

namespace rams::internal {
namespace {

// Fields 22 (start time) and 28 (stack start) of /proc/<pid>/task/<pid>/stat.
StatFields StatOf(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, pid);
  StatFields f;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return f;
  if (ReadStat(fd, &f) != StatRead::kOk) f = StatFields{};
  close(fd);
  return f;
}

TEST(OwnerTest, SelfIsAliveAndStable) {
  uint32_t self = SelfOwnerId();
  EXPECT_NE(self, 0u);
  EXPECT_EQ(self & ~kOwnerIdMask, 0u);
  EXPECT_EQ(OwnerTid(self), static_cast<uint32_t>(gettid()));
  EXPECT_EQ(SelfOwnerId(), self);
  EXPECT_TRUE(OwnerAlive(self));
}

TEST(OwnerTest, ThreadsHaveTheirOwnIds) {
  uint32_t other = 0;
  std::thread t([&] { other = SelfOwnerId(); });
  t.join();
  EXPECT_NE(other, SelfOwnerId());
  // The thread has exited. join returns once its tid word is cleared, which
  // qemu-user does before its host thread ends; until the kernel has the
  // task gone the owner may look alive (the safe answer), never longer.
  bool dead = !OwnerAlive(other);
  for (int i = 0; i < 5000 && !dead; ++i) {
    usleep(1000);
    dead = !OwnerAlive(other);
  }
  EXPECT_TRUE(dead);
}

TEST(OwnerTest, ForkedChildGetsItsOwnId) {
  uint32_t parent = SelfOwnerId();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  if (child == 0) {
    uint32_t id = SelfOwnerId();
    _exit(write(fds[1], &id, sizeof id) == sizeof id ? 0 : 1);
  }
  uint32_t child_id = 0;
  ASSERT_EQ(read(fds[0], &child_id, sizeof child_id), static_cast<ssize_t>(sizeof child_id));
  close(fds[0]);
  close(fds[1]);
  EXPECT_NE(child_id, parent);
  EXPECT_EQ(OwnerTid(child_id), static_cast<uint32_t>(child));
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_FALSE(OwnerAlive(child_id));
}

TEST(OwnerTest, ZombieAndReusedTidAreDead) {
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  StatFields f = StatOf(child);
  ASSERT_NE(f.start_time, 0u);
  ASSERT_NE(f.start_stack, 0u);
  int64_t offset = 0;
  ASSERT_EQ(BootOffsetTicks(&offset), kYes);
  const uint64_t start = f.start_time - offset;
  uint32_t id = MakeOwnerId(static_cast<uint32_t>(child), start, f.start_stack);
  EXPECT_TRUE(OwnerAlive(id));
  // The same tid with another start time: a new thread reusing the tid.
  uint32_t reused = MakeOwnerId(static_cast<uint32_t>(child), start + 1, f.start_stack);
  if (reused == id) reused = MakeOwnerId(static_cast<uint32_t>(child), start + 2, f.start_stack);
  EXPECT_FALSE(OwnerAlive(reused));
  // The same thread after an execve: another stack.
  uint32_t execed = MakeOwnerId(static_cast<uint32_t>(child), start, f.start_stack + 4096);
  if (execed == id) execed = MakeOwnerId(static_cast<uint32_t>(child), start, f.start_stack + 8192);
  EXPECT_FALSE(OwnerAlive(execed));
  // Tag 0 (the owner could not verify itself): existence only.
  EXPECT_TRUE(OwnerAlive(static_cast<uint32_t>(child)));
  kill(child, SIGKILL);
  siginfo_t info;
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(OwnerAlive(id));  // zombie
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  EXPECT_FALSE(OwnerAlive(id));  // gone
}

// A thread in PF_EXITING runs no user code again: its locks are free to take
// (issue: a large holder's teardown delayed recovery by tens of ms).
TEST(OwnerTest, StatParsingSeesExitingAndZombieStates) {
  auto parse = [](const char* text) {
    int fd = memfd_create("stat", MFD_CLOEXEC);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text, strlen(text)), static_cast<ssize_t>(strlen(text)));
    StatFields f;
    StatRead r = ReadStat(fd, &f);
    close(fd);
    EXPECT_EQ(r, StatRead::kOk);
    return f;
  };
  // A command name with spaces and ')' in it, PF_EXITING (0x4) in flags.
  StatFields f = parse(
      "4242 (a b) c) R 1 4242 4242 0 -1 4194628 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 "
      "18446744073709551615 1 1 140737000000000 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
  EXPECT_EQ(f.state, 'R');
  EXPECT_EQ(f.flags, 4194628u);
  EXPECT_NE(f.flags & kPfExiting, 0u);
  EXPECT_EQ(f.start_time, 987654u);
  EXPECT_EQ(f.start_stack, 140737000000000u);
  EXPECT_EQ(LivenessFromStat(4242, f), Liveness::kDead);
  f.flags &= ~kPfExiting;
  EXPECT_EQ(LivenessFromStat(4242, f), Liveness::kAlive);
  f.state = 'Z';
  EXPECT_EQ(LivenessFromStat(4242, f), Liveness::kDead);
}

TEST(OwnerTest, OwnerWithTidZeroNamesNobody) {
  // A word a peer wrote: tag bits without a thread. Never kill(0, 0).
  EXPECT_EQ(CheckOwner(1u << kOwnerTagShift), Liveness::kDead);
}

TEST(OwnerTest, DomainIsStable) {
  EXPECT_EQ(SelfDomain(), SelfDomain());
  EXPECT_NE(SelfDomain(), 0u) << "/proc should tell the boot id and PID namespace";
}

}  // namespace
}  // namespace rams::internal
