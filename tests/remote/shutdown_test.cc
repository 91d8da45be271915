// SPDX-License-Identifier: MIT
// Graceful SIGTERM: requests ramsd has received are answered (and applied
// whole), requests it has not read fail on the client with a connection
// error, parked operations end with an error, and ramsd exits 0.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>

#include "rams/remote.h"
#include "ramsd_process.h"

namespace rams::test {
namespace {

TEST(ShutdownTest, SigtermAnswersReceivedRequestsAndExitsZero) {
  constexpr size_t kBlock = 4096, kBlocks = 2048;
  TempSegment seg(kBlock * (kBlocks + 1), "term");  // the last block for the lock
  RamsdProcess ramsd;
  ramsd.Start({"--export", seg.name()});
  auto s = RemoteSession::Connect("127.0.0.1", ramsd.port());
  ASSERT_TRUE(s.ok());
  auto r = s->Open(seg.name());
  ASSERT_TRUE(r.ok());

  std::atomic<int> lock_result{-1};
  auto holder = PosixBackend()->Open(seg.name(), {});
  ASSERT_TRUE(holder.ok());
  auto held = (*holder)->Lock(kBlocks * kBlock, 8, {});
  ASSERT_TRUE(held.ok());
  std::thread parked([&] { lock_result = (*r)->Lock(kBlocks * kBlock, 8, {}).code(); });

  // Many pipelined writes of distinct whole-block patterns, SIGTERM meanwhile.
  std::vector<std::vector<std::byte>> blocks(kBlocks);
  RemoteBatch batch;
  for (size_t i = 0; i < kBlocks; ++i) {
    blocks[i].assign(kBlock, static_cast<std::byte>(i % 251 + 1));
    batch.Write(**r, i * kBlock, blocks[i]);
  }
  std::thread term([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(ramsd.Stop(SIGTERM), 0);  // graceful: exit status 0
  });
  Status run = batch.Run();
  term.join();
  parked.join();
  EXPECT_NE(lock_result.load(), 0);
  EXPECT_NE(lock_result.load(), -1);

  // Every write reported ok is there whole; every block is whole or untouched.
  const std::vector<std::byte> bytes = seg.Bytes();
  size_t ok = 0, failed = 0;
  for (size_t i = 0; i < kBlocks; ++i) {
    const std::byte* b = bytes.data() + i * kBlock;
    const bool written = std::equal(blocks[i].begin(), blocks[i].end(), b);
    const bool untouched = std::all_of(b, b + kBlock, [](std::byte x) { return x == std::byte{0}; });
    EXPECT_TRUE(written || untouched) << "block " << i << " torn";
    if (batch.status(i).ok()) {
      ++ok;
      EXPECT_TRUE(written) << "block " << i << " acknowledged but not written";
    } else {
      const int code = batch.status(i).code();
      EXPECT_TRUE(code == ECONNRESET || code == ENOTCONN || code == EPIPE) << code;
      ++failed;
    }
  }
  EXPECT_EQ(ok + failed, kBlocks);
  EXPECT_EQ(run.ok(), ok == kBlocks);
  RecordProperty("acknowledged", static_cast<int>(ok));
}

}  // namespace
}  // namespace rams::test
