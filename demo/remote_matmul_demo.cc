// SPDX-License-Identifier: MIT
// rams-remote-demo: the matrix multiplication of `make demo` with worker
// processes that reach the matrices only through ramsd on loopback. The
// parent creates the segment locally and starts ramsd exporting it; each
// worker (remote_worker.h: forked, or with --worker-command a program of its
// own, such as the Windows rams-remote-worker.exe under wine) connects, READs
// A and B, computes its band of C, WRITEs it back in a pipelined batch and
// meets the others at a rams::Barrier in the segment (constructed by the
// parent, used remotely through ramsd's sync agents); worker 0 then reads C
// and stores its checksum.
// The parent checks C against a product it computed alone. Exit 0 when right.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <thread>
#include <vector>

#include "matmul.h"
#include "rams/barrier.h"
#include "rams/remote.h"
#include "rams/segment.h"
#include "remote_worker.h"

namespace {

using rams::Status;
using rams::demo::kBarrier;
using rams::demo::kChecksum;
using rams::demo::kData;
using rams::demo::MatrixBytes;

static_assert(kBarrier + sizeof(rams::Barrier) <= kData);

std::string RamsdPath() {
  if (const char* env = getenv("RAMSD"); env != nullptr) return env;
  auto self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / "daemon" / "ramsd").string();
}

pid_t StartRamsd(const std::string& name, const std::string& dir, uint16_t* port) {
  pid_t pid = fork();
  if (pid == 0) {
    const std::string path = RamsdPath(), log = dir + "/log", port_file = dir + "/port";
    execl(path.c_str(), path.c_str(), "--listen", "127.0.0.1:0", "--export", name.c_str(),
          "--backend", "posix", "--log-dir", log.c_str(), "--port-file", port_file.c_str(),
          static_cast<char*>(nullptr));
    perror(path.c_str());
    _exit(127);
  }
  for (int i = 0; i < 500 && *port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream(dir + "/port") >> *port;
  }
  return pid;
}

// Starts worker `index` as `command` (run by /bin/sh, e.g. "wine
// rams-remote-worker.exe") with the worker's arguments appended.
pid_t StartWorkerCommand(const std::string& command, uint16_t port, const std::string& name,
                         int n, int index, int count) {
  const std::string line = command + " --port " + std::to_string(port) + " --name " + name +
                           " --size " + std::to_string(n) + " --index " + std::to_string(index) +
                           " --count " + std::to_string(count);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rams-remote-demo: matrix multiplication by worker processes that reach the "
               "matrices through ramsd on loopback; exits non-zero when the result is wrong.",
               "rams-remote-demo"};
  int procs = 4, n = 256;
  std::string worker_command;
  app.add_option("--procs", procs, "worker processes")->check(CLI::Range(1, 20))->capture_default_str();
  app.add_option("--size", n, "matrix dimension n")->check(CLI::Range(1, 2048))->capture_default_str();
  app.add_option("--worker-command", worker_command,
                 "run each worker as this command (by /bin/sh) with --port, --name, --size, "
                 "--index, --count appended, e.g. 'wine rams-remote-worker.exe' (default: fork)");
  CLI11_PARSE(app, argc, argv);

  auto posix = rams::BackendByName("posix");
  if (!posix.ok()) return 1;
  const std::string name = "rams-demo-rmatmul-" + std::to_string(getpid());
  const uint64_t m = MatrixBytes(n);
  auto seg = rams::Segment::Create(name, kData + 3 * m, 0600, true, *posix);
  if (!seg.ok()) {
    fprintf(stderr, "rams-remote-demo: %s\n", seg.status().ToString().c_str());
    return 1;
  }
  auto map = seg->Map();
  if (!map.ok()) return 1;
  new (map->data() + kBarrier) rams::Barrier(static_cast<uint32_t>(procs));
  auto* a = reinterpret_cast<double*>(map->data() + kData);
  rams::matrix::FillInputs(a, a + size_t(n) * n, n, 42);
  std::vector<double> reference(size_t(n) * n);
  rams::matrix::MultiplyRows(a, a + size_t(n) * n, reference.data(), n, 0, n);

  const std::string dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::create_directories(dir);
  uint16_t port = 0;
  const pid_t ramsd = StartRamsd(name, dir, &port);
  printf("remote matrix multiplication: %dx%d doubles, %d worker processes%s, each reaching "
         "segment %s only through ramsd at 127.0.0.1:%u\n", n, n, procs,
         worker_command.empty() ? "" : (" (" + worker_command + ")").c_str(), name.c_str(), port);
  fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<pid_t> workers;
  for (int p = 0; p < procs && port != 0; ++p) {
    if (!worker_command.empty()) {
      workers.push_back(StartWorkerCommand(worker_command, port, name, n, p, procs));
      continue;
    }
    pid_t pid = fork();
    if (pid == 0) {
      Status s = rams::demo::RunRemoteWorker("127.0.0.1", port, {}, name, n, p, procs);
      if (!s.ok()) fprintf(stderr, "rams-remote-demo: worker %d: %s\n", p, s.ToString().c_str());
      _exit(s.ok() ? 0 : 1);
    }
    workers.push_back(pid);
  }
  bool ok = port != 0 && !workers.empty();
  for (pid_t pid : workers) {
    int status = 0;
    waitpid(pid, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  kill(ramsd, SIGTERM);
  int ramsd_status = 0;
  waitpid(ramsd, &ramsd_status, 0);

  const auto* c = a + 2 * size_t(n) * n;
  size_t wrong = 0;
  for (size_t i = 0; i < reference.size(); ++i) wrong += c[i] != reference[i];
  uint64_t bits = 0;
  std::memcpy(&bits, map->data() + kChecksum, sizeof bits);
  const bool checksum_ok = bits == std::bit_cast<uint64_t>(rams::matrix::Checksum(reference.data(), n));
  printf("  workers: %.3f s; elements differing from the local product: %zu of %zu; worker 0's "
         "checksum %s; ramsd stopped %s\n", seconds, wrong, reference.size(),
         checksum_ok ? "matches" : "DIFFERS",
         WIFEXITED(ramsd_status) && WEXITSTATUS(ramsd_status) == 0 ? "cleanly" : "with an error");
  (void)rams::Segment::Remove(name, *posix);
  std::filesystem::remove_all(dir);
  ok = ok && wrong == 0 && checksum_ok;
  printf("  result: %s\n", ok ? "correct" : "WRONG");
  return ok ? 0 : 1;
}
