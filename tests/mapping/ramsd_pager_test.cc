// SPDX-License-Identifier: MIT
// The host pager embedded in ramsd, end to end on loopback: a home ramsd and
// two host ramsds each running its pager (--pager-socket). A process maps the
// home's segment through RemoteAttachment::Map() (the pager of host A, found
// at $RAMS_PAGER_SOCKET), reads what the home holds and writes; a process of
// host B sees the write after the home's recall. Two processes of host A cost
// the home one PAGE_GET grant per page; the pagers' counters are in /metrics.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "mapping/mapped_segment.h"
#include "mapping/host_pager.h"
#include "rams/remote.h"
#include "../remote/ramsd_process.h"
#include "../remote/raw_client.h"
#include "wire_home.h"

namespace rams::mapping {
namespace {

constexpr uint64_t kPages = 8;

// A home ramsd exporting a segment of `pages` pages and two host ramsds
// running their pagers (with `host_args` more).
class HomeAndHostsTest : public ::testing::Test {
 protected:
  HomeAndHostsTest(uint64_t pages, std::vector<std::string> host_args)
      : seg_(pages * kPageBytes, "pagerhome"), host_args_(std::move(host_args)) {}
  void SetUp() override {
    home_.Start({"--export", seg_.name(), "--http", "127.0.0.1:0"});
    for (int h = 0; h < 2; ++h) {
      sockets_[h] = "@rams-ramsd-pager-" + std::to_string(getpid()) + "-" + std::to_string(h);
      std::vector<std::string> args = {"--export", local_[h].name(), "--http", "127.0.0.1:0",
                                       "--pager-socket", sockets_[h]};
      args.insert(args.end(), host_args_.begin(), host_args_.end());
      hosts_[h].Start(args);
    }
    name_ = "127.0.0.1:" + std::to_string(home_.port()) + "/" + seg_.name();
    if (test::ScrapeMetric(hosts_[0].http_port(), "ramsd_pager_segments") == UINT64_MAX) {
      GTEST_SKIP() << "ramsd started without its host pager (userfaultfd cannot serve here)";
    }
  }

  test::TempSegment seg_;
  const std::vector<std::string> host_args_;
  test::TempSegment local_[2] = {test::TempSegment(kPageBytes, "pagerA"),
                                 test::TempSegment(kPageBytes, "pagerB")};
  test::RamsdProcess home_;
  test::RamsdProcess hosts_[2];
  std::string sockets_[2];
  std::string name_;
};

class RamsdPagerTest : public HomeAndHostsTest {
 protected:
  RamsdPagerTest() : HomeAndHostsTest(kPages, {}) {}
  void SetUp() override {
    test_wire::FillPages(seg_, kPages);
    HomeAndHostsTest::SetUp();
  }
};

TEST_F(RamsdPagerTest, AProcessMapsThroughRemoteAttachmentAndAnotherHostSeesItsWrite) {
  ASSERT_EQ(setenv("RAMS_PAGER_SOCKET", sockets_[0].c_str(), 1), 0);
  auto session = RemoteSession::Connect("127.0.0.1", home_.port());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto attachment = session->Open(seg_.name());
  ASSERT_TRUE(attachment.ok()) << attachment.status().ToString();
  auto mapped = (*attachment)->Map();
  unsetenv("RAMS_PAGER_SOCKET");
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  volatile std::byte* p = mapped->data();
  const size_t at = 5 * kPageBytes + 9;
  EXPECT_EQ(static_cast<std::byte>(p[at]), std::byte{6});  // the home's data
  p[at] = std::byte{0x5a};                                  // host A takes the page exclusively

  auto b = MappedSegment::Open(sockets_[1], name_, MapOptions{.write = false});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const volatile std::byte* q = (*b)->data().data();
  EXPECT_EQ(static_cast<std::byte>(q[at]), std::byte{0x5a});  // the home recalled it from A
  EXPECT_GE(test::ScrapeMetric(home_.http_port(), "ramsd_mapping_downgrades_total"), 1u);
  EXPECT_GE(test::ScrapeMetric(hosts_[0].http_port(), "ramsd_pager_downgrades_total"), 1u);
  EXPECT_GE(test::ScrapeMetric(hosts_[0].http_port(), "ramsd_pager_upgrades_total") +
                test::ScrapeMetric(hosts_[0].http_port(), "ramsd_pager_fetches_total"),
            1u);
  EXPECT_EQ(test::ScrapeMetric(hosts_[1].http_port(), "ramsd_pager_segments"), 1u);

  // MAPPING_STAT (`rams stat`): the home's directory and host A's pager,
  // the same counters as /metrics.
  auto home_stat = RemoteSession::Connect("127.0.0.1", home_.port())->MappingStat();
  ASSERT_TRUE(home_stat.ok()) << home_stat.status().ToString();
  EXPECT_EQ(home_stat->downgrades,
            test::ScrapeMetric(home_.http_port(), "ramsd_mapping_downgrades_total"));
  EXPECT_GE(home_stat->pages_granted, 2u);
  auto host_stat = RemoteSession::Connect("127.0.0.1", hosts_[0].port())->MappingStat();
  ASSERT_TRUE(host_stat.ok()) << host_stat.status().ToString();
  EXPECT_TRUE(host_stat->pager);
  EXPECT_EQ(host_stat->pager_segments, 1u);
  EXPECT_EQ(host_stat->pager_downgrades,
            test::ScrapeMetric(hosts_[0].http_port(), "ramsd_pager_downgrades_total"));
  EXPECT_EQ(host_stat->read_ahead,
            test::ScrapeMetric(hosts_[0].http_port(), "ramsd_pager_read_ahead_total"));
  EXPECT_GE(host_stat->faults, 2u);
}

TEST_F(RamsdPagerTest, TwoProcessesOfOneHostCostTheHomeOneGrantPerPage) {
  const uint64_t before = test::ScrapeMetric(home_.http_port(), "ramsd_mapping_pages_granted_total");
  test_wire::RunChildren(2, [&] {
    auto m = MappedSegment::Open(sockets_[0], name_, MapOptions{.write = true});
    return m.ok() ? test_wire::CheckInitialPages((*m)->data().data(), kPages) : 2;
  });
  EXPECT_EQ(test::ScrapeMetric(home_.http_port(), "ramsd_mapping_pages_granted_total") - before, kPages);
  // The first process's sequential miss at page 0 brought the rest ahead
  // (--map-readahead-pages 16 by default).
  EXPECT_EQ(test::ScrapeMetric(hosts_[0].http_port(), "ramsd_pager_fetches_total"), 1u);
  EXPECT_EQ(test::ScrapeMetric(hosts_[0].http_port(), "ramsd_pager_read_ahead_total"), kPages - 1);
}

TEST_F(RamsdPagerTest, AnUnknownSegmentIsRefusedAndRamsdGoesOn) {
  auto m = MappedSegment::Open(sockets_[0], "127.0.0.1:" + std::to_string(home_.port()) + "/nope",
                               MapOptions{.write = false});
  EXPECT_EQ(m.code(), ENOENT) << m.status().ToString();
  auto bad = MappedSegment::Open(sockets_[0], "no-address", MapOptions{.write = false});
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(test::ScrapeMetric(hosts_[0].http_port(), "ramsd_pager_segments"), 0u);
}

// A home that accepts the connection and never answers HELLO: ramsd's
// provider waits for it (up to its 5 s connect timeout) on an opener thread,
// so a mapping of a served segment faults in meanwhile; the stalled OPEN
// then fails cleanly and ramsd goes on.
TEST_F(RamsdPagerTest, AHomeThatNeverAnswersHelloStallsOnlyItsOwnOpen) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);  // the kernel completes the handshake; nobody answers
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string blackhole = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x";

  auto served = MappedSegment::Open(sockets_[0], name_, MapOptions{.write = false});
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  std::atomic<bool> stalled_done{false};
  Result<std::unique_ptr<MappedSegment>> stalled = Error(EINPROGRESS, "");
  std::thread opener([&] {
    stalled = MappedSegment::Open(sockets_[0], blackhole, MapOptions{.write = false});
    stalled_done = true;
  });
  // The provider has connected once the listener's queue holds the connection.
  pollfd p{.fd = listener, .events = POLLIN, .revents = 0};
  EXPECT_EQ(poll(&p, 1, 10000), 1);
  const volatile std::byte* q = (*served)->data().data();
  EXPECT_EQ(test_wire::CheckInitialPages(q, kPages), 0);  // faults of every page
  EXPECT_FALSE(stalled_done.load()) << "the faults waited for the stalled OPEN";
  opener.join();
  EXPECT_FALSE(stalled.ok());
  EXPECT_EQ(test::ScrapeMetric(hosts_[0].http_port(), "ramsd_pager_segments"), 1u);
  close(listener);
}

// Waits (bounded) until `metric` at `http_port` reaches `n`.
bool AwaitMetric(uint16_t http_port, const std::string& metric, uint64_t n) {
  for (int i = 0; i < 1000; ++i) {
    const uint64_t v = test::ScrapeMetric(http_port, metric);
    if (v != UINT64_MAX && v >= n) return true;
    usleep(10000);
  }
  return false;
}

// Host A's ramsd (its pager) killed while it holds a page exclusively: the
// page falls back to the home's last version, and the loss reaches the next
// user of the segment on host B through the API, once: EOWNERDEAD from
// RemoteAttachment::MappingStatus (and from MappedSegment::Check of another
// mapping on B), Ok after that; B's pager counts the notice.
TEST_F(RamsdPagerTest, PagesLostWithAKilledHostAreReportedOnceThroughTheApi) {
  ASSERT_EQ(setenv("RAMS_PAGER_SOCKET", sockets_[1].c_str(), 1), 0);
  auto session = RemoteSession::Connect("127.0.0.1", home_.port());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto attachment = session->Open(seg_.name());
  ASSERT_TRUE(attachment.ok()) << attachment.status().ToString();
  EXPECT_EQ((*attachment)->MappingStatus().code(), EINVAL);  // not mapped yet
  auto mapped = (*attachment)->Map();
  unsetenv("RAMS_PAGER_SOCKET");
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  const volatile std::byte* b = mapped->data();
  EXPECT_EQ(static_cast<std::byte>(b[0]), std::byte{1});  // B's session exists at the home
  auto other = MappedSegment::Open(sockets_[1], name_, MapOptions{.write = false});
  ASSERT_TRUE(other.ok()) << other.status().ToString();

  {
    auto a = MappedSegment::Open(sockets_[0], name_, MapOptions{.write = true});
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    (*a)->data()[3 * kPageBytes] = std::byte{0x77};  // exclusive at host A, never written back
  }  // unmapped here; host A's pager keeps the page
  EXPECT_EQ((*attachment)->MappingStatus().code(), 0);
  hosts_[0].Stop(SIGKILL);
  ASSERT_TRUE(AwaitMetric(home_.http_port(), "ramsd_mapping_pages_lost_total", 1));

  EXPECT_EQ(static_cast<std::byte>(b[3 * kPageBytes]), std::byte{4});  // the home's last version
  Status lost = (*attachment)->MappingStatus();
  EXPECT_EQ(lost.code(), EOWNERDEAD) << lost.ToString();
  EXPECT_EQ((*attachment)->MappingStatus().code(), 0);  // once
  EXPECT_EQ((*other)->Check().code(), EOWNERDEAD);      // once per mapping
  EXPECT_EQ((*other)->Flush().code(), 0);
  EXPECT_EQ(test::ScrapeMetric(hosts_[1].http_port(), "ramsd_pager_loss_notices_total"), 1u);
  // And in MAPPING_STAT (`rams stat`): the home's loss, host B's notice.
  auto home_stat = session->MappingStat();
  ASSERT_TRUE(home_stat.ok()) << home_stat.status().ToString();
  EXPECT_EQ(home_stat->pages_lost, 1u);
  EXPECT_GE(home_stat->pages_granted, 2u);
  EXPECT_FALSE(home_stat->pager);  // started without --pager-socket: --no-pager
  auto b_session = RemoteSession::Connect("127.0.0.1", hosts_[1].port());
  ASSERT_TRUE(b_session.ok()) << b_session.status().ToString();
  auto b_stat = b_session->MappingStat();
  ASSERT_TRUE(b_stat.ok()) << b_stat.status().ToString();
  EXPECT_TRUE(b_stat->pager);
  EXPECT_EQ(b_stat->loss_notices, 1u);
  EXPECT_EQ(b_stat->pager_segments, 1u);
  EXPECT_EQ(b_stat->pages_lost, 0u);  // B is no home of this segment
}

// Two host ramsds whose pagers keep at most kCachePages pages of a segment
// four times as large (--map-cache-pages).
class RamsdPagerCacheTest : public HomeAndHostsTest {
 protected:
  static constexpr uint64_t kCachePages = 16, kBigPages = 4 * kCachePages;
  RamsdPagerCacheTest()
      : HomeAndHostsTest(kBigPages, {"--map-cache-pages", std::to_string(kCachePages)}) {}
  uint64_t Metric(int host, const std::string& name) {
    return test::ScrapeMetric(hosts_[host].http_port(), name);
  }
  // Byte i of page pg as host `host` writes it.
  static std::byte Pattern(uint64_t pg, size_t i, int host) {
    return std::byte((pg * 131 + i * 7 + host * 17 + 1) & 0xff);
  }
};

// Host A writes every byte of the segment through a cache of a quarter of
// it: the pages evicted dirty go home with their PAGE_DROP. Host B (a
// cache as small) then reads every byte back exactly, and so does A.
TEST_F(RamsdPagerCacheTest, ASegmentFourTimesTheCacheIsWrittenAndReadBackFromAnotherHost) {
  auto a = MappedSegment::Open(sockets_[0], name_, MapOptions{.write = true});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::byte* pa = (*a)->data().data();
  for (uint64_t pg = 0; pg < kBigPages; ++pg) {
    for (size_t i = 0; i < kPageBytes; ++i) pa[pg * kPageBytes + i] = Pattern(pg, i, 0);
  }
  EXPECT_LE(Metric(0, "ramsd_pager_resident_pages"), kCachePages);
  EXPECT_GE(Metric(0, "ramsd_pager_evictions_total"), kBigPages - kCachePages);
  EXPECT_GE(Metric(0, "ramsd_pager_write_backs_total"), kBigPages - kCachePages);
  // The pages evicted are in the home's memory already.
  const std::vector<std::byte> home = seg_.Bytes();
  uint64_t home_has = 0;
  for (uint64_t pg = 0; pg < kBigPages; ++pg) {
    home_has += home[pg * kPageBytes + 5] == Pattern(pg, 5, 0) ? 1 : 0;
  }
  EXPECT_GE(home_has, kBigPages - kCachePages);

  auto b = MappedSegment::Open(sockets_[1], name_, MapOptions{.write = false});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const volatile std::byte* pb = (*b)->data().data();
  uint64_t wrong = 0;
  for (uint64_t pg = 0; pg < kBigPages; ++pg) {
    for (size_t i = 0; i < kPageBytes; ++i) wrong += pb[pg * kPageBytes + i] != Pattern(pg, i, 0);
  }
  EXPECT_EQ(wrong, 0u);
  EXPECT_LE(Metric(1, "ramsd_pager_resident_pages"), kCachePages);
  EXPECT_GE(Metric(1, "ramsd_pager_evictions_total"), kBigPages - kCachePages);
  EXPECT_EQ(Metric(1, "ramsd_pager_write_backs_total"), 0u);  // B wrote nothing: clean drops
  // A again, after B's reads recalled its last exclusive pages.
  for (uint64_t pg = 0; pg < kBigPages; ++pg) {
    for (size_t i = 0; i < kPageBytes; i += 97) wrong += pa[pg * kPageBytes + i] != Pattern(pg, i, 0);
  }
  EXPECT_EQ(wrong, 0u);
  // `rams stat` (MAPPING_STAT) of host A has the same counters.
  auto stat = RemoteSession::Connect("127.0.0.1", hosts_[0].port())->MappingStat();
  ASSERT_TRUE(stat.ok()) << stat.status().ToString();
  EXPECT_EQ(stat->evictions, Metric(0, "ramsd_pager_evictions_total"));
  EXPECT_EQ(stat->write_backs, Metric(0, "ramsd_pager_write_backs_total"));
  EXPECT_LE(stat->resident_pages, kCachePages);
}

// Both hosts increment their own word in every page, sweeping in opposite
// directions through caches a quarter of the segment: A's evictions of
// dirty pages race B's invalidations of them (and the other way round).
// Every increment must reach the home.
TEST_F(RamsdPagerCacheTest, EvictionsRacingInvalidationsLoseNoWrite) {
  constexpr uint64_t kRounds = 8;
  std::vector<pid_t> kids;
  for (int h = 0; h < 2; ++h) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto m = MappedSegment::Open(sockets_[h], name_, MapOptions{.write = true});
      if (!m.ok()) _exit(2);
      auto* words = reinterpret_cast<volatile uint64_t*>((*m)->data().data());
      for (uint64_t r = 0; r < kRounds; ++r) {
        for (uint64_t k = 0; k < kBigPages; ++k) {
          const uint64_t pg = h == 0 ? k : kBigPages - 1 - k;
          words[pg * (kPageBytes / 8) + h] = words[pg * (kPageBytes / 8) + h] + 1;
        }
      }
      _exit((*m)->Flush().ok() ? 0 : 3);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(k, &status, 0), k);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  // Read through the home's one-sided READ, which recalls any copy left.
  auto session = RemoteSession::Connect("127.0.0.1", home_.port());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto att = session->Open(seg_.name());
  ASSERT_TRUE(att.ok()) << att.status().ToString();
  std::vector<std::byte> image(kBigPages * kPageBytes);
  ASSERT_TRUE((*att)->Read(0, image).ok());
  for (uint64_t pg = 0; pg < kBigPages; ++pg) {
    for (int h = 0; h < 2; ++h) {
      uint64_t v = 0;
      std::memcpy(&v, image.data() + pg * kPageBytes + h * 8, 8);
      EXPECT_EQ(v, kRounds) << "page " << pg << " host " << h;
    }
  }
  for (int h = 0; h < 2; ++h) {
    EXPECT_GT(Metric(h, "ramsd_pager_evictions_total"), 0u) << h;
    EXPECT_GT(Metric(h, "ramsd_pager_invalidations_total"), 0u) << h;
  }
}

TEST(RamsdPagerSocketTest, APathSocketIsOpenToAllAndNeverTakenOverFromALivePager) {
  test::TempSegment home_seg(kPageBytes, "pagersock");
  test::RamsdProcess home;
  home.Start({"--export", home_seg.name()});
  std::string dir = "/tmp/rams-pagersock-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/pager.sock";
  test::TempSegment local(kPageBytes, "pagersockA");
  test::RamsdProcess first, second;
  first.Start({"--export", local.name(), "--http", "127.0.0.1:0", "--pager-socket", path});
  if (test::ScrapeMetric(first.http_port(), "ramsd_pager_segments") == UINT64_MAX) {
    GTEST_SKIP() << "ramsd started without its host pager (userfaultfd cannot serve here)";
  }
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);  // SO_PEERCRED and --pager-mode decide, not the file
  second.Start({"--export", local.name(), "--http", "127.0.0.1:0", "--pager-socket", path});
  EXPECT_EQ(test::ScrapeMetric(second.http_port(), "ramsd_pager_segments"), UINT64_MAX);
  // The first ramsd's pager still answers at the path.
  auto m = MappedSegment::Open(
      path, "127.0.0.1:" + std::to_string(home.port()) + "/" + home_seg.name(), MapOptions{});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(test::ScrapeMetric(first.http_port(), "ramsd_pager_segments"), 1u);
  m->reset();
  first.Stop();
  second.Stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rams::mapping
