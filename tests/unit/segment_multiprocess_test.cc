// SPDX-License-Identifier: MIT
// Segments shared by many processes (fork): disjoint writers, torn-read
// detection, and list/remove while attached.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/test_util.h"

namespace rams {
namespace {

using testing::BackendTest;
using testing::ForkChild;
using testing::WaitChild;

class SegmentMultiProcessTest : public BackendTest {};

TEST_P(SegmentMultiProcessTest, TwentyWritersOfDisjointRangesThenOneReader) {
  constexpr int kProcs = 20;
  constexpr uint64_t kSlice = 3000;  // not page-aligned on purpose
  Segment seg = MakeSegment("disjoint", kProcs * kSlice);
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    kids.push_back(ForkChild([&, p] {
      auto s = Segment::Open(seg.name(), {}, backend_);
      if (!s.ok()) return 2;
      std::vector<std::byte> buf(kSlice);
      for (uint64_t i = 0; i < kSlice; ++i) buf[i] = std::byte(uint8_t(p * 7 + i));
      // In several pieces, so the writes interleave with the others'.
      for (uint64_t off = 0; off < kSlice; off += 1000) {
        if (!s->Write(p * kSlice + off, std::span(buf).subspan(off, 1000)).ok()) return 3;
      }
      return 0;
    }));
  }
  for (pid_t k : kids) EXPECT_EQ(WaitChild(k), 0);
  std::vector<std::byte> all(kProcs * kSlice);
  ASSERT_TRUE(seg.Read(0, all).ok());
  for (int p = 0; p < kProcs; ++p) {
    for (uint64_t i = 0; i < kSlice; ++i) {
      ASSERT_EQ(all[p * kSlice + i], std::byte(uint8_t(p * 7 + i))) << p << " " << i;
    }
  }
}

TEST_P(SegmentMultiProcessTest, ConcurrentReadNeverSeesHalfAWrite) {
  constexpr uint64_t kLen = 256 * 1024;  // far more than one page or cache line
  Segment seg = MakeSegment("torn", kLen);
  constexpr int kWriters = 2;
  std::vector<pid_t> kids;
  for (int w = 0; w < kWriters; ++w) {
    kids.push_back(ForkChild([&, w] {
      auto s = Segment::Open(seg.name(), {}, backend_);
      if (!s.ok()) return 2;
      std::vector<std::byte> buf(kLen);
      for (int round = 0; round < 150; ++round) {
        std::memset(buf.data(), (w * 100 + round) % 255 + 1, kLen);
        if (!s->Write(0, buf).ok()) return 3;
      }
      return 0;
    }));
  }
  std::vector<std::byte> out(kLen);
  int torn = 0;
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(seg.Read(0, out).ok());
    for (uint64_t j = 1; j < kLen; ++j) {
      if (out[j] != out[0]) {
        ++torn;
        break;
      }
    }
  }
  for (pid_t k : kids) EXPECT_EQ(WaitChild(k), 0);
  EXPECT_EQ(torn, 0);
}

TEST_P(SegmentMultiProcessTest, RemoveWhileAttachedKeepsTheAttachedWorking) {
  Segment seg = MakeSegment("rmatt", 4096);
  pid_t child = ForkChild([&] {
    auto s = Segment::Open(seg.name(), {}, backend_);
    if (!s.ok()) return 2;
    if (!Segment::Remove(seg.name(), backend_).ok()) return 3;
    // Gone from the names, still usable by whoever has it open.
    auto list = Segment::List(backend_);
    if (!list.ok()) return 4;
    for (auto& i : *list) {
      if (i.name == seg.name()) return 5;
    }
    std::byte b{42};
    return s->Write(7, {&b, 1}).ok() ? 0 : 6;
  });
  ASSERT_EQ(WaitChild(child), 0);
  std::byte b{};
  ASSERT_TRUE(seg.Read(7, {&b, 1}).ok());
  EXPECT_EQ(b, std::byte{42});
  EXPECT_EQ(Segment::Open(seg.name(), {}, backend_).code(), ENOENT);
  // The name can be used again for a new, empty segment.
  auto fresh = Segment::Create(seg.name(), 4096, 0600, true, backend_);
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE(fresh->Read(7, {&b, 1}).ok());
  EXPECT_EQ(b, std::byte{0});
}

TEST_P(SegmentMultiProcessTest, ManyProcessesCreateTheSameNameOnce) {
  std::string name = testing::UniqueName("race");
  testing::SegmentCleanup cleanup(name, backend_);
  std::vector<pid_t> kids;
  for (int p = 0; p < 8; ++p) {
    kids.push_back(ForkChild([&, p] {
      auto s = Segment::Create(name, 8192, 0600, /*exclusive=*/false, backend_);
      if (!s.ok()) return 2;
      std::byte b{uint8_t(p + 1)};
      return s->Write(p, {&b, 1}).ok() ? 0 : 3;
    }));
  }
  for (pid_t k : kids) EXPECT_EQ(WaitChild(k), 0);
  auto s = Segment::Open(name, {}, backend_);
  ASSERT_TRUE(s.ok());
  std::vector<std::byte> out(8);
  ASSERT_TRUE(s->Read(0, out).ok());
  for (int p = 0; p < 8; ++p) EXPECT_EQ(out[p], std::byte(uint8_t(p + 1)));
}

RAMS_INSTANTIATE_BACKEND_TESTS(SegmentMultiProcessTest);

}  // namespace
}  // namespace rams
