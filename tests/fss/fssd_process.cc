// SPDX-License-Identifier: MIT
// Running fssd and the FSS tools from tests.
#include "fssd_process.h"

#include <grp.h>

#include "common/test_util.h"
#include "server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace rams::fss::testing {
namespace {

std::vector<char*> Argv(const std::vector<std::string>& args) {
  std::vector<char*> out;
  for (const std::string& a : args) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

FssdProcess::FssdProcess(const std::string& root, const std::string& socket, const std::string& log,
                         const std::vector<std::string>& extra_args)
    : socket_(socket) {
  std::vector<std::string> args = {FSSD_PATH, "--root", root, "--socket", socket};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 2);
      dup2(fd, 1);
    }
    std::vector<char*> argv = Argv(args);
    execv(argv[0], argv.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("fssd exited at start; see " + log);
    }
    if (fss_client* c = Connect()) {
      fss_disconnect(c);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Kill();
  throw std::runtime_error("fssd did not start; see " + log);
}

FssdProcess::~FssdProcess() {
  if (pid_ > 0) Stop();
}

int FssdProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

void FssdProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  // A channel being handed to a client when the kill came keeps its name.
  RemoveStaleChannels();
}

bool DropToNobody() { return setgroups(0, nullptr) == 0 && setgid(kNobody) == 0 && setuid(kNobody) == 0; }

int RunBodyAsNobody(const std::function<void()>& body, std::chrono::seconds limit) {
  pid_t pid = rams::testing::ForkChild([&] {
    if (!DropToNobody()) return 97;
    body();
    return ::testing::Test::HasFailure() ? 1 : 0;
  });
  return rams::testing::WaitChild(pid, limit);
}

int RunProgram(const std::vector<std::string>& args, std::string* output) {
  int pipefd[2];
  if (pipe(pipefd) != 0) throw std::runtime_error("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    std::vector<char*> argv = Argv(args);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (output != nullptr) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

}  // namespace rams::fss::testing
