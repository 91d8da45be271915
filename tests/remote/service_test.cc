// SPDX-License-Identifier: MIT
// ramsd as a service: strict configuration (unknown keys and levels are
// errors naming them, a [ramsd] section is read), readiness through the
// service manager's notify socket, SIGHUP reopening the log, --version, and
// socket activation (listening sockets passed as LISTEN_FDS).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "rams/remote.h"
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

// A TCP socket bound to 127.0.0.1 on a port the kernel picks, listening
// unless `listen_too` is false.
int BoundSocket(uint16_t* port, bool listen_too = true) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  if (listen_too) {
    EXPECT_EQ(listen(fd, 16), 0);
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// Starts ramsd with `args` the way a service manager does for socket
// activation: `fds` become fds 3, 4, ... of the child, LISTEN_FDS counts
// them, LISTEN_PID is the child's own pid (or `listen_pid` when not 0) and
// LISTEN_FDNAMES is `names` (unset when empty).
pid_t StartActivated(const std::vector<int>& fds, const std::string& names,
                     const std::vector<std::string>& args, pid_t listen_pid = 0) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Out of the way of 3, 4, ... first.
  std::vector<int> moved;
  for (int fd : fds) moved.push_back(fcntl(fd, F_DUPFD, 100));
  for (size_t i = 0; i < moved.size(); ++i) {
    if (dup2(moved[i], 3 + static_cast<int>(i)) < 0) _exit(126);
    close(moved[i]);
  }
  setenv("LISTEN_FDS", std::to_string(fds.size()).c_str(), 1);
  setenv("LISTEN_PID", std::to_string(listen_pid != 0 ? listen_pid : getpid()).c_str(), 1);
  if (!names.empty()) setenv("LISTEN_FDNAMES", names.c_str(), 1);
  std::vector<std::string> all = {RamsdPath()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

// The "PORT HTTP_PORT" ramsd writes to its --port-file, waiting up to 10 s.
std::pair<int, int> ReadPortFile(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!fs::exists(path) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ifstream in(path);
  int port = -1, http = -1;
  in >> port >> http;
  return {port, http};
}

// Waits up to 10 s for `pid` to exit; its status, or -1 (then it is killed).
int WaitExit(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int st = 0;
  while (waitpid(pid, &st, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return st;
}

TEST_F(ServiceTest, SocketActivationServesOnTheInheritedSockets) {
  TempSegment seg(1u << 16, "activated");
  uint16_t port = 0, http_port = 0;
  const int listener = BoundSocket(&port);
  const int http = BoundSocket(&http_port);
  const std::string port_file = dir_ + "/port";
  // --listen names another port: the inherited socket takes its place.
  const pid_t pid = StartActivated({listener, http}, "rams:http",
                                   {"--export", seg.name(), "--backend", "posix", "--listen",
                                    "127.0.0.1:0", "--log-dir", dir_, "--port-file", port_file});
  ASSERT_GT(pid, 0);
  close(listener);
  close(http);
  EXPECT_EQ(ReadPortFile(port_file), std::make_pair(int{port}, int{http_port}));
  {
    auto session = RemoteSession::Connect("127.0.0.1", port, {.timeout = std::chrono::seconds(5)});
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    auto a = session->Open(seg.name());
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    std::vector<std::byte> data(4096, std::byte{0x5a});
    ASSERT_TRUE((*a)->Write(8192, data).ok());
    EXPECT_EQ(seg.Bytes()[8192], std::byte{0x5a});
  }
  // The HTTP endpoint on the socket named http.
  const int h = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(http_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(h, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::string req = "GET /health HTTP/1.0\r\n\r\n";
  ASSERT_EQ(send(h, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string reply;
  char buf[512];
  for (ssize_t n; (n = recv(h, buf, sizeof buf, 0)) > 0;) reply.append(buf, static_cast<size_t>(n));
  close(h);
  EXPECT_NE(reply.find("200"), std::string::npos) << reply;
  kill(pid, SIGTERM);
  const int st = WaitExit(pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

TEST_F(ServiceTest, SocketActivationRefusesASocketThatIsNotListening) {
  TempSegment seg(4096, "activated");
  uint16_t port = 0;
  const int bound = BoundSocket(&port, /*listen_too=*/false);
  const pid_t pid = StartActivated({bound}, "", {"--export", seg.name(), "--backend", "posix",
                                                 "--log-dir", dir_});
  ASSERT_GT(pid, 0);
  close(bound);
  const int st = WaitExit(pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1) << st;
  std::ifstream log(dir_ + "/ramsd.log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("fd 3 is not listening"), std::string::npos) << text.str();
}

TEST_F(ServiceTest, SocketActivationForAnotherProcessIsIgnored) {
  TempSegment seg(4096, "activated");
  uint16_t port = 0;
  const int listener = BoundSocket(&port);
  const std::string port_file = dir_ + "/port";
  const pid_t pid = StartActivated({listener}, "", {"--export", seg.name(), "--backend", "posix",
                                                    "--listen", "127.0.0.1:0", "--log-dir", dir_,
                                                    "--port-file", port_file},
                                   /*listen_pid=*/getpid());
  ASSERT_GT(pid, 0);
  close(listener);
  const auto [bound, http] = ReadPortFile(port_file);
  EXPECT_GT(bound, 0);
  EXPECT_NE(bound, port) << "took a socket passed to another process";
  EXPECT_EQ(http, 0);
  kill(pid, SIGTERM);
  const int st = WaitExit(pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

}  // namespace
}  // namespace rams::test
