// SPDX-License-Identifier: MIT
// The two halves of remote mapping joined over the wire: host pagers whose
// PageSource is a WirePageSource on a real ramsd home (loopback). Pages
// fetched on first touch carry the home's data, a write on one host reaches
// the other through the home's DOWNGRADE/INVALIDATE, a flush writes back,
// and two processes of one host cost the home one PAGE_GET per page, not two.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "mapping/host_pager.h"
#include "mapping/mapped_segment.h"
#include "mapping/wire_page_source.h"
#include "../remote/ramsd_process.h"
#include "../remote/raw_client.h"
#include "wire_home.h"

namespace rams::mapping {
namespace {

constexpr uint64_t kPages = 16;

class WireMappingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test_wire::FillPages(seg_, kPages);
    ramsd_.Start({"--export", seg_.name(), "--http", "127.0.0.1:0"});
    for (int h = 0; h < 2; ++h) {
      HostPagerOptions po;
      po.socket_path = "@rams-wire-test-" + std::to_string(getpid()) + "-" + std::to_string(h);
      auto pager = HostPager::Start(po);
      if (!pager.ok() &&
          (pager.code() == ENOTSUP || pager.code() == EPERM || pager.code() == ENOSYS)) {
        GTEST_SKIP() << "userfaultfd cannot serve shmem here: " << pager.status().ToString();
      }
      ASSERT_TRUE(pager.ok()) << pager.status().ToString();
      auto source = WirePageSource::Open("127.0.0.1", ramsd_.port(), seg_.name(), false, {});
      ASSERT_TRUE(source.ok()) << source.status().ToString();
      sources_.push_back(source->get());
      ASSERT_TRUE((*pager)->AddSegment(seg_.name(), std::move(*source), SegmentAccess{}).ok());
      pagers_.push_back(std::move(*pager));
    }
  }
  Result<std::unique_ptr<MappedSegment>> Map(int host) {
    return MappedSegment::Open(pagers_[host]->socket_path(), seg_.name(), MapOptions{true});
  }

  test::TempSegment seg_{kPages * kPageBytes, "wiremap"};
  test::RamsdProcess ramsd_;
  std::vector<WirePageSource*> sources_;  // owned by the pagers
  std::vector<std::unique_ptr<HostPager>> pagers_;
};

TEST_F(WireMappingTest, WritesCrossHostsThroughTheHomesRecalls) {
  auto m0 = Map(0);
  ASSERT_TRUE(m0.ok()) << m0.status().ToString();
  auto m1 = Map(1);
  ASSERT_TRUE(m1.ok()) << m1.status().ToString();
  volatile std::byte* p0 = (*m0)->data().data();
  volatile std::byte* p1 = (*m1)->data().data();
  const size_t at = 3 * kPageBytes + 7;
  EXPECT_EQ(static_cast<std::byte>(p0[at]), std::byte{4});  // first touch: the home's data
  p0[at] = std::byte{0x55};         // host 0 takes the page exclusively
  EXPECT_EQ(static_cast<std::byte>(p1[at]), std::byte{0x55});  // host 1's read: a DOWNGRADE brought it home
  p1[at] = std::byte{0x66};         // host 1 writes: host 0 is invalidated
  EXPECT_EQ(static_cast<std::byte>(p0[at]), std::byte{0x66});
  EXPECT_GE(test::ScrapeMetric(ramsd_.http_port(), "ramsd_mapping_downgrades_total"), 1u);
  EXPECT_GE(test::ScrapeMetric(ramsd_.http_port(), "ramsd_mapping_invalidations_total"), 1u);
  EXPECT_GE(sources_[0]->recalls_answered() + sources_[1]->recalls_answered(), 2u);

  // Host 0 writes another page and flushes: the home's memory has it.
  p0[9 * kPageBytes] = std::byte{0x77};
  ASSERT_TRUE((*m0)->Flush().ok());
  EXPECT_EQ(seg_.Bytes()[9 * kPageBytes], std::byte{0x77});
}

TEST_F(WireMappingTest, TwoProcessesOfOneHostCostTheHomeOnePageGetPerPage) {
  const uint64_t before = test::ScrapeMetric(ramsd_.http_port(), "ramsd_mapping_pages_granted_total");
  test_wire::RunChildren(2, [&] {
    auto m = Map(0);
    return m.ok() ? test_wire::CheckInitialPages((*m)->data().data(), kPages) : 2;
  });
  EXPECT_EQ(test::ScrapeMetric(ramsd_.http_port(), "ramsd_mapping_pages_granted_total") - before, kPages);
}

// Over the real protocol: a sequential sweep costs one PAGE_GET per window,
// and a page this host only holds by read-ahead is invalidated by another
// host's write like any other.
TEST_F(WireMappingTest, ReadAheadPagesAreCoherentCopies) {
  auto m0 = Map(0);
  ASSERT_TRUE(m0.ok()) << m0.status().ToString();
  volatile std::byte* p0 = (*m0)->data().data();
  EXPECT_EQ(static_cast<std::byte>(p0[0]), std::byte{1});
  const PagerStats after_first = *pagers_[0]->Stats(seg_.name());
  EXPECT_EQ(after_first.fetches, 1u);
  EXPECT_EQ(after_first.read_ahead, kPages - 1);  // the default window covers the segment
  EXPECT_EQ(test::ScrapeMetric(ramsd_.http_port(), "ramsd_mapping_pages_granted_total"), kPages);
  for (uint64_t pg = 0; pg < kPages; ++pg) {
    EXPECT_EQ(static_cast<std::byte>(p0[pg * kPageBytes + 9]), std::byte(pg + 1)) << pg;
  }
  EXPECT_EQ(pagers_[0]->Stats(seg_.name())->faults, after_first.faults);

  auto m1 = Map(1);
  ASSERT_TRUE(m1.ok()) << m1.status().ToString();
  (*m1)->data()[11 * kPageBytes + 1] = std::byte{0x99};
  EXPECT_EQ(pagers_[0]->Stats(seg_.name())->invalidations, 1u);
  EXPECT_EQ(static_cast<std::byte>(p0[11 * kPageBytes + 1]), std::byte{0x99});
  EXPECT_GE(test::ScrapeMetric(ramsd_.http_port(), "ramsd_mapping_invalidations_total"), 1u);
}

}  // namespace
}  // namespace rams::mapping
