// SPDX-License-Identifier: MIT
// The host harness: each simulated host has its own network, mount (/dev/shm,
// /tmp, /run) and PID namespace, and ramsd on one host serves clients on the
// others over the bridge only. Skipped, with the reason, where the
// namespaces cannot be made.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "host_harness.h"
#include "rams/remote.h"
#include "ramsd_process.h"

namespace rams::test {
namespace {

constexpr char kKey[] = "hosts-test-key-0123456789abcdef";

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

int CountProcesses() {
  int n = 0;
  DIR* d = opendir("/proc");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] >= '1' && e->d_name[0] <= '9') ++n;
  }
  closedir(d);
  return n;
}

// On `host`: a posix segment `name` (in its /dev/shm) and the pre-shared key
// in /tmp/key, then ramsd exporting the segment.
void StartHome(Host& host, HostRamsd& ramsd, const std::string& name) {
  ASSERT_EQ(host.Run([&] {
              if (!Segment::Create(name, 1 << 16, 0600, true, PosixBackend()).ok()) return 1;
              std::ofstream key("/tmp/key");
              key << kKey << "\n";
              key.close();
              return key && chmod("/tmp/key", 0600) == 0 ? 0 : 2;
            }),
            0);
  std::string error;
  ASSERT_TRUE(ramsd.Start({"--key-file", "/tmp/key", "--export", name}, &error)) << error;
}

class HostsTest : public ::testing::Test {
 protected:
  void Make(int n) {
    const std::string why = hosts_.Start(n);
    if (!why.empty()) GTEST_SKIP() << why;
  }
  HostSet hosts_;
};

TEST_F(HostsTest, NothingPassesBetweenHostsButTheNetwork) {
  Make(2);
  if (IsSkipped()) return;
  const std::string tag = std::to_string(getpid());
  // Files made on host 0 in each private directory.
  for (const std::string dir : {"/dev/shm", "/tmp", "/run"}) {
    const std::string path = dir + "/hosts-test-" + tag;
    ASSERT_EQ(hosts_.host(0).Run([&] { return std::ofstream(path) << "x" ? 0 : 1; }), 0) << path;
    EXPECT_TRUE(Exists(hosts_.host(0).Path(path))) << path;
    EXPECT_FALSE(Exists(path)) << path << " leaked to the machine";
    EXPECT_EQ(hosts_.host(1).Run([&] { return Exists(path) ? 1 : 0; }), 0)
        << path << " leaked to host 1";
  }
  // Each host sees only its own processes: its init and the caller.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(hosts_.host(i).Run([] { return getppid() == 0 && CountProcesses() == 2 ? 0 : 1; }),
              0);
  }
  // The machine's loopback is not the host's: ramsd on host 0 is not reachable
  // on 127.0.0.1 from host 1, but is on host 0's address.
  HostRamsd ramsd(hosts_.host(0));
  StartHome(hosts_.host(0), ramsd, "rt.hosts." + tag);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(hosts_.host(1).Run([&] {
              return RemoteSession::Connect("127.0.0.1", HostRamsd::kPort).code() ==
                             ECONNREFUSED
                         ? 0
                         : 1;
            }),
            0);
  EXPECT_EQ(hosts_.host(1).Run([&] {
              auto s = RemoteSession::Connect(hosts_.host(0).address(), HostRamsd::kPort,
                                              {.key = kKey});
              return s.ok() ? 0 : 1;
            }),
            0);
}

// ramsd on host 0 exports a segment that lives in host 0's /dev/shm; two
// processes on each of hosts 1 and 2 add to one counter in it over the
// bridge. The home's counters show every add crossed the network.
TEST_F(HostsTest, ClientsOnTwoHostsUseTheHomesSegment) {
  Make(3);
  if (IsSkipped()) return;
  Host& home = hosts_.host(0);
  const std::string name = "rt.hosts." + std::to_string(getpid());
  HostRamsd ramsd(home);
  StartHome(home, ramsd, name);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_FALSE(Exists("/dev/shm/" + name));
  constexpr int kAdds = 300;
  std::vector<HostProcess> workers;
  for (int h = 1; h <= 2; ++h) {
    for (int p = 0; p < 2; ++p) {
      workers.push_back(hosts_.host(h).Spawn([&] {
        if (Exists("/dev/shm/" + name)) return 9;  // the segment must not be local
        auto s = RemoteSession::Connect(home.address(), HostRamsd::kPort, {.key = kKey});
        if (!s.ok()) return 10;
        auto seg = s->Open(name);
        if (!seg.ok()) return 11;
        for (int i = 0; i < kAdds; ++i) {
          if (!(*seg)->FetchAdd(0, 1).ok()) return 12;
        }
        return 0;
      }));
    }
  }
  for (const HostProcess& w : workers) EXPECT_EQ(Host::Wait(w), 0);
  EXPECT_EQ(home.Run([&] {
              auto s = Segment::Open(name, {}, PosixBackend());
              if (!s.ok()) return 1;
              uint64_t count = 0;
              if (!s->Read(0, std::as_writable_bytes(std::span(&count, 1))).ok()) return 2;
              return count == 4 * kAdds ? 0 : 3;
            }),
            0);
  EXPECT_EQ(ramsd.Metric("ramsd_ops_total{op=\"FETCH_ADD\"}"), 4 * kAdds);
}

}  // namespace
}  // namespace rams::test
