// SPDX-License-Identifier: MIT
// Crash test: fssd is SIGKILLed at a random moment while a client changes
// the tree (at least 200 runs); fss-restore must always give back the
// starting tree. Some runs also kill fss-restore midway and run it again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "fssd_process.h"
#include "rams/fss.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

using testing::WriteFile;

const char* const kPaths[] = {"hw.txt", "a", "b", "d", "d/e", "d/f", "d/g", "big", "many", "many/f1",
                              "many/f7", "hl", "l", "x", "x/y"};

void BuildBase(const std::string& dir) {
  WriteFile(dir + "/hw.txt", "hello, world\n");
  WriteFile(dir + "/big", std::string(300000, 'B'));
  mkdir((dir + "/d").c_str(), 0755);
  WriteFile(dir + "/d/e", "eee");
  link((dir + "/d/e").c_str(), (dir + "/hl").c_str());
  symlink("d/e", (dir + "/l").c_str());
  mkdir((dir + "/many").c_str(), 0750);
  for (int i = 0; i < 30; ++i) WriteFile(dir + "/many/f" + std::to_string(i), std::string(2000 + i, 'm'));
}

// A client changing the tree at random until its server goes away.
[[noreturn]] void Workload(const std::string& socket, uint32_t seed) {
  fss_client* c = fss_connect(socket.c_str());
  if (c == nullptr) _exit(1);
  std::mt19937 rng(seed);
  auto path = [&] { return std::string("/") + kPaths[rng() % std::size(kPaths)]; };
  std::string data(70000, 'w');
  for (;;) {
    std::string p = path();
    int r = 0;
    switch (rng() % 9) {
      case 0: case 1: {
        int fd = fss_open(c, p.c_str(), O_WRONLY | O_CREAT | ((rng() % 2) ? O_TRUNC : O_APPEND), 0644);
        if (fd >= 0) {
          r = static_cast<int>(fss_write(c, fd, data.data(), rng() % data.size()));
          fss_close(c, fd);
        } else {
          r = errno == EIO ? -1 : 0;
        }
        break;
      }
      case 2: r = fss_unlink(c, p.c_str()); break;
      case 3: r = fss_rename(c, p.c_str(), path().c_str()); break;
      case 4: r = fss_mkdir(c, p.c_str(), 0755); break;
      case 5: r = fss_symlink(c, "hw.txt", p.c_str()); break;
      case 6: r = fss_chmod(c, p.c_str(), 0700); break;
      case 7: r = fss_truncate(c, p.c_str(), rng() % 5000); break;
      default: r = fss_rmdir(c, p.c_str()); break;
    }
    if (r < 0 && errno == EIO) _exit(0);  // the server is gone
  }
}

pid_t StartProgram(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

void RunCrashes(int default_runs) {
  int runs = getenv("FSS_CRASH_RUNS") ? atoi(getenv("FSS_CRASH_RUNS")) : default_runs;
  std::string base = testing::MakeTempDir("crash");
  std::string start = base + "/start", root = base + "/root";
  ASSERT_EQ(mkdir(start.c_str(), 0755), 0);
  BuildBase(start);
  testing::Tree start_tree = testing::Snapshot(start);
  std::mt19937 rng(12345);
  int restores_killed = 0;
  bool timing = getenv("FSS_CRASH_TIMING") != nullptr;
  auto now = [] { return std::chrono::steady_clock::now(); };
  auto ms = [&](auto t0) { return std::chrono::duration<double, std::milli>(now() - t0).count(); };
  for (int run = 0; run < runs; ++run) {
    auto t0 = now();
    testing::RemoveAll(root);
    ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
    testing::CopyTreeForTest(start, root);
    auto t1 = now();
    {
      testing::FssdProcess fssd(root, base + "/fss.sock", base + "/fssd.log");
      if (timing) fprintf(stderr, "copy %.1f ms, start %.1f ms\n", std::chrono::duration<double, std::milli>(t1 - t0).count(), ms(t1));
      pid_t client = fork();
      ASSERT_GE(client, 0);
      if (client == 0) Workload(base + "/fss.sock", static_cast<uint32_t>(run));
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 40000));
      auto t2 = now();
      fssd.Kill();
      kill(client, SIGKILL);  // it would notice within a slice; no need to wait
      int status;
      waitpid(client, &status, 0);
      if (timing) fprintf(stderr, "kill+client exit %.1f ms\n", ms(t2));
    }
    auto t3 = now();
    // Every tenth run also kills the restore itself at a random moment.
    if (run % 10 == 0) {
      pid_t restore = StartProgram({FSS_RESTORE_PATH, root});
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 15000));
      kill(restore, SIGKILL);
      int status;
      waitpid(restore, &status, 0);
      restores_killed += WIFSIGNALED(status);
    }
    std::string out;
    ASSERT_EQ(testing::RunProgram({FSS_RESTORE_PATH, root}, &out), 0) << "run " << run << ": " << out;
    ASSERT_EQ(testing::Diff(start_tree, testing::Snapshot(root)), "") << "run " << run;
    // Restore is idempotent: a second one changes nothing.
    if (run % 5 == 0) {
      ASSERT_EQ(testing::RunProgram({FSS_RESTORE_PATH, root}, &out), 0) << out;
      ASSERT_EQ(testing::Diff(start_tree, testing::Snapshot(root)), "") << "second restore, run " << run;
    }
    if (timing) fprintf(stderr, "restores+compare %.1f ms\n", ms(t3));
  }
  if (runs >= 100) {
    EXPECT_GE(restores_killed, 1) << "no restore was caught midway";
  }
  testing::RemoveAll(base);
}

TEST(FssCrashTest, RestoreAfterFssdIsKilledAtRandomMoments) { RunCrashes(200); }

// The same with fssd, its client and fss-restore running as nobody.
TEST(FssCrashTest, AsUnprivilegedServer) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become nobody (as non-root the test above is it)";
  EXPECT_EQ(testing::RunBodyAsNobody([] { RunCrashes(60); }, std::chrono::seconds(300)), 0);
}

}  // namespace
}  // namespace rams::fss
