// SPDX-License-Identifier: MIT
// RemoteAttachment::Map goes through the host pager: it asks for
// "HOST:PORT/NAME" at $RAMS_PAGER_SOCKET and returns the pager's mapping.
// The pager here is served by the fake directory (the wire page source and
// ramsd's own pager are integrated separately).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "cluster.h"
#include "ramsd_process.h"
#include "rams/remote.h"

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

}  // namespace
}  // namespace rams::test
