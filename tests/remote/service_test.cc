// SPDX-License-Identifier: MIT
// ramsd as a service: strict configuration (unknown keys and levels are
// errors naming them, a [ramsd] section is read), readiness through the
// service manager's notify socket, SIGHUP reopening the log, --version.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "ramsd_process.h"

namespace rams::test {
namespace {

namespace fs = std::filesystem;

struct RunResult {
  int status = -1;  // exit code, or -1 when it did not exit by itself
  std::string output;
};

// Runs ramsd with `args` (a shell-quoted string) for at most 5 s and
// returns its exit code and its merged stdout and stderr.
RunResult RunRamsd(const std::string& args) {
  const std::string cmd = "timeout 5 " + RamsdPath() + " " + args + " 2>&1";
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int st = pclose(p);
  if (WIFEXITED(st) && WEXITSTATUS(st) != 124) r.status = WEXITSTATUS(st);
  return r;
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "rams-service-XXXXXX").string();
    ASSERT_NE(mkdtemp(t.data()), nullptr);
    dir_ = t;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string WriteConfig(const std::string& text) {
    const std::string path = dir_ + "/ramsd.conf";
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(ServiceTest, UnknownConfigKeyIsAnErrorThatNamesIt) {
  const std::string conf = WriteConfig("export = [\"m\"]\nlisten = \"127.0.0.1:0\"\nlog_dir = \"x\"\n");
  RunResult r = RunRamsd("--config " + conf + " --log-dir " + dir_);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("log_dir"), std::string::npos) << r.output;
}

TEST_F(ServiceTest, UnknownLogLevelIsAUsageError) {
  RunResult r = RunRamsd("--export m --listen 127.0.0.1:0 --log-dir " + dir_ + " --log-level chatty");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("chatty"), std::string::npos) << r.output;
}

TEST_F(ServiceTest, RamsdSectionOfAnIniFileIsRead) {
  TempSegment seg(4096);
  const std::string port_file = dir_ + "/port";
  const std::string conf = WriteConfig("[ramsd]\nexport = [\"" + seg.name() +
                                       "\"]\nlisten = \"127.0.0.1:0\"\nbackend = \"posix\"\n"
                                       "port-file = \"" + port_file + "\"\n");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(RamsdPath().c_str(), "ramsd", "--config", conf.c_str(), "--log-dir", dir_.c_str(),
          nullptr);
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!fs::exists(port_file) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(fs::exists(port_file)) << "ramsd did not start from the [ramsd] section";
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST_F(ServiceTest, VersionIsPrinted) {
  RunResult r = RunRamsd("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output.rfind("ramsd ", 0), 0u) << r.output;
}

TEST_F(ServiceTest, ReadinessReachesTheNotifySocket) {
  const std::string sock_path = dir_ + "/notify";
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  TempSegment seg(4096);
  setenv("NOTIFY_SOCKET", sock_path.c_str(), 1);
  RamsdProcess ramsd;
  ramsd.Start({"--export", seg.name()});
  unsetenv("NOTIFY_SOCKET");
  char buf[256] = {};
  const ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  close(fd);
  ASSERT_GT(n, 0) << "no notice on NOTIFY_SOCKET";
  EXPECT_NE(std::string(buf, n).find("READY=1"), std::string::npos) << buf;
  EXPECT_EQ(ramsd.Stop(), 0);
}

TEST_F(ServiceTest, HangupReopensTheLogAndKeepsServing) {
  TempSegment seg(4096);
  RamsdProcess ramsd;
  ramsd.Start({"--export", seg.name()});
  const std::string log = ramsd.log_dir() + "/ramsd.log";
  ASSERT_TRUE(fs::exists(log));
  fs::rename(log, log + ".moved");
  ASSERT_EQ(kill(ramsd.pid(), SIGHUP), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!fs::exists(log) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(fs::exists(log)) << "SIGHUP did not reopen the log";
  EXPECT_EQ(kill(ramsd.pid(), 0), 0) << "SIGHUP stopped ramsd";
  EXPECT_EQ(ramsd.Stop(), 0);
}

}  // namespace
}  // namespace rams::test
