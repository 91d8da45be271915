// SPDX-License-Identifier: MIT
// Mutex, CondVar and Barrier shared by local processes on the home host and
// remote sessions through ramsd: the home ramsd runs the remote sessions'
// operations on the very same objects (docs/protocol.md §4.4). Fork tests:
// not labelled `threads`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <new>
#include <optional>
#include <vector>

#include "rams/barrier.h"
#include "rams/condvar.h"
#include "rams/mutex.h"
#include "common/test_util.h"
#include "rams/remote.h"
#include "ramsd_process.h"

namespace rams::test {
namespace {

using std::chrono::milliseconds;

// Where the objects live in the test segment.
constexpr uint64_t kMutexOff = 0;
constexpr uint64_t kCondOff = 64;
constexpr uint64_t kBarrierOff = 128;    // 304 bytes
constexpr uint64_t kCounterOff = 512;    // u64
constexpr uint64_t kFullOff = 1024;      // u64 mailbox: 0 empty, else item + 1
constexpr uint64_t kArrivedOff = 1536;   // u64 per barrier generation
constexpr uint64_t kConsumedOff = 4096;  // one byte per item
constexpr uint64_t kSegmentBytes = 1 << 16;

class SyncObjectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = seg_.segment().Map();
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    base_ = m->data();
    new (base_ + kMutexOff) Mutex();
    new (base_ + kCondOff) CondVar();
    ramsd_.Start({"--export", seg_.name()});
  }
  Mutex& LocalMutex() { return *reinterpret_cast<Mutex*>(base_ + kMutexOff); }
  CondVar& LocalCond() { return *reinterpret_cast<CondVar*>(base_ + kCondOff); }
  std::atomic_ref<uint64_t> Word(uint64_t off) {
    return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(base_ + off));
  }
  // A child that connects its own session; exits 0 when `body` returns true.
  pid_t SpawnRemote(const std::function<bool(RemoteAttachment&)>& body) {
    return Spawn([&] {
      auto s = RemoteSession::Connect("127.0.0.1", ramsd_.port());
      if (!s.ok()) return false;
      auto seg = s->Open(seg_.name());
      return seg.ok() && body(**seg);
    });
  }
  // A child that runs `body` on its own session and, once that returned true,
  // says so on `ready` and stays (holding whatever body took) until it is
  // killed or this process ends: none outlives the test to hold ctest's pipes.
  struct Holder {
    pid_t pid = -1;
    int ready = -1;  // read end; EOF when the child failed first
  };
  Holder SpawnHolder(const std::function<bool(RemoteAttachment&)>& body) {
    int ready[2];
    int hold[2];
    if (pipe2(ready, O_CLOEXEC) != 0) return {};
    if (pipe2(hold, O_CLOEXEC) != 0) {
      close(ready[0]);
      close(ready[1]);
      return {};
    }
    const pid_t pid = SpawnRemote([&](RemoteAttachment& seg) {
      close(ready[0]);
      close(hold[1]);
      char c = 1;
      if (!body(seg) || write(ready[1], &c, 1) != 1) return false;
      while (read(hold[0], &c, 1) != 0) {
      }  // EOF: the test process is gone
      return false;
    });
    close(ready[1]);
    close(hold[0]);
    hold_fds_.push_back(hold[1]);
    return {.pid = pid, .ready = ready[0]};
  }
  // Whether the holder got there (never a hang on one that failed first).
  static bool Ready(Holder& h) {
    char c = 0;
    ssize_t n;
    while ((n = read(h.ready, &c, 1)) < 0 && errno == EINTR) {
    }
    close(h.ready);
    h.ready = -1;
    return n == 1;
  }
  void TearDown() override {
    for (int fd : hold_fds_) close(fd);
  }
  // Runs `body` in a child; the child exits 0 when it returns true.
  static pid_t Spawn(const std::function<bool()>& body) {
    return testing::ForkChild([&] { return body() ? 0 : 1; });
  }
  static bool Reap(pid_t pid) { return testing::WaitChild(pid) == 0; }

  TempSegment seg_{kSegmentBytes, "syncobj"};
  std::byte* base_ = nullptr;
  RamsdProcess ramsd_;
  std::vector<int> hold_fds_;  // write ends a holder child waits on
};

// Remote read-modify-write of a u64 under the remote mutex.
bool RemoteIncrement(RemoteAttachment& seg, RemoteMutex& mu, uint64_t off) {
  auto l = mu.Lock();
  if (!l.ok() || *l != Acquired::kClean) return false;
  uint64_t v = 0;
  auto bytes = std::as_writable_bytes(std::span(&v, 1));
  if (!seg.Read(off, bytes).ok()) return false;
  ++v;
  if (!seg.Write(off, bytes).ok()) return false;
  return mu.Unlock().ok();
}

TEST_F(SyncObjectsTest, LocalAndRemoteShareOneMutex) {
  constexpr int kPerSide = 4, kIncrements = 150;
  std::vector<pid_t> kids;
  for (int i = 0; i < kPerSide; ++i) {
    kids.push_back(Spawn([&] {
      for (int k = 0; k < kIncrements; ++k) {
        if (!LocalMutex().Lock().ok()) return false;
        // Not atomic on purpose: only the mutex keeps increments apart.
        uint64_t* counter = reinterpret_cast<uint64_t*>(base_ + kCounterOff);
        const uint64_t v = *counter;
        if (k % 8 == 0) sched_yield();
        *counter = v + 1;
        LocalMutex().Unlock();
      }
      return true;
    }));
    kids.push_back(SpawnRemote([&](RemoteAttachment& seg) {
      RemoteMutex mu(seg, kMutexOff);
      for (int k = 0; k < kIncrements; ++k) {
        if (!RemoteIncrement(seg, mu, kCounterOff)) return false;
      }
      return true;
    }));
  }
  for (pid_t k : kids) EXPECT_TRUE(Reap(k));
  EXPECT_EQ(Word(kCounterOff).load(), uint64_t{2 * kPerSide * kIncrements});
}

TEST_F(SyncObjectsTest, ProducersAndConsumersAcrossHostsLoseNothing) {
  constexpr int kItems = 60;  // per producer; producer p makes items p*kItems ...
  auto local_producer = [&](int p) {
    Mutex& mu = LocalMutex();
    for (int i = 0; i < kItems; ++i) {
      if (!mu.Lock().ok()) return false;
      while (Word(kFullOff).load() != 0) {
        if (!LocalCond().Wait(mu, milliseconds(200)).ok()) return false;
      }
      Word(kFullOff).store(static_cast<uint64_t>(p * kItems + i) + 1);
      LocalCond().Broadcast();
      mu.Unlock();
    }
    return true;
  };
  auto local_consumer = [&](int n) {
    Mutex& mu = LocalMutex();
    for (int i = 0; i < n; ++i) {
      if (!mu.Lock().ok()) return false;
      while (Word(kFullOff).load() == 0) {
        if (!LocalCond().Wait(mu, milliseconds(200)).ok()) return false;
      }
      const uint64_t item = Word(kFullOff).load() - 1;
      ++*reinterpret_cast<uint8_t*>(base_ + kConsumedOff + item);
      Word(kFullOff).store(0);
      LocalCond().Broadcast();
      mu.Unlock();
    }
    return true;
  };
  // Remote side: the same with reads and writes of the segment.
  auto remote_step = [](RemoteAttachment& seg, bool produce, uint64_t item) {
    RemoteMutex mu(seg, kMutexOff);
    RemoteCondVar cv(seg, kCondOff);
    if (!mu.Lock().ok()) return false;
    uint64_t full = 0;
    auto full_bytes = std::as_writable_bytes(std::span(&full, 1));
    for (;;) {
      if (!seg.Read(kFullOff, full_bytes).ok()) return false;
      if ((full == 0) == produce) break;
      if (!cv.Wait(mu, milliseconds(200)).ok()) return false;
    }
    if (produce) {
      full = item + 1;
    } else {
      uint8_t count = 0;
      auto c = std::as_writable_bytes(std::span(&count, 1));
      if (!seg.Read(kConsumedOff + full - 1, c).ok()) return false;
      ++count;
      if (!seg.Write(kConsumedOff + full - 1, c).ok()) return false;
      full = 0;
    }
    return seg.Write(kFullOff, full_bytes).ok() && cv.Broadcast().ok() && mu.Unlock().ok();
  };
  std::vector<pid_t> kids;
  kids.push_back(Spawn([&] { return local_producer(0); }));
  kids.push_back(SpawnRemote([&](RemoteAttachment& seg) {
    for (int i = 0; i < kItems; ++i) {
      if (!remote_step(seg, true, uint64_t{kItems} + i)) return false;
    }
    return true;
  }));
  // Consumers split the 2 * kItems items: a local one and a remote one.
  kids.push_back(Spawn([&] { return local_consumer(kItems); }));
  kids.push_back(SpawnRemote([&](RemoteAttachment& seg) {
    for (int i = 0; i < kItems; ++i) {
      if (!remote_step(seg, false, 0)) return false;
    }
    return true;
  }));
  for (pid_t k : kids) EXPECT_TRUE(Reap(k));
  for (int item = 0; item < 2 * kItems; ++item) {
    EXPECT_EQ(static_cast<int>(base_[kConsumedOff + item]), 1) << "item " << item;
  }
  EXPECT_EQ(Word(kFullOff).load(), 0u);
}

TEST_F(SyncObjectsTest, BarrierWithLocalAndRemoteMembers) {
  constexpr uint32_t kParties = 4;
  constexpr int kGenerations = 20;
  new (base_ + kBarrierOff) Barrier(kParties);
  Barrier& local = *reinterpret_cast<Barrier*>(base_ + kBarrierOff);
  // Each member counts its arrival for generation g, then after the barrier
  // checks that every party arrived; the last arrivals are counted.
  std::vector<pid_t> kids;
  for (int i = 0; i < 2; ++i) {
    kids.push_back(Spawn([&] {
      if (!local.Join().ok()) return false;
      for (int g = 0; g < kGenerations; ++g) {
        Word(kArrivedOff + 8 * g).fetch_add(1);
        auto last = local.Wait(std::chrono::seconds(10));
        if (!last.ok() || Word(kArrivedOff + 8 * g).load() != kParties) return false;
        if (*last) Word(kCounterOff).fetch_add(1);
      }
      return true;
    }));
    kids.push_back(SpawnRemote([&](RemoteAttachment& seg) {
      RemoteBarrier barrier(seg, kBarrierOff);
      if (!barrier.Join().ok()) return false;
      for (int g = 0; g < kGenerations; ++g) {
        if (!seg.FetchAdd(kArrivedOff + 8 * g, 1).ok()) return false;
        auto last = barrier.Wait(std::chrono::seconds(10));
        auto arrived = seg.FetchAdd(kArrivedOff + 8 * g, 0);
        if (!last.ok() || !arrived.ok() || *arrived != kParties) return false;
        if (*last && !seg.FetchAdd(kCounterOff, 1).ok()) return false;
      }
      return barrier.Leave().ok();
    }));
  }
  for (pid_t k : kids) EXPECT_TRUE(Reap(k));
  EXPECT_EQ(Word(kCounterOff).load(), uint64_t{kGenerations});
  EXPECT_FALSE(local.Broken());
}

TEST_F(SyncObjectsTest, KilledRemoteHolderIsAnOwnerDeath) {
  Holder h = SpawnHolder([](RemoteAttachment& seg) { return RemoteMutex(seg, kMutexOff).Lock().ok(); });
  ASSERT_TRUE(Ready(h));
  const pid_t holder = h.pid;
  EXPECT_EQ(LocalMutex().TryLock().code(), EBUSY);
  kill(holder, SIGKILL);
  EXPECT_FALSE(Reap(holder));
  // The next remote locker sees the death, repairs, and hands over cleanly.
  const auto killed = std::chrono::steady_clock::now();
  auto connected = RemoteSession::Connect("127.0.0.1", ramsd_.port());
  ASSERT_TRUE(connected.ok());
  std::optional<RemoteSession> s(std::move(*connected));
  auto seg = s->Open(seg_.name());
  ASSERT_TRUE(seg.ok());
  RemoteMutex mu(**seg, kMutexOff);
  auto l = mu.Lock(std::chrono::seconds(5));
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(*l, Acquired::kOwnerDied);
  EXPECT_LT(std::chrono::steady_clock::now() - killed, std::chrono::seconds(3));
  EXPECT_TRUE(mu.MarkConsistent().ok());
  EXPECT_TRUE(mu.Unlock().ok());
  auto again = LocalMutex().Lock(std::chrono::seconds(5));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, Acquired::kClean);
  // Now a remote session that disconnects while holding it: the local
  // locker gets kOwnerDied.
  ASSERT_TRUE(mu.TryLock().code() == EBUSY);
  LocalMutex().Unlock();
  ASSERT_TRUE(mu.Lock().ok());
  seg->reset();
  s.reset();
  auto local = LocalMutex().Lock(std::chrono::seconds(5));
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_EQ(*local, Acquired::kOwnerDied);
  LocalMutex().MarkConsistent();
  LocalMutex().Unlock();
}

TEST_F(SyncObjectsTest, KilledRemoteMemberBreaksTheBarrier) {
  new (base_ + kBarrierOff) Barrier(2);
  Barrier& local = *reinterpret_cast<Barrier*>(base_ + kBarrierOff);
  ASSERT_TRUE(local.Join().ok());
  Holder h = SpawnHolder([](RemoteAttachment& seg) {
    RemoteBarrier barrier(seg, kBarrierOff);
    return barrier.Join().ok() && barrier.Wait(std::chrono::seconds(10)).ok();  // one round together
  });
  const pid_t member = h.pid;
  auto first = local.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(Ready(h));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  kill(member, SIGKILL);
  EXPECT_FALSE(Reap(member));
  // The remote member (ramsd's agent for its session) is gone: broken, not a hang.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(local.Wait(std::chrono::seconds(10)).code(), EPIPE);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(SyncObjectsTest, BadInputIsRefusedAndChangesNothing) {
  const std::vector<std::byte> before = seg_.Bytes();
  auto s = RemoteSession::Connect("127.0.0.1", ramsd_.port());
  ASSERT_TRUE(s.ok());
  auto seg = s->Open(seg_.name());
  ASSERT_TRUE(seg.ok());
  RemoteAttachment& rs = **seg;
  EXPECT_EQ(RemoteMutex(rs, kMutexOff + 4).Lock().code(), EINVAL);          // misaligned
  EXPECT_EQ(RemoteMutex(rs, kSegmentBytes - 16).Lock().code(), EINVAL);     // out of bounds
  EXPECT_EQ(RemoteMutex(rs, uint64_t{1} << 62).TryLock().code(), EINVAL);   // far out
  EXPECT_EQ(RemoteMutex(rs, kCounterOff).Lock().code(), EINVAL);            // not a mutex
  EXPECT_EQ(RemoteMutex(rs, kCondOff).Lock().code(), EINVAL);               // a condvar
  EXPECT_EQ(RemoteBarrier(rs, kMutexOff).Join().code(), EINVAL);            // not a barrier
  EXPECT_EQ(RemoteCondVar(rs, kMutexOff).Signal().code(), EINVAL);
  RemoteMutex mu(rs, kMutexOff);
  EXPECT_EQ(mu.Unlock().code(), EPERM);          // not held
  EXPECT_EQ(mu.MarkConsistent().code(), EINVAL);  // not held after a death
  EXPECT_EQ(RemoteCondVar(rs, kCondOff).Wait(mu, milliseconds(10)).code(), EPERM);
  RemoteMutex not_a_mutex(rs, 8 * 64);
  EXPECT_EQ(RemoteCondVar(rs, kCondOff).Wait(not_a_mutex, milliseconds(10)).code(), EINVAL);
  // A read-only handle may not touch sync objects.
  auto ro = s->Open(seg_.name(), /*read_only=*/true);
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ(RemoteMutex(**ro, kMutexOff).Lock().code(), EROFS);
  EXPECT_EQ(seg_.Bytes(), before);
  // The session still works, and its lock and timeouts behave as locally.
  RemoteMutex good(rs, kMutexOff);
  auto l = good.Lock();
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(good.Lock(milliseconds(10)).code(), EDEADLK);
  auto timed = RemoteCondVar(rs, kCondOff).Wait(good, milliseconds(30));
  ASSERT_TRUE(timed.ok());
  EXPECT_TRUE(timed->timed_out);
  EXPECT_EQ(LocalMutex().Lock(milliseconds(20)).code(), ETIMEDOUT);
  EXPECT_TRUE(good.Unlock().ok());
}

TEST_F(SyncObjectsTest, ReadOnlyExportRefusesSyncObjects) {
  RamsdProcess ro;
  ro.Start({"--export", seg_.name() + ":ro"});
  auto s = RemoteSession::Connect("127.0.0.1", ro.port());
  ASSERT_TRUE(s.ok());
  auto seg = s->Open(seg_.name(), /*read_only=*/true);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(RemoteMutex(**seg, kMutexOff).Lock().code(), EROFS);
  EXPECT_EQ(RemoteBarrier(**seg, kBarrierOff).Join().code(), EROFS);
  EXPECT_EQ(s->Open(seg_.name()).status().code(), EROFS);
}

// Issue 12: a read-write client that rewrites the words the sync agents use
// gets errors back; ramsd never aborts. (1) After a takeover from a dead
// owner, the client WRITEs the lock word to the agent's id without the died
// bit, then sends MUTEX_CONSISTENT (this aborted ramsd); (2) it WRITEs the
// word away from the agent before MUTEX_UNLOCK; (3) it rewrites a barrier's
// parties_ before BARRIER_WAIT (a scan past the object).
TEST_F(SyncObjectsTest, ClientScribblingSyncWordsGetsErrorsNotACrash) {
  constexpr uint64_t kWordOff = kMutexOff + 16;  // after the SyncHeader
  constexpr uint64_t kPartiesOff = kBarrierOff + 16;
  new (base_ + kBarrierOff) Barrier(2);
  pid_t holder = Spawn([&] {
    if (!LocalMutex().Lock().ok()) return false;
    _exit(0);  // dies holding it
  });
  EXPECT_TRUE(Reap(holder));
  auto s = RemoteSession::Connect("127.0.0.1", ramsd_.port());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto seg = s->Open(seg_.name());
  ASSERT_TRUE(seg.ok());
  RemoteMutex mu(**seg, kMutexOff);
  auto l = mu.TryLock();
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(*l, Acquired::kOwnerDied);
  auto write_u32 = [&](uint64_t off, uint32_t v) {
    return (*seg)->Write(off, std::as_bytes(std::span(&v, 1)));
  };
  const uint32_t agent = std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(base_ + kWordOff))
                             .load() & ((1u << 30) - 1);
  ASSERT_TRUE(write_u32(kWordOff, agent).ok());
  EXPECT_EQ(mu.MarkConsistent().code(), EINVAL);
  ASSERT_TRUE(write_u32(kWordOff, agent ^ 1).ok());
  EXPECT_EQ(mu.Unlock().code(), EPERM);
  ASSERT_TRUE(write_u32(kWordOff, 0).ok());
  ASSERT_TRUE(write_u32(kPartiesOff, 1'000'000).ok());
  RemoteBarrier barrier(**seg, kBarrierOff);
  EXPECT_EQ(barrier.Wait(std::chrono::seconds(1)).code(), EINVAL);
  // ramsd is still there and serves the session: the mutex works again.
  auto again = mu.Lock(std::chrono::seconds(5));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(mu.Unlock().ok());
}

}  // namespace
}  // namespace rams::test
