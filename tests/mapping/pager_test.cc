// SPDX-License-Identifier: MIT
// The host pager on its own: faults, one copy per host, read-only exports,
// refusals, eviction and flush, against the fake home.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <thread>

#include "cluster.h"
#include "common/test_util.h"

namespace rams::mapping::testing {
namespace {

using ::rams::testing::ForkChild;
using ::rams::testing::WaitChild;

std::vector<std::byte> Pattern(uint64_t page, uint8_t salt) {
  std::vector<std::byte> v(kPageBytes);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::byte((page * 31 + i + salt) & 0xff);
  return v;
}

TEST(PagerTest, FirstTouchFetchesAndWritesReachTheHome) {
  Cluster c({.hosts = 1});
  RAMS_ASSERT_CLUSTER_UP(c);
  c.home.WriteCoherent(3, Pattern(3, 7));
  auto m = c.Map(0);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::byte* p = (*m)->data().data();
  EXPECT_EQ(0, std::memcmp(p + 3 * kPageBytes, Pattern(3, 7).data(), kPageBytes));
  p[5 * kPageBytes + 1] = std::byte{42};
  EXPECT_EQ(c.home.ReadCoherent(5)[1], std::byte{42});  // recalled from the host
  EXPECT_EQ(c.stats(0).fetches, c.home.gets());
}

// A one-sided WRITE at the home invalidates the hosts' copies first.
TEST(PagerTest, HomeWritesInvalidateCachedCopies) {
  Cluster c({.hosts = 1});
  RAMS_ASSERT_CLUSTER_UP(c);
  auto m = c.Map(0);
  ASSERT_TRUE(m.ok());
  volatile std::byte* p = (*m)->data().data() + 2 * kPageBytes;
  EXPECT_EQ(static_cast<std::byte>(p[10]), std::byte{0});
  c.home.WriteCoherent(2, Pattern(2, 3));
  EXPECT_EQ(static_cast<std::byte>(p[10]), Pattern(2, 3)[10]);
  EXPECT_EQ(c.stats(0).invalidations, 1u);
}

TEST(PagerTest, OnePageCrossesOncePerHostNotOncePerProcess) {
  constexpr int kHosts = 2, kProcsPerHost = 3, kPages = 8;
  Cluster c({.hosts = kHosts, .size_bytes = kPages * kPageBytes});
  RAMS_ASSERT_CLUSTER_UP(c);
  RAMS_SKIP_WITHOUT_WRITE_PROTECT();
  std::vector<pid_t> kids;
  for (int h = 0; h < kHosts; ++h) {
    for (int i = 0; i < kProcsPerHost; ++i) {
      kids.push_back(ForkChild([&c, h] {
        auto m = c.Map(h, /*write=*/false);
        if (!m.ok()) return 2;
        uint64_t sum = 0;
        for (int pg = 0; pg < kPages; ++pg) {
          sum += static_cast<uint8_t>((*m)->data()[pg * kPageBytes]);
        }
        return sum == 0 ? 0 : 3;
      }));
    }
  }
  for (pid_t k : kids) EXPECT_EQ(WaitChild(k), 0);
  // Each page's data crossed once per host (read-ahead brings several per Get).
  EXPECT_EQ(c.home.data_grants(), uint64_t{kPages * kHosts});
  for (int h = 0; h < kHosts; ++h) {
    EXPECT_GE(c.home.gets_by(h), 1u);
    EXPECT_LE(c.home.gets_by(h), uint64_t{kPages});
  }
}

// A sequential miss brings the next pages with it; they are coherent copies
// like any other: a write on another host invalidates them here too.
TEST(PagerTest, SequentialMissesReadAheadAndWritesElsewhereInvalidateTheAheadPages) {
  constexpr uint64_t kPages = 32;
  Cluster c({.hosts = 2, .size_bytes = kPages * kPageBytes, .tuning = {.readahead_pages = 8}});
  RAMS_ASSERT_CLUSTER_UP(c);
  RAMS_SKIP_WITHOUT_WRITE_PROTECT();
  for (uint64_t pg = 0; pg < kPages; ++pg) c.home.WriteCoherent(pg, Pattern(pg, 1));
  auto m0 = c.Map(0);
  ASSERT_TRUE(m0.ok()) << m0.status().ToString();
  volatile std::byte* p0 = (*m0)->data().data();
  // Misses at 0 and 8 (the end of the first window): two Gets, 14 pages ahead.
  EXPECT_EQ(static_cast<std::byte>(p0[0]), Pattern(0, 1)[0]);
  EXPECT_EQ(static_cast<std::byte>(p0[8 * kPageBytes + 5]), Pattern(8, 1)[5]);
  EXPECT_EQ(c.home.gets_by(0), 2u);
  EXPECT_EQ(c.stats(0).read_ahead, 14u);
  const uint64_t faults = c.stats(0).faults;
  for (uint64_t pg = 1; pg < 16; ++pg) {
    EXPECT_EQ(static_cast<std::byte>(p0[pg * kPageBytes + pg]), Pattern(pg, 1)[pg]) << pg;
  }
  EXPECT_EQ(c.stats(0).faults, faults);  // the pages ahead were in place: no fault
  EXPECT_EQ(c.home.gets_by(0), 2u);

  // Host 1 writes page 5, which host 0 only holds by read-ahead.
  auto m1 = c.Map(1);
  ASSERT_TRUE(m1.ok()) << m1.status().ToString();
  (*m1)->data()[5 * kPageBytes + 3] = std::byte{0xee};
  EXPECT_EQ(c.stats(0).invalidations, 1u);
  EXPECT_EQ(static_cast<std::byte>(p0[5 * kPageBytes + 3]), std::byte{0xee});

  // A miss elsewhere is not sequential: one page; the next one after it is.
  const uint64_t gets = c.home.gets_by(0), ahead = c.stats(0).read_ahead;
  EXPECT_EQ(static_cast<std::byte>(p0[20 * kPageBytes]), Pattern(20, 1)[0]);
  EXPECT_EQ(c.stats(0).read_ahead, ahead);
  EXPECT_EQ(static_cast<std::byte>(p0[21 * kPageBytes]), Pattern(21, 1)[0]);
  EXPECT_EQ(c.stats(0).read_ahead, ahead + 7);
  EXPECT_EQ(c.home.gets_by(0), gets + 2);
}

TEST(PagerTest, ReadAheadOfOnePageAsksForEachPage) {
  constexpr uint64_t kPages = 8;
  Cluster c({.hosts = 1, .size_bytes = kPages * kPageBytes, .tuning = {.readahead_pages = 1}});
  RAMS_ASSERT_CLUSTER_UP(c);
  auto m = c.Map(0, /*write=*/false);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  uint64_t sum = 0;
  for (uint64_t pg = 0; pg < kPages; ++pg) sum += static_cast<uint8_t>((*m)->data()[pg * kPageBytes]);
  EXPECT_EQ(sum, 0u);
  EXPECT_EQ(c.home.gets_by(0), kPages);
  EXPECT_EQ(c.stats(0).read_ahead, 0u);
}

// A read-ahead asks only for the absent pages that follow the miss: a page
// this host holds already does not cross again, nor do the pages behind it.
TEST(PagerTest, ReadAheadStopsAtAPageHeldAlready) {
  constexpr uint64_t kPages = 16;
  Cluster c({.hosts = 1, .size_bytes = kPages * kPageBytes, .tuning = {.readahead_pages = 8}});
  RAMS_ASSERT_CLUSTER_UP(c);
  RAMS_SKIP_WITHOUT_WRITE_PROTECT();
  auto m = c.Map(0, /*write=*/false);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const volatile std::byte* p = (*m)->data().data();
  // Misses at 5 and 0 (neither sequential: one page each), then at 1
  // (sequential): the window is 1..4, up to the held page 5.
  for (uint64_t pg : {5u, 0u, 1u}) {
    EXPECT_EQ(static_cast<std::byte>(p[pg * kPageBytes]), std::byte{0});
  }
  EXPECT_EQ(c.home.gets_by(0), 3u);
  EXPECT_EQ(c.stats(0).read_ahead, 3u);
  EXPECT_EQ(c.home.data_grants(), 6u);  // pages 0..5, once each
  for (uint64_t pg = 2; pg <= 4; ++pg) {
    EXPECT_EQ(static_cast<std::byte>(p[pg * kPageBytes]), std::byte{0});
  }
  EXPECT_EQ(c.home.gets_by(0), 3u);  // read ahead
}

// Read-ahead never evicts: with the cache full, the pages ahead are left out.
TEST(PagerTest, ReadAheadStopsAtTheCacheBound) {
  constexpr uint64_t kPages = 16;
  Cluster c({.hosts = 1, .size_bytes = kPages * kPageBytes,
             .tuning = {.cache_pages = 4, .readahead_pages = 8}});
  RAMS_ASSERT_CLUSTER_UP(c);
  RAMS_SKIP_WITHOUT_WRITE_PROTECT();
  auto m = c.Map(0, /*write=*/false);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->data()[0], std::byte{0});
  EXPECT_EQ(c.stats(0).read_ahead, 3u);  // 4 slots: the missed page and 3 ahead
  EXPECT_EQ(c.stats(0).resident_pages, 4u);
  EXPECT_EQ(c.stats(0).evictions, 0u);
}

// The reply to a read-ahead is slow: meanwhile this host takes one of the
// pages granted ahead exclusively, writes it and evicts it (its data goes
// home). The older data granted ahead must not be installed over it: the
// page faults again and gets the data it wrote.
TEST(PagerTest, APageGrantedAheadIsLeftOutOnceItWasWrittenAndEvictedMeanwhile) {
  constexpr uint64_t kPages = 16;
  Cluster c({.hosts = 1, .size_bytes = kPages * kPageBytes,
             .tuning = {.cache_pages = 3, .readahead_pages = 4}});
  RAMS_ASSERT_CLUSTER_UP(c);
  RAMS_SKIP_WITHOUT_WRITE_PROTECT();
  for (uint64_t pg = 0; pg < kPages; ++pg) c.home.WriteCoherent(pg, Pattern(pg, 1));
  auto m = c.Map(0);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  volatile std::byte* p = (*m)->data().data();
  auto at = [&](uint64_t pg, size_t i) { return static_cast<std::byte>(p[pg * kPageBytes + i]); };
  EXPECT_EQ(at(8, 0), Pattern(8, 1)[0]);  // a miss at 8 (not sequential): one page
  ASSERT_EQ(c.home.ahead_grants(), 0u);
  c.home.HoldAheadReplies(true);
  // A sequential miss at 9 asks for 9..12; the home grants them, the reply waits.
  std::thread reader([&] { EXPECT_EQ(at(9, 0), Pattern(9, 1)[0]); });
  for (int i = 0; i < 3000 && c.home.ahead_grants() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(c.home.ahead_grants(), 3u);
  // Page 10 written here; the misses at 0 and 14 evict 8, then 10 (dirty).
  p[10 * kPageBytes + 7] = std::byte{0x5a};
  EXPECT_EQ(at(0, 0), Pattern(0, 1)[0]);
  EXPECT_EQ(at(14, 0), Pattern(14, 1)[0]);
  EXPECT_EQ(c.stats(0).evictions, 2u);
  EXPECT_EQ(c.home.ReadCoherent(10)[7], std::byte{0x5a});
  // Room for page 10 when the reply lands: page 0 is invalidated here.
  c.home.WriteCoherent(0, Pattern(0, 2));
  c.home.HoldAheadReplies(false);
  reader.join();
  EXPECT_EQ(at(10, 7), std::byte{0x5a});
  EXPECT_EQ(at(10, 8), Pattern(10, 1)[8]);
}

TEST(PagerTest, ReadOnlyExportMapsReadOnly) {
  Cluster c({.hosts = 1, .read_only = true});
  RAMS_ASSERT_CLUSTER_UP(c);
  EXPECT_EQ(c.Map(0, /*write=*/true).code(), EROFS);
  c.home.WriteCoherent(0, Pattern(0, 1));
  auto m = c.Map(0, /*write=*/false);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE((*m)->read_only());
  EXPECT_EQ((*m)->data()[5], Pattern(0, 1)[5]);
  pid_t k = ForkChild([&c] {
    DieOnFaultSignals();
    auto mm = c.Map(0, false);
    if (!mm.ok()) return 2;
    (*mm)->data()[0] = std::byte{1};  // must fault: PROT_READ
    return 0;
  });
  EXPECT_EQ(WaitChild(k), 128 + SIGSEGV);
}

TEST(PagerTest, RefusesOtherUsersByTheSegmentMode) {
  Cluster c({.hosts = 1, .access = {.owner_uid = 0, .owner_gid = 0, .mode = 0600}});
  RAMS_ASSERT_CLUSTER_UP(c);
  pid_t k = ForkChild([&c] {
    if (setgid(65534) != 0 || setuid(65534) != 0) return 2;
    return c.Map(0).code() == EACCES ? 0 : 3;
  });
  EXPECT_EQ(WaitChild(k), 0);
}

TEST(PagerTest, SegmentLargerThanTheCacheEvictsAndWritesBack) {
  constexpr uint64_t kPages = 64;
  Cluster c({.hosts = 1, .size_bytes = kPages * kPageBytes, .tuning = {.cache_pages = 4}});
  RAMS_ASSERT_CLUSTER_UP(c);
  auto m = c.Map(0);
  ASSERT_TRUE(m.ok());
  std::byte* p = (*m)->data().data();
  for (uint64_t pg = 0; pg < kPages; ++pg) std::memcpy(p + pg * kPageBytes, Pattern(pg, 9).data(), kPageBytes);
  EXPECT_LE(c.stats(0).resident_pages, 4u);
  for (uint64_t pg = 0; pg < kPages; ++pg) {
    ASSERT_EQ(0, std::memcmp(p + pg * kPageBytes, Pattern(pg, 9).data(), kPageBytes)) << pg;
  }
  EXPECT_GE(c.stats(0).evictions, kPages);
  for (uint64_t pg = 0; pg < kPages; ++pg) EXPECT_EQ(c.home.ReadCoherent(pg), Pattern(pg, 9));
}

// An eviction of a dirty page whose PAGE_DROP is still on its way when
// another host's write invalidates the page: the invalidation's answer
// carries the data in flight (the home ignores the late drop of a page it
// took back), so the write made before the eviction survives.
TEST(PagerTest, AnEvictionRacingAnInvalidationLosesNoWrite) {
  constexpr uint64_t kPages = 4;
  Cluster c({.hosts = 2, .size_bytes = kPages * kPageBytes, .tuning = {.cache_pages = 2}});
  RAMS_ASSERT_CLUSTER_UP(c);
  auto m0 = c.Map(0);
  auto m1 = c.Map(1);
  ASSERT_TRUE(m0.ok() && m1.ok());
  auto* w0 = reinterpret_cast<volatile uint64_t*>((*m0)->data().data());
  auto* w1 = reinterpret_cast<volatile uint64_t*>((*m1)->data().data());
  constexpr uint64_t kWords = kPageBytes / 8;
  w0[0] = 0x1111;          // page 0 exclusive and dirty at host 0
  w0[1 * kWords] = 0x2222; // page 1: the cache is full now
  c.home.SetDropDelay(std::chrono::milliseconds(400));
  // Page 2's fetch evicts page 0 (the oldest); its drop takes 400 ms.
  std::thread evicting([&] { w0[2 * kWords] = 0x3333; });
  for (int i = 0; i < 1000 && c.stats(0).evictions == 0; ++i) usleep(1000);
  ASSERT_EQ(c.stats(0).evictions, 1u);
  w1[1] = 0x4444;  // host 1 takes page 0: the home invalidates host 0's copy in flight
  evicting.join();
  c.home.SetDropDelay(std::chrono::milliseconds(0));
  EXPECT_EQ(c.stats(0).invalidations, 1u);
  EXPECT_EQ(static_cast<uint64_t>(w1[0]), 0x1111u);  // host 1 sees host 0's write
  const auto page0 = c.home.ReadCoherent(0);
  uint64_t words[2];
  std::memcpy(words, page0.data(), sizeof(words));
  EXPECT_EQ(words[0], 0x1111u);
  EXPECT_EQ(words[1], 0x4444u);
  EXPECT_EQ(static_cast<uint64_t>(w0[0]), 0x1111u);
}

TEST(PagerTest, FlushHandsDirtyPagesBack) {
  Cluster c({.hosts = 1});
  RAMS_ASSERT_CLUSTER_UP(c);
  auto m = c.Map(0);
  ASSERT_TRUE(m.ok());
  (*m)->data()[kPageBytes] = std::byte{9};
  const uint64_t pushes_before = c.stats(0).downgrades + c.stats(0).invalidations;
  ASSERT_TRUE((*m)->Flush().ok());
  EXPECT_EQ(c.stats(0).write_backs, 1u);
  EXPECT_EQ(c.home.ReadCoherent(1)[0], std::byte{9});
  // The home had it already: no recall was needed.
  EXPECT_EQ(c.stats(0).downgrades + c.stats(0).invalidations, pushes_before);
}

}  // namespace
}  // namespace rams::mapping::testing
