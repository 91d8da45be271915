// SPDX-License-Identifier: MIT
// Two ramsd in two network namespaces joined by a veth pair (created by the
// test): clients in each namespace reach the other host's segments over a
// real, non-loopback path with the pre-shared key; without the key they are
// refused. Skipped, with the reason, where namespaces cannot be created.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "rams/remote.h"
#include "ramsd_process.h"

namespace rams::test {
namespace {

int Shell(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) for ip netns";
    if (Shell("ip -V") != 0) GTEST_SKIP() << "the ip tool (iproute2) is not installed";
    const std::string tag = std::to_string(getpid() % 100000);
    ns_[0] = "rams-a-" + tag;
    ns_[1] = "rams-b-" + tag;
    const int subnet = getpid() % 250 + 1;
    addr_[0] = "10.213." + std::to_string(subnet) + ".1";
    addr_[1] = "10.213." + std::to_string(subnet) + ".2";
    const std::string va = "rva" + tag, vb = "rvb" + tag;
    if (Shell("ip netns add " + ns_[0]) != 0) GTEST_SKIP() << "ip netns add is not permitted here";
    created_ = true;
    const bool ok =
        Shell("ip netns add " + ns_[1]) == 0 &&
        Shell("ip link add " + va + " type veth peer name " + vb) == 0 &&
        Shell("ip link set " + va + " netns " + ns_[0]) == 0 &&
        Shell("ip link set " + vb + " netns " + ns_[1]) == 0 &&
        Shell("ip -n " + ns_[0] + " addr add " + addr_[0] + "/24 dev " + va) == 0 &&
        Shell("ip -n " + ns_[1] + " addr add " + addr_[1] + "/24 dev " + vb) == 0 &&
        Shell("ip -n " + ns_[0] + " link set " + va + " up") == 0 &&
        Shell("ip -n " + ns_[1] + " link set " + vb + " up") == 0 &&
        Shell("ip -n " + ns_[0] + " link set lo up") == 0 &&
        Shell("ip -n " + ns_[1] + " link set lo up") == 0;
    if (!ok) GTEST_SKIP() << "could not set up veth between network namespaces";
  }
  void TearDown() override {
    for (auto& r : ramsd_) r.Stop(SIGTERM);
    if (created_) {
      Shell("ip netns del " + ns_[0]);
      Shell("ip netns del " + ns_[1]);
    }
  }

  // Runs `body` in a child process inside namespace `ns`; returns its exit code.
  int InNamespace(int ns, const std::function<int()>& body) {
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(("/var/run/netns/" + ns_[ns]).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(90);
      _exit(body());
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
  }

  std::string ns_[2];
  std::string addr_[2];
  bool created_ = false;
  RamsdProcess ramsd_[2];
};

// A client's work against the other namespace's ramsd: exit code 0 when all
// went well, a distinct code per failure.
int ClientWork(const std::string& host, uint16_t port, const std::string& key,
               const std::string& name, uint8_t fill) {
  if (RemoteSession::Connect(host, port).code() != EACCES) return 10;
  auto s = RemoteSession::Connect(host, port, {.key = key});
  if (!s.ok()) return 11;
  auto seg = s->Open(name);
  if (!seg.ok()) return 12;
  std::vector<std::byte> data(4096, std::byte{fill});
  if (!(*seg)->Write(4096, data).ok()) return 13;
  for (int i = 0; i < 500; ++i) {
    if (!(*seg)->FetchAdd(0, 1).ok()) return 14;
  }
  std::vector<std::byte> back(4096);
  if (!(*seg)->Read(4096, back).ok() || back != data) return 15;
  return 0;
}

TEST_F(NetnsTest, TwoHostsReachEachOthersSegmentsWithTheKey) {
  const std::string key = "netns-test-key-0123456789";
  const std::string key_file = WriteKeyFile(key);
  TempSegment seg_a(1 << 16, "nsa"), seg_b(1 << 16, "nsb");
  for (int i = 0; i < 2; ++i) {
    ramsd_[i].prefix = {"ip", "netns", "exec", ns_[i]};
    ramsd_[i].Start({"--key-file", key_file, "--export", (i == 0 ? seg_a : seg_b).name()},
                    addr_[i]);
    ASSERT_FALSE(HasFatalFailure());
  }
  // Namespace A's client uses B's segment and the other way round, at once.
  pid_t other = fork();
  if (other == 0) {
    _exit(InNamespace(1, [&] {
      return ClientWork(addr_[0], ramsd_[0].port(), key, seg_a.name(), 0xA1);
    }));
  }
  EXPECT_EQ(InNamespace(0, [&] {
              return ClientWork(addr_[1], ramsd_[1].port(), key, seg_b.name(), 0xB2);
            }),
            0);
  int status = 0;
  waitpid(other, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  for (auto* seg : {&seg_a, &seg_b}) {
    uint64_t count = 0;
    ASSERT_TRUE(seg->segment().Read(0, std::as_writable_bytes(std::span(&count, 1))).ok());
    EXPECT_EQ(count, 500u);
  }
  std::vector<std::byte> b(4096);
  ASSERT_TRUE(seg_b.segment().Read(4096, b).ok());
  EXPECT_EQ(b, std::vector<std::byte>(4096, std::byte{0xB2}));
}

}  // namespace
}  // namespace rams::test
