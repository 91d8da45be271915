// SPDX-License-Identifier: MIT
// Group commit in the checkpoint (the path `fss run` takes): records that may
// wait are written but not synced, and files are saved by moving them into
// the area. Restore must stay exact when the process dies with records
// unsynced (they are in the journal file), when a power loss drops any
// unsynced tail of the journal (a moved file is found by its place), and
// when a crash falls between a move's record and its rename.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "checkpoint.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

constexpr int kFiles = 12;

void BuildTree(const std::string& dir) {
  mkdir((dir + "/d").c_str(), 0755);
  for (int i = 0; i < kFiles; ++i) {
    testing::WriteFile(dir + "/d/f" + std::to_string(i), "file " + std::to_string(i) + "\n", i % 2 ? 0600 : 0644);
  }
  testing::WriteFile(dir + "/top", "top\n");
}

struct Fixture {
  std::string dir, ref;
  explicit Fixture(const char* tag) : dir(testing::MakeTempDir(tag)), ref(dir + ".ref") {
    BuildTree(dir);
    testing::RemoveAll(ref);
    mkdir(ref.c_str(), 0755);
    BuildTree(ref);
  }
  ~Fixture() {
    testing::RemoveAll(dir);
    testing::RemoveAll(ref);
  }
  std::string Differences() const { return testing::Diff(testing::Snapshot(ref), testing::Snapshot(dir)); }
};

std::unique_ptr<Checkpoint> OpenGroup(const Root& root) {
  auto cp = Checkpoint::Open(root);
  EXPECT_TRUE(cp.ok()) << cp.status().ToString();
  if (!cp.ok()) return nullptr;
  (*cp)->SetGroupCommit(1 << 20);
  return std::move(*cp);
}

// Removes every d/fN through MoveAway; returns the journal size after each
// record (the offsets a power loss could cut at).
std::vector<off_t> RemoveAll(const std::string& dir, Checkpoint& cp, const Root& root) {
  std::vector<off_t> ends;
  for (int i = 0; i < kFiles; ++i) {
    std::string rel = "d/f" + std::to_string(i);
    Result<Resolved> r = root.Resolve(rel, false);
    EXPECT_TRUE(r.ok());
    Result<bool> moved = cp.MoveAway(r->rel, r->parent.get(), r->name);
    EXPECT_TRUE(moved.ok() && *moved) << rel;
    struct stat st;
    EXPECT_EQ(stat((dir + "/checkpoint/.fss.journal").c_str(), &st), 0);
    ends.push_back(st.st_size);
  }
  return ends;
}

TEST(FssGroupCommitTest, MovedFilesAreSavedAndRestored) {
  Fixture f("group-move");
  Result<Root> root = Root::Open(f.dir, "checkpoint");
  ASSERT_TRUE(root.ok());
  {
    std::unique_ptr<Checkpoint> cp = OpenGroup(*root);
    ASSERT_NE(cp, nullptr);
    RemoveAll(f.dir, *cp, *root);
    EXPECT_EQ(cp->unsynced(), static_cast<size_t>(kFiles));
    struct stat st;
    EXPECT_NE(lstat((f.dir + "/d/f0").c_str(), &st), 0);
    // A second change of a covered path is no move.
    testing::WriteFile(f.dir + "/d/f0", "new\n");
    Result<Resolved> r = root->Resolve("d/f0", false);
    ASSERT_TRUE(r.ok());
    Result<bool> again = cp->MoveAway(r->rel, r->parent.get(), r->name);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(*again);
    ASSERT_TRUE(cp->Commit().ok());
    EXPECT_EQ(cp->unsynced(), 0u);
  }
  auto cp = Checkpoint::Open(*root);
  ASSERT_TRUE(cp.ok());
  ASSERT_TRUE((*cp)->Restore(false).ok());
  EXPECT_EQ(f.Differences(), "");
}

// The process dies with every record unsynced: they are in the file.
TEST(FssGroupCommitTest, KilledWithRecordsUnsynced) {
  Fixture f("group-kill");
  Result<Root> root = Root::Open(f.dir, "checkpoint");
  ASSERT_TRUE(root.ok());
  {
    std::unique_ptr<Checkpoint> cp = OpenGroup(*root);
    ASSERT_NE(cp, nullptr);
    for (int i = 0; i < 5; ++i) {
      std::string rel = "new" + std::to_string(i);
      ASSERT_TRUE(cp->BeforeChange(rel, Change::kReplace).ok());
      testing::WriteFile(f.dir + "/" + rel, "created\n");
    }
    RemoveAll(f.dir, *cp, *root);
    ASSERT_GT(cp->unsynced(), 0u);
  }  // no Commit: as if killed
  auto cp = Checkpoint::Open(*root);
  ASSERT_TRUE(cp.ok());
  ASSERT_TRUE((*cp)->Restore(false).ok());
  EXPECT_EQ(f.Differences(), "");
}

// A power loss may keep the renames and drop any unsynced tail of the
// journal: cut it at every record boundary in turn.
TEST(FssGroupCommitTest, PowerLossDropsTheUnsyncedTail) {
  for (int keep = 0; keep <= kFiles; ++keep) {
    Fixture f("group-cut");
    Result<Root> root = Root::Open(f.dir, "checkpoint");
    ASSERT_TRUE(root.ok());
    std::vector<off_t> ends;
    {
      std::unique_ptr<Checkpoint> cp = OpenGroup(*root);
      ASSERT_NE(cp, nullptr);
      ends = RemoveAll(f.dir, *cp, *root);
    }
    off_t cut = keep == 0 ? static_cast<off_t>(sizeof(JournalHeader)) : ends[static_cast<size_t>(keep - 1)];
    ASSERT_EQ(truncate((f.dir + "/checkpoint/.fss.journal").c_str(), cut), 0);
    auto cp = Checkpoint::Open(*root);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    EXPECT_EQ((*cp)->records().size(), static_cast<size_t>(kFiles)) << "moved files adopted, kept " << keep;
    ASSERT_TRUE((*cp)->Restore(false).ok());
    EXPECT_EQ(f.Differences(), "") << "journal cut after " << keep << " records";
  }
}

// A crash between a move's record and its rename: the file is in place and
// its record names a location that does not exist.
TEST(FssGroupCommitTest, CrashBetweenRecordAndMove) {
  Fixture f("group-fault");
  Result<Root> root = Root::Open(f.dir, "checkpoint");
  ASSERT_TRUE(root.ok());
  {
    std::unique_ptr<Checkpoint> cp = OpenGroup(*root);
    ASSERT_NE(cp, nullptr);
    Result<Resolved> r0 = root->Resolve("d/f0", false);
    ASSERT_TRUE(r0.ok());
    ASSERT_TRUE(cp->MoveAway(r0->rel, r0->parent.get(), r0->name).ok());
    cp->SetFaultHook([](std::string_view step) {
      return step == "change" ? Error(EIO, "injected crash") : Status::Ok();
    });
    Result<Resolved> r1 = root->Resolve("d/f1", false);
    ASSERT_TRUE(r1.ok());
    EXPECT_FALSE(cp->MoveAway(r1->rel, r1->parent.get(), r1->name).ok());
  }
  struct stat st;
  ASSERT_EQ(lstat((f.dir + "/d/f1").c_str(), &st), 0);
  auto cp = Checkpoint::Open(*root);
  ASSERT_TRUE(cp.ok());
  ASSERT_EQ((*cp)->records().size(), 2u);
  Status s = (*cp)->Restore(false);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(f.Differences(), "");
}

}  // namespace
}  // namespace rams::fss
