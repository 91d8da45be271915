/* SPDX-License-Identifier: MIT */
// The anchors of the remote benchmark (issue 5 §7), each measured by running
// the anchor's own tool on loopback with its two processes pinned to cores 1
// (server) and 0 (client): ucx_perftest over TCP, redis-benchmark against
// redis-server, iperf3. Each returns nullopt (after saying why on stderr)
// when the tool is missing or its output cannot be parsed.
//
// Header-only because every bench/*_bench.cc is its own program.
//
// Thread safety: single-threaded benchmark driver.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace rams::bench {
namespace remote_anchor_detail {

inline constexpr int kServerCpu = 1;
constexpr int kClientCpu = 0;

// Runs `cmd` through the shell pinned to the client core; its stdout.
inline std::optional<std::string> Capture(const std::string& cmd) {
  const std::string pinned = "taskset -c " + std::to_string(kClientCpu) + " " + cmd + " 2>/dev/null";
  FILE* p = popen(pinned.c_str(), "r");
  if (p == nullptr) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) {
    fprintf(stderr, "anchor: '%s' failed\n", cmd.c_str());
    return std::nullopt;
  }
  return out;
}

inline bool Have(const char* tool) {
  return std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) == 0;
}

// Ports for the anchors' servers: from $RAMS_BENCH_PORT_BASE on when set
// (a machine shared with other runs), else from a base drawn from the pid.
inline int FreePort() {
  static int next = [] {
    const char* base = getenv("RAMS_BENCH_PORT_BASE");
    return base != nullptr && *base != '\0' ? atoi(base) : 20000 + getpid() % 20000;
  }();
  return next++;
}

}  // namespace remote_anchor_detail
using namespace remote_anchor_detail;  // NOLINT: file-local helpers

// The ramsd of this build ($RAMSD overrides): build/daemon/ramsd beside
// build/bench/.
inline std::string BenchRamsdPath() {
  if (const char* env = getenv("RAMSD"); env != nullptr) return env;
  auto self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / "daemon" / "ramsd").string();
}

inline void PinSelf(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

inline pid_t SpawnPinned(const std::vector<std::string>& argv, int cpu, const std::string& log) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
  int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  _exit(127);
}

inline void StopProcess(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

inline std::optional<double> UcxLatencyUs(const std::string& test, size_t size_bytes, int iterations) {
  if (!Have("ucx_perftest")) {
    fprintf(stderr, "anchor: ucx_perftest missing (scripts/install-deps bench)\n");
    return std::nullopt;
  }
  setenv("UCX_TLS", "tcp", 1);
  const std::string port = std::to_string(FreePort());
  pid_t server = SpawnPinned({"ucx_perftest", "-p", port}, kServerCpu, "/dev/null");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto out = Capture("ucx_perftest 127.0.0.1 -p " + port + " -t " + test + " -s " +
                     std::to_string(size_bytes) + " -n " + std::to_string(iterations));
  StopProcess(server);
  if (!out) return std::nullopt;
  // "Final:   <iterations>   <p50>   <average> ..."
  std::istringstream in(*out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Final:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    double n = 0, p50 = 0;
    if (fields >> n >> p50) return p50;
  }
  fprintf(stderr, "anchor: no 'Final:' line from ucx_perftest -t %s\n", test.c_str());
  return std::nullopt;
}

namespace remote_anchor_detail {

// A redis-server on the server core for one measure.
template <class Fn>
inline std::optional<double> WithRedis(Fn fn) {
  if (!Have("redis-server") || !Have("redis-benchmark")) {
    fprintf(stderr, "anchor: redis-server/redis-benchmark missing\n");
    return std::nullopt;
  }
  const std::string port = std::to_string(FreePort());
  pid_t server = SpawnPinned({"redis-server", "--port", port, "--save", "", "--appendonly", "no"},
                             kServerCpu, "/dev/null");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::optional<double> v = fn(port);
  StopProcess(server);
  return v;
}

// The CSV row of `test`: column `column` (1 = rps, 4 = p50 ms).
inline std::optional<double> CsvField(const std::string& csv, const std::string& test, int column) {
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("\"" + test + "\"", 0) != 0) continue;
    std::istringstream cells(line);
    std::string cell;
    for (int i = 0; std::getline(cells, cell, ','); ++i) {
      if (i == column) return std::stod(cell.substr(1, cell.size() - 2));
    }
  }
  fprintf(stderr, "anchor: no %s row from redis-benchmark\n", test.c_str());
  return std::nullopt;
}

}  // namespace remote_anchor_detail
using namespace remote_anchor_detail;  // NOLINT: file-local helpers

inline std::optional<double> RedisP50Us(const std::string& test, size_t size_bytes, int requests) {
  return WithRedis([&](const std::string& port) -> std::optional<double> {
    auto out = Capture("redis-benchmark -p " + port + " -c 1 -n " + std::to_string(requests) +
                       " -d " + std::to_string(size_bytes) + " -t " + test + " --csv");
    if (!out) return std::nullopt;
    auto ms = CsvField(*out, test == "set" ? "SET" : "GET", 4);
    if (!ms) return std::nullopt;
    return *ms * 1000;
  });
}

inline std::optional<double> RedisPipelinedRps(size_t size_bytes, int depth, int requests) {
  return WithRedis([&](const std::string& port) -> std::optional<double> {
    auto out = Capture("redis-benchmark -p " + port + " -c 1 -P " + std::to_string(depth) +
                       " -n " + std::to_string(requests) + " -d " + std::to_string(size_bytes) +
                       " -t set --csv");
    if (!out) return std::nullopt;
    return CsvField(*out, "SET", 1);
  });
}

inline std::optional<double> Iperf3MiBps(int seconds) {
  if (!Have("iperf3")) {
    fprintf(stderr, "anchor: iperf3 missing\n");
    return std::nullopt;
  }
  const std::string port = std::to_string(FreePort());
  pid_t server = SpawnPinned({"iperf3", "-s", "-1", "-p", port}, kServerCpu, "/dev/null");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto out = Capture("iperf3 -c 127.0.0.1 -p " + port + " -t " + std::to_string(seconds) +
                     " -l 1M -J");
  StopProcess(server);
  if (!out) return std::nullopt;
  auto j = nlohmann::json::parse(*out, nullptr, false);
  if (j.is_discarded() || !j.contains("end")) return std::nullopt;
  return j["end"]["sum_received"]["bits_per_second"].get<double>() / 8 / (1 << 20);
}

}  // namespace rams::bench
