// SPDX-License-Identifier: MIT
// Simulated hosts: network, mount and PID namespaces per host.
#include "host_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "mapping/host_pager.h"
#include "matmul.h"
#include "mapping/wire_page_source.h"
#include "rams/remote.h"
#include "rams/segment.h"


namespace rams::test {
namespace {

// fork() into new namespaces: the child is pid 1 of its PID namespace when
// CLONE_NEWPID is among `flags`.
pid_t CloneInto(int flags) {
  return static_cast<pid_t>(syscall(SYS_clone, static_cast<unsigned long>(flags) | SIGCHLD,
                                    nullptr, nullptr, nullptr, nullptr));
}

int WaitStatus(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The body of a namespace's holder: dies with the test, reaps orphans (as a
// PID namespace's init must), otherwise sleeps.
[[noreturn]] void HoldNamespaces(int ready_fd) {
  char ok = 1;
  (void)!write(ready_fd, &ok, 1);
  close(ready_fd);
  for (;;) {
    if (waitpid(-1, nullptr, 0) < 0 && errno == ECHILD) usleep(20000);
  }
}

bool MountTmpfs(const char* where, const char* mode) {
  return mount("tmpfs", where, "tmpfs", MS_NOSUID | MS_NODEV, mode) == 0;
}

int Shell(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

std::string InNet(pid_t pid, const std::string& cmd) {
  return "nsenter -t " + std::to_string(pid) + " -n " + cmd;
}

// Starts a namespace holder with `flags`; for a host (with CLONE_NEWNS) it
// mounts the private file systems first. Returns its pid, or -1.
pid_t StartHolder(int flags) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  const pid_t parent = getpid();
  pid_t pid = CloneInto(flags);
  if (pid == 0) {
    close(pipe_fds[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (flags & CLONE_NEWPID) {
      // getppid() is 0 across a PID namespace; the death signal is set, so
      // only a parent that died before prctl could be missed.
      (void)parent;
    } else if (getppid() != parent) {
      _exit(1);
    }
    if (flags & CLONE_NEWNS) {
      if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(2);
      if (!MountTmpfs("/dev/shm", "mode=1777") || !MountTmpfs("/tmp", "mode=1777") ||
          !MountTmpfs("/run", "mode=0755")) {
        _exit(3);
      }
      if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) _exit(4);
    }
    HoldNamespaces(pipe_fds[1]);
  }
  close(pipe_fds[1]);
  char ok = 0;
  const bool ready = pid > 0 && read(pipe_fds[0], &ok, 1) == 1 && ok == 1;
  close(pipe_fds[0]);
  if (!ready && pid > 0) {
    kill(pid, SIGKILL);
    WaitStatus(pid);
    return -1;
  }
  return pid;
}

void KillHolder(pid_t& pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  WaitStatus(pid);
  pid = -1;
}

// Waits until `path` exists or `proc` exits; "" or why not.
std::string AwaitFile(const std::string& path, const HostProcess& proc, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (access(path.c_str(), F_OK) == 0) return "";
    int status = 0;
    if (waitpid(proc.waiter, &status, WNOHANG) == proc.waiter) {
      return std::string(what) + " exited during start with status " + std::to_string(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::string(what) + " did not start";
}

}  // namespace

Host::~Host() { KillHolder(init_); }

std::string Host::Path(const std::string& inside) const {
  return "/proc/" + std::to_string(init_) + "/root" + inside;
}

HostProcess Host::Spawn(const std::function<int()>& body) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return {};
  HostProcess p;
  p.waiter = fork();
  if (p.waiter == 0) {
    close(pipe_fds[0]);
    // Join the host's namespaces: network, mount and PID (for the child
    // below). All are opened first: after the mount namespace, /proc is the
    // host's, where init is pid 1.
    int fds[3];
    const char* names[3] = {"net", "mnt", "pid"};
    for (int i = 0; i < 3; ++i) {
      const std::string path = "/proc/" + std::to_string(init_) + "/ns/" + names[i];
      fds[i] = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fds[i] < 0) _exit(119);
    }
    for (int fd : fds) {
      if (setns(fd, 0) != 0) _exit(120);
      close(fd);
    }
    if (chdir("/") != 0) _exit(121);
    pid_t child = fork();
    if (child == 0) {
      close(pipe_fds[1]);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      _exit(body());
    }
    (void)!write(pipe_fds[1], &child, sizeof child);
    close(pipe_fds[1]);
    if (child < 0) _exit(122);
    _exit(WaitStatus(child));
  }
  close(pipe_fds[1]);
  if (p.waiter < 0 || read(pipe_fds[0], &p.pid, sizeof p.pid) != sizeof p.pid) p.pid = -1;
  close(pipe_fds[0]);
  return p;
}

HostProcess Host::Exec(const std::vector<std::string>& argv) {
  return Spawn([&argv] {
    std::vector<char*> cargv;
    for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    return 127;
  });
}

int Host::Wait(const HostProcess& p) { return p.waiter > 0 ? WaitStatus(p.waiter) : -1; }

int WithMapping(const Host& home, const std::string& name, const std::string& key,
                const std::function<int(std::byte*, RemoteAttachment&)>& body) {
  auto s = RemoteSession::Connect(home.address(), HostRamsd::kPort, {.key = key});
  if (!s.ok()) return 60;
  auto seg = s->Open(name);
  if (!seg.ok()) return 61;
  auto bytes = (*seg)->Map();
  if (!bytes.ok()) {
    std::fprintf(stderr, "map: %s\n", bytes.status().ToString().c_str());
    return 62;
  }
  return body(bytes->data(), **seg);
}

int WithMapping(const Host& home, const std::string& name, const std::string& key,
                const std::function<int(std::byte*)>& body) {
  return WithMapping(home, name, key,
                     [&](std::byte* base, RemoteAttachment&) { return body(base); });
}

bool CreateHomeSegment(Host& home, const std::string& name, uint64_t bytes,
                       const std::string& key) {
  return home.Run([&] {
           auto posix = BackendByName("posix");
           if (!posix.ok() || !Segment::Create(name, bytes, 0600, true, *posix).ok()) return 1;
           std::ofstream out("/tmp/key");
           out << key << "\n";
           out.close();
           return out && chmod("/tmp/key", 0600) == 0 ? 0 : 2;
         }) == 0;
}

std::string MatmulOnHosts(const Host& home, const std::string& name, const std::string& key,
                          const std::vector<Host*>& workers, int n) {
  const size_t elems = size_t{static_cast<uint32_t>(n)} * static_cast<uint32_t>(n);
  const int count = static_cast<int>(workers.size());
  if (workers.front()->Run([&] {
        return WithMapping(home, name, key, [&](std::byte* base) {
          auto* m = reinterpret_cast<double*>(base);
          matrix::FillInputs(m, m + elems, n, 42);
          return 0;
        });
      }) != 0) {
    return "filling A and B failed";
  }
  std::vector<HostProcess> procs;
  for (int i = 0; i < count; ++i) {
    procs.push_back(workers[i]->Spawn([&, i] {
      return WithMapping(home, name, key, [&, i](std::byte* base) {
        auto* m = reinterpret_cast<double*>(base);
        matrix::MultiplyRows(m, m + elems, m + 2 * elems, n, matrix::BandBegin(n, i, count),
                             matrix::BandBegin(n, i + 1, count));
        return 0;
      });
    }));
  }
  std::string error;
  for (int i = 0; i < count; ++i) {
    const int rc = Host::Wait(procs[i]);
    if (rc != 0) error += "worker " + std::to_string(i) + " exited with " + std::to_string(rc) + "; ";
  }
  if (!error.empty()) return error;
  const int rc = workers.back()->Run([&] {
    return WithMapping(home, name, key, [&](std::byte* base) {
      const auto* m = reinterpret_cast<const double*>(base);
      std::vector<double> a(m, m + elems), b(m + elems, m + 2 * elems), c(elems);
      std::vector<double> local_a(elems), local_b(elems);
      matrix::FillInputs(local_a.data(), local_b.data(), n, 42);
      if (local_a != a || local_b != b) return 1;
      matrix::MultiplyRows(a.data(), b.data(), c.data(), n, 0, n);
      return std::equal(c.begin(), c.end(), m + 2 * elems) ? 0 : 2;
    });
  });
  if (rc == 1) return "A or B differ from what was filled in";
  if (rc == 2) return "C differs from the local product";
  return rc == 0 ? "" : "the checker exited with " + std::to_string(rc);
}

HostSet::~HostSet() {
  hosts_.clear();
  KillHolder(switch_);
}

std::string HostSet::Start(int n) {
  if (geteuid() != 0) return "needs root for network, mount and PID namespaces";
  if (Shell("ip -V") != 0 || Shell("nsenter -V") != 0) {
    return "the ip tool (iproute2) or nsenter (util-linux) is not installed";
  }
  switch_ = StartHolder(CLONE_NEWNET);
  if (switch_ < 0) return "cannot create a network namespace here";
  if (Shell(InNet(switch_, "ip link add br0 type bridge")) != 0 ||
      Shell(InNet(switch_, "ip link set br0 up")) != 0) {
    return "cannot create a bridge in a network namespace";
  }
  for (int i = 0; i < n; ++i) {
    auto host = std::make_unique<Host>();
    host->init_ = StartHolder(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID);
    if (host->init_ < 0) return "cannot create network, mount and PID namespaces here";
    host->address_ = "10.77.0." + std::to_string(i + 1);
    const std::string h = std::to_string(host->init_), port = "p" + std::to_string(i);
    const bool ok =
        Shell("ip link add eth0 netns " + h + " type veth peer name " + port + " netns " +
              std::to_string(switch_)) == 0 &&
        Shell(InNet(switch_, "ip link set " + port + " master br0 up")) == 0 &&
        Shell(InNet(host->init_, "ip addr add " + host->address_ + "/24 dev eth0")) == 0 &&
        Shell(InNet(host->init_, "ip link set eth0 up")) == 0 &&
        Shell(InNet(host->init_, "ip link set lo up")) == 0;
    hosts_.push_back(std::move(host));
    if (!ok) return "cannot join network namespaces with veth and a bridge";
  }
  return "";
}

HostRamsd::~HostRamsd() {
  if (running()) Stop(SIGKILL);
}

bool HostRamsd::Start(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> argv = {RAMSD_PATH,
                                   "--listen",
                                   host_.address() + ":" + std::to_string(kPort),
                                   "--http",
                                   "127.0.0.1:" + std::to_string(kHttpPort),
                                   "--backend",
                                   "posix",
                                   "--log-dir",
                                   "/tmp/ramsd",
                                   "--port-file",
                                   "/tmp/ramsd.port",
                                   // The host's pager is HostPagerProcess.
                                   "--no-pager"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string port_file = host_.Path("/tmp/ramsd.port");
  unlink(port_file.c_str());
  if (host_.Run([] { return mkdir("/tmp/ramsd", 0700) == 0 || errno == EEXIST ? 0 : 1; }) != 0) {
    *error = "cannot make the log directory";
    return false;
  }
  proc_ = host_.Exec(argv);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file);
    uint16_t port = 0, http = 0;
    if (in >> port >> http) return true;
    int status = 0;
    if (waitpid(proc_.waiter, &status, WNOHANG) == proc_.waiter) {
      proc_ = {};
      *error = "ramsd exited during start with status " + std::to_string(status);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  *error = "ramsd did not start listening";
  return false;
}

HostPagerProcess::~HostPagerProcess() {
  if (proc_.waiter > 0) {
    kill(proc_.pid, SIGKILL);
    Host::Wait(proc_);
  }
}

bool HostPagerProcess::Start(const std::string& key, std::string* error) {
  proc_ = host_.Spawn([key] {
    if (mkdir("/run/rams", 0755) != 0 && errno != EEXIST) return 1;
    mapping::HostPagerOptions options;
    options.socket_path = kSocket;
    options.provider = [key](std::string_view name) -> Result<mapping::ProvidedSegment> {
      // HOST:PORT/NAME
      const size_t slash = name.find('/');
      const size_t colon = name.rfind(':', slash);
      if (slash == std::string_view::npos || colon == std::string_view::npos) {
        return Error(ENOENT, "not HOST:PORT/NAME");
      }
      const int port = std::atoi(std::string(name.substr(colon + 1, slash - colon - 1)).c_str());
      RemoteOptions remote;
      remote.key = key;
      remote.timeout = std::chrono::milliseconds(5000);
      RAMS_ASSIGN_OR_RETURN(auto source,
                            mapping::WirePageSource::Open(name.substr(0, colon),
                                                          static_cast<uint16_t>(port),
                                                          name.substr(slash + 1), false, remote));
      return mapping::ProvidedSegment{std::move(source), {}};
    };
    auto pager = mapping::HostPager::Start(std::move(options));
    if (!pager.ok()) {
      std::fprintf(stderr, "host pager: %s\n", pager.status().ToString().c_str());
      return 2;
    }
    for (;;) pause();
  });
  *error = AwaitFile(host_.Path(kSocket), proc_, "the host pager");
  return error->empty();
}

int HostRamsd::Stop(int sig) {
  if (!running()) return -1;
  kill(proc_.pid, sig);
  const int status = Host::Wait(proc_);
  proc_ = {};
  return status;
}

std::string HostRamsd::HttpGet(const std::string& path) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return "";
  HostProcess p = host_.Spawn([&] {
    close(pipe_fds[0]);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(kHttpPort);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 1;
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return 2;
    char buf[4096];
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0) {
      if (write(pipe_fds[1], buf, static_cast<size_t>(got)) != got) return 3;
    }
    return 0;
  });
  close(pipe_fds[1]);
  std::string out;
  char buf[4096];
  ssize_t got;
  while ((got = read(pipe_fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(got));
  close(pipe_fds[0]);
  return Host::Wait(p) == 0 ? out : "";
}

int64_t HostRamsd::Metric(const std::string& name) {
  std::istringstream in(HttpGet("/metrics"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ' ') {
      return std::strtoll(line.c_str() + name.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

}  // namespace rams::test
