// SPDX-License-Identifier: MIT
// Threads of one process sharing a rams::Mutex with remote sessions through
// ramsd: local threads lock the object directly, other threads (each with its
// own session, so each its own owner on the home host) through RemoteMutex.
// Threads only: run under TSan too, which checks ramsd's sync agents as well.
#include <gtest/gtest.h>

#include <atomic>
#include <new>
#include <thread>
#include <vector>

#include "rams/mutex.h"
#include "rams/remote.h"
#include "ramsd_process.h"

namespace rams::test {
namespace {

constexpr uint64_t kMutexOff = 0;
constexpr uint64_t kCounterOff = 64;

TEST(SyncObjectsThreadsTest, LocalThreadsAndRemoteSessionsShareOneMutex) {
  TempSegment seg(1 << 12, "syncthr");
  auto map = seg.segment().Map();
  ASSERT_TRUE(map.ok());
  Mutex* mu = new (map->data() + kMutexOff) Mutex();
  auto* counter = reinterpret_cast<uint64_t*>(map->data() + kCounterOff);
  RamsdProcess ramsd;
  ramsd.Start({"--export", seg.name()});
  constexpr int kPerSide = 2, kIncrements = 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kPerSide; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < kIncrements; ++k) {
        if (!mu->Lock().ok()) return void(++failures);
        // Only the mutex orders these (TSan checks it in this process).
        *counter = *counter + 1;
        mu->Unlock();
      }
    });
    threads.emplace_back([&] {
      auto s = RemoteSession::Connect("127.0.0.1", ramsd.port());
      if (!s.ok()) return void(++failures);
      auto rs = s->Open(seg.name());
      if (!rs.ok()) return void(++failures);
      RemoteMutex rmu(**rs, kMutexOff);
      for (int k = 0; k < kIncrements; ++k) {
        uint64_t v = 0;
        auto bytes = std::as_writable_bytes(std::span(&v, 1));
        auto l = rmu.Lock();
        if (!l.ok() || *l != Acquired::kClean || !(*rs)->Read(kCounterOff, bytes).ok()) {
          return void(++failures);
        }
        ++v;
        if (!(*rs)->Write(kCounterOff, bytes).ok() || !rmu.Unlock().ok()) return void(++failures);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(mu->Lock().ok());
  EXPECT_EQ(*counter, uint64_t{2 * kPerSide * kIncrements});
  mu->Unlock();
  EXPECT_EQ(ramsd.Stop(), 0);  // a clean exit: TSan-built ramsd reports races as errors
}

}  // namespace
}  // namespace rams::test
