// SPDX-License-Identifier: MIT
// A hostile client against a real fssd: it scribbles its own channel segment
// (the layout fields, the words a lock lived in, the state word) while using
// it, or takes every descriptor it can. fssd must never crash or trust what
// it reads back, must disconnect a client that breaks the protocol, must
// report running out of descriptors as EMFILE, and must go on serving the
// others.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "fssd_process.h"
#include "rams/fss.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

using testing::WriteFile;

// The bases of this process's mappings of FSS channel segments.
std::set<unsigned long> Channels() {
  std::set<unsigned long> out;
  FILE* maps = fopen("/proc/self/maps", "r");
  if (maps == nullptr) return out;
  char line[512];
  while (fgets(line, sizeof(line), maps) != nullptr) {
    unsigned long start = 0;
    if (strstr(line, "fss.") != nullptr && sscanf(line, "%lx-", &start) == 1) out.insert(start);
  }
  fclose(maps);
  return out;
}

// This process's Unix sockets.
std::set<int> Sockets() {
  std::set<int> out;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    char link[64] = {};
    std::string path = std::string("/proc/self/fd/") + e->d_name;
    if (readlink(path.c_str(), link, sizeof(link) - 1) > 0 && strncmp(link, "socket:", 7) == 0) {
      out.insert(atoi(e->d_name));
    }
  }
  closedir(d);
  return out;
}

// The one element of `after` not in `before`, or `none`.
template <class T>
T NewOne(const std::set<T>& before, const std::set<T>& after, T none) {
  std::vector<T> added;
  for (T x : after) {
    if (before.count(x) == 0) added.push_back(x);
  }
  return added.size() == 1 ? added[0] : none;
}

// The channel header in a segment mapping (the backend's own header comes
// first): the page that starts with the channel magic "MRSFSSC1".
unsigned char* FindMagic(unsigned char* map) {
  if (map == nullptr) return nullptr;
  for (size_t off = 0; off <= 65536; off += 4096) {
    if (std::memcmp(map + off, "MRSFSSC1", 8) == 0) return map + off;
  }
  return nullptr;
}

class FssHostileChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing::MakeTempDir("hostile");
    root_ = base_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    WriteFile(root_ + "/hw.txt", "hello, world\n");
    fssd_ = std::make_unique<testing::FssdProcess>(root_, base_ + "/fss.sock", base_ + "/fssd.log");
    ASSERT_TRUE(fssd_->running());
  }
  void TearDown() override {
    if (fssd_->running()) {
      EXPECT_EQ(fssd_->Stop(), 0) << "log: " << base_ << "/fssd.log";
    }
    fssd_.reset();
    if (getenv("KEEP") == nullptr) testing::RemoveAll(base_);
  }
  std::string base_, root_;
  std::unique_ptr<testing::FssdProcess> fssd_;
};

// Fails on the old code: fssd locked a rams::Mutex in the channel and
// aborted (or wedged) on a scribbled word, and took offsets and the data
// bound from the header.
TEST_F(FssHostileChannelTest, ScribbledChannelNeverHurtsTheServerOrOthers) {
  fss_client* other = fssd_->Connect();
  ASSERT_NE(other, nullptr);
  pid_t hostile = rams::testing::ForkChild([&] {
    std::set<unsigned long> maps_before = Channels();
    std::set<int> socks_before = Sockets();
    fss_client* c = fssd_->Connect();
    if (c == nullptr) return 2;
    auto* ch = FindMagic(reinterpret_cast<unsigned char*>(NewOne(maps_before, Channels(), 0ul)));
    int sock = NewOne(socks_before, Sockets(), -1);
    if (ch == nullptr || sock < 0) return 3;
    // The layout fields: path area, data area and data bound far away.
    for (size_t off : {16, 24, 32}) std::memset(ch + off, 0x7f, 8);
    // Where version 1 kept its mutex and condition variables.
    std::memset(ch + 48, 0xff, 96);
    struct fss_statbuf st;
    if (fss_stat(c, "/hw.txt", &st) != 0 || st.size != 13) return 4;
    std::vector<char> big(1 << 20, 'x');
    int fd = fss_open(c, "/big", O_RDWR | O_CREAT, 0644);
    if (fd < 0 || fss_pwrite(c, fd, big.data(), big.size(), 0) != static_cast<ssize_t>(big.size())) return 5;
    std::vector<char> back(big.size());
    if (fss_pread(c, fd, back.data(), back.size(), 0) != static_cast<ssize_t>(back.size()) || back != big) return 6;
    // Now break the protocol: a state word no side ever writes.
    uint32_t garbage = 0xdeadbeef;
    std::memcpy(ch + 44, &garbage, sizeof(garbage));
    struct pollfd p = {sock, POLLRDHUP, 0};
    if (poll(&p, 1, 10000) != 1) return 7;  // fssd hangs up on it
    return fss_stat(c, "/hw.txt", &st) == -1 && errno == EIO ? 0 : 8;
  });
  EXPECT_EQ(rams::testing::WaitChild(hostile, std::chrono::seconds(60)), 0);
  ASSERT_EQ(kill(fssd_->pid(), 0), 0) << "fssd died";
  struct fss_statbuf st;
  EXPECT_EQ(fss_stat(other, "/hw.txt", &st), 0);
  EXPECT_EQ(st.size, 13u);
  fss_client* later = fssd_->Connect();
  ASSERT_NE(later, nullptr);
  EXPECT_EQ(fss_stat(later, "/big", &st), 0);
  EXPECT_EQ(st.size, 1u << 20);
  fss_disconnect(later);
  fss_disconnect(other);
}

// fssd's soft RLIMIT_NOFILE, from /proc (0 when unreadable).
unsigned long SoftFileLimit(pid_t pid) {
  FILE* f = fopen(("/proc/" + std::to_string(pid) + "/limits").c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long soft = 0;
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (sscanf(line, "Max open files %lu", &soft) == 1) break;
  }
  fclose(f);
  return soft;
}

// Sets this process's RLIMIT_NOFILE for the fssd it starts, and puts it back.
class FileLimitForChildren {
 public:
  FileLimitForChildren(rlim_t soft, rlim_t hard) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    struct rlimit lim = {soft, hard};
    ok_ = setrlimit(RLIMIT_NOFILE, &lim) == 0;
  }
  ~FileLimitForChildren() { setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }

 private:
  struct rlimit saved_;
  bool ok_ = false;
};

// Fails on the old code: fssd kept the soft limit it was started with.
TEST_F(FssHostileChannelTest, DescriptorLimitIsRaisedToWhatTheLimitsNeed) {
  fssd_.reset();
  struct rlimit lim;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  const unsigned long needed = 64 * (256 + 16) + 256;
  {
    FileLimitForChildren low(256, lim.rlim_max);
    ASSERT_TRUE(low.ok());
    fssd_ = std::make_unique<testing::FssdProcess>(root_, base_ + "/fss.sock", base_ + "/fssd.log");
  }
  ASSERT_TRUE(fssd_->running());
  unsigned long expected = geteuid() == 0 || lim.rlim_max >= needed ? needed : lim.rlim_max;
  EXPECT_GE(SoftFileLimit(fssd_->pid()), expected);
}

// Fails on the old code: a client that fssd had no descriptor for got EAGAIN
// (or, when even accept failed, a server spinning on its listening socket).
TEST_F(FssHostileChannelTest, OutOfDescriptorsIsEmfileAndOthersKeepTheirs) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to start fssd with a low hard limit and raise ours back";
  fssd_.reset();
  {
    FileLimitForChildren low(48, 48);
    ASSERT_TRUE(low.ok());
    fssd_ = std::make_unique<testing::FssdProcess>(root_, base_ + "/fss.sock", base_ + "/fssd.log",
                                                   std::vector<std::string>{"--max-clients", "4"});
  }
  ASSERT_TRUE(fssd_->running());
  fss_client* polite = fssd_->Connect();
  ASSERT_NE(polite, nullptr);
  fss_client* greedy = fssd_->Connect();
  ASSERT_NE(greedy, nullptr);
  int opened = 0;
  while (opened < 100 && fss_open(greedy, "/hw.txt", O_RDONLY, 0) >= 0) ++opened;
  EXPECT_LT(opened, 100);
  EXPECT_EQ(errno, EMFILE);
  errno = 0;
  fss_client* late = fssd_->Connect();
  EXPECT_EQ(late, nullptr);
  EXPECT_EQ(errno, EMFILE);
  if (late != nullptr) fss_disconnect(late);
  fss_disconnect(greedy);  // its descriptors come back
  struct fss_statbuf st;
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    int fd = fss_open(polite, "/hw.txt", O_RDONLY, 0);
    served = fd >= 0 && fss_close(polite, fd) == 0 && fss_stat(polite, "/hw.txt", &st) == 0;
    if (!served) usleep(10000);
  }
  EXPECT_TRUE(served);
  fss_disconnect(polite);
}

// A Unix socket connected to `path` that says and reads nothing, or -1.
int SilentConnection(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  if (fd >= 0 && connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

// Fails on the old code: after accepting, fssd waited up to 5 s for the
// client's acknowledgement of the hello, so a client that connected and
// hung up (or never answered) held its slot that long and the next clients
// got EAGAIN. Now the hello is the whole handshake: a client that never
// reads it delays nobody, and one that hangs up frees its slot at once.
TEST_F(FssHostileChannelTest, ClientsThatNeverReadTheHelloHoldNoSlotOnceGone) {
  fssd_.reset();
  fssd_ = std::make_unique<testing::FssdProcess>(root_, base_ + "/fss.sock", base_ + "/fssd.log",
                                                 std::vector<std::string>{"--max-clients", "3"});
  ASSERT_TRUE(fssd_->running());
  const std::string sock = base_ + "/fss.sock";
  // Two stay connected, silent: the third slot is still there for a client.
  int silent[2] = {SilentConnection(sock), SilentConnection(sock)};
  ASSERT_GE(silent[0], 0);
  ASSERT_GE(silent[1], 0);
  // Clients within half the old hold (each slot was held 5 s); EAGAIN
  // meanwhile while fssd notices earlier clients' hang-ups (a slice each).
  auto connect_all = [&](size_t n) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<fss_client*> clients;
    while (clients.size() < n && std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2500)) {
      fss_client* next = fssd_->Connect();
      if (next != nullptr) {
        clients.push_back(next);
      } else {
        EXPECT_EQ(errno, EAGAIN) << strerror(errno);
        usleep(5000);
      }
    }
    return clients;
  };
  struct fss_statbuf st;
  std::vector<fss_client*> one = connect_all(1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(fss_stat(one[0], "/hw.txt", &st), 0);
  fss_disconnect(one[0]);
  // Many connect and hang up without reading; the slots come back at once.
  for (int i = 0; i < 20; ++i) {
    int fd = SilentConnection(sock);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  close(silent[0]);
  close(silent[1]);
  // Three clients at once: every slot came back.
  std::vector<fss_client*> clients = connect_all(3);
  EXPECT_EQ(clients.size(), 3u);
  for (fss_client* client : clients) {
    EXPECT_EQ(fss_stat(client, "/hw.txt", &st), 0);
    fss_disconnect(client);
  }
}

}  // namespace
}  // namespace rams::fss
