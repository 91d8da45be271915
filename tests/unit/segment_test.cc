// SPDX-License-Identifier: MIT
// Single-process tests of every segment operation, on every backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "common/test_util.h"
#include "rams/segment.h"
#include "rams/wait.h"

namespace rams {
namespace {

using testing::BackendTest;
using testing::UniqueName;

class SegmentTest : public BackendTest {};

std::vector<std::byte> Bytes(std::string_view s) {
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

TEST_P(SegmentTest, CreateOpenStatRemove) {
  std::string name = UniqueName("life");
  {
    auto seg = Segment::Create(name, 8192, 0640, /*exclusive=*/true, backend_);
    ASSERT_TRUE(seg.ok()) << seg.status().ToString();
    EXPECT_EQ(seg->size(), 8192u);
    EXPECT_EQ(seg->name(), name);
    EXPECT_EQ(seg->info().mode, 0640u);
    EXPECT_EQ(seg->info().owner_uid, getuid());
    EXPECT_EQ(seg->info().backend, GetParam());
    EXPECT_GT(seg->info().created_unix_ns, 0);

    auto again = Segment::Create(name, 8192, 0640, /*exclusive=*/true, backend_);
    EXPECT_EQ(again.code(), EEXIST);
    auto shared = Segment::Create(name, 8192, 0640, /*exclusive=*/false, backend_);
    ASSERT_TRUE(shared.ok()) << shared.status().ToString();
    auto wrong_size = Segment::Create(name, 4096, 0640, /*exclusive=*/false, backend_);
    EXPECT_EQ(wrong_size.code(), EINVAL);

    auto opened = Segment::Open(name, {}, backend_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(opened->size(), 8192u);
    EXPECT_EQ(opened->info().created_unix_ns, seg->info().created_unix_ns);

    auto st = Segment::Stat(name, backend_);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    EXPECT_EQ(st->size_bytes, 8192u);
    EXPECT_EQ(st->mode, 0640u);
  }
  ASSERT_TRUE(Segment::Remove(name, backend_).ok());
  EXPECT_EQ(Segment::Open(name, {}, backend_).code(), ENOENT);
  EXPECT_EQ(Segment::Remove(name, backend_).code(), ENOENT);
}

TEST_P(SegmentTest, ListShowsSegmentsWithTheirFields) {
  Segment a = MakeSegment("lsa", 4096, 0600);
  Segment b = MakeSegment("lsb", 12288, 0644);
  auto list = Segment::List(backend_);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  int found = 0;
  for (const SegmentInfo& info : *list) {
    if (info.name == a.name()) {
      ++found;
      EXPECT_EQ(info.size_bytes, 4096u);
      EXPECT_EQ(info.mode, 0600u);
    }
    if (info.name == b.name()) {
      ++found;
      EXPECT_EQ(info.size_bytes, 12288u);
      EXPECT_EQ(info.mode, 0644u);
      EXPECT_EQ(info.owner_uid, getuid());
      EXPECT_EQ(info.backend, GetParam());
      EXPECT_EQ(info.created_unix_ns, b.info().created_unix_ns);
    }
  }
  EXPECT_EQ(found, 2);
  EXPECT_TRUE(std::is_sorted(list->begin(), list->end(),
                             [](auto& x, auto& y) { return x.name < y.name; }));
}

TEST_P(SegmentTest, WriteThenReadAtOffsets) {
  Segment seg = MakeSegment("rw", 4096);
  auto hello = Bytes("hello, segment");
  ASSERT_TRUE(seg.Write(100, hello).ok());
  std::vector<std::byte> out(hello.size());
  ASSERT_TRUE(seg.Read(100, out).ok());
  EXPECT_EQ(out, hello);
  // Fresh segments read as zeros; the last byte is reachable.
  std::byte last{1};
  ASSERT_TRUE(seg.Read(4095, {&last, 1}).ok());
  EXPECT_EQ(last, std::byte{0});
  ASSERT_TRUE(seg.Write(4095, Bytes("z")).ok());
  ASSERT_TRUE(seg.Read(4095, {&last, 1}).ok());
  EXPECT_EQ(last, std::byte{'z'});
  // Zero-length transfers at the end are fine.
  EXPECT_TRUE(seg.Read(4096, {}).ok());
}

TEST_P(SegmentTest, MapSharesBytesWithReadWriteAndOtherHandles) {
  Segment seg = MakeSegment("map", 3 * 4096);
  auto map = seg.Map();
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  ASSERT_EQ(map->size(), 3u * 4096);
  std::memcpy(map->data() + 5000, "mapped", 6);
  std::vector<std::byte> out(6);
  ASSERT_TRUE(seg.Read(5000, out).ok());
  EXPECT_EQ(out, Bytes("mapped"));

  auto other = Segment::Open(seg.name(), {}, backend_);
  ASSERT_TRUE(other.ok());
  auto other_map = other->Map();
  ASSERT_TRUE(other_map.ok());
  EXPECT_EQ(std::memcmp(other_map->data() + 5000, "mapped", 6), 0);
  ASSERT_TRUE(other->Write(9000, Bytes("back")).ok());
  EXPECT_EQ(std::memcmp(map->data() + 9000, "back", 4), 0);
}

TEST_P(SegmentTest, WaitReturnsEagainWhenTheWordDiffers) {
  Segment seg = MakeSegment("waitne", 4096);
  auto map = seg.Map();
  ASSERT_TRUE(map.ok());
  reinterpret_cast<std::atomic<uint32_t>*>(map->data() + 8)->store(7);
  EXPECT_EQ(seg.Wait(8, 6, std::chrono::seconds(5)).code(), EAGAIN);
  EXPECT_EQ(seg.Wait(8, 7, std::chrono::milliseconds(20)).code(), ETIMEDOUT);
}

TEST_P(SegmentTest, WakeWakesAWaiter) {
  Segment seg = MakeSegment("wake", 4096);
  auto map = seg.Map();
  ASSERT_TRUE(map.ok());
  auto* word = reinterpret_cast<std::atomic<uint32_t>*>(map->data() + 64);
  std::thread waiter([&] {
    while (word->load() == 0) {
      Status s = seg.Wait(64, 0, std::chrono::seconds(10));
      ASSERT_TRUE(s.ok() || s.code() == EAGAIN || s.code() == EINTR) << s.ToString();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  word->store(1);
  auto woken = seg.Wake(64, 1);
  ASSERT_TRUE(woken.ok());
  waiter.join();
  // WaitWord/WakeWord on the mapped word reach the same backend.
  EXPECT_EQ(WaitWord(word, 0, std::chrono::seconds(1)).code(), EAGAIN);
  EXPECT_EQ(WakeWord(word, 1), 0u);
}

RAMS_INSTANTIATE_BACKEND_TESTS(SegmentTest);

}  // namespace
}  // namespace rams
