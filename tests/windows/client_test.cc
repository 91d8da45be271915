// SPDX-License-Identifier: MIT
// The remote client (built for Windows, run under wine) against a native
// Linux ramsd with a key (scripts/windows-test starts windows-test-home):
// read/write, CAS and FETCH_ADD, range locks and leases, wait/wake, batches,
// the sync proxies, the errors that cross the wire (mapped from the
// protocol's codes to this platform's errno) and authentication both ways.
// Each test uses byte ranges and objects of its own (home_layout.h).
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include "client_test.h"

namespace rams::test {
namespace {

namespace home = windows_home;
using namespace std::chrono_literals;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(EnvPort("RAMS_WINDOWS_PORT"), 0) << "run by scripts/windows-test (no home set)";
    auto s = ConnectHome();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    session_.emplace(std::move(*s));
  }
  std::unique_ptr<RemoteAttachment> Open(const char* suffix, bool read_only = false) {
    auto seg = session_->Open(HomeSegment(suffix), read_only);
    EXPECT_TRUE(seg.ok()) << seg.status().ToString();
    return seg.ok() ? std::move(*seg) : nullptr;
  }
  // A second session, for a second party.
  RemoteSession Other() {
    auto s = ConnectHome();
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(*s);
  }
  std::optional<RemoteSession> session_;
};

std::vector<std::byte> Pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(seed + i * 7);
  return v;
}

TEST_F(ClientTest, PingAndStatListTheExports) {
  EXPECT_TRUE(session_->Ping().ok());
  auto stat = session_->Stat();
  ASSERT_TRUE(stat.ok()) << stat.status().ToString();
  EXPECT_GE(stat->connections, 1u);
  bool rw = false, ro = false, hidden = false;
  for (const RemoteExport& e : stat->exports) {
    rw = rw || (e.name == HomeSegment(home::kRw) && !e.read_only && e.size_bytes == home::kRwBytes);
    ro = ro || (e.name == HomeSegment(home::kRo) && e.read_only);
    hidden = hidden || e.name == HomeSegment(home::kHidden);
  }
  EXPECT_TRUE(rw);
  EXPECT_TRUE(ro);
  EXPECT_FALSE(hidden);
}

TEST_F(ClientTest, ReadsWhatTheHomeWrote) {
  auto seg = Open(home::kRo, true);
  ASSERT_NE(seg, nullptr);
  EXPECT_EQ(seg->info().size_bytes, home::kRoBytes);
  std::vector<std::byte> got(home::kRoBytes);
  ASSERT_TRUE(seg->Read(0, got).ok());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], std::byte{home::Pattern(i)}) << i;
}

TEST_F(ClientTest, WriteReadRoundTripsIncludingSplitRequests) {
  auto seg = Open(home::kRw);
  ASSERT_NE(seg, nullptr);
  const auto small = Pattern(4096, 3);
  ASSERT_TRUE(seg->Write(8192, small).ok());
  std::vector<std::byte> back(small.size());
  ASSERT_TRUE(seg->Read(8192, back).ok());
  EXPECT_EQ(back, small);
  // Larger than one request (1 MiB): split, each part atomic.
  const auto big = Pattern((1 << 20) + 12345, 9);
  ASSERT_TRUE(seg->Write(1 << 20, big).ok());
  std::vector<std::byte> big_back(big.size());
  ASSERT_TRUE(seg->Read(1 << 20, big_back).ok());
  EXPECT_EQ(big_back, big);
  // Another session sees the bytes.
  RemoteSession other = Other();
  auto seg2 = other.Open(HomeSegment(home::kRw));
  ASSERT_TRUE(seg2.ok());
  std::vector<std::byte> seen(small.size());
  ASSERT_TRUE((*seg2)->Read(8192, seen).ok());
  EXPECT_EQ(seen, small);
}

TEST_F(ClientTest, ErrorsCrossTheWireAsThisPlatformsErrno) {
  auto ro = Open(home::kRo, true);
  ASSERT_NE(ro, nullptr);
  std::vector<std::byte> buf(16);
  EXPECT_EQ(ro->Write(0, buf).code(), EROFS);
  EXPECT_EQ(session_->Open(HomeSegment(home::kRo), false).code(), EROFS);
  EXPECT_EQ(session_->Open(HomeSegment(home::kHidden)).code(), ENOENT);
  EXPECT_EQ(session_->Open("no-such-segment").code(), ENOENT);
  auto seg = Open(home::kRw);
  ASSERT_NE(seg, nullptr);
  EXPECT_EQ(seg->Read(home::kRwBytes - 8, buf).code(), EINVAL);
  EXPECT_EQ(seg->FetchAdd(4, 1).code(), EINVAL);  // unaligned
  EXPECT_EQ(seg->Wait(2, 0, 1ms).code(), EINVAL);
  EXPECT_TRUE(session_->Ping().ok());  // the session survives errors
  auto stat = seg->Stat();
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->size_bytes, home::kRwBytes);
  EXPECT_EQ(seg->Map().code(), ENOTSUP);  // no host pager on a client
}

TEST_F(ClientTest, CompareExchangeAndFetchAdd) {
  auto seg = Open(home::kRw);
  ASSERT_NE(seg, nullptr);
  const uint64_t word = 64 * 1024;
  auto prev = seg->CompareExchange(word, 0, 0);  // reads the word
  ASSERT_TRUE(prev.ok()) << prev.status().ToString();
  const uint64_t start = *prev;
  auto swapped = seg->CompareExchange(word, start, 42);
  ASSERT_TRUE(swapped.ok());
  EXPECT_EQ(*swapped, start);
  auto failed = seg->CompareExchange(word, start + 1000, 7);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(*failed, 42u);  // unchanged
  // Two sessions add concurrently: no increment is lost.
  const uint64_t counter = word + 8;
  auto base = seg->FetchAdd(counter, 0);
  ASSERT_TRUE(base.ok());
  std::thread t([&] {
    RemoteSession other = Other();
    auto s = other.Open(HomeSegment(home::kRw));
    ASSERT_TRUE(s.ok());
    for (int i = 0; i < 200; ++i) ASSERT_TRUE((*s)->FetchAdd(counter, 1).ok());
  });
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(seg->FetchAdd(counter, 1).ok());
  t.join();
  auto end = seg->FetchAdd(counter, 0);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end - *base, 400u);
}

TEST_F(ClientTest, RangeLocksRefuseOthersAndTimeOutWithThisPlatformsEtimedout) {
  auto seg = Open(home::kRw);
  ASSERT_NE(seg, nullptr);
  const uint64_t off = 128 * 1024;
  auto id = seg->Lock(off, 64, {});
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  RemoteSession other = Other();
  auto seg2 = other.Open(HomeSegment(home::kRw));
  ASSERT_TRUE(seg2.ok());
  std::vector<std::byte> buf(8);
  EXPECT_EQ((*seg2)->Write(off, buf).code(), EBUSY);
  // Protocol code 11 (EAGAIN = EWOULDBLOCK on Linux): this platform's EAGAIN.
  EXPECT_EQ((*seg2)->Lock(off, 8, {.timeout = 0ns}).code(), EAGAIN);
  // Protocol code 110: this platform's ETIMEDOUT (138 on mingw-w64).
  Status timed_out = (*seg2)->Lock(off, 8, {.timeout = 50ms}).status();
  EXPECT_EQ(timed_out.code(), ETIMEDOUT) << timed_out.ToString();
  EXPECT_NE(timed_out.message().find("ETIMEDOUT"), std::string::npos) << timed_out.ToString();
  auto held = seg->Held(*id);
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE(*held);
  ASSERT_TRUE(seg->Unlock(*id).ok());
  EXPECT_EQ(seg->Unlock(*id).code(), ENOENT);
  EXPECT_TRUE((*seg2)->Write(off, buf).ok());
}

TEST_F(ClientTest, WriteLeaseReleasesAfterTheNthWrite) {
  auto seg = Open(home::kRw);
  ASSERT_NE(seg, nullptr);
  const uint64_t off = 192 * 1024;
  auto id = seg->Lock(off, 16, {.writes = 2});
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  std::vector<std::byte> buf(16, std::byte{1});
  ASSERT_TRUE(seg->Write(off, buf).ok());
  EXPECT_TRUE(*seg->Held(*id));
  ASSERT_TRUE(seg->Write(off, buf).ok());
  EXPECT_FALSE(*seg->Held(*id));
}

TEST_F(ClientTest, WaitIsWokenByAnotherSessionAndTimesOut) {
  auto seg = Open(home::kRw);
  ASSERT_NE(seg, nullptr);
  const uint64_t word = 256 * 1024;
  std::vector<std::byte> zero(4);
  ASSERT_TRUE(seg->Write(word, zero).ok());
  EXPECT_EQ(seg->Wait(word, 1, 1s).code(), EAGAIN);      // the word differs
  EXPECT_EQ(seg->Wait(word, 0, 50ms).code(), ETIMEDOUT);
  std::atomic<bool> woken{false};
  std::thread waiter([&] {
    RemoteSession other = Other();
    auto s = other.Open(HomeSegment(home::kRw));
    ASSERT_TRUE(s.ok());
    Status st = (*s)->Wait(word, 0, 20s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    woken = true;
  });
  // Wake until the waiter has been woken (it may not be parked yet).
  for (int i = 0; i < 400 && !woken; ++i) {
    auto n = seg->Wake(word, 1);
    ASSERT_TRUE(n.ok());
    std::this_thread::sleep_for(25ms);
  }
  waiter.join();
  EXPECT_TRUE(woken);
}

TEST_F(ClientTest, BatchPipelinesAndReportsEachOperation) {
  auto seg = Open(home::kRw);
  ASSERT_NE(seg, nullptr);
  const uint64_t base = 512 * 1024;
  std::vector<std::vector<std::byte>> rows;
  for (int i = 0; i < 64; ++i) rows.push_back(Pattern(1000, uint8_t(i)));
  RemoteBatch batch;
  for (int i = 0; i < 64; ++i) batch.Write(*seg, base + i * 1000, rows[i]);
  uint64_t previous = 0;
  batch.FetchAdd(*seg, base + 70000, 5, &previous);
  std::vector<std::byte> past_end(16);
  batch.Read(*seg, home::kRwBytes - 8, past_end);  // fails alone
  EXPECT_EQ(batch.Run().code(), EINVAL);
  for (size_t i = 0; i < 65; ++i) EXPECT_TRUE(batch.status(i).ok()) << i;
  EXPECT_EQ(batch.status(65).code(), EINVAL);
  std::vector<std::vector<std::byte>> back(64, std::vector<std::byte>(1000));
  for (int i = 0; i < 64; ++i) batch.Read(*seg, base + i * 1000, back[i]);
  ASSERT_TRUE(batch.Run().ok());
  EXPECT_EQ(back, rows);
}

TEST_F(ClientTest, RemoteMutexExcludesOtherSessions) {
  auto seg = Open(home::kSync);
  ASSERT_NE(seg, nullptr);
  RemoteMutex mu(*seg, home::Mutex(0));
  auto a = mu.Lock(5s);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, Acquired::kClean);
  RemoteSession other = Other();
  auto seg2 = other.Open(HomeSegment(home::kSync));
  ASSERT_TRUE(seg2.ok());
  RemoteMutex mu2(**seg2, home::Mutex(0));
  EXPECT_EQ(mu2.TryLock().code(), EBUSY);
  EXPECT_EQ(mu2.Lock(50ms).code(), ETIMEDOUT);
  EXPECT_EQ(mu2.Unlock().code(), EPERM);
  EXPECT_EQ(mu.Lock(0ns).code(), EDEADLK);  // protocol 35: mingw-w64's 36
  ASSERT_TRUE(mu.Unlock().ok());
  auto b = mu2.TryLock();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_TRUE(mu2.Unlock().ok());
}

TEST_F(ClientTest, RemoteCondVarSignalsAWaiterOfAnotherSession) {
  auto seg = Open(home::kSync);
  ASSERT_NE(seg, nullptr);
  RemoteMutex mu(*seg, home::Mutex(1));
  RemoteCondVar cv(*seg, home::Cond(0));
  ASSERT_TRUE(mu.Lock(5s).ok());
  auto timed = cv.Wait(mu, 50ms);
  ASSERT_TRUE(timed.ok()) << timed.status().ToString();
  EXPECT_TRUE(timed->timed_out);
  ASSERT_TRUE(mu.Unlock().ok());

  const uint64_t flag = home::kPlainWord;
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    RemoteSession other = Other();
    auto s = other.Open(HomeSegment(home::kSync));
    ASSERT_TRUE(s.ok());
    RemoteMutex m(**s, home::Mutex(1));
    RemoteCondVar c(**s, home::Cond(0));
    ASSERT_TRUE(m.Lock(10s).ok());
    // The predicate: the flag word set by the signaller under the mutex.
    for (int i = 0; i < 100; ++i) {
      auto v = (*s)->FetchAdd(flag, 0);
      ASSERT_TRUE(v.ok());
      if (*v != 0) break;
      ASSERT_TRUE(c.Wait(m, 1s).ok());
    }
    ASSERT_TRUE(m.Unlock().ok());
    done = true;
  });
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(mu.Lock(10s).ok());
  ASSERT_TRUE(seg->FetchAdd(flag, 1).ok());
  ASSERT_TRUE(cv.Signal().ok());
  ASSERT_TRUE(mu.Unlock().ok());
  waiter.join();
  EXPECT_TRUE(done);
  ASSERT_TRUE(seg->FetchAdd(flag, uint64_t(0) - 1).ok());  // back to 0
  EXPECT_TRUE(cv.Broadcast().ok());
}

TEST_F(ClientTest, RemoteBarrierMeetsTwoSessions) {
  auto seg = Open(home::kSync);
  ASSERT_NE(seg, nullptr);
  RemoteBarrier barrier(*seg, home::Barrier(0));
  std::atomic<int> last{0};
  std::thread peer([&] {
    RemoteSession other = Other();
    auto s = other.Open(HomeSegment(home::kSync));
    ASSERT_TRUE(s.ok());
    RemoteBarrier b(**s, home::Barrier(0));
    ASSERT_TRUE(b.Join().ok());
    auto r = b.Wait(10s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    last += *r;
    ASSERT_TRUE(b.Leave().ok());
  });
  ASSERT_TRUE(barrier.Join().ok());
  auto r = barrier.Wait(10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  last += *r;
  ASSERT_TRUE(barrier.Leave().ok());
  peer.join();
  EXPECT_EQ(last, 1);  // exactly one of the two is the last to arrive
}

TEST_F(ClientTest, SyncProxyOnAPlainWordIsEinval) {
  auto seg = Open(home::kSync);
  ASSERT_NE(seg, nullptr);
  RemoteMutex mu(*seg, home::kPlainWord + 64);
  EXPECT_EQ(mu.Lock(0ns).code(), EINVAL);
  auto ro = Open(home::kRo, true);
  ASSERT_NE(ro, nullptr);
  RemoteMutex ro_mu(*ro, 0);
  EXPECT_EQ(ro_mu.Lock(0ns).code(), EROFS);
}

TEST(ClientAuthTest, AWrongKeyOrNoKeyIsRefusedByTheServer) {
  const uint16_t port = EnvPort("RAMS_WINDOWS_PORT");
  ASSERT_NE(port, 0);
  RemoteOptions wrong;
  wrong.key = std::string(32, 'w');
  EXPECT_EQ(RemoteSession::Connect("127.0.0.1", port, wrong).code(), EACCES);
  EXPECT_EQ(RemoteSession::Connect("127.0.0.1", port).code(), EACCES);
  RemoteOptions short_key;
  short_key.key = "short";
  EXPECT_EQ(RemoteSession::Connect("127.0.0.1", port, short_key).code(), EINVAL);
}

TEST(ClientAuthTest, TheClientRefusesAServerThatCannotProveTheKey) {
  // The impostor asks for the key but answers with another key's MAC.
  const uint16_t impostor = EnvPort("RAMS_WINDOWS_IMPOSTOR_PORT");
  ASSERT_NE(impostor, 0);
  auto s = RemoteSession::Connect("127.0.0.1", impostor, KeyedOptions());
  EXPECT_EQ(s.code(), EACCES);
  EXPECT_NE(s.status().message().find("does not know the key"), std::string::npos)
      << s.status().ToString();
  // A server without a key cannot prove it either: a client holding one refuses it.
  const uint16_t open = EnvPort("RAMS_WINDOWS_OPEN_PORT");
  auto o = RemoteSession::Connect("127.0.0.1", open, KeyedOptions());
  EXPECT_EQ(o.code(), EACCES);
  // Without a key the client accepts the keyless server.
  auto plain = RemoteSession::Connect("127.0.0.1", open);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(plain->Ping().ok());
}

TEST(ClientConnectTest, ConnectionErrorsAreThisPlatformsErrno) {
  // The impostor's port + 0 is taken; find a closed one by binding nothing:
  // port 1 on loopback has no listener.
  RemoteOptions quick;
  quick.timeout = 5s;
  Result<RemoteSession> refused = RemoteSession::Connect("127.0.0.1", 1, quick);
  EXPECT_EQ(refused.code(), ECONNREFUSED) << refused.status().ToString();
  Result<RemoteSession> unknown = RemoteSession::Connect("no-such-host.invalid", 7070, quick);
  EXPECT_EQ(unknown.code(), EHOSTUNREACH) << unknown.status().ToString();
}

}  // namespace
}  // namespace rams::test
