// SPDX-License-Identifier: MIT
// RemoteAttachment::Map goes through the host pager: it asks for
// "HOST:PORT/NAME" at $RAMS_PAGER_SOCKET and returns the pager's mapping.
// The pager here is served by the fake directory (the wire page source and
// ramsd's own pager are integrated separately), except in the fork tests,
// which map through a host ramsd's pager so that no pager thread runs in
// the process that forks.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

#include "cluster.h"
#include "common/test_util.h"
#include "mapping/mapped_segment.h"
#include "ramsd_process.h"
#include "raw_client.h"
#include "rams/remote.h"
#include "rams/segment.h"
#include "rams/wait.h"

namespace rams::test {
namespace {

using mapping::kPageBytes;

class RemoteMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ramsd_.Start({"--export", seg_.name()});
    auto session = RemoteSession::Connect("127.0.0.1", ramsd_.port());
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    session_.emplace(std::move(*session));
    socket_ = "@rams-remote-map-test-" + std::to_string(getpid());
  }
  void TearDown() override { unsetenv("RAMS_PAGER_SOCKET"); }

  TempSegment seg_{16 * kPageBytes, "map"};
  RamsdProcess ramsd_;
  std::optional<RemoteSession> session_;
  std::string socket_;
};

TEST_F(RemoteMapTest, MapReturnsAPointerServedByTheHostPager) {
  mapping::testing::FakeHome home(16 * kPageBytes);
  std::string asked;
  mapping::HostPagerOptions options;
  options.socket_path = socket_;
  options.provider = [&](std::string_view name) -> Result<mapping::ProvidedSegment> {
    asked = name;
    if (name != session_->peer() + "/" + seg_.name()) return Error(ENOENT, "no such segment");
    return mapping::ProvidedSegment{home.Connect(0), {}};
  };
  auto pager = mapping::HostPager::Start(options);
  if (!pager.ok() && mapping::testing::NoUserfaultfd(pager.status())) {
    GTEST_SKIP() << "userfaultfd is ENOSYS here (qemu-user has no userfaultfd): "
                 << pager.status().ToString();
  }
  ASSERT_TRUE(pager.ok()) << pager.status().ToString();
  setenv("RAMS_PAGER_SOCKET", socket_.c_str(), 1);
  auto attachment = session_->Open(seg_.name());
  ASSERT_TRUE(attachment.ok());
  auto bytes = (*attachment)->Map();
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  ASSERT_EQ(bytes->size(), 16 * kPageBytes);
  EXPECT_EQ(asked, session_->peer() + "/" + seg_.name());
  (*bytes)[3 * kPageBytes + 5] = std::byte{7};
  EXPECT_EQ(home.ReadCoherent(3)[5], std::byte{7});
  auto again = (*attachment)->Map();  // one mapping per attachment
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->data(), bytes->data());
}

TEST_F(RemoteMapTest, WithoutAHostPagerMapIsNotSupported) {
  setenv("RAMS_PAGER_SOCKET", (socket_ + "-absent").c_str(), 1);
  auto attachment = session_->Open(seg_.name());
  ASSERT_TRUE(attachment.ok());
  auto bytes = (*attachment)->Map();
  EXPECT_EQ(bytes.code(), ENOTSUP) << bytes.status().ToString();
}

// fork: a child does not inherit a remote mapping (MADV_DONTFORK) nor the
// parent's connection. It loses both cleanly and maps the segment again,
// sharing the host's one copy (docs/remote-mapping.md, "fork").
class RemoteMapForkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_.Start({"--export", seg_.name()});
    socket_ = "@rams-remote-map-fork-test-" + std::to_string(getpid());
    host_.Start({"--export", host_seg_.name(), "--http", "127.0.0.1:0", "--pager-socket", socket_});
    if (ScrapeMetric(host_.http_port(), "ramsd_pager_segments") == UINT64_MAX) {
      GTEST_SKIP() << "ramsd started without its host pager (userfaultfd cannot serve here)";
    }
    setenv("RAMS_PAGER_SOCKET", socket_.c_str(), 1);
    auto session = RemoteSession::Connect("127.0.0.1", home_.port());
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    backend_.emplace(std::move(*session));
    auto segment = Segment::Open(seg_.name(), {}, &*backend_);
    ASSERT_TRUE(segment.ok()) << segment.status().ToString();
    segment_.emplace(std::move(*segment));
    auto bytes = segment_->Map();
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    base_ = bytes->data();
  }
  void TearDown() override { unsetenv("RAMS_PAGER_SOCKET"); }
  std::string MappedName() { return backend_->session().peer() + "/" + seg_.name(); }

  static constexpr uint64_t kPages = 4;
  TempSegment seg_{kPages * kPageBytes, "mapfork"};
  TempSegment host_seg_{kPageBytes, "mapforkhost"};
  RamsdProcess home_;
  RamsdProcess host_;
  std::string socket_;
  std::optional<RemoteBackend> backend_;
  std::optional<Segment> segment_;
  std::byte* base_ = nullptr;
};

TEST_F(RemoteMapForkTest, AChildLosesTheMappingCleanlyNeverReadingZeros) {
  volatile std::byte* p = base_;
  p[0] = std::byte{0x11};  // page 0 is in the host's copy; page 2 never was
  // A child that could reach the range would read page 2 as zeros (and put
  // a zero page into the host's copy); it must get SIGSEGV instead. The
  // child's own handler reports it (ASan's would exit with 1).
  constexpr int kSegv = 77;
  auto in_child = [](const std::function<int()>& body) {
    return testing::WaitChild(testing::ForkChild([&] {
      signal(SIGSEGV, [](int) { _exit(kSegv); });
      return body();
    }));
  };
  EXPECT_EQ(in_child([p] { return p[2 * kPageBytes + 7] == std::byte{0} ? 3 : 4; }), kSegv);
  EXPECT_EQ(in_child([p] { return p[0] == std::byte{0x11} ? 5 : 6; }), kSegv);
  EXPECT_EQ(static_cast<std::byte>(p[0]), std::byte{0x11});  // the parent's mapping is intact
}

TEST_F(RemoteMapForkTest, AChildMapsAgainAtTheParentsAddressAndSharesTheHostsCopy) {
  volatile std::byte* p = base_;
  p[5] = std::byte{0x21};
  const std::string name = MappedName();
  pid_t child = testing::ForkChild([&] {
    auto again = mapping::MappedSegment::Open(
        socket_, name, mapping::MapOptions{.write = true, .address = base_});
    if (!again.ok() || (*again)->data().data() != base_) return 2;
    if (p[5] != std::byte{0x21}) return 3;  // the parent's write, through the pointer it had
    p[kPageBytes + 9] = std::byte{0x42};
    again->release();  // the child _exits: no destructor runs
    return 0;
  });
  EXPECT_EQ(testing::WaitChild(child), 0);
  EXPECT_EQ(static_cast<std::byte>(p[kPageBytes + 9]), std::byte{0x42});  // the child's write
  // One copy per host: the child's pages came from the host's copy or the
  // home once, never once per process.
  EXPECT_LE(ScrapeMetric(host_.http_port(), "ramsd_pager_fetches_total"), 2u);
  // An address already in use is refused, never mapped over.
  auto over = mapping::MappedSegment::Open(socket_, name,
                                           mapping::MapOptions{.write = true, .address = base_});
  EXPECT_EQ(over.code(), EEXIST) << over.status().ToString();
  EXPECT_EQ(static_cast<std::byte>(p[5]), std::byte{0x21});
}

TEST_F(RemoteMapForkTest, AChildDoesNotInheritTheWaitRangeOfTheParentsConnection) {
  const auto* word = reinterpret_cast<const std::atomic<uint32_t>*>(base_ + 64);
  ASSERT_TRUE(WordHasBackendQueue(word));  // the parent's waits go to the home
  const uint16_t port = home_.port();
  const std::string seg = seg_.name();
  pid_t child = testing::ForkChild([&] {
    // The parent's attachment is not usable here: its words no longer route there.
    if (WordHasBackendQueue(word)) return 2;
    // A segment the child opens and maps itself routes its own words.
    auto session = RemoteSession::Connect("127.0.0.1", port);
    if (!session.ok()) return 3;
    RemoteBackend backend(std::move(*session));
    auto segment = Segment::Open(seg, {}, &backend);
    if (!segment.ok()) return 4;
    auto bytes = segment->Map();
    if (!bytes.ok()) return 5;
    const auto* mine = reinterpret_cast<const std::atomic<uint32_t>*>(bytes->data() + 64);
    if (!WordHasBackendQueue(mine)) return 6;
    // The word is 0: a wait for 7 returns at once, one for 0 times out.
    if (WaitWord(mine, 7, std::chrono::milliseconds(10)).code() != EAGAIN) return 7;
    if (WaitWord(mine, 0, std::chrono::milliseconds(10)).code() != ETIMEDOUT) return 8;
    return 0;
  });
  EXPECT_EQ(testing::WaitChild(child), 0);
  EXPECT_TRUE(WordHasBackendQueue(word));
}

}  // namespace
}  // namespace rams::test
