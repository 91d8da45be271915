// SPDX-License-Identifier: MIT
// Bad input: each gets a clear error code and changes nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

#include "common/test_util.h"

namespace rams {
namespace {

using testing::BackendTest;
using testing::UniqueName;

class SegmentBadInputTest : public BackendTest {
 protected:
  // The names of this process's segments, to show a failed call changed
  // nothing (tests running beside it in other processes come and go).
  std::vector<std::string> Names() {
    std::vector<std::string> out;
    auto list = Segment::List(backend_);
    EXPECT_TRUE(list.ok());
    const std::string mine = "-" + std::to_string(getpid()) + "-";
    for (auto& i : *list) {
      if (i.name.find(mine) != std::string::npos) out.push_back(i.name);
    }
    return out;
  }
};

TEST_P(SegmentBadInputTest, MissingSegment) {
  std::string name = UniqueName("missing");
  EXPECT_EQ(Segment::Open(name, {}, backend_).code(), ENOENT);
  EXPECT_EQ(Segment::Stat(name, backend_).code(), ENOENT);
  EXPECT_EQ(Segment::Remove(name, backend_).code(), ENOENT);
}

TEST_P(SegmentBadInputTest, SizeZeroAndOverTheLimit) {
  auto before = Names();
  std::string name = UniqueName("size");
  auto zero = Segment::Create(name, 0, 0600, true, backend_);
  EXPECT_EQ(zero.code(), EINVAL);
  EXPECT_NE(zero.status().message().find("size 0"), std::string::npos);
  setenv("RAMS_MAX_SEGMENT_BYTES", "65536", 1);
  auto big = Segment::Create(name, 65537, 0600, true, backend_);
  unsetenv("RAMS_MAX_SEGMENT_BYTES");
  EXPECT_EQ(big.code(), EFBIG);
  EXPECT_NE(big.status().message().find("limit"), std::string::npos);
  EXPECT_EQ(Names(), before);
}

TEST_P(SegmentBadInputTest, BadNames) {
  auto before = Names();
  std::string base = UniqueName("bad");  // carries this process's pid, as Names() wants
  std::string too_long = base + std::string(kMaxNameBytes + 1 - base.size(), 'n');
  EXPECT_EQ(Segment::Create(too_long, 4096, 0600, true, backend_).code(), ENAMETOOLONG);
  EXPECT_EQ(Segment::Create(base + "/b", 4096, 0600, true, backend_).code(), EINVAL);
  EXPECT_EQ(Segment::Create(base + " b", 4096, 0600, true, backend_).code(), EINVAL);
  EXPECT_EQ(Segment::Create("../etc", 4096, 0600, true, backend_).code(), EINVAL);
  EXPECT_EQ(Segment::Create("", 4096, 0600, true, backend_).code(), EINVAL);
  EXPECT_EQ(Segment::Open("a/b", {}, backend_).code(), EINVAL);
  EXPECT_EQ(Segment::Remove("a/b", backend_).code(), EINVAL);
  EXPECT_EQ(Names(), before);
}

// HOST:PORT/NAME: the kernel backend opens it through the module (never
// creates it); the posix backend has no such names.
TEST_P(SegmentBadInputTest, RemoteNames) {
  auto before = Names();
  const std::string remote = "10.77.0.9:1/" + UniqueName("remote");
  auto created = Segment::Create(remote, 4096, 0600, false, backend_);
  EXPECT_EQ(created.code(), EINVAL);
  if (GetParam() == "kernel") {
    EXPECT_NE(created.status().message().find("created at its home"), std::string::npos)
        << created.status().ToString();
    const std::string too_long = remote + std::string(kMaxNameBytes + 1 - remote.size(), 'n');
    EXPECT_EQ(Segment::Open(too_long, {}, backend_).code(), ENAMETOOLONG);
    // Without a ramsd on the control channel the module refuses it (ENOTCONN).
    EXPECT_FALSE(Segment::Open(remote, {}, backend_).ok());
  }
  EXPECT_EQ(Names(), before);
}

TEST_P(SegmentBadInputTest, OutOfRangeOffsetsAndOverflow) {
  Segment seg = MakeSegment("range", 4096);
  std::vector<std::byte> buf(100, std::byte{1});
  Status past = seg.Read(4090, buf);
  EXPECT_EQ(past.code(), EINVAL);
  EXPECT_NE(past.message().find("past the end"), std::string::npos) << past.ToString();
  EXPECT_EQ(seg.Write(4090, buf).code(), EINVAL);
  EXPECT_EQ(seg.Write(UINT64_MAX - 10, buf).code(), EINVAL);
  EXPECT_EQ(seg.Read(UINT64_MAX, buf).code(), EINVAL);
  // The refused write at 4090 did not write the 6 bytes that fit.
  std::vector<std::byte> tail(6);
  ASSERT_TRUE(seg.Read(4090, tail).ok());
  EXPECT_EQ(tail, std::vector<std::byte>(6));
}

TEST_P(SegmentBadInputTest, MisalignedOrOutsideWaitWord) {
  Segment seg = MakeSegment("word", 4096);
  EXPECT_EQ(seg.Wait(2, 0, std::chrono::milliseconds(1)).code(), EINVAL);
  EXPECT_EQ(seg.Wake(6, 1).code(), EINVAL);
  EXPECT_EQ(seg.Wait(4096, 0, std::chrono::milliseconds(1)).code(), EINVAL);
  EXPECT_EQ(seg.Wake(UINT64_MAX - 3, 1).code(), EINVAL);
}

TEST_P(SegmentBadInputTest, LockOutsideTheSegment) {
  Segment seg = MakeSegment("lockout", 4096);
  EXPECT_EQ(seg.Lock(4000, 200).code(), EINVAL);
  EXPECT_EQ(seg.Lock(0, 0).code(), EINVAL);
  EXPECT_EQ(seg.Lock(UINT64_MAX, 2).code(), EINVAL);
  EXPECT_EQ(seg.Stat()->locks_held, 0u);
}

TEST_P(SegmentBadInputTest, AnotherUsersPrivateSegment) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  Segment seg = MakeSegment("private", 4096, 0600);
  ASSERT_TRUE(seg.Write(0, std::vector<std::byte>(4, std::byte{5})).ok());
  pid_t child = testing::ForkChild([&] {
    if (setgid(65534) != 0 || setuid(65534) != 0) return 2;
    if (Segment::Open(seg.name(), {}, backend_).code() != EACCES) return 3;
    if (Segment::Remove(seg.name(), backend_).ok()) return 4;
    return 0;
  });
  EXPECT_EQ(testing::WaitChild(child), 0);
  std::vector<std::byte> out(4);
  ASSERT_TRUE(seg.Read(0, out).ok());
  EXPECT_EQ(out, std::vector<std::byte>(4, std::byte{5}));
  EXPECT_TRUE(Segment::Stat(seg.name(), backend_).ok());
}

RAMS_INSTANTIATE_BACKEND_TESTS(SegmentBadInputTest);

}  // namespace
}  // namespace rams
