// SPDX-License-Identifier: MIT
// The checkpoint area never costs the user data: a directory the FSS did not
// make is refused, a damaged journal is reported and its saved copies kept,
// a failed Begin() leaves a working checkpoint, and a restore by a non-root
// server gets through read-only directories and goes on past failures.
// The unprivileged cases run in children that become nobody (65534); they
// need root to set up and are skipped otherwise.
#include <fcntl.h>
#include <sched.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <thread>

#include "checkpoint.h"
#include "common/test_util.h"
#include "file_server.h"
#include "fssd_process.h"
#include "journal.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

using testing::ReadFile;
using testing::RunProgram;
using testing::Snapshot;
using testing::WriteFile;

using testing::kNobody;

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// Runs `argv` as nobody (the caller is root); its exit status.
int RunAsNobody(const std::vector<std::string>& argv) {
  pid_t pid = rams::testing::ForkChild([&] {
    if (!testing::DropToNobody()) return 97;
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::execv(args[0], args.data());
    return 98;
  });
  return rams::testing::WaitChild(pid, std::chrono::seconds(60));
}

void ChownTree(const std::string& dir, uid_t uid) {
  ASSERT_EQ(RunProgram({"/bin/chown", "-R", std::to_string(uid) + ":" + std::to_string(uid), dir}), 0);
}

class CheckpointSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("safety");
    WriteFile(dir_ + "/hw.txt", "hello, world\n");
    ASSERT_EQ(mkdir((dir_ + "/foo").c_str(), 0755), 0);
    WriteFile(dir_ + "/foo/a", "aaa");
    start_ = Snapshot(dir_);
  }
  void TearDown() override {
    RunProgram({"/bin/chmod", "-R", "u+rwx", dir_});
    testing::RemoveAll(dir_);
  }
  // Changes hw.txt and foo/a through a FileServer (saving them), then stops.
  void ChangeFiles() {
    Result<Root> root = Root::Open(dir_, "checkpoint");
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    auto cp = Checkpoint::Open(*root);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    FileServer fs(*root, std::move(*cp));
    Session s;
    for (const char* path : {"/hw.txt", "/foo/a"}) {
      int64_t fd = fs.Open(s, path, O_WRONLY | O_TRUNC, 0, 022);
      ASSERT_GE(fd, 0) << path;
      ASSERT_EQ(fs.Write(s, static_cast<int>(fd), "changed", 7), 7);
      ASSERT_EQ(fs.Close(s, static_cast<int>(fd)), 0);
    }
  }
  // In a child that became nobody: a FileServer on the root, given to `body`;
  // the child's exit status.
  int AsNobodyServer(const std::function<int(FileServer&)>& body) {
    pid_t pid = rams::testing::ForkChild([&] {
      if (!testing::DropToNobody()) return 97;
      Result<Root> root = Root::Open(dir_, "checkpoint");
      if (!root.ok()) return 2;
      auto cp = Checkpoint::Open(*root);
      if (!cp.ok()) return 3;
      FileServer fs(*root, std::move(*cp));
      return body(fs);
    });
    return rams::testing::WaitChild(pid);
  }
  std::string Journal() const { return dir_ + "/checkpoint/" + kJournalName; }
  void Corrupt(uint64_t offset) {
    int fd = ::open(Journal().c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char b = 0;
    ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(offset)), 1);
    b ^= 0x5a;
    ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(offset)), 1);
    ::close(fd);
  }

  std::string dir_;
  testing::Tree start_;
};

// Fails on the old code: Open and Begin() emptied ROOT/checkpoint/.
TEST_F(CheckpointSafetyTest, UserDirectoryNamedLikeTheAreaIsNeverEmptied) {
  ASSERT_EQ(mkdir((dir_ + "/checkpoint").c_str(), 0755), 0);
  WriteFile(dir_ + "/checkpoint/notes.txt", "mine");
  ASSERT_EQ(mkdir((dir_ + "/saves").c_str(), 0755), 0);
  WriteFile(dir_ + "/saves/old.txt", "mine too");
  Result<Root> root = Root::Open(dir_, "checkpoint");
  ASSERT_TRUE(root.ok());
  auto cp = Checkpoint::Open(*root);
  EXPECT_EQ(cp.code(), EEXIST);
  EXPECT_NE(RunProgram({FSS_RESTORE_PATH, dir_}), 0);
  EXPECT_NE(RunProgram({FSS_CLI_PATH, "commit", "--root", dir_}), 0);
  EXPECT_NE(RunProgram({FSS_RESTORE_PATH, dir_, "--checkpoint-dir", "saves"}), 0);
  EXPECT_NE(RunProgram({FSS_CLI_PATH, "commit", "--root", dir_, "--checkpoint-dir", "saves"}), 0);
  EXPECT_EQ(ReadFile(dir_ + "/checkpoint/notes.txt"), "mine");
  EXPECT_EQ(ReadFile(dir_ + "/saves/old.txt"), "mine too");
}

TEST_F(CheckpointSafetyTest, EmptyOrOwnAreaIsUsed) {
  ASSERT_EQ(mkdir((dir_ + "/checkpoint").c_str(), 0700), 0);
  ChangeFiles();  // an empty directory is adopted
  EXPECT_TRUE(Exists(dir_ + "/checkpoint/.fss.area"));
  EXPECT_EQ(RunProgram({FSS_RESTORE_PATH, dir_}), 0);
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

// Fails on the old code: a bad header read as "no journal", and Begin()
// deleted the saved originals; fss-restore then exited 0 having restored
// nothing.
TEST_F(CheckpointSafetyTest, CorruptJournalHeaderKeepsCopiesAndFailsLoudly) {
  ChangeFiles();
  Corrupt(20);  // inside the generation
  Result<Root> root = Root::Open(dir_, "checkpoint");
  ASSERT_TRUE(root.ok());
  {
    auto cp = Checkpoint::Open(*root);
    EXPECT_EQ(cp.code(), EBADMSG) << cp.status().ToString();
  }
  EXPECT_EQ(ReadFile(dir_ + "/checkpoint/hw.txt"), "hello, world\n");
  std::string out;
  EXPECT_NE(RunProgram({FSS_RESTORE_PATH, dir_}, &out), 0);
  // Every record is still whole: all of it comes back, and stays restorable.
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
  EXPECT_TRUE(Exists(Journal()));
  EXPECT_EQ(ReadFile(dir_ + "/checkpoint/hw.txt"), "hello, world\n");
}

// Fails on the old code: reading stopped at the bad record, the journal was
// cut there, and fss-restore exited 0 with foo/a still changed.
TEST_F(CheckpointSafetyTest, CorruptRecordInTheMiddleIsReportedAndTheRestRestored) {
  ChangeFiles();
  Corrupt(sizeof(JournalHeader) + 40);  // the first record's metadata
  EXPECT_NE(RunProgram({FSS_RESTORE_PATH, dir_}), 0);
  EXPECT_EQ(ReadFile(dir_ + "/foo/a"), "aaa");           // the trusted record
  EXPECT_EQ(ReadFile(dir_ + "/hw.txt"), "changed");      // its record is bad
  EXPECT_EQ(ReadFile(dir_ + "/checkpoint/hw.txt"), "hello, world\n");  // kept
  // fssd refuses to continue it (the old one served on).
  EXPECT_NE(RunProgram({"/usr/bin/timeout", "10", FSSD_PATH, "--root", dir_, "--socket", dir_ + "/s"}), 0);
}

TEST_F(CheckpointSafetyTest, TornTailIsStillCutQuietly) {
  ChangeFiles();
  int fd = ::open(Journal().c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  RecordHeader h = {};
  h.magic = kRecordMagic;
  h.path_bytes = 100;  // claims more than is there
  ASSERT_EQ(::write(fd, &h, sizeof(h)), static_cast<ssize_t>(sizeof(h)));
  ::close(fd);
  EXPECT_EQ(RunProgram({FSS_RESTORE_PATH, dir_}), 0);
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

// Fails on the old code: Begin() created the new journal, dropped the old
// one, then failed to delete a stale copy and returned with no journal, and
// every later Open failed the same way (EACCES): the root was stuck.
TEST_F(CheckpointSafetyTest, FailedCleanupInBeginLeavesAWorkingCheckpoint) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make a copy the unprivileged server cannot remove";
  ChownTree(dir_, kNobody);
  ASSERT_EQ(AsNobodyServer([](FileServer&) { return 0; }), 0);  // creates the area
  ASSERT_EQ(mkdir((dir_ + "/checkpoint/stale").c_str(), 0755), 0);  // root's
  WriteFile(dir_ + "/checkpoint/stale/f", "x");
  EXPECT_EQ(AsNobodyServer([](FileServer& fs) {
              if (fs.Commit() != 0) return 4;
              Session s;
              int64_t fd = fs.Open(s, "/hw.txt", O_WRONLY | O_TRUNC, 0, 022);
              if (fd < 0 || fs.Write(s, static_cast<int>(fd), "x", 1) != 1) return 5;
              return fs.RestoreCheckpoint() == 0 ? 0 : 6;
            }),
            0);
  EXPECT_EQ(ReadFile(dir_ + "/hw.txt"), "hello, world\n");
}

// Fails on the old code: RemoveTree could not empty a read-only directory
// as nobody, and the first failing record stopped the restore.
TEST_F(CheckpointSafetyTest, UnprivilegedRestoreGetsThroughReadOnlyDirsAndGoesOn) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become nobody and to plant an unrestorable path";
  ASSERT_EQ(mkdir((dir_ + "/ro").c_str(), 0755), 0);
  WriteFile(dir_ + "/ro/f", "original");
  ASSERT_EQ(mkdir((dir_ + "/zz").c_str(), 0755), 0);
  WriteFile(dir_ + "/zz/g", "original g");
  start_ = Snapshot(dir_);
  ChownTree(dir_, kNobody);
  // As nobody: create ro/sub, make ro read-only, change hw.txt and zz/g.
  ASSERT_EQ(AsNobodyServer([](FileServer& fs) {
              Session s;
              if (fs.Mkdir("/ro/sub", 0755, 022) != 0) return 4;
              if (fs.Chmod("/ro", 0555) != 0) return 5;
              for (const char* path : {"/hw.txt", "/zz/g"}) {
                int64_t fd = fs.Open(s, path, O_WRONLY | O_TRUNC, 0, 022);
                if (fd < 0 || fs.Write(s, static_cast<int>(fd), "x", 1) != 1) return 6;
                if (fs.Close(s, static_cast<int>(fd)) != 0) return 7;
              }
              return 0;
            }),
            0);
  // A path nobody cannot restore: hw.txt replaced by a root-owned directory
  // with content.
  ASSERT_EQ(::unlink((dir_ + "/hw.txt").c_str()), 0);
  ASSERT_EQ(mkdir((dir_ + "/hw.txt").c_str(), 0755), 0);
  WriteFile(dir_ + "/hw.txt/root-owned", "r");
  EXPECT_NE(RunAsNobody({FSS_RESTORE_PATH, dir_}), 0);
  testing::Tree now = Snapshot(dir_);
  EXPECT_EQ(now["ro"].mode, 0755u);
  EXPECT_EQ(now.count("ro/sub"), 0u);
  EXPECT_EQ(ReadFile(dir_ + "/zz/g"), "original g");  // after the failing path
  // Once the obstacle is gone, a second run finishes the job.
  ASSERT_EQ(::unlink((dir_ + "/hw.txt/root-owned").c_str()), 0);
  EXPECT_EQ(RunAsNobody({FSS_RESTORE_PATH, dir_}), 0);
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

// Fails on the old code: restore made the link with the time of the restore.
TEST_F(CheckpointSafetyTest, SymlinkTimesAreRestored) {
  ASSERT_EQ(::symlink("hw.txt", (dir_ + "/link").c_str()), 0);
  struct timespec times[2] = {{978307200, 5}, {978307201, 7}};  // 2001-01-01
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ + "/link").c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  {
    Result<Root> root = Root::Open(dir_, "checkpoint");
    ASSERT_TRUE(root.ok());
    auto cp = Checkpoint::Open(*root);
    ASSERT_TRUE(cp.ok());
    FileServer fs(*root, std::move(*cp));
    ASSERT_EQ(fs.Unlink("/link"), 0);
  }
  ASSERT_EQ(RunProgram({FSS_RESTORE_PATH, dir_}), 0);
  struct stat st;
  ASSERT_EQ(::lstat((dir_ + "/link").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 978307201);
  EXPECT_EQ(st.st_mtim.tv_nsec, 7);
}

// Fails on the old code: a server at SCHED_FIFO copied at SCHED_FIFO.
TEST_F(CheckpointSafetyTest, SavesCopyAtNormalPriority) {
  struct sched_param fifo = {};
  fifo.sched_priority = 1;
  std::thread t([&] {
    if (::sched_setscheduler(0, SCHED_FIFO, &fifo) != 0) return;  // checked below
    Result<Root> root = Root::Open(dir_, "checkpoint");
    ASSERT_TRUE(root.ok());
    auto cp = Checkpoint::Open(*root);
    ASSERT_TRUE(cp.ok());
    int during = -1;
    (*cp)->SetFaultHook([&](std::string_view step) {
      if (step == "copy") during = ::sched_getscheduler(0);
      return Status::Ok();
    });
    FileServer fs(*root, std::move(*cp));
    EXPECT_EQ(fs.Truncate("/hw.txt", 0), 0);
    EXPECT_EQ(during, SCHED_OTHER);
    EXPECT_EQ(::sched_getscheduler(0), SCHED_FIFO);  // and back for requests
  });
  t.join();
  if (::sched_setscheduler(0, SCHED_FIFO, &fifo) != 0) GTEST_SKIP() << "SCHED_FIFO not permitted here";
  struct sched_param normal = {};
  ::sched_setscheduler(0, SCHED_OTHER, &normal);
}

// Bytes a file really occupies.
uint64_t AllocatedBytes(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_blocks) * 512 : ~uint64_t{0};
}

// Fails on the old code: copy_file_range wrote the holes' zeros (ext4), so
// the copy and the restored file each allocated 1 GiB.
TEST_F(CheckpointSafetyTest, SparseFilesStaySparseInTheCopyAndAfterRestore) {
  const std::string path = dir_ + "/sparse";
  constexpr off_t kSize = off_t{1} << 30;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, kSize), 0);
  std::string page(4096, 'd');
  ASSERT_EQ(::pwrite(fd, page.data(), page.size(), 0), 4096);
  ASSERT_EQ(::pwrite(fd, page.data(), page.size(), kSize / 2), 4096);
  ::close(fd);
  if (AllocatedBytes(path) > (1 << 20)) GTEST_SKIP() << "this file system does not keep holes";
  {
    Result<Root> root = Root::Open(dir_, "checkpoint");
    ASSERT_TRUE(root.ok());
    auto cp = Checkpoint::Open(*root);
    ASSERT_TRUE(cp.ok());
    FileServer fs(*root, std::move(*cp));
    Session s;
    int64_t h = fs.Open(s, "/sparse", O_WRONLY, 0, 022);  // saved here
    ASSERT_GE(h, 0);
    ASSERT_EQ(fs.Pwrite(s, static_cast<int>(h), "changed", 7, kSize / 4), 7);
    ASSERT_EQ(fs.Close(s, static_cast<int>(h)), 0);
  }
  EXPECT_LE(AllocatedBytes(dir_ + "/checkpoint/sparse"), 1u << 20);
  ASSERT_EQ(RunProgram({FSS_RESTORE_PATH, dir_}), 0);
  EXPECT_LE(AllocatedBytes(path), 1u << 20);
  // Content, read where it matters (a snapshot would read the whole GiB).
  fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, kSize);
  for (off_t at : {off_t{0}, kSize / 4, kSize / 2}) {
    std::string got(4096, '?');
    ASSERT_EQ(::pread(fd, got.data(), got.size(), at), 4096);
    EXPECT_EQ(got, at == kSize / 4 ? std::string(4096, '\0') : page) << "at " << at;
  }
  ::close(fd);
}

}  // namespace
}  // namespace rams::fss
