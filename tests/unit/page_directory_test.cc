// SPDX-License-Identifier: MIT
// The home's page directory (src/mapping/page_directory.h): the state machine
// of docs/remote-mapping.md, bad ranges/versions/states, the host that never
// acknowledges, a host lost while exclusive, and a random differential test
// against a model of the memory.
#include "mapping/page_directory.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <random>
#include <vector>

namespace rams::mapping {
namespace {

using Page = std::vector<std::byte>;
using namespace std::chrono_literals;

class Memory : public PageMemory {
 public:
  explicit Memory(uint64_t pages) : pages_(pages, Page(kDirectoryPageBytes)) {}
  void ReadPage(uint64_t page, std::span<std::byte> out) override {
    std::copy(pages_[page].begin(), pages_[page].end(), out.begin());
  }
  void WritePage(uint64_t page, std::span<const std::byte> data) override {
    pages_[page].assign(data.begin(), data.end());
  }
  std::vector<Page> pages_;
};

Page Filled(uint8_t v) { return Page(kDirectoryPageBytes, std::byte{v}); }

class PageDirectoryTest : public ::testing::Test {
 protected:
  DirectoryClock::time_point now_ = DirectoryClock::now();
  Memory memory_{4};
  PageDirectory dir_{4, &memory_, 100ms};

  std::vector<DirectoryAction> Take() { return dir_.TakeActions(); }
};

TEST_F(PageDirectoryTest, ReadersShareAndAWriterWaitsForEveryInvalidation) {
  memory_.pages_[1] = Filled(9);
  ASSERT_TRUE(dir_.Get(1, 10, 1, 1, false, 0, now_).ok());
  ASSERT_TRUE(dir_.Get(2, 20, 1, 1, false, 0, now_).ok());
  auto a = Take();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].kind, DirectoryAction::Kind::kGrant);
  EXPECT_TRUE(a[0].grants[0].data_included);
  EXPECT_EQ(a[0].grants[0].data[0], std::byte{9});
  EXPECT_EQ(dir_.state(1), PageState::kShared);
  EXPECT_EQ(dir_.holders(1).size(), 2u);

  // Host 3 writes: both readers are invalidated; no grant before both acks.
  ASSERT_TRUE(dir_.Get(3, 30, 1, 1, true, 0, now_).ok());
  a = Take();
  ASSERT_EQ(a.size(), 2u);
  for (const auto& r : a) {
    EXPECT_EQ(r.kind, DirectoryAction::Kind::kRecall);
    EXPECT_EQ(r.recall, RecallKind::kInvalidate);
  }
  // A reader arriving meanwhile waits behind the writer (FIFO).
  ASSERT_TRUE(dir_.Get(1, 11, 1, 1, false, 0, now_).ok());
  ASSERT_TRUE(dir_.Acknowledge(1, 1, {}, now_).ok());
  EXPECT_TRUE(Take().empty());
  ASSERT_TRUE(dir_.Acknowledge(2, 1, {}, now_).ok());
  a = Take();
  ASSERT_EQ(a.size(), 2u);  // the write grant, then a downgrade of host 3 for the reader
  EXPECT_EQ(a[0].host, 3u);
  EXPECT_EQ(a[0].grants[0].version, 2u);
  EXPECT_EQ(a[1].kind, DirectoryAction::Kind::kRecall);
  EXPECT_EQ(a[1].recall, RecallKind::kDowngrade);
  EXPECT_EQ(dir_.counters().invalidations, 2u);

  // Host 3 wrote: its acknowledgement carries the data, which the reader gets.
  Page written = Filled(5);
  ASSERT_TRUE(dir_.Acknowledge(3, 1, written, now_).ok());
  a = Take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].host, 1u);
  EXPECT_EQ(a[0].grants[0].data[0], std::byte{5});
  EXPECT_EQ(dir_.state(1), PageState::kShared);
  EXPECT_EQ(dir_.counters().downgrades, 1u);
}

TEST_F(PageDirectoryTest, UpgradeWithUnchangedVersionCarriesNoData) {
  ASSERT_TRUE(dir_.Get(1, 1, 0, 1, false, 0, now_).ok());
  const uint64_t v = Take()[0].grants[0].version;
  ASSERT_TRUE(dir_.Get(1, 2, 0, 1, true, v, now_).ok());
  auto a = Take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_FALSE(a[0].grants[0].data_included);
  EXPECT_EQ(a[0].grants[0].version, v + 1);
  EXPECT_EQ(dir_.counters().upgrades, 1u);
  EXPECT_EQ(dir_.state(0), PageState::kExclusive);
}

// A host's PAGE_GET timed out after the home recorded the grant (the reply
// was dropped): its next request names no copy (version 0) and must get the
// data, not a grant without data that the host refuses (EPROTO).
TEST_F(PageDirectoryTest, AGrantWhoseReplyWasLostIsGrantedAgainWithData) {
  memory_.pages_[0] = Filled(7);
  ASSERT_TRUE(dir_.Get(1, 1, 0, 1, true, 0, now_).ok());
  const uint64_t v = Take()[0].grants[0].version;  // lost on its way to host 1
  ASSERT_EQ(dir_.state(0), PageState::kExclusive);
  ASSERT_TRUE(dir_.Get(1, 2, 0, 1, false, 0, now_).ok());
  auto a = Take();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_TRUE(a[0].grants[0].data_included);
  EXPECT_EQ(a[0].grants[0].data[0], std::byte{7});
  EXPECT_EQ(a[0].grants[0].version, v);
  ASSERT_TRUE(dir_.Get(1, 3, 0, 1, true, 0, now_).ok());  // and for a write
  a = Take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(a[0].grants[0].data_included);
  EXPECT_EQ(a[0].grants[0].version, v);
  // A holder naming its copy keeps it: no data over its (maybe dirty) page.
  ASSERT_TRUE(dir_.Get(1, 4, 0, 1, true, v, now_).ok());
  a = Take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_FALSE(a[0].grants[0].data_included);
  EXPECT_EQ(dir_.state(0), PageState::kExclusive);
}

TEST_F(PageDirectoryTest, ReadAheadSkipsPagesItCannotGrantAtOnce) {
  ASSERT_TRUE(dir_.Get(2, 1, 2, 1, true, 0, now_).ok());  // page 2 exclusive at host 2
  Take();
  ASSERT_TRUE(dir_.Get(1, 7, 0, 4, false, 0, now_).ok());
  auto a = Take();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].grants.size(), 3u);
  EXPECT_EQ(a[0].grants[0].page, 0u);
  EXPECT_EQ(a[0].grants[1].page, 1u);
  EXPECT_EQ(a[0].grants[2].page, 3u);
  EXPECT_EQ(dir_.state(2), PageState::kExclusive);
}

// A read-ahead grant of a page the asking host holds exclusively carries no
// data (docs/protocol.md §8): its copy may be dirty, and the home's data is
// older. Were it sent, a host that dropped its copy meanwhile (an eviction
// whose PAGE_DROP is behind this reply) could install the older data.
TEST_F(PageDirectoryTest, ReadAheadOfAPageTheHostHoldsExclusivelyCarriesNoData) {
  memory_.pages_[1] = Filled(3);
  ASSERT_TRUE(dir_.Get(1, 1, 1, 1, true, 0, now_).ok());  // page 1 exclusive at host 1
  auto a = Take();
  ASSERT_EQ(a.size(), 1u);
  const uint64_t version = a[0].grants[0].version;
  ASSERT_TRUE(dir_.Get(1, 2, 0, 3, false, 0, now_).ok());
  a = Take();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].grants.size(), 3u);
  EXPECT_TRUE(a[0].grants[0].data_included);
  EXPECT_EQ(a[0].grants[1].page, 1u);
  EXPECT_FALSE(a[0].grants[1].data_included);
  EXPECT_TRUE(a[0].grants[1].data.empty());
  EXPECT_EQ(a[0].grants[1].version, version);
  EXPECT_TRUE(a[0].grants[2].data_included);
  EXPECT_EQ(dir_.state(1), PageState::kExclusive);  // still host 1's, dirty or not
  // Its dirty drop still lands.
  ASSERT_TRUE(dir_.Drop(1, 1, version, Filled(4), now_).ok());
  EXPECT_EQ(memory_.pages_[1], Filled(4));
}

// A host answers a DOWNGRADE with its dirty data and then evicts the page,
// now clean: its PAGE_DROP can reach the home before the acknowledgement
// (two threads of the host). The drop waits for that acknowledgement: its
// data is what the reader gets, and the host leaves the page after it.
TEST_F(PageDirectoryTest, ACleanDropOvertakingTheDirtyAcknowledgementLosesNoWrite) {
  for (RecallKind kind : {RecallKind::kDowngrade, RecallKind::kInvalidate}) {
    const uint64_t page = kind == RecallKind::kDowngrade ? 0 : 1;
    ASSERT_TRUE(dir_.Get(1, 1, page, 1, true, 0, now_).ok());  // exclusive at host 1
    const uint64_t version = Take()[0].grants[0].version;
    ASSERT_TRUE(dir_.Get(2, 2, page, 1, kind == RecallKind::kInvalidate, 0, now_).ok());
    auto a = Take();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].recall, kind);
    ASSERT_TRUE(dir_.Drop(1, page, version, {}, now_).ok());  // ahead of the acknowledgement
    EXPECT_TRUE(Take().empty());
    ASSERT_TRUE(dir_.Acknowledge(1, page, Filled(7), now_).ok());
    a = Take();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].host, 2u);
    ASSERT_TRUE(a[0].grants[0].data_included);
    EXPECT_EQ(a[0].grants[0].data[0], std::byte{7});
    EXPECT_EQ(memory_.pages_[page], Filled(7));
    EXPECT_EQ(dir_.holders(page), std::set<HostId>{2});
    EXPECT_EQ(dir_.counters().pages_lost, 0u);
  }
}

TEST_F(PageDirectoryTest, RefusesBadRangesVersionsAndStates) {
  EXPECT_EQ(dir_.Get(1, 1, 4, 1, false, 0, now_).code(), EINVAL);
  EXPECT_EQ(dir_.Get(1, 1, 3, 2, false, 0, now_).code(), EINVAL);
  EXPECT_EQ(dir_.Get(1, 1, UINT64_MAX, 2, false, 0, now_).code(), EINVAL);
  EXPECT_EQ(dir_.Get(1, 1, 0, 0, false, 0, now_).code(), EINVAL);
  EXPECT_EQ(dir_.Get(1, 1, 0, 2, true, 0, now_).code(), EINVAL);
  EXPECT_EQ(dir_.Get(1, 1, 0, 1, false, 99, now_).code(), EINVAL);  // from the future
  Page data = Filled(1);
  EXPECT_EQ(dir_.Put(1, 0, 1, data).code(), EPERM);   // not held
  EXPECT_EQ(dir_.Put(1, 9, 1, data).code(), EINVAL);  // outside
  EXPECT_EQ(dir_.Acknowledge(1, 0, {}, now_).code(), EPROTO);  // no recall
  ASSERT_TRUE(dir_.Get(1, 1, 0, 1, false, 0, now_).ok());
  EXPECT_EQ(dir_.Put(1, 0, 1, data).code(), EPERM);  // shared, not exclusive
  EXPECT_EQ(dir_.Drop(1, 0, 1, data, now_).code(), EPERM);  // dirty from a reader
  ASSERT_TRUE(dir_.Get(1, 2, 0, 1, true, 1, now_).ok());
  EXPECT_EQ(dir_.Put(1, 0, 1, data).code(), EPERM);  // stale version
  EXPECT_EQ(dir_.Put(1, 0, 2, Page(10)).code(), EINVAL);  // not a whole page
  auto v = dir_.Put(1, 0, 2, data);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(dir_.state(0), PageState::kShared);
  EXPECT_EQ(memory_.pages_[0][0], std::byte{1});
  EXPECT_TRUE(dir_.Drop(2, 0, 2, {}, now_).ok());  // not a holder: no effect
}

TEST_F(PageDirectoryTest, SilentHostIsCutOffAndTheOthersProceed) {
  ASSERT_TRUE(dir_.Get(1, 1, 0, 1, false, 0, now_).ok());
  ASSERT_TRUE(dir_.Get(2, 2, 0, 1, false, 0, now_).ok());
  ASSERT_TRUE(dir_.Get(4, 3, 1, 1, false, 0, now_).ok());  // another page, unaffected
  Take();
  ASSERT_TRUE(dir_.Get(3, 4, 0, 1, true, 0, now_).ok());
  Take();
  ASSERT_TRUE(dir_.Acknowledge(1, 0, {}, now_).ok());
  EXPECT_TRUE(dir_.Expire(now_ + 50ms).empty());
  // Page 1 is served while page 0 waits for host 2.
  ASSERT_TRUE(dir_.Get(5, 5, 1, 1, false, 0, now_ + 60ms).ok());
  auto a = Take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].host, 5u);
  auto late = dir_.Expire(now_ + 101ms);
  ASSERT_EQ(late, std::vector<HostId>{2});
  dir_.HostGone(2, now_ + 101ms);
  a = Take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].host, 3u);
  EXPECT_EQ(dir_.state(0), PageState::kExclusive);
  EXPECT_EQ(dir_.counters().recalls_timed_out, 1u);
  EXPECT_EQ(dir_.counters().pages_lost, 0u);  // host 2 only read
}

TEST_F(PageDirectoryTest, HostLostWhileExclusiveFallsBackAndIsFlaggedOnce) {
  memory_.pages_[0] = Filled(3);
  ASSERT_TRUE(dir_.Get(1, 1, 0, 1, true, 0, now_).ok());
  ASSERT_TRUE(dir_.Get(2, 2, 1, 1, false, 0, now_).ok());  // host 2 is a known session
  Take();
  dir_.HostGone(1, now_);
  EXPECT_EQ(dir_.counters().pages_lost, 1u);
  EXPECT_EQ(dir_.state(0), PageState::kHome);
  ASSERT_TRUE(dir_.Get(2, 3, 0, 1, false, 0, now_).ok());
  auto a = Take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(a[0].lost_pages);
  EXPECT_EQ(a[0].grants[0].data[0], std::byte{3});  // the last version the home holds
  ASSERT_TRUE(dir_.Get(2, 4, 1, 1, false, 0, now_).ok());
  EXPECT_FALSE(Take()[0].lost_pages);  // once
  ASSERT_TRUE(dir_.Get(6, 5, 2, 1, false, 0, now_).ok());
  EXPECT_FALSE(Take()[0].lost_pages);  // a session that came after the loss
}

TEST_F(PageDirectoryTest, HomeWriteRecallsTheExclusiveCopyFirst) {
  ASSERT_TRUE(dir_.Get(1, 1, 0, 1, true, 0, now_).ok());
  Take();
  ASSERT_TRUE(dir_.Get(kHomeHost, 2, 0, 1, true, 0, now_).ok());
  auto a = Take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].recall, RecallKind::kInvalidate);
  Page written = Filled(8);
  ASSERT_TRUE(dir_.Acknowledge(1, 0, written, now_).ok());
  a = Take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].host, kHomeHost);
  EXPECT_EQ(memory_.pages_[0][0], std::byte{8});
  EXPECT_EQ(dir_.state(0), PageState::kHome);
  EXPECT_EQ(dir_.counters().pages_lost, 0u);
}

// A one-sided write whose recall completes while a host's write waits behind
// it: the access runs before that host's grant reads the home's copy, so the
// grant carries the one-sided write on top of the recalled dirty data.
TEST_F(PageDirectoryTest, HomeAccessRunsBeforeTheNextGrant) {
  ASSERT_TRUE(dir_.Get(1, 1, 0, 1, true, 0, now_).ok());
  Take();
  int runs = 0;
  uint64_t seen_version = 0;
  std::byte seen_data{};
  ASSERT_TRUE(dir_.HomeGet(2, 0, true,
                           [&](uint64_t page, uint64_t version) {
                             ++runs;
                             seen_version = version;
                             seen_data = memory_.pages_[page][0];
                             memory_.pages_[page][1] = std::byte{9};
                           },
                           now_)
                  .ok());
  ASSERT_TRUE(dir_.Get(2, 3, 0, 1, true, 0, now_).ok());
  EXPECT_EQ(runs, 0);  // host 1 still holds the page
  auto a = Take();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].recall, RecallKind::kInvalidate);
  ASSERT_TRUE(dir_.Acknowledge(1, 0, Filled(8), now_).ok());
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(seen_data, std::byte{8});  // the dirty data was home first
  a = Take();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].host, kHomeHost);
  ASSERT_EQ(a[0].grants.size(), 1u);
  EXPECT_EQ(a[0].grants[0].version, seen_version);
  EXPECT_EQ(a[1].host, 2u);
  ASSERT_EQ(a[1].grants.size(), 1u);
  ASSERT_TRUE(a[1].grants[0].data_included);
  EXPECT_EQ(a[1].grants[0].data[0], std::byte{8});
  EXPECT_EQ(a[1].grants[0].data[1], std::byte{9});
  EXPECT_TRUE(dir_.HomeGet(4, 4, false, nullptr, now_).code() == EINVAL);
}

// Random operations by several hosts, acknowledged at random moments, against
// a model: the memory as one array. Every read of a host's copy must equal
// the model, and at most one host may hold a page writable.
TEST(PageDirectoryDifferentialTest, RandomSequenceMatchesTheModel) {
  constexpr uint64_t kPages = 3;
  constexpr HostId kHosts = 3;
  auto now = DirectoryClock::now();
  Memory home(kPages);
  PageDirectory dir(kPages, &home, 1s);
  std::vector<std::vector<uint8_t>> model(kPages, std::vector<uint8_t>(1, 0));
  struct Copy {
    uint64_t version = 0;
    bool writable = false;
    bool dirty = false;
    Page data;
  };
  std::map<std::pair<HostId, uint64_t>, Copy> copies;
  std::vector<DirectoryAction> recalls;
  std::mt19937 rng(12345);
  uint64_t tag = 0;
  auto apply = [&](std::vector<DirectoryAction> actions) {
    for (auto& a : actions) {
      if (a.kind == DirectoryAction::Kind::kRecall) {
        recalls.push_back(a);
        continue;
      }
      if (a.host == kHomeHost) continue;
      for (auto& g : a.grants) {
        Copy& c = copies[{a.host, g.page}];
        if (g.data_included) c.data = g.data;
        ASSERT_EQ(c.data.size(), kDirectoryPageBytes);
        c.version = g.version;
        c.writable = dir.state(g.page) == PageState::kExclusive;
        c.dirty = c.dirty && !g.data_included;
        ASSERT_EQ(static_cast<uint8_t>(c.data[0]), model[g.page][0]) << "page " << g.page;
      }
    }
  };
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(rng() % 4);
    const HostId h = 1 + rng() % kHosts;
    const uint64_t page = rng() % kPages;
    auto key = std::make_pair(h, page);
    if (op == 0) {  // a fault (read or write)
      const bool write = rng() % 2 == 0;
      auto it = copies.find(key);
      const uint64_t have = it == copies.end() ? 0 : it->second.version;
      ASSERT_TRUE(dir.Get(h, ++tag, page, 1, write, have, now).ok());
    } else if (op == 1 && !recalls.empty()) {  // acknowledge the oldest recall
      DirectoryAction r = recalls.front();
      recalls.erase(recalls.begin());
      Page dirty;
      auto it = copies.find({r.host, r.page});
      if (it != copies.end()) {
        if (it->second.dirty) dirty = it->second.data;
        if (r.recall == RecallKind::kInvalidate) {
          copies.erase(it);
        } else {
          it->second.writable = false;
          it->second.dirty = false;
        }
      }
      ASSERT_TRUE(dir.Acknowledge(r.host, r.page, dirty, now).ok());
    } else if (op == 2) {  // a local write into a writable copy
      auto it = copies.find(key);
      if (it != copies.end() && it->second.writable) {
        const auto v = static_cast<uint8_t>(rng());
        it->second.data[0] = std::byte{v};
        it->second.dirty = true;
        model[page][0] = v;
      }
    } else if (op == 3) {  // a local read must see the model
      auto it = copies.find(key);
      if (it != copies.end()) {
        bool recalled = false;
        for (const auto& r : recalls) recalled |= r.host == h && r.page == page;
        // A copy whose invalidation is in flight may be stale only while a
        // writer waits for it, and then nobody has written since.
        if (!recalled || it->second.writable) {
          ASSERT_EQ(static_cast<uint8_t>(it->second.data[0]), model[page][0]) << "step " << step;
        }
      }
    }
    apply(dir.TakeActions());
    for (uint64_t p = 0; p < kPages; ++p) {
      int writable = 0;
      for (const auto& [k, c] : copies) writable += k.second == p && c.writable;
      ASSERT_LE(writable, 1);
    }
  }
  EXPECT_GT(dir.counters().faults_served, 1000u);
  EXPECT_GT(dir.counters().invalidations, 100u);
}

}  // namespace
}  // namespace rams::mapping
