// SPDX-License-Identifier: MIT
// ramsd SIGKILLed in the middle of requests: every client call in flight —
// bulk reads and writes, atomics, a parked WAIT, a waiting LOCK — returns an
// error promptly instead of hanging, later calls fail fast, and clients
// reconnect once ramsd is back on the same port. Repeated at random points.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "common/test_util.h"
#include "rams/remote.h"
#include "ramsd_process.h"

namespace rams::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(CrashTest, ClientsErrorAndReconnectAfterSigkill) {
  // ramsd killed while it holds the segment's io mutex (a bulk WRITE) leaves
  // that robust mutex locked where the kernel keeps no robust lists.
  if (!testing::KernelKeepsRobustLists()) {
    GTEST_SKIP() << testing::kNoRobustLists << ": ramsd killed inside the io mutex wedges it";
  }
  TempSegment seg(4 << 20, "crash");
  RamsdProcess ramsd;
  ramsd.Start({"--export", seg.name()});
  const uint16_t port = ramsd.port();
  std::mt19937 rng(7);
  auto holder = PosixBackend()->Open(seg.name(), {});
  ASSERT_TRUE(holder.ok());
  auto held = (*holder)->Lock(0, 64, {});  // a local holder the remote LOCK waits for
  ASSERT_TRUE(held.ok());

  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto session = RemoteSession::Connect("127.0.0.1", port);
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    auto remote = session->Open(seg.name());
    ASSERT_TRUE(remote.ok());
    RemoteAttachment& r = **remote;

    std::atomic<bool> stop{false};
    std::atomic<int> returned{0};
    std::vector<int> codes(4, 0);
    std::vector<std::thread> threads;
    threads.emplace_back([&] {  // bulk traffic
      std::vector<std::byte> buf(1 << 20);
      Status s;
      for (int i = 0; s.ok() && !stop; ++i) s = (i % 2 ? r.Read(4096, buf) : r.Write(4096, buf));
      codes[0] = s.code();
      ++returned;
    });
    threads.emplace_back([&] {  // small atomics
      Result<uint64_t> v = uint64_t{0};
      while (v.ok() && !stop) v = r.FetchAdd(1 << 20, 1);
      codes[1] = v.code();
      ++returned;
    });
    threads.emplace_back([&] { codes[2] = r.Wait(2 << 20, 0, std::nullopt).code(); ++returned; });
    threads.emplace_back([&] { codes[3] = r.Lock(0, 8, {}).code(); ++returned; });

    std::this_thread::sleep_for(milliseconds(20 + rng() % 80));
    ramsd.Stop(SIGKILL);
    const auto killed = Clock::now();
    for (auto& t : threads) t.join();
    EXPECT_LT(Clock::now() - killed, std::chrono::seconds(5));
    EXPECT_EQ(returned.load(), 4);
    for (int c : codes) EXPECT_NE(c, 0);
    EXPECT_FALSE(session->connected());
    EXPECT_NE(session->Ping().code(), 0);  // fails fast, no hang

    remote->reset();
    ramsd.Start({"--export", seg.name()}, "127.0.0.1", port);
    ASSERT_EQ(ramsd.port(), port);
  }
  auto again = RemoteSession::Connect("127.0.0.1", port);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->Ping().ok());
}

}  // namespace
}  // namespace rams::test
