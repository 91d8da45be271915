// SPDX-License-Identifier: MIT
// The remote client against a ramsd on loopback: every operation, read-only
// and unexported segments, bounds, lock semantics compared with local ones,
// wait/wake, pipelining, and 20 concurrent clients doing fetch_add.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "rams/remote.h"
#include "ramsd_process.h"

namespace rams::test {
namespace {

std::vector<std::byte> Pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(seed + i * 7);
  return v;
}

class LoopbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ramsd_.Start({"--export", rw_.name(), "--export", ro_.name() + ":ro"});
    auto s = RemoteSession::Connect("127.0.0.1", ramsd_.port());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    session_.emplace(std::move(*s));
  }
  std::unique_ptr<RemoteAttachment> OpenRw() {
    auto seg = session_->Open(rw_.name());
    EXPECT_TRUE(seg.ok()) << seg.status().ToString();
    return seg.ok() ? std::move(*seg) : nullptr;
  }

  TempSegment rw_{1 << 21, "rw"};
  TempSegment ro_{4096, "ro"};
  RamsdProcess ramsd_;
  std::optional<RemoteSession> session_;
};

TEST_F(LoopbackTest, ReadWriteRoundTripsAndIsVisibleLocally) {
  auto seg = OpenRw();
  ASSERT_NE(seg, nullptr);
  EXPECT_EQ(seg->info().size_bytes, 1u << 21);
  EXPECT_EQ(seg->info().backend, "remote");
  const auto data = Pattern(4096, 3);
  ASSERT_TRUE(seg->Write(100, data).ok());
  std::vector<std::byte> local(4096);
  ASSERT_TRUE(rw_.segment().Read(100, local).ok());
  EXPECT_EQ(local, data);
  std::vector<std::byte> back(4096);
  ASSERT_TRUE(seg->Read(100, back).ok());
  EXPECT_EQ(back, data);
  // Larger than one request: split into 1 MiB requests.
  const auto big = Pattern((1 << 20) + 12345, 9);
  ASSERT_TRUE(seg->Write(7, big).ok());
  std::vector<std::byte> big_back(big.size());
  ASSERT_TRUE(seg->Read(7, big_back).ok());
  EXPECT_EQ(big_back, big);
}

TEST_F(LoopbackTest, OutOfBoundsIsEinvalAndChangesNothing) {
  auto seg = OpenRw();
  ASSERT_NE(seg, nullptr);
  const auto before = rw_.Bytes();
  std::vector<std::byte> buf(16);
  EXPECT_EQ(seg->Read((1 << 21) - 8, buf).code(), EINVAL);
  EXPECT_EQ(seg->Write((1 << 21) - 8, buf).code(), EINVAL);
  EXPECT_EQ(seg->Write(UINT64_MAX - 4, buf).code(), EINVAL);
  EXPECT_EQ(seg->FetchAdd(4, 1).code(), EINVAL);         // unaligned
  EXPECT_EQ(seg->FetchAdd(1 << 21, 1).code(), EINVAL);   // past the end
  EXPECT_EQ(seg->Wait(2, 0, std::chrono::milliseconds(1)).code(), EINVAL);
  EXPECT_EQ(rw_.Bytes(), before);
  EXPECT_TRUE(session_->Ping().ok());  // the session survives errors
}

// One range check for every attachment: the remote client refuses what a
// local attachment refuses, with the very same message, before sending.
TEST_F(LoopbackTest, OutOfBoundsReadsAlikeLocallyAndRemotely) {
  auto seg = OpenRw();
  ASSERT_NE(seg, nullptr);
  std::vector<std::byte> buf(16);
  const uint64_t past = (1 << 21) - 8;
  const Status local_read = rw_.segment().Read(past, buf);
  const Status local_write = rw_.segment().Write(past, buf);
  const Status local_wait = rw_.segment().Wait(2, 0, std::chrono::milliseconds(1));
  ASSERT_EQ(local_read.code(), EINVAL);
  EXPECT_EQ(seg->Read(past, buf).ToString(), local_read.ToString());
  EXPECT_EQ(seg->Write(past, buf).ToString(), local_write.ToString());
  EXPECT_EQ(seg->Wait(2, 0, std::chrono::milliseconds(1)).ToString(), local_wait.ToString());
}

TEST_F(LoopbackTest, ReadOnlyAndUnexported) {
  EXPECT_EQ(session_->Open(ro_.name()).code(), EROFS);
  auto ro = session_->Open(ro_.name(), /*read_only=*/true);
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  std::vector<std::byte> buf(8, std::byte{1});
  EXPECT_TRUE((*ro)->Read(0, buf).ok());
  EXPECT_EQ((*ro)->Write(0, buf).code(), EROFS);
  EXPECT_EQ((*ro)->FetchAdd(0, 1).code(), EROFS);
  EXPECT_EQ((*ro)->CompareExchange(0, 0, 1).code(), EROFS);
  EXPECT_EQ((*ro)->Lock(0, 8, {}).code(), EROFS);
  EXPECT_EQ(ro_.Bytes(), std::vector<std::byte>(4096));
  TempSegment hidden(4096, "hidden");
  EXPECT_EQ(session_->Open(hidden.name()).code(), ENOENT);
  EXPECT_EQ(session_->Open("no.such.segment").code(), ENOENT);
}

TEST_F(LoopbackTest, AtomicsAgreeWithLocalAtomics) {
  auto seg = OpenRw();
  ASSERT_NE(seg, nullptr);
  auto map = rw_.segment().Map();
  ASSERT_TRUE(map.ok());
  std::atomic_ref<uint64_t> word(*reinterpret_cast<uint64_t*>(map->data() + 64));
  word.store(10);
  EXPECT_EQ(*seg->FetchAdd(64, 5), 10u);
  EXPECT_EQ(word.load(), 15u);
  EXPECT_EQ(*seg->CompareExchange(64, 14, 99), 15u);  // fails: unchanged
  EXPECT_EQ(word.load(), 15u);
  EXPECT_EQ(*seg->CompareExchange(64, 15, 99), 15u);  // succeeds
  EXPECT_EQ(word.load(), 99u);
  // Remote and local increments interleave without loss.
  std::thread local([&] {
    for (int i = 0; i < 2000; ++i) word.fetch_add(1);
  });
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(seg->FetchAdd(64, 1).ok());
  local.join();
  EXPECT_EQ(word.load(), 99u + 2500u);
}

TEST_F(LoopbackTest, TwentyClientsFetchAddExactTotal) {
  constexpr int kClients = 20, kAdds = 500;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::mutex mu;
  std::string first_error;
  auto fail = [&](const Status& s) {
    failures.fetch_add(1);
    std::lock_guard lock(mu);
    if (first_error.empty()) first_error = s.ToString();
  };
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&] {
      auto s = RemoteSession::Connect("127.0.0.1", ramsd_.port());
      if (!s.ok()) return fail(s.status());
      auto seg = s->Open(rw_.name());
      if (!seg.ok()) return fail(seg.status());
      for (int i = 0; i < kAdds; ++i) {
        if (Result<uint64_t> r = (*seg)->FetchAdd(8, 1); !r.ok()) fail(r.status());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << first_error;
  uint64_t total = 0;
  ASSERT_TRUE(rw_.segment().Read(8, std::as_writable_bytes(std::span(&total, 1))).ok());
  EXPECT_EQ(total, uint64_t{kClients} * kAdds);
}

TEST_F(LoopbackTest, PipelinedBatchFromManyThreadsOnOneSession) {
  auto seg = OpenRw();
  ASSERT_NE(seg, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      RemoteBatch batch;
      std::vector<uint64_t> prev(300);
      for (auto& p : prev) batch.FetchAdd(*seg, 16, 1, &p);
      std::vector<std::byte> out(64);
      batch.Read(*seg, 4096 * (t + 1), out);
      EXPECT_TRUE(batch.Run().ok());
    });
  }
  for (auto& t : threads) t.join();
  uint64_t total = 0;
  ASSERT_TRUE(rw_.segment().Read(16, std::as_writable_bytes(std::span(&total, 1))).ok());
  EXPECT_EQ(total, 1200u);
}

TEST_F(LoopbackTest, StatDescribesServerAndSegment) {
  auto stat = session_->Stat();
  ASSERT_TRUE(stat.ok()) << stat.status().ToString();
  ASSERT_EQ(stat->exports.size(), 2u);
  EXPECT_EQ(stat->exports[0].name, rw_.name());
  EXPECT_FALSE(stat->exports[0].read_only);
  EXPECT_EQ(stat->exports[0].size_bytes, 1u << 21);
  EXPECT_TRUE(stat->exports[1].read_only);
  EXPECT_GE(stat->connections, 1u);
  auto seg = OpenRw();
  ASSERT_NE(seg, nullptr);
  auto lock = seg->Lock(0, 16, {});
  ASSERT_TRUE(lock.ok());
  auto info = seg->Stat();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->locks_held, 1u);
  EXPECT_EQ(info->mode, 0600u);
}

}  // namespace
}  // namespace rams::test
