// SPDX-License-Identifier: MIT
// --allow-other-users: a client of another user connects, gets a channel no
// third process can open, and acts with its own uid, gid and supplementary
// groups, so the kernel decides what it may do. Needs root (to run fssd as
// root and clients as nobody); skipped otherwise.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "common/test_util.h"
#include "fssd_process.h"
#include "rams/fss.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

using testing::WriteFile;

constexpr uid_t kNobody = 65534;
constexpr gid_t kExtraGroup = 4242;  // a supplementary group of the client only

class FssOtherUsersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: fssd runs as root, the client as nobody";
    base_ = testing::MakeTempDir("users");
    ASSERT_EQ(chmod(base_.c_str(), 0755), 0);
    root_ = base_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    WriteFile(root_ + "/secret.txt", "root only", 0600);
    ASSERT_EQ(mkdir((root_ + "/closed").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/open").c_str(), 0755), 0);
    ASSERT_EQ(chown((root_ + "/open").c_str(), kNobody, kNobody), 0);
    ASSERT_EQ(mkdir((root_ + "/group").c_str(), 0770), 0);
    ASSERT_EQ(chown((root_ + "/group").c_str(), 0, kExtraGroup), 0);
    ASSERT_EQ(chmod((root_ + "/group").c_str(), 0770), 0);
    start_ = testing::Snapshot(root_);
    fssd_ = std::make_unique<testing::FssdProcess>(root_, base_ + "/fss.sock", base_ + "/fssd.log",
                                                   std::vector<std::string>{"--allow-other-users"});
    ASSERT_TRUE(fssd_->running());
  }
  void TearDown() override {
    if (fssd_ && fssd_->running()) {
      EXPECT_EQ(fssd_->Stop(), 0);
    }
    fssd_.reset();
    if (!base_.empty()) testing::RemoveAll(base_);
  }
  std::string base_, root_;
  testing::Tree start_;
  std::unique_ptr<testing::FssdProcess> fssd_;
};

// Fails on the old code: the client was refused (a 0600 channel of fssd's
// user), and had it got in it would have acted as root.
TEST_F(FssOtherUsersTest, ClientActsWithItsOwnCredentialsAndGroups) {
  pid_t pid = rams::testing::ForkChild([&] {
    gid_t groups[] = {kExtraGroup};
    if (setgroups(1, groups) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) return 97;
    fss_client* c = fss_connect(fssd_->socket().c_str());
    if (c == nullptr) return 2;
    if (fss_open(c, "/secret.txt", O_RDONLY, 0) != -1 || errno != EACCES) return 3;
    if (fss_open(c, "/closed/x", O_WRONLY | O_CREAT, 0644) != -1 || errno != EACCES) return 4;
    if (fss_mkdir(c, "/closed/d", 0755) != -1 || errno != EACCES) return 5;
    int fd = fss_open(c, "/open/mine", O_WRONLY | O_CREAT, 0644);
    if (fd < 0 || fss_write(c, fd, "mine", 4) != 4 || fss_close(c, fd) != 0) return 6;
    fd = fss_open(c, "/group/g", O_WRONLY | O_CREAT, 0644);  // by the supplementary group
    if (fd < 0 || fss_close(c, fd) != 0) return 7;
    if (fss_chmod(c, "/secret.txt", 0666) != -1 || errno != EPERM) return 8;
    if (fss_commit(c) != -1 || errno != EPERM) return 9;
    fss_disconnect(c);
    return 0;
  });
  EXPECT_EQ(rams::testing::WaitChild(pid), 0);
  struct stat st;
  ASSERT_EQ(stat((root_ + "/open/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(stat((root_ + "/closed/x").c_str(), &st), -1);
  ASSERT_EQ(stat((root_ + "/secret.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The server's own saves still work: everything comes back.
  EXPECT_EQ(fssd_->Stop(), 0);
  EXPECT_EQ(testing::RunProgram({FSS_RESTORE_PATH, root_}), 0);
  EXPECT_EQ(testing::Diff(start_, testing::Snapshot(root_)), "");
}

TEST_F(FssOtherUsersTest, WithoutTheOptionOtherUsersAreRefused) {
  fssd_->Stop();
  fssd_ = std::make_unique<testing::FssdProcess>(root_, base_ + "/fss.sock", base_ + "/fssd.log");
  ASSERT_EQ(chmod((base_ + "/fss.sock").c_str(), 0666), 0);
  pid_t pid = rams::testing::ForkChild([&] {
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) return 97;
    fss_client* c = fss_connect(fssd_->socket().c_str());
    return c == nullptr && errno == EACCES ? 0 : 1;
  });
  EXPECT_EQ(rams::testing::WaitChild(pid), 0);
}

}  // namespace
}  // namespace rams::fss
