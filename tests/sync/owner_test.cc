// Owner ids and liveness: a live thread is alive, an exited, zombie or
// reused-tid owner is dead.
#include "sync/owner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

namespace rams::internal {
namespace {

uint64_t StartTimeOf(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (f == nullptr) return 0;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char* p = strrchr(buf, ')');
  unsigned long long start = 0;
  sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
         &start);
  return start;
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
  EXPECT_FALSE(OwnerAlive(other));  // the thread has exited
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
  uint64_t start = StartTimeOf(child);
  ASSERT_NE(start, 0u);
  uint32_t id = MakeOwnerId(static_cast<uint32_t>(child), start);
  EXPECT_TRUE(OwnerAlive(id));
  // The same tid with another start time: a new thread reusing the tid.
  uint32_t reused = MakeOwnerId(static_cast<uint32_t>(child), start + 1);
  if (reused == id) reused = MakeOwnerId(static_cast<uint32_t>(child), start + 2);
  EXPECT_FALSE(OwnerAlive(reused));
  kill(child, SIGKILL);
  siginfo_t info;
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(OwnerAlive(id));  // zombie
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  EXPECT_FALSE(OwnerAlive(id));  // gone
}

TEST(OwnerTest, DomainIsStable) {
  EXPECT_EQ(SelfDomain(), SelfDomain());
  EXPECT_NE(SelfDomain(), 0u) << "/proc should tell the boot id and PID namespace";
}

}  // namespace
}  // namespace rams::internal
