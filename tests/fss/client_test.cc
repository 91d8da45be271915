// SPDX-License-Identifier: MIT
// libfss against a real fssd: the seed scenario, the API's return values and
// errno, path confinement, malformed requests, a client dying mid-request,
// and 20 concurrent clients.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "client_call.h"
#include "fssd_process.h"
#include "rams/fss.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

using testing::ReadFile;
using testing::WriteFile;

class FssClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing::MakeTempDir("client");
    root_ = base_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    WriteFile(root_ + "/hw.txt", "hello, world\n");
    ASSERT_EQ(mkdir((root_ + "/foo").c_str(), 0755), 0);
    WriteFile(root_ + "/foo/a", "aaa");
    ASSERT_EQ(mkdir((root_ + "/foo/sub").c_str(), 0755), 0);
    WriteFile(root_ + "/foo/sub/b", "bbb");
    start_ = testing::Snapshot(root_);
    fssd_ = std::make_unique<testing::FssdProcess>(root_, base_ + "/fss.sock", base_ + "/fssd.log");
    c_ = fssd_->Connect();
    ASSERT_NE(c_, nullptr) << strerror(errno);
  }
  void TearDown() override {
    if (c_ != nullptr) fss_disconnect(c_);
    if (fssd_->running()) {
      EXPECT_EQ(fssd_->Stop(), 0) << "fssd exit status; log: " << base_ << "/fssd.log";
    }
    fssd_.reset();
    testing::RemoveAll(base_);
  }
  int Restore() { return testing::RunProgram({FSS_RESTORE_PATH, root_}); }

  std::string base_, root_;
  testing::Tree start_;
  std::unique_ptr<testing::FssdProcess> fssd_;
  fss_client* c_ = nullptr;
};

TEST_F(FssClientTest, SeedScenario) {
  int fd = fss_open(c_, "/hw.txt", O_WRONLY | O_TRUNC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fss_write(c_, fd, "goodbye\n", 8), 8);
  ASSERT_EQ(fss_close(c_, fd), 0);
  EXPECT_EQ(ReadFile(root_ + "/hw.txt"), "goodbye\n");
  EXPECT_EQ(ReadFile(root_ + "/checkpoint/hw.txt"), "hello, world\n");
  ASSERT_EQ(fss_unlink(c_, "/foo/"), 0);
  EXPECT_EQ(ReadFile(root_ + "/checkpoint/foo/a"), "aaa");
  EXPECT_EQ(ReadFile(root_ + "/checkpoint/foo/sub/b"), "bbb");
  fss_disconnect(c_);
  c_ = nullptr;
  EXPECT_NE(Restore(), 0) << "restore must refuse while fssd runs";
  fssd_->Stop();
  ASSERT_EQ(Restore(), 0);
  EXPECT_EQ(testing::Diff(start_, testing::Snapshot(root_)), "");
  // fssd said which scheduling it got.
  EXPECT_NE(ReadFile(base_ + "/fssd.log").find("scheduling: SCHED_"), std::string::npos);
}

TEST_F(FssClientTest, CallsBehaveLikeSyscalls) {
  int fd = fss_open(c_, "/new", O_RDWR | O_CREAT | O_EXCL, 0640);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fss_open(c_, "/new", O_RDWR | O_CREAT | O_EXCL, 0640), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(fss_pwrite(c_, fd, "0123456789", 10, 0), 10);
  char buf[16] = {};
  EXPECT_EQ(fss_lseek(c_, fd, 2, SEEK_SET), 2);
  EXPECT_EQ(fss_read(c_, fd, buf, 3), 3);
  EXPECT_EQ(std::string(buf, 3), "234");
  EXPECT_EQ(fss_pread(c_, fd, buf, 16, 8), 2);
  struct fss_statbuf st;
  ASSERT_EQ(fss_fstat(c_, fd, &st), 0);
  EXPECT_EQ(st.size, 10);
  EXPECT_EQ(st.mode & 07777, 0640u & ~022u);
  EXPECT_EQ(fss_ftruncate(c_, fd, 4), 0);
  EXPECT_EQ(fss_fsync(c_, fd), 0);
  EXPECT_EQ(fss_close(c_, fd), 0);
  EXPECT_EQ(fss_close(c_, fd), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(fss_read(c_, 12345, buf, 1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(fss_stat(c_, "/new", &st), 0);
  EXPECT_EQ(st.size, 4);
  EXPECT_EQ(fss_stat(c_, "/missing", &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(fss_mkdir(c_, "/d", 0755), 0);
  EXPECT_EQ(fss_mkdir(c_, "/d", 0755), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(fss_symlink(c_, "../new", "/d/l"), 0);
  char target[64];
  EXPECT_EQ(fss_readlink(c_, "/d/l", target, sizeof(target)), 6);
  EXPECT_EQ(std::string(target, 6), "../new");
  EXPECT_EQ(fss_stat(c_, "/d/l", &st), 0);
  EXPECT_TRUE(S_ISREG(st.mode));
  EXPECT_EQ(fss_lstat(c_, "/d/l", &st), 0);
  EXPECT_TRUE(S_ISLNK(st.mode));
  EXPECT_EQ(fss_rmdir(c_, "/d"), -1);
  EXPECT_EQ(errno, ENOTEMPTY);
  EXPECT_EQ(fss_rename(c_, "/new", "/d/renamed"), 0);
  EXPECT_EQ(fss_truncate(c_, "/d/renamed", 100), 0);
  EXPECT_EQ(fss_chmod(c_, "/d/renamed", 0600), 0);
  EXPECT_EQ(fss_stat(c_, "/d/renamed", &st), 0);
  EXPECT_EQ(st.size, 100);
  EXPECT_EQ(st.mode & 07777, 0600u);
  EXPECT_EQ(fss_unlink(c_, "/d/l"), 0);
  EXPECT_EQ(fss_unlink(c_, "/d/renamed"), 0);
  EXPECT_EQ(fss_rmdir(c_, "/d"), 0);
  EXPECT_EQ(fss_rmdir(c_, "/hw.txt"), -1);
  EXPECT_EQ(errno, ENOTDIR);
  EXPECT_EQ(fss_open(c_, "/foo", O_WRONLY, 0), -1);
  EXPECT_EQ(errno, EISDIR);
}

TEST_F(FssClientTest, OpeningAFifoDoesNotBlockTheServer) {
  ASSERT_EQ(mkfifo((root_ + "/fifo").c_str(), 0644), 0);
  EXPECT_EQ(fss_open(c_, "/fifo", O_WRONLY, 0), -1);
  EXPECT_EQ(errno, ENXIO);  // no reader: the non-blocking open fails at once
  int fd = fss_open(c_, "/fifo", O_RDONLY, 0);
  EXPECT_GE(fd, 0);
  struct fss_statbuf st;
  EXPECT_EQ(fss_stat(c_, "/hw.txt", &st), 0);
  EXPECT_EQ(fss_close(c_, fd), 0);
}

TEST_F(FssClientTest, ReaddirListsEverythingButTheCheckpointArea) {
  int fd = fss_open(c_, "/", O_RDONLY | O_DIRECTORY, 0);
  ASSERT_GE(fd, 0) << strerror(errno);
  std::set<std::string> names;
  struct fss_dirent entries[2];
  int n;
  while ((n = fss_readdir(c_, fd, entries, 2)) > 0) {
    for (int i = 0; i < n; ++i) names.insert(entries[i].name);
  }
  EXPECT_EQ(n, 0);
  EXPECT_EQ(names, (std::set<std::string>{".", "..", "foo", "hw.txt"}));
  EXPECT_EQ(fss_close(c_, fd), 0);
}

TEST_F(FssClientTest, OneMebibyteInOneCall) {
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  int fd = fss_open(c_, "/big", O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fss_write(c_, fd, big.data(), big.size()), static_cast<ssize_t>(big.size()));
  std::string back(big.size(), '\0');
  EXPECT_EQ(fss_pread(c_, fd, back.data(), back.size(), 0), static_cast<ssize_t>(big.size()));
  EXPECT_EQ(back, big);
  EXPECT_EQ(fss_close(c_, fd), 0);
  EXPECT_EQ(ReadFile(root_ + "/big"), big);
}

TEST_F(FssClientTest, PathEscapesAreRefused) {
  // Something outside the root that must stay untouched.
  WriteFile(base_ + "/outside", "secret");
  ASSERT_EQ(symlink("..", (root_ + "/up").c_str()), 0);
  ASSERT_EQ(symlink((base_ + "/outside").c_str(), (root_ + "/abs").c_str()), 0);
  ASSERT_EQ(symlink("../outside", (root_ + "/rel").c_str()), 0);
  ASSERT_EQ(symlink("checkpoint", (root_ + "/cp").c_str()), 0);
  // Paths whose directories lead out of the root or into the checkpoint area.
  const char* paths[] = {"../outside", "/../outside", "foo/../../outside", "/up/outside", "up/root/hw.txt",
                         "/checkpoint/.fss.journal", "/checkpoint", "/cp/.fss.journal", "foo/../checkpoint/x",
                         "/checkpoint/../checkpoint/.fss.lock", "/checkpoint/", "checkpoint/."};
  for (const char* p : paths) {
    SCOPED_TRACE(p);
    struct fss_statbuf st;
    EXPECT_EQ(fss_stat(c_, p, &st), -1);
    EXPECT_EQ(fss_lstat(c_, p, &st), -1);
    EXPECT_EQ(fss_open(c_, p, O_RDWR | O_CREAT | O_TRUNC, 0644), -1);
    EXPECT_EQ(fss_open(c_, p, O_RDONLY | O_DIRECTORY, 0), -1);
    EXPECT_EQ(fss_unlink(c_, p), -1);
    EXPECT_EQ(fss_rmdir(c_, p), -1);
    EXPECT_EQ(fss_truncate(c_, p, 0), -1);
    EXPECT_EQ(fss_chmod(c_, p, 0777), -1);
    EXPECT_EQ(fss_mkdir(c_, p, 0777), -1);
    EXPECT_EQ(fss_rename(c_, "/hw.txt", p), -1);
    EXPECT_EQ(fss_symlink(c_, "x", p), -1);
    EXPECT_EQ(fss_rename(c_, p, "/stolen"), -1);
    char buf[64];
    EXPECT_EQ(fss_readlink(c_, p, buf, sizeof(buf)), -1);
  }
  // Symlinks in the tree that point out (or into the area) are not followed.
  for (const char* p : {"/abs", "/rel", "/cp", "/up/x"}) {
    SCOPED_TRACE(p);
    struct fss_statbuf st;
    EXPECT_EQ(fss_stat(c_, p, &st), -1);
    EXPECT_EQ(fss_open(c_, p, O_RDWR | O_CREAT | O_TRUNC, 0644), -1);
    EXPECT_EQ(fss_truncate(c_, p, 0), -1);
    EXPECT_EQ(fss_chmod(c_, p, 0777), -1);
  }
  EXPECT_EQ(ReadFile(base_ + "/outside"), "secret");
  struct stat st;
  EXPECT_EQ(lstat((root_ + "/stolen").c_str(), &st), -1);
  EXPECT_EQ(lstat((base_ + "/x").c_str(), &st), -1);
  EXPECT_EQ(ReadFile(root_ + "/hw.txt"), "hello, world\n");
  // Nothing was saved: the journal is still an empty checkpoint.
  EXPECT_EQ(ReadFile(root_ + "/checkpoint/.fss.journal").size(), 64u);
}

TEST_F(FssClientTest, MalformedRequestsGetErrors) {
  Request bad;
  bad.op = static_cast<Op>(99);
  EXPECT_EQ(Call(c_, bad, nullptr, 0, nullptr, 0), -ENOSYS);
  Request huge;
  huge.op = Op::kRead;
  huge.fd = 0;
  huge.count = uint64_t{1} << 40;
  EXPECT_EQ(Call(c_, huge, nullptr, 0, nullptr, 0), -EINVAL);
  Request nul;
  nul.op = Op::kStat;
  nul.path = std::string("hw.txt\0x", 8);
  EXPECT_EQ(Call(c_, nul, nullptr, 0, nullptr, 0), -EINVAL);
  Request stray;
  stray.op = Op::kClose;
  stray.fd = 0;
  stray.path = "/hw.txt";
  EXPECT_EQ(Call(c_, stray, nullptr, 0, nullptr, 0), -EINVAL);
  struct fss_statbuf st;
  EXPECT_EQ(fss_stat(c_, "/hw.txt", &st), 0) << "the server goes on";
}

TEST_F(FssClientTest, PerClientLimitOnOpenFiles) {
  fss_disconnect(c_);
  c_ = nullptr;
  fssd_.reset();
  fssd_ = std::make_unique<testing::FssdProcess>(root_, base_ + "/fss.sock", base_ + "/fssd.log",
                                                 std::vector<std::string>{"--max-open-files", "4"});
  c_ = fssd_->Connect();
  ASSERT_NE(c_, nullptr);
  for (int i = 0; i < 4; ++i) EXPECT_GE(fss_open(c_, "/hw.txt", O_RDONLY, 0), 0);
  EXPECT_EQ(fss_open(c_, "/hw.txt", O_RDONLY, 0), -1);
  EXPECT_EQ(errno, EMFILE);
  fss_client* other = fssd_->Connect();
  ASSERT_NE(other, nullptr);
  EXPECT_GE(fss_open(other, "/hw.txt", O_RDONLY, 0), 0) << "limits are per client";
  fss_disconnect(other);
}

TEST_F(FssClientTest, ClientDyingMidRequestDoesNotWedgeTheServer) {
  for (int round = 0; round < 5; ++round) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      fss_client* c = fssd_->Connect();
      if (c == nullptr) _exit(1);
      std::string big(1 << 20, 'k');
      int fd = fss_open(c, "/victim", O_WRONLY | O_CREAT, 0644);
      for (;;) fss_pwrite(c, fd, big.data(), big.size(), 0);
    }
    usleep(20000 + round * 7000);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
  }
  struct fss_statbuf st;
  EXPECT_EQ(fss_stat(c_, "/victim", &st), 0);
  fss_client* fresh = fssd_->Connect();
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fss_stat(fresh, "/hw.txt", &st), 0);
  fss_disconnect(fresh);
}

TEST_F(FssClientTest, TwentyConcurrentClients) {
  constexpr int kClients = 20;
  std::vector<pid_t> children;
  for (int i = 0; i < kClients; ++i) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      fss_client* c = fssd_->Connect();
      if (c == nullptr) _exit(10);
      std::string dir = "/c" + std::to_string(i);
      if (fss_mkdir(c, dir.c_str(), 0755) != 0) _exit(11);
      for (int k = 0; k < 50; ++k) {
        std::string path = dir + "/f" + std::to_string(k % 5);
        std::string data = path + ":" + std::to_string(k);
        int fd = fss_open(c, path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || fss_write(c, fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) _exit(12);
        char back[64];
        if (fss_pread(c, fd, back, sizeof(back), 0) != static_cast<ssize_t>(data.size()) ||
            std::string(back, data.size()) != data) {
          _exit(13);
        }
        if (fss_close(c, fd) != 0) _exit(14);
        struct fss_statbuf st;
        if (fss_stat(c, "/hw.txt", &st) != 0) _exit(15);
      }
      fss_disconnect(c);
      _exit(0);
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(ReadFile(root_ + "/c" + std::to_string(i) + "/f4"), "/c" + std::to_string(i) + "/f4:49");
  }
  fss_disconnect(c_);
  c_ = nullptr;
  fssd_->Stop();
  ASSERT_EQ(Restore(), 0);
  EXPECT_EQ(testing::Diff(start_, testing::Snapshot(root_)), "");
}

TEST_F(FssClientTest, CliStatusDiffCommit) {
  int fd = fss_open(c_, "/hw.txt", O_WRONLY | O_TRUNC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fss_write(c_, fd, "bye\n", 4), 4);
  ASSERT_EQ(fss_close(c_, fd), 0);
  ASSERT_EQ(fss_unlink(c_, "/foo/a"), 0);
  ASSERT_GE(fss_open(c_, "/created", O_WRONLY | O_CREAT, 0644), 0);
  std::string out;
  ASSERT_EQ(testing::RunProgram({FSS_CLI_PATH, "status", "--root", root_}, &out), 0);
  EXPECT_EQ(out, "A /created\nD /foo/a\nM /hw.txt\n");
  ASSERT_EQ(testing::RunProgram({FSS_CLI_PATH, "diff", "/hw.txt", "--root", root_}, &out), 0);
  EXPECT_NE(out.find("-hello, world"), std::string::npos) << out;
  EXPECT_NE(out.find("+bye"), std::string::npos) << out;
  ASSERT_EQ(testing::RunProgram({FSS_CLI_PATH, "commit", "--root", root_, "--socket", fssd_->socket()}, &out), 0)
      << out;
  ASSERT_EQ(testing::RunProgram({FSS_CLI_PATH, "status", "--root", root_}, &out), 0);
  EXPECT_EQ(out, "");
  testing::Tree committed = testing::Snapshot(root_);
  ASSERT_EQ(fss_unlink(c_, "/hw.txt"), 0);
  ASSERT_EQ(testing::RunProgram({FSS_CLI_PATH, "restore", "--root", root_, "--socket", fssd_->socket()}, &out), 0)
      << out;
  EXPECT_EQ(testing::Diff(committed, testing::Snapshot(root_)), "");
}

}  // namespace
}  // namespace rams::fss
