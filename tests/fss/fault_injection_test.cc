// SPDX-License-Identifier: MIT
// Fault injection for the checkpoint: a scripted workload is cut short at
// every step of every save in turn (before the copy, before its sync, before
// the journal record, after the record but before the change), as a crash
// there would; restore must always give back the starting tree.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "checkpoint.h"
#include "file_server.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

using testing::WriteFile;

void BuildTree(const std::string& dir) {
  WriteFile(dir + "/hw.txt", "hello, world\n");
  mkdir((dir + "/foo").c_str(), 0755);
  mkdir((dir + "/foo/sub").c_str(), 0750);
  WriteFile(dir + "/foo/a", std::string(100000, 'a'));
  WriteFile(dir + "/foo/sub/b", "bbb", 0600);
  link((dir + "/foo/a").c_str(), (dir + "/a-link").c_str());
  symlink("sub/b", (dir + "/foo/link").c_str());
}

// The workload; stops at the first failing operation as a crashed server would.
bool Workload(FileServer& fs) {
  Session s;
  auto write = [&](const char* path, const char* data, int flags) -> bool {
    int64_t fd = fs.Open(s, path, flags, 0644, 022);
    if (fd < 0) return false;
    bool ok = fs.Write(s, static_cast<int>(fd), data, strlen(data)) >= 0;
    return fs.Close(s, static_cast<int>(fd)) == 0 && ok;
  };
  if (!write("/hw.txt", "changed", O_WRONLY | O_TRUNC)) return false;
  if (!write("/new.txt", "created", O_WRONLY | O_CREAT)) return false;
  if (fs.Chmod("/foo/sub", 0700) != 0) return false;
  if (!write("/a-link", "via link", O_WRONLY | O_APPEND)) return false;
  if (fs.Rename("/foo/sub/b", "/hw.txt") != 0) return false;
  if (fs.Mkdir("/d", 0755, 022) != 0) return false;
  if (fs.Symlink("../hw.txt", "/d/l") != 0) return false;
  if (fs.Rename("/foo", "/d/foo") != 0) return false;
  if (fs.Unlink("/d") != 0) return false;
  if (fs.Truncate("/new.txt", 1) != 0) return false;
  return true;
}

// Runs the workload on a fresh tree with the hook failing from call `cut` on
// (never when cut < 0); returns how many steps it saw.
int RunCut(const std::string& dir, int cut) {
  testing::RemoveAll(dir);
  EXPECT_EQ(mkdir(dir.c_str(), 0755), 0);
  BuildTree(dir);
  Result<Root> root = Root::Open(dir, "checkpoint");
  EXPECT_TRUE(root.ok());
  auto cp = Checkpoint::Open(*root);
  EXPECT_TRUE(cp.ok()) << cp.status().ToString();
  int calls = 0;
  (*cp)->SetFaultHook([&](std::string_view) {
    return cut >= 0 && calls++ >= cut ? Error(EIO, "injected crash") : (++calls, Status::Ok());
  });
  FileServer fs(*root, std::move(*cp));
  bool completed = Workload(fs);
  EXPECT_TRUE(completed || cut >= 0);
  return calls;
}

TEST(FssFaultInjectionTest, RestoreAfterACrashAtAnyStep) {
  std::string dir = testing::MakeTempDir("fault");
  int steps = RunCut(dir, -1);
  ASSERT_GE(steps, 20);
  for (int cut = 0; cut <= steps; ++cut) {
    RunCut(dir, cut);
    // The starting tree of this run, rebuilt beside it for comparison.
    std::string ref = dir + ".ref";
    testing::RemoveAll(ref);
    ASSERT_EQ(mkdir(ref.c_str(), 0755), 0);
    BuildTree(ref);
    Result<Root> root = Root::Open(dir, "checkpoint");
    ASSERT_TRUE(root.ok());
    auto cp = Checkpoint::Open(*root);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    Status s = (*cp)->Restore(false);
    ASSERT_TRUE(s.ok()) << "cut " << cut << ": " << s.ToString();
    ASSERT_EQ(testing::Diff(testing::Snapshot(ref), testing::Snapshot(dir)), "") << "crash at step " << cut;
    testing::RemoveAll(ref);
  }
  testing::RemoveAll(dir);
}

}  // namespace
}  // namespace rams::fss
