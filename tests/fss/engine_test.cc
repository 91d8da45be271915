// SPDX-License-Identifier: MIT
// The checkpoint engine and file operations, called directly (no transport):
// what is saved, when, and that restore gives the starting tree back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "checkpoint.h"
#include "file_server.h"
#include "restore.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

using testing::ReadFile;
using testing::Snapshot;
using testing::WriteFile;

class FssEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("engine");
    WriteFile(dir_ + "/hw.txt", "hello, world\n");
    ASSERT_EQ(mkdir((dir_ + "/foo").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir_ + "/foo/sub").c_str(), 0700), 0);
    WriteFile(dir_ + "/foo/a", "aaa");
    WriteFile(dir_ + "/foo/sub/b", "bbb", 0600);
    ASSERT_EQ(symlink("../hw.txt", (dir_ + "/foo/link").c_str()), 0);
    start_ = Snapshot(dir_);
    Start();
  }
  void TearDown() override {
    server_.reset();
    root_.reset();
    testing::RemoveAll(dir_);
  }
  void Start() {
    Result<Root> root = Root::Open(dir_, "checkpoint");
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    root_.emplace(std::move(*root));
    auto cp = Checkpoint::Open(*root_);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    server_ = std::make_unique<FileServer>(*root_, std::move(*cp));
  }
  // Stops the server and restores as fss-restore would.
  void StopAndRestore() {
    server_.reset();
    auto cp = Checkpoint::Open(*root_);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    Status s = (*cp)->Restore(false);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  int64_t WriteVia(const std::string& path, const std::string& data, int flags = O_WRONLY | O_TRUNC | O_CREAT) {
    int64_t fd = server_->Open(session_, path, flags, 0644, 022);
    if (fd < 0) return fd;
    int64_t n = server_->Write(session_, static_cast<int>(fd), data.data(), data.size());
    EXPECT_EQ(server_->Close(session_, static_cast<int>(fd)), 0);
    return n;
  }
  std::string Area(const std::string& rel) { return dir_ + "/checkpoint/" + rel; }

  std::string dir_;
  testing::Tree start_;
  std::optional<Root> root_;
  std::unique_ptr<FileServer> server_;
  Session session_;
};

TEST_F(FssEngineTest, SeedScenarioSavesAndRestores) {
  ASSERT_EQ(WriteVia("/hw.txt", "changed"), 7);
  EXPECT_EQ(ReadFile(Area("hw.txt")), "hello, world\n");
  ASSERT_EQ(server_->Unlink("/foo/"), 0);
  EXPECT_EQ(ReadFile(Area("foo/a")), "aaa");
  EXPECT_EQ(ReadFile(Area("foo/sub/b")), "bbb");
  struct stat st;
  ASSERT_EQ(lstat(Area("foo/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_NE(access((dir_ + "/foo").c_str(), F_OK), 0);
  StopAndRestore();
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, OnlyTheFirstChangeIsSaved) {
  ASSERT_EQ(WriteVia("/hw.txt", "one"), 3);
  ASSERT_EQ(WriteVia("/hw.txt", "two"), 3);
  ASSERT_EQ(server_->Truncate("/hw.txt", 1), 0);
  EXPECT_EQ(ReadFile(Area("hw.txt")), "hello, world\n");
  EXPECT_EQ(server_->checkpoint().records().size(), 1u);
  StopAndRestore();
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, TruncatingReadOnlyOpenSavesAtOpen) {
  int64_t fd = server_->Open(session_, "/foo/a", O_RDONLY | O_TRUNC, 0, 022);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadFile(Area("foo/a")), "aaa");
  EXPECT_EQ(ReadFile(dir_ + "/foo/a"), "");
  EXPECT_EQ(server_->Close(session_, static_cast<int>(fd)), 0);
  StopAndRestore();
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, OpenForWritingSavesBeforeAnyWrite) {
  int64_t fd = server_->Open(session_, "/hw.txt", O_RDWR, 0, 022);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadFile(Area("hw.txt")), "hello, world\n");
  EXPECT_EQ(server_->Pwrite(session_, static_cast<int>(fd), "J", 1, 0), 1);
  EXPECT_EQ(server_->Close(session_, static_cast<int>(fd)), 0);
  EXPECT_EQ(ReadFile(Area("hw.txt")), "hello, world\n");
  StopAndRestore();
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, UnlinkedOpenFileIsSavedAtUnlink) {
  int64_t fd = server_->Open(session_, "/foo/a", O_RDONLY, 0, 022);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(server_->Unlink("/foo/a"), 0);
  EXPECT_EQ(ReadFile(Area("foo/a")), "aaa");
  char buf[8];
  EXPECT_EQ(server_->Read(session_, static_cast<int>(fd), buf, sizeof(buf)), 3);
  StopAndRestore();
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, HardLinksAreSavedOncePerInodeAndRestoredAsLinks) {
  server_.reset();
  ASSERT_EQ(link((dir_ + "/hw.txt").c_str(), (dir_ + "/foo/hw-link").c_str()), 0);
  ASSERT_EQ(link((dir_ + "/hw.txt").c_str(), (dir_ + "/hw-link2").c_str()), 0);
  start_ = Snapshot(dir_);
  Start();
  ASSERT_EQ(WriteVia("/foo/hw-link", "through a link"), 14);
  ASSERT_EQ(server_->Unlink("/hw-link2"), 0);
  ASSERT_EQ(server_->Unlink("/foo"), 0);
  int files = 0;
  size_t links = 0;
  for (const Record& r : server_->checkpoint().records()) {
    files += r.kind == RecordKind::kFile;
    links += OtherLinks(r).size();
  }
  EXPECT_EQ(files, 1);  // hw.txt's inode, once
  EXPECT_EQ(links, 2u);  // with its two other names
  StopAndRestore();
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
  struct stat a, b;
  ASSERT_EQ(stat((dir_ + "/hw.txt").c_str(), &a), 0);
  ASSERT_EQ(stat((dir_ + "/foo/hw-link").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 3u);
}

TEST_F(FssEngineTest, ExtendedAttributesAndModesAreKept) {
  if (setxattr((dir_ + "/hw.txt").c_str(), "user.fss", "kept", 4, 0) != 0) {
    GTEST_SKIP() << "user xattrs not supported here: " << strerror(errno);
  }
  server_.reset();
  start_ = Snapshot(dir_);
  Start();
  ASSERT_EQ(server_->Chmod("/hw.txt", 0600), 0);
  ASSERT_EQ(server_->Chmod("/foo", 0711), 0);
  ASSERT_EQ(server_->Unlink("/hw.txt"), 0);
  char value[16];
  EXPECT_EQ(getxattr(Area("hw.txt").c_str(), "user.fss", value, sizeof(value)), 4);
  StopAndRestore();
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, RenameSavesBothEnds) {
  ASSERT_EQ(server_->Rename("/foo", "/bar"), 0);
  ASSERT_EQ(WriteVia("/bar/a", "new a"), 5);
  ASSERT_EQ(server_->Rename("/bar/sub/b", "/hw.txt"), 0);
  ASSERT_EQ(server_->Mkdir("/foo", 0755, 022), 0);
  ASSERT_EQ(WriteVia("/foo/new", "n"), 1);
  ASSERT_EQ(server_->Symlink("nowhere", "/foo/dangling"), 0);
  StopAndRestore();
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, DeepChangesThenRemovalOfTheirDirectory) {
  ASSERT_EQ(WriteVia("/foo/sub/b", "B"), 1);
  ASSERT_EQ(WriteVia("/foo/sub/c", "C"), 1);
  ASSERT_EQ(server_->Unlink("/foo/a"), 0);
  ASSERT_EQ(server_->Chmod("/foo/sub", 0755), 0);
  ASSERT_EQ(server_->Unlink("/foo"), 0);
  ASSERT_EQ(server_->Mkdir("/foo", 0700, 0), 0);
  ASSERT_EQ(WriteVia("/foo/a", "replaced"), 8);
  StopAndRestore();
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, ContinuesAnInterruptedCheckpointAcrossRestarts) {
  ASSERT_EQ(WriteVia("/hw.txt", "first run"), 9);
  server_.reset();
  Start();  // as fssd restarted after a crash: the same checkpoint goes on
  ASSERT_EQ(WriteVia("/hw.txt", "second run"), 10);
  ASSERT_EQ(server_->Unlink("/foo/a"), 0);
  StopAndRestore();
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, CommitAcceptsChanges) {
  ASSERT_EQ(WriteVia("/hw.txt", "accepted"), 8);
  ASSERT_EQ(server_->Commit(), 0);
  testing::Tree committed = Snapshot(dir_);
  ASSERT_EQ(WriteVia("/hw.txt", "later"), 5);
  EXPECT_EQ(ReadFile(Area("hw.txt")), "accepted");
  StopAndRestore();
  EXPECT_EQ(testing::Diff(committed, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, WriterOpenedBeforeCheckpointSavesAtFirstWrite) {
  int64_t fd = server_->Open(session_, "/hw.txt", O_WRONLY, 0, 022);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(server_->Commit(), 0);
  testing::Tree committed = Snapshot(dir_);
  EXPECT_EQ(server_->Pwrite(session_, static_cast<int>(fd), "X", 1, 0), 1);
  EXPECT_EQ(ReadFile(Area("hw.txt")), "hello, world\n");
  StopAndRestore();
  EXPECT_EQ(testing::Diff(committed, Snapshot(dir_)), "");
}

// A writer opened before a commit is saved at its first write after it even
// when /proc cannot name its file: a name that ends in " (deleted)" (the
// kernel's mark for an unlinked file) or a path longer than PATH_MAX.
TEST_F(FssEngineTest, StaleWriterSavedWhateverItsName) {
  WriteFile(dir_ + "/n (deleted)", "orig");
  // A path of 4090 bytes: beneath the protocol's 4096 but, with the root in
  // front, past PATH_MAX.
  std::string deep;
  int parent = open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(parent, 0);
  for (int i = 0; i < 16; ++i) {
    std::string c(250, static_cast<char>('a' + i));
    ASSERT_EQ(mkdirat(parent, c.c_str(), 0755), 0);
    int next = openat(parent, c.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(next, 0);
    close(parent);
    parent = next;
    deep += "/" + c;
  }
  close(parent);
  deep += "/" + std::string(4090 - deep.size() - 1, 'f');  // 4090 bytes in all
  ASSERT_GT(dir_.size() + deep.size(), size_t{PATH_MAX});
  ASSERT_EQ(WriteVia(deep, "orig"), 4);
  ASSERT_EQ(server_->Commit(), 0);
  std::vector<int64_t> fds;
  for (const std::string& path : {std::string("/n (deleted)"), deep}) {
    fds.push_back(server_->Open(session_, path, O_WRONLY, 0, 022));
    ASSERT_GE(fds.back(), 0);
  }
  ASSERT_EQ(server_->Commit(), 0);
  for (int64_t fd : fds) {
    EXPECT_EQ(server_->Pwrite(session_, static_cast<int>(fd), "X", 1, 0), 1);
    EXPECT_EQ(server_->Close(session_, static_cast<int>(fd)), 0);
  }
  StopAndRestore();
  Start();
  for (const std::string& path : {std::string("/n (deleted)"), deep}) {
    SCOPED_TRACE(path);
    int64_t fd = server_->Open(session_, path, O_RDONLY, 0, 022);
    ASSERT_GE(fd, 0);
    char buf[8] = {};
    EXPECT_EQ(server_->Pread(session_, static_cast<int>(fd), buf, sizeof(buf), 0), 4);
    EXPECT_STREQ(buf, "orig");
    EXPECT_EQ(server_->Close(session_, static_cast<int>(fd)), 0);
  }
}

// Chmod follows a final symlink the way chmod(2) does, by resolving it
// beneath the root; the change itself never follows, so a client that swaps
// a symlink to a file outside the root in after the resolution changes
// nothing outside.
TEST_F(FssEngineTest, ChmodNeverFollowsASwappedInSymlink) {
  const std::string outside = dir_ + ".outside";
  WriteFile(outside, "secret", 0600);
  WriteFile(dir_ + "/plain", "p", 0600);
  ASSERT_EQ(symlink(outside.c_str(), (dir_ + "/evil").c_str()), 0);
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    // Exchange "victim" between the plain file and the symlink out.
    ASSERT_EQ(link((dir_ + "/plain").c_str(), (dir_ + "/victim").c_str()), 0);
    while (!stop.load()) {
      rename((dir_ + "/evil").c_str(), (dir_ + "/victim").c_str());
      ASSERT_EQ(symlink(outside.c_str(), (dir_ + "/evil").c_str()), 0);
      link((dir_ + "/plain").c_str(), (dir_ + "/tmp").c_str());
      rename((dir_ + "/tmp").c_str(), (dir_ + "/victim").c_str());
    }
  });
  for (int i = 0; i < 20000; ++i) server_->Chmod("/victim", (i & 1) ? 0644 : 0640);
  stop.store(true);
  swapper.join();
  struct stat st;
  ASSERT_EQ(stat(outside.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  unlink(outside.c_str());
}

// A last component "." or ".." names a directory but no entry to remove or
// move: rmdir, unlink and rename answer as the kernel does, and nothing goes.
TEST_F(FssEngineTest, DotAndDotDotAreNoEntries) {
  ASSERT_EQ(mkdir((dir_ + "/z").c_str(), 0755), 0);
  const testing::Tree before = Snapshot(dir_);
  EXPECT_EQ(server_->Rmdir("/z/."), -EINVAL);
  EXPECT_EQ(server_->Rmdir("/foo/sub/.."), -ENOTEMPTY);
  EXPECT_EQ(server_->Unlink("/z/."), -EISDIR);
  EXPECT_EQ(server_->Unlink("/foo/sub/.."), -EISDIR);
  EXPECT_EQ(server_->Rename("/z/.", "/y"), -EBUSY);
  EXPECT_EQ(server_->Rename("/z/..", "/y"), -EBUSY);
  EXPECT_EQ(server_->Rename("/z", "/foo/sub/."), -EBUSY);
  EXPECT_EQ(server_->Mkdir("/z/.", 0755, 022), -EEXIST);
  EXPECT_EQ(server_->Symlink("t", "/z/.."), -EEXIST);
  EXPECT_EQ(Snapshot(dir_), before);
}

TEST_F(FssEngineTest, StatusListsChanges) {
  ASSERT_EQ(WriteVia("/hw.txt", "m"), 1);
  ASSERT_EQ(WriteVia("/new", "a"), 1);
  ASSERT_EQ(server_->Unlink("/foo"), 0);
  auto changes = ListChanges(*root_, server_->checkpoint().records());
  ASSERT_TRUE(changes.ok());
  std::string listed;
  for (const PathChange& c : *changes) listed += std::string(1, c.kind) + " " + c.path + "\n";
  EXPECT_EQ(listed, "D foo\nM hw.txt\nA new\n");
}

TEST_F(FssEngineTest, RestoreIsIdempotent) {
  ASSERT_EQ(WriteVia("/hw.txt", "x"), 1);
  ASSERT_EQ(server_->Unlink("/foo"), 0);
  server_.reset();
  auto cp = Checkpoint::Open(*root_);
  ASSERT_TRUE(cp.ok());
  std::vector<Record> records = (*cp)->records();
  ASSERT_TRUE(RestoreRecords(*root_, (*cp)->area_fd(), records, false).ok());
  ASSERT_TRUE(RestoreRecords(*root_, (*cp)->area_fd(), records, false).ok());
  EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
}

TEST_F(FssEngineTest, SecondServerOnTheSameRootIsRefused) {
  auto cp = Checkpoint::Open(*root_);
  EXPECT_EQ(cp.code(), EBUSY);
}

// "name/" means the name must be a directory, as the kernel has it (the
// errnos below are what unlink(2), open(2), rename(2), ... return for the same
// paths on a real tree); fss_unlink of "dir/" keeps removing the tree.
TEST_F(FssEngineTest, TrailingSlashAsTheKernel) {
  ASSERT_EQ(symlink("foo", (dir_ + "/ld").c_str()), 0);
  const testing::Tree before = Snapshot(dir_);
  struct fss_statbuf st;
  EXPECT_EQ(server_->Unlink("/hw.txt/"), -ENOTDIR);
  EXPECT_EQ(server_->Unlink("/foo/link/"), -ENOTDIR);
  EXPECT_EQ(server_->Unlink("/ld/"), -ENOTDIR);
  EXPECT_EQ(server_->Unlink("/missing/"), -ENOENT);
  EXPECT_EQ(server_->Open(session_, "/hw.txt/", O_RDONLY, 0, 022), -ENOTDIR);
  EXPECT_EQ(server_->Open(session_, "/foo/link/", O_RDONLY, 0, 022), -ENOTDIR);
  EXPECT_EQ(server_->Open(session_, "/new/", O_CREAT | O_WRONLY, 0644, 022), -EISDIR);
  EXPECT_EQ(server_->Open(session_, "/missing/", O_RDONLY, 0, 022), -ENOENT);
  EXPECT_EQ(server_->Rename("/hw.txt/", "/g"), -ENOTDIR);
  EXPECT_EQ(server_->Rename("/hw.txt", "/g/"), -ENOTDIR);
  EXPECT_EQ(server_->Rename("/foo/sub", "/hw.txt/"), -ENOTDIR);
  EXPECT_EQ(server_->Rename("/ld/", "/ld2"), -ENOTDIR);
  EXPECT_EQ(server_->Mkdir("/hw.txt/x", 0755, 022), -ENOTDIR);
  EXPECT_EQ(server_->Mkdir("/hw.txt/", 0755, 022), -EEXIST);
  EXPECT_EQ(server_->Rmdir("/hw.txt/"), -ENOTDIR);
  EXPECT_EQ(server_->Rmdir("/ld/"), -ENOTDIR);
  EXPECT_EQ(server_->Stat("/hw.txt/", &st, true), -ENOTDIR);
  EXPECT_EQ(server_->Stat("/foo/link/", &st, false), -ENOTDIR);
  EXPECT_EQ(server_->Symlink("t", "/ns/"), -ENOENT);
  EXPECT_EQ(server_->Symlink("t", "/hw.txt/"), -EEXIST);
  EXPECT_EQ(server_->Truncate("/hw.txt/", 0), -ENOTDIR);
  EXPECT_EQ(server_->Chmod("/hw.txt/", 0600), -ENOTDIR);
  char buf[16];
  EXPECT_EQ(server_->Readlink("/foo/link/", buf, sizeof(buf)), -ENOTDIR);
  EXPECT_EQ(server_->Readlink("/ld/", buf, sizeof(buf)), -EINVAL);
  EXPECT_EQ(ReadFile(dir_ + "/hw.txt"), "hello, world\n");  // nothing above changed it
  // What the kernel allows with a slash still works.
  ASSERT_EQ(server_->Stat("/ld/", &st, false), 0);  // lstat("ld/") follows
  EXPECT_TRUE(S_ISDIR(st.mode));
  ASSERT_EQ(server_->Mkdir("/nd/", 0755, 022), 0);
  ASSERT_EQ(server_->Rename("/nd/", "/nd2/"), 0);
  ASSERT_EQ(server_->Rmdir("/nd2/"), 0);
  int64_t fd = server_->Open(session_, "/foo/", O_RDONLY | O_DIRECTORY, 0, 022);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(server_->Close(session_, static_cast<int>(fd)), 0);
  StopAndRestore();
  EXPECT_EQ(Snapshot(dir_), before);
}

}  // namespace
}  // namespace rams::fss

namespace rams::fss {
namespace {

// The component walk used where openat2 is missing confines exactly like it.
TEST(FssRootTest, WalkFallbackResolvesLikeOpenat2) {
  std::string dir = testing::MakeTempDir("walk");
  std::string root_dir = dir + "/root";
  ASSERT_EQ(mkdir(root_dir.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root_dir + "/a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root_dir + "/a/b").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root_dir + "/checkpoint").c_str(), 0700), 0);
  testing::WriteFile(root_dir + "/a/b/f", "f");
  testing::WriteFile(dir + "/outside", "o");
  ASSERT_EQ(symlink("..", (root_dir + "/up").c_str()), 0);
  ASSERT_EQ(symlink("a/b", (root_dir + "/ab").c_str()), 0);
  ASSERT_EQ(symlink("../b", (root_dir + "/a/b/sib").c_str()), 0);
  ASSERT_EQ(symlink("/etc", (root_dir + "/etc").c_str()), 0);
  ASSERT_EQ(symlink("loop", (root_dir + "/loop").c_str()), 0);
  ASSERT_EQ(symlink("checkpoint", (root_dir + "/cp").c_str()), 0);
  Result<Root> kernel = Root::Open(root_dir, "checkpoint");
  Result<Root> walk = Root::Open(root_dir, "checkpoint", /*walk_only=*/true);
  ASSERT_TRUE(kernel.ok() && walk.ok());
  const char* paths[] = {"/a/b/f", "a/./b/../b/f", "/ab/f", "ab/sib/f", "/up/outside", "../outside",
                         "a/../../outside", "/etc/passwd", "/etc", "/loop/x", "/loop", "/cp/x", "/cp",
                         "checkpoint/.fss.journal", "/a/b/f/x", "/missing/x", "/", "a/..", "/ab/"};
  for (const char* p : paths) {
    for (bool follow : {true, false}) {
      SCOPED_TRACE(std::string(p) + (follow ? " follow" : " nofollow"));
      Result<Resolved> k = kernel->Resolve(p, follow);
      Result<Resolved> w = walk->Resolve(p, follow);
      EXPECT_EQ(k.code(), w.code()) << k.status().ToString() << " vs " << w.status().ToString();
      if (k.ok() && w.ok()) {
        EXPECT_EQ(k->rel, w->rel);
        EXPECT_EQ(k->name, w->name);
      }
    }
  }
  EXPECT_EQ(kernel->Resolve("/up/outside", true).code(), EXDEV);
  EXPECT_EQ(kernel->Resolve("/etc/passwd", true).code(), EXDEV);
  EXPECT_EQ(kernel->Resolve("/cp/x", true).code(), ENOENT);
  EXPECT_EQ(kernel->Resolve("/ab/sib/f", true)->rel, "a/b/f");
  testing::RemoveAll(dir);
}

}  // namespace
}  // namespace rams::fss
