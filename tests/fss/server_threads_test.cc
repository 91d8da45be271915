// SPDX-License-Identifier: MIT
// fssd's threads in one process (for TSan): the server runs in a thread,
// clients in other threads, some sharing one connection, while another thread
// commits checkpoints; everything written must read back, and the server must
// stop cleanly.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "rams/fss.h"
#include "server.h"
#include "tree_snapshot.h"

namespace rams::fss {
namespace {

TEST(FssServerThreadsTest, ConcurrentClientsAndCommits) {
  std::string base = testing::MakeTempDir("threads");
  std::string root = base + "/root";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  testing::WriteFile(root + "/shared", std::string(10000, 's'));
  ServerOptions options;
  options.root = root;
  options.socket_path = base + "/fss.sock";
  options.realtime = false;
  Server server(options);
  Status run_status;
  std::thread serving([&] { run_status = server.Run(); });
  fss_client* probe = nullptr;
  for (int i = 0; i < 500 && probe == nullptr; ++i) {
    probe = fss_connect(options.socket_path.c_str());
    if (probe == nullptr) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(probe, nullptr);

  constexpr int kThreads = 6;
  std::atomic<int> failures{0};
  fss_client* shared = fss_connect(options.socket_path.c_str());
  ASSERT_NE(shared, nullptr);
  auto work = [&](fss_client* c, int t) {
    std::string dir = "/t" + std::to_string(t);
    if (fss_mkdir(c, dir.c_str(), 0755) != 0) ++failures;
    for (int k = 0; k < 40; ++k) {
      std::string path = dir + "/f" + std::to_string(k % 4);
      std::string data = path + "#" + std::to_string(k);
      int fd = fss_open(c, path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
      char back[64] = {};
      if (fd < 0 || fss_write(c, fd, data.data(), data.size()) != ssize_t(data.size()) ||
          fss_pread(c, fd, back, sizeof(back), 0) != ssize_t(data.size()) || data != back) {
        ++failures;
      }
      fss_close(c, fd);
      struct fss_statbuf st;
      if (fss_stat(c, "/shared", &st) != 0) ++failures;
      if (k % 10 == 9 && fss_rename(c, path.c_str(), (dir + "/moved").c_str()) != 0) ++failures;
    }
  };
  std::vector<std::thread> threads;
  std::vector<fss_client*> own;
  for (int t = 0; t < kThreads; ++t) {
    fss_client* c = t < 2 ? shared : fss_connect(options.socket_path.c_str());
    ASSERT_NE(c, nullptr);
    if (t >= 2) own.push_back(c);
    threads.emplace_back(work, c, t);
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 5; ++i) {
      if (fss_commit(probe) != 0) ++failures;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (fss_client* c : own) fss_disconnect(c);
  fss_disconnect(shared);
  fss_disconnect(probe);
  server.Stop();
  serving.join();
  EXPECT_TRUE(run_status.ok()) << run_status.ToString();
  testing::RemoveAll(base);
}

}  // namespace
}  // namespace rams::fss
