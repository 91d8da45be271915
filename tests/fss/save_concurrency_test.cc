// SPDX-License-Identifier: MIT
// Saves and other clients: while one client's save copies a file, another
// client's operations on other paths go on; operations on the path being
// saved, or on a directory above it, wait for the save; restore stays exact.
// The save is held deterministically by the checkpoint's fault hook (a gate
// at its "copy" step), not by a large file and a clock.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "checkpoint.h"
#include "file_server.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

using testing::ReadFile;
using testing::Snapshot;
using testing::WriteFile;

// Long enough that only a deadlock reaches it: a failure, not a time limit.
constexpr auto kDeadlock = std::chrono::seconds(30);

// Blocks the first save's copy step until Release.
class Gate {
 public:
  Status Step(std::string_view step) {
    std::unique_lock<std::mutex> lock(mu_);
    if (step != "copy" || used_) return Status::Ok();
    used_ = true;
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
    return Status::Ok();
  }
  bool WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadlock, [&] { return entered_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool used_ = false;
  bool entered_ = false;
  bool released_ = false;
};

// Runs `fn` in a thread; Wait reports whether it finished before kDeadlock.
class Client {
 public:
  template <class F>
  explicit Client(F fn) : thread_([this, fn] {
    fn();
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }) {}
  ~Client() { thread_.join(); }
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadlock, [&] { return done_; });
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

class FssSaveConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("saves");
    WriteFile(dir_ + "/big", std::string(1 << 20, 'b'));
    WriteFile(dir_ + "/other", "other");
    ASSERT_EQ(mkdir((dir_ + "/d").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir_ + "/d/sub").c_str(), 0755), 0);
    WriteFile(dir_ + "/d/inner", std::string(1 << 16, 'i'));
    WriteFile(dir_ + "/d/sub/x", "x");
    start_ = Snapshot(dir_);
    Result<Root> root = Root::Open(dir_, "checkpoint");
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    root_.emplace(std::move(*root));
    auto cp = Checkpoint::Open(*root_);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    (*cp)->SetFaultHook([this](std::string_view step) { return gate_.Step(step); });
    server_ = std::make_unique<FileServer>(*root_, std::move(*cp));
  }
  void TearDown() override {
    server_.reset();
    root_.reset();
    testing::RemoveAll(dir_);
  }
  // Waits until some operation waits for a path held by another.
  bool WaitForPathWait() {
    auto deadline = std::chrono::steady_clock::now() + kDeadlock;
    while (server_->path_waits() == 0) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  // Runs `first` as client A, held at its save's copy step, then `second`
  // as client B, which must wait for A's claim; lets both finish and returns
  // their results.
  std::pair<int64_t, int64_t> SecondWaitsForFirst(const std::function<int64_t()>& first,
                                                  const std::function<int64_t()>& second) {
    std::atomic<int64_t> a{1}, b{1};
    Client client_a([&] { a = first(); });
    if (!gate_.WaitEntered()) {
      ADD_FAILURE() << "client A's save never reached its copy";
      gate_.Release();
      return {a.load(), b.load()};
    }
    {
      Client client_b([&] { b = second(); });
      EXPECT_TRUE(WaitForPathWait()) << "client B never waited for client A";
      EXPECT_FALSE(client_b.done()) << "client B went on while client A saved its path";
      gate_.Release();
      EXPECT_TRUE(client_b.Wait());
    }
    EXPECT_TRUE(client_a.Wait());
    return {a.load(), b.load()};
  }
  void ExpectRestoresExactly() {
    server_.reset();
    auto cp = Checkpoint::Open(*root_);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    Status s = (*cp)->Restore(false);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(testing::Diff(start_, Snapshot(dir_)), "");
  }

  std::string dir_;
  testing::Tree start_;
  std::optional<Root> root_;
  std::unique_ptr<FileServer> server_;
  Gate gate_;
};

TEST_F(FssSaveConcurrencyTest, OtherPathsAreServedWhileASaveCopies) {
  std::atomic<int64_t> a_result{1};
  Session a;
  Client client_a([&] { a_result = server_->Truncate("/big", 0); });
  ASSERT_TRUE(gate_.WaitEntered());

  Session b;
  std::atomic<int> b_failures{0};
  Client client_b([&] {
    struct fss_statbuf st;
    if (server_->Stat("/other", &st, true) != 0 || st.size != 5) ++b_failures;
    if (server_->Stat("/big", &st, true) != 0 || st.size != (1 << 20)) ++b_failures;  // read, not changed
    int64_t fd = server_->Open(b, "/other", O_RDONLY, 0, 022);
    char buf[8] = {};
    if (fd < 0 || server_->Read(b, static_cast<int>(fd), buf, sizeof(buf)) != 5) ++b_failures;
    if (fd >= 0) server_->Close(b, static_cast<int>(fd));
    // Changes to other paths: their own saves run beside the held one.
    fd = server_->Open(b, "/other", O_WRONLY | O_TRUNC, 0, 022);
    if (fd < 0 || server_->Write(b, static_cast<int>(fd), "new", 3) != 3) ++b_failures;
    if (fd >= 0) server_->Close(b, static_cast<int>(fd));
    if (server_->Mkdir("/made", 0755, 022) != 0) ++b_failures;
    if (server_->Rename("/d/sub/x", "/d/sub/y") != 0) ++b_failures;
  });
  if (!client_b.Wait()) {
    gate_.Release();  // let both finish before the server goes
    EXPECT_TRUE(client_b.Wait());
    EXPECT_TRUE(client_a.Wait());
    FAIL() << "client B waited for client A's save";
  }
  EXPECT_EQ(b_failures.load(), 0);
  EXPECT_EQ(a_result.load(), 1) << "the held save finished early";
  gate_.Release();
  ASSERT_TRUE(client_a.Wait());
  EXPECT_EQ(a_result.load(), 0);
  EXPECT_EQ(ReadFile(dir_ + "/checkpoint/big"), std::string(1 << 20, 'b'));
  ExpectRestoresExactly();
}

TEST_F(FssSaveConcurrencyTest, AChangeToThePathBeingSavedWaitsForTheSave) {
  Session b;
  auto [a_result, b_result] = SecondWaitsForFirst([&] { return server_->Truncate("/big", 0); }, [&] {
    int64_t fd = server_->Open(b, "/big", O_WRONLY, 0, 022);
    int64_t n = fd < 0 ? fd : server_->Pwrite(b, static_cast<int>(fd), "XYZ", 3, 0);
    if (fd >= 0) server_->Close(b, static_cast<int>(fd));
    return n;
  });
  EXPECT_EQ(a_result, 0);
  EXPECT_EQ(b_result, 3);
  EXPECT_EQ(ReadFile(dir_ + "/checkpoint/big"), std::string(1 << 20, 'b'));
  EXPECT_EQ(ReadFile(dir_ + "/big"), "XYZ");  // after A's truncate
  ExpectRestoresExactly();
}

// The rule of docs/fss.md: renaming or removing a directory waits while a
// path beneath it is being saved (and the other way round), so the saved
// path still names what was copied when its record is written.
TEST_F(FssSaveConcurrencyTest, RenamingADirectoryAboveASaveWaitsForIt) {
  auto [a_result, b_result] = SecondWaitsForFirst([&] { return server_->Truncate("/d/inner", 0); },
                                                  [&] { return server_->Rename("/d", "/e"); });
  EXPECT_EQ(a_result, 0);
  EXPECT_EQ(b_result, 0);
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/e/inner").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  ExpectRestoresExactly();
}

TEST_F(FssSaveConcurrencyTest, ChangesBeneathADirectoryBeingSavedWaitForIt) {
  auto [a_result, b_result] = SecondWaitsForFirst([&] { return server_->Unlink("/d"); },  // saves the tree
                                                  [&] { return server_->Truncate("/d/sub/x", 0); });
  EXPECT_EQ(a_result, 0);
  EXPECT_EQ(b_result, -ENOENT);  // /d went first
  ExpectRestoresExactly();
}

TEST_F(FssSaveConcurrencyTest, CommitWaitsForASaveInProgress) {
  auto [a_result, commit_result] = SecondWaitsForFirst([&] { return server_->Truncate("/big", 0); },
                                                       [&] { return server_->Commit(); });
  EXPECT_EQ(a_result, 0);
  EXPECT_EQ(commit_result, 0);
  // The truncate belongs to the old checkpoint: the new one starts from it.
  start_ = Snapshot(dir_);
  ASSERT_EQ(server_->Truncate("/other", 1), 0);
  ExpectRestoresExactly();
}

}  // namespace
}  // namespace rams::fss
