// SPDX-License-Identifier: MIT
// Running ramsd for tests.
#include "ramsd_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/test_util.h"

namespace rams::test {
namespace {

std::string TempDir(const std::string& tag) {
  std::string t = (std::filesystem::temp_directory_path() / ("rams-" + tag + "-XXXXXX")).string();
  char* made = mkdtemp(t.data());
  if (made == nullptr) std::abort();
  return t;
}

}  // namespace

Backend* PosixBackend() {
  auto b = BackendByName("posix");
  if (!b.ok()) std::abort();
  return *b;
}

TempSegment::TempSegment(uint64_t size_bytes, std::string_view tag, uint32_t mode)
    : segment_(std::unique_ptr<Attachment>()) {
  static std::atomic<int> counter{0};
  name_ = "rt." + std::string(tag) + "." + std::to_string(getpid()) + "." +
          std::to_string(counter.fetch_add(1));
  auto s = Segment::Create(name_, size_bytes, mode, true, PosixBackend());
  if (!s.ok()) {
    ADD_FAILURE() << s.status().ToString();
    std::abort();
  }
  segment_ = std::move(*s);
}

TempSegment::~TempSegment() { Segment::Remove(name_, PosixBackend()).IgnoreError(); }

std::vector<std::byte> TempSegment::Bytes() {
  std::vector<std::byte> out(segment_.size());
  EXPECT_TRUE(segment_.Read(0, out).ok());
  return out;
}

std::string RamsdPath() { return RAMSD_PATH; }

std::string WriteKeyFile(const std::string& key) {
  const std::string path = TempDir("key") + "/key";
  std::ofstream(path) << key << "\n";
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
  return path;
}

void RamsdProcess::Start(const std::vector<std::string>& args, const std::string& listen_host,
                         uint16_t port) {
  if (dir_.empty()) dir_ = TempDir("ramsd");
  const std::string port_file = dir_ + "/port";
  std::filesystem::remove(port_file);
  std::vector<std::string> argv = prefix;
  argv.push_back(RamsdPath());
  const std::string host = listen_host.find(':') != std::string::npos ? "[" + listen_host + "]"
                                                                       : listen_host;
  for (const std::string& a : {std::string("--listen"), host + ":" + std::to_string(port),
                               std::string("--backend"), std::string("posix"),
                               std::string("--log-dir"), dir_, std::string("--port-file"),
                               port_file}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  // Test clients are honest but may be slow to finish their handshake (many
  // at once under a sanitizer or qemu-user on a busy machine: twenty under
  // TSan once took longer than ramsd's 2 s default). The guard against
  // stalled handshakes applies where a test sets it (hostile_peer_test).
  if (std::find(args.begin(), args.end(), "--handshake-timeout-ms") == args.end()) {
    argv.push_back("--handshake-timeout-ms");
    argv.push_back("60000");
  }
  // The host pager only where a test asks for one (at a socket of its own).
  if (std::find(args.begin(), args.end(), "--pager-socket") == args.end()) {
    argv.push_back("--no-pager");
  }
  pid_ = fork();
  ASSERT_GE(pid_, 0);
  if (pid_ == 0) {
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file);
    if (in >> port_ >> http_port_) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL() << "ramsd exited during start with status " << status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  FAIL() << "ramsd did not start listening";
}

int RamsdProcess::Stop(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

RamsdProcess::~RamsdProcess() {
  // Where the kernel keeps no robust futex lists (qemu-user), a ramsd killed
  // inside a posix segment's io mutex would leave it locked for the test's
  // own teardown: there ramsd is asked to stop, and killed only when it has
  // not within 10 s. Elsewhere the kernel releases the mutex of the dead.
  if (pid_ > 0 && !testing::KernelKeepsRobustLists()) {
    kill(pid_, SIGTERM);
    testing::WaitChild(pid_, std::chrono::seconds(10));
    pid_ = -1;
  }
  if (pid_ > 0) Stop(SIGKILL);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

}  // namespace rams::test
