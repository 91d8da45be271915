/* SPDX-License-Identifier: MIT */
// Test helper: simulated hosts on one machine. Each host is its own network
// namespace (a veth to a bridge that joins the hosts), mount namespace (private
// tmpfs on /dev/shm, /tmp and /run, its own /proc) and PID namespace, so
// nothing passes between hosts except over the network. The namespaces belong
// to processes of the test (no `ip netns add`): they vanish when the test
// ends, even when it is killed (PR_SET_PDEATHSIG). Needs root.
//
// Thread safety: one thread per HostSet; create it before the test starts
// threads (joining a mount namespace needs a single-threaded process).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rams/remote.h"

namespace rams::test {

// A process started on a host.
struct HostProcess {
  pid_t waiter = -1;  // the test's child that waits for it; Wait() on this
  pid_t pid = -1;     // the process itself, as the test sees it (for kill)
};

class Host {
 public:
  Host() = default;
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;
  ~Host();

  // Runs `body` in a new process on this host (its pid 1 is the host's init).
  HostProcess Spawn(const std::function<int()>& body);
  // Runs `argv` (argv[0] an absolute path) on this host.
  HostProcess Exec(const std::vector<std::string>& argv);
  // Waits for a spawned process: its exit code, or 128 + signal.
  static int Wait(const HostProcess& p);
  // Spawn + Wait.
  int Run(const std::function<int()>& body) { return Wait(Spawn(body)); }

  // The host's address on the bridge.
  const std::string& address() const { return address_; }
  // A path inside the host, as the test process can reach it.
  std::string Path(const std::string& inside) const;
  pid_t init_pid() const { return init_; }

 private:
  friend class HostSet;
  pid_t init_ = -1;
  std::string address_;
};

// ramsd on one host, listening on the host's address (port 7700) with an HTTP
// endpoint on the host's loopback (port 7780), posix backend, logs in the
// host's /tmp.
class HostRamsd {
 public:
  explicit HostRamsd(Host& host) : host_(host) {}
  HostRamsd(const HostRamsd&) = delete;
  HostRamsd& operator=(const HostRamsd&) = delete;
  ~HostRamsd();
  // Starts it with `args` added and waits until it listens; false (with
  // *error set) when it does not.
  bool Start(const std::vector<std::string>& args, std::string* error);
  // Sends `sig` and waits; the status as Host::Wait.
  int Stop(int sig);
  bool running() const { return proc_.waiter > 0; }
  pid_t pid() const { return proc_.pid; }
  static constexpr uint16_t kPort = 7700;
  static constexpr uint16_t kHttpPort = 7780;
  // GET `path` from the HTTP endpoint (from inside the host); "" on failure.
  std::string HttpGet(const std::string& path);
  // The value of the /metrics line for `name` (with its labels, exactly as
  // printed, e.g. ramsd_ops_total{op="READ"}); -1 if missing.
  int64_t Metric(const std::string& name);

 private:
  Host& host_;
  HostProcess proc_;
};

// The host pager of one host, as its own process serving
// /run/rams/pager.sock (where RemoteAttachment::Map looks by default): it
// opens "HOST:PORT/NAME" through a WirePageSource with the pre-shared `key`.
class HostPagerProcess {
 public:
  explicit HostPagerProcess(Host& host) : host_(host) {}
  HostPagerProcess(const HostPagerProcess&) = delete;
  HostPagerProcess& operator=(const HostPagerProcess&) = delete;
  ~HostPagerProcess();
  bool Start(const std::string& key, std::string* error);
  pid_t pid() const { return proc_.pid; }
  static constexpr char kSocket[] = "/run/rams/pager.sock";

 private:
  Host& host_;
  HostProcess proc_;
};

// In a process on a host with a pager: maps segment `name` of the ramsd at
// `home` (HostRamsd::kPort) and runs `body` on its bytes; exit codes 60..62
// for a failed connect, open or map.
int WithMapping(const Host& home, const std::string& name, const std::string& key,
                const std::function<int(std::byte*)>& body);
// The same, with the mapped attachment too (MappingStatus, FlushMapping).
int WithMapping(const Host& home, const std::string& name, const std::string& key,
                const std::function<int(std::byte*, RemoteAttachment&)>& body);

// On `home`: creates the posix segment `name` of `bytes` and writes `key` to
// /tmp/key (mode 0600), for HostRamsd's --key-file. False when either fails.
bool CreateHomeSegment(Host& home, const std::string& name, uint64_t bytes,
                       const std::string& key);

// The n x n matrix multiplication with A, B and C in the remote segment
// `name` (3 n^2 doubles, homed at `home`, which runs HostRamsd): the first
// of `workers` fills A and B, one worker process on each host computes a
// band of C, and a process on the last host checks C against the product it
// computes from its own copies. Every host needs a HostPagerProcess.
// Returns "" when C is right, else what went wrong.
std::string MatmulOnHosts(const Host& home, const std::string& name, const std::string& key,
                          const std::vector<Host*>& workers, int n);

class HostSet {
 public:
  HostSet() = default;
  HostSet(const HostSet&) = delete;
  HostSet& operator=(const HostSet&) = delete;
  ~HostSet();
  // Creates `n` hosts on one bridge (10.77.0.1, .2, ...). Returns "" on
  // success, else why it cannot be done here (for a skip).
  std::string Start(int n);
  Host& host(int i) { return *hosts_[i]; }
  int size() const { return static_cast<int>(hosts_.size()); }

 private:
  pid_t switch_ = -1;
  std::vector<std::unique_ptr<Host>> hosts_;
};

}  // namespace rams::test
