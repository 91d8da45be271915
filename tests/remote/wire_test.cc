// SPDX-License-Identifier: MIT
// Unit tests of the wire codec: header layout and validation, and every
// message body's round trip and rejection of malformed bodies.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "crc32c.h"
#include "wire/messages.h"
#include "wire/frame.h"

namespace rams::wire {
namespace {

std::span<const std::byte, kHeaderBytes> View(const HeaderBytes& h) { return std::span(h); }

TEST(WireTest, Crc32cKnownVector) {
  const char* s = "123456789";
  EXPECT_EQ(Crc32c(std::as_bytes(std::span(s, 9))), 0xE3069283u);
}

// The CPU's instruction and the table agree at every length, alignment and
// starting value (the instruction path takes 8 bytes at a time, then bytes).
TEST(WireTest, Crc32cInstructionAndTableAgree) {
  std::vector<unsigned char> buf(300);
  uint32_t x = 12345;
  for (unsigned char& b : buf) {
    x = x * 1103515245u + 12345u;
    b = static_cast<unsigned char>(x >> 16);
  }
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t len = 0; len + offset <= 260; ++len) {
      for (uint32_t start : {0u, 0xE3069283u}) {
        ASSERT_EQ(internal::Crc32c(buf.data() + offset, len, start),
                  internal::Crc32cByTable(buf.data() + offset, len, start))
            << "offset " << offset << " length " << len;
      }
    }
  }
  const char* s = "123456789";
  EXPECT_EQ(internal::Crc32cByTable(s, 9), 0xE3069283u);
  // Continuing from a prefix's value gives the whole's.
  EXPECT_EQ(internal::Crc32c(s + 4, 5, internal::Crc32c(s, 4)), 0xE3069283u);
#if defined(__x86_64__) || defined(__aarch64__)
  RecordProperty("crc32c_instruction", internal::Crc32cHasInstruction() ? "yes" : "no");
#endif
}

TEST(WireTest, HeaderLayoutIsLittleEndianAndRoundTrips) {
  FrameHeader h{.opcode = 6, .flags = kFlagReply, .request_id = 0x0102030405060708,
                .body_bytes = 0x11, .status = 22};
  HeaderBytes b = EncodeHeader(h);
  EXPECT_EQ(std::memcmp(b.data(), "RAMS", 4), 0);
  EXPECT_EQ(static_cast<uint8_t>(b[kOffVersion]), kVersion);
  EXPECT_EQ(static_cast<uint8_t>(b[kOffRequestId]), 0x08);
  EXPECT_EQ(static_cast<uint8_t>(b[kOffBodyBytes]), 0x11);
  auto d = DecodeHeader(View(b), kMaxBodyBytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->opcode, 6);
  EXPECT_TRUE(d->is_reply());
  EXPECT_EQ(d->request_id, 0x0102030405060708u);
  EXPECT_EQ(d->body_bytes, 0x11u);
  EXPECT_EQ(d->status, 22u);
}

// Re-seals a modified header with a correct checksum.
void Reseal(HeaderBytes& b) {
  StoreLe32(&b[kOffHeaderCrc], Crc32c(std::span(b).first(kOffHeaderCrc)));
}

TEST(WireTest, HeaderRejections) {
  const HeaderBytes good = EncodeHeader({.opcode = 3, .request_id = 9, .body_bytes = 200});
  {
    HeaderBytes b = good;
    b[0] = std::byte{'X'};
    EXPECT_EQ(DecodeHeader(View(b), kMaxBodyBytes).code(), EPROTO);
  }
  {
    HeaderBytes b = good;
    b[kOffVersion] = std::byte{2};
    Reseal(b);
    FrameHeader partial;
    EXPECT_EQ(DecodeHeader(View(b), kMaxBodyBytes, &partial).code(), EPROTONOSUPPORT);
    EXPECT_EQ(partial.request_id, 9u);
  }
  {
    HeaderBytes b = good;
    b[kOffRequestId] ^= std::byte{1};  // checksum no longer matches
    EXPECT_EQ(DecodeHeader(View(b), kMaxBodyBytes).code(), EPROTO);
  }
  {
    HeaderBytes b = good;
    StoreLe32(&b[kOffReserved], 1);
    Reseal(b);
    EXPECT_EQ(DecodeHeader(View(b), kMaxBodyBytes).code(), EPROTO);
  }
  for (uint16_t flags : {uint16_t{4}, uint16_t{kFlagReply | kFlagPush}, uint16_t{0x8000}}) {
    HeaderBytes b = good;
    StoreLe16(&b[kOffFlags], flags);
    Reseal(b);
    EXPECT_EQ(DecodeHeader(View(b), kMaxBodyBytes).code(), EPROTO) << flags;
  }
  EXPECT_EQ(DecodeHeader(View(good), kMaxBodyBytesBeforeAuth).code(), EMSGSIZE);
  EXPECT_TRUE(DecodeHeader(View(good), 200).ok());
  EXPECT_EQ(DecodeHeader(View(good), 199).code(), EMSGSIZE);
}

template <class T>
Bytes Encode(const T& v) {
  Bytes out;
  v.EncodeTo(&out);
  return out;
}

TEST(WireTest, FixedBodiesRoundTripAndRejectWrongLengths) {
  LockRequest lock{.handle = 3, .writes = 2, .offset = 64, .length = 128, .timeout_ns = -1};
  Bytes b = Encode(lock);
  EXPECT_EQ(b.size(), 32u);
  auto d = LockRequest::Decode(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->handle, 3u);
  EXPECT_EQ(d->writes, 2u);
  EXPECT_EQ(d->offset, 64u);
  EXPECT_EQ(d->length, 128u);
  EXPECT_EQ(d->timeout_ns, -1);
  EXPECT_EQ(LockRequest::Decode(std::span(b).first(31)).code(), EINVAL);
  b.push_back(std::byte{0});
  EXPECT_EQ(LockRequest::Decode(b).code(), EINVAL);

  Bytes cas = Encode(CasRequest{.handle = 1, .offset = 8, .expected = 5, .desired = 6});
  EXPECT_EQ(cas.size(), 32u);
  StoreLe32(&cas[4], 7);  // reserved
  EXPECT_EQ(CasRequest::Decode(cas).code(), EINVAL);

  EXPECT_EQ(Encode(HelloRequest{}).size(), 16u);
  EXPECT_EQ(Encode(HelloReply{}).size(), 48u);
  EXPECT_EQ(Encode(AuthRequest{}).size(), 64u);
  EXPECT_EQ(Encode(ReadRequest{}).size(), 16u);
  EXPECT_EQ(Encode(FetchAddRequest{}).size(), 24u);
  EXPECT_EQ(Encode(WaitRequest{}).size(), 24u);
  EXPECT_EQ(Encode(WakeRequest{}).size(), 16u);
  EXPECT_EQ(Encode(SegmentStatReply{}).size(), 32u);
  EXPECT_LE(Encode(AuthRequest{}).size(), kMaxBodyBytesBeforeAuth);
}

TEST(WireTest, SyncBodiesRoundTripAndRejectUnknownBits) {
  SyncRequest req{.handle = 2, .flags = kSyncTry, .offset = 64, .mutex_offset = 128,
                  .timeout_ns = 5000};
  Bytes b = Encode(req);
  ASSERT_EQ(b.size(), 32u);
  EXPECT_EQ(LoadLe64(&b[16]), 128u);  // docs/protocol.md: mutex_offset at byte 16
  auto d = SyncRequest::Decode(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->handle, 2u);
  EXPECT_EQ(d->flags, kSyncTry);
  EXPECT_EQ(d->offset, 64u);
  EXPECT_EQ(d->mutex_offset, 128u);
  EXPECT_EQ(d->timeout_ns, 5000);
  StoreLe32(&b[4], 2);  // an unknown flag
  EXPECT_EQ(SyncRequest::Decode(b).code(), EINVAL);
  EXPECT_EQ(SyncRequest::Decode(std::span(b).first(24)).code(), EINVAL);

  Bytes r = Encode(CondWaitReply{.acquired = 1, .timed_out = 1});
  ASSERT_EQ(r.size(), 8u);
  EXPECT_TRUE(CondWaitReply::Decode(r).ok());
  StoreLe32(&r[0], 2);  // not an Acquired of a mutex
  EXPECT_EQ(CondWaitReply::Decode(r).code(), EINVAL);
  EXPECT_EQ(OpcodeName(static_cast<uint8_t>(Opcode::kCondWait)), "COND_WAIT");
  EXPECT_EQ(OpcodeName(static_cast<uint8_t>(Opcode::kBarrierLeave)), "BARRIER_LEAVE");
}

TEST(WireTest, OpenRequestBoundsTheName) {
  OpenRequest open{.flags = kOpenReadOnly, .name = "matrix.a"};
  Bytes b = Encode(open);
  auto d = OpenRequest::Decode(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->name, "matrix.a");
  EXPECT_EQ(d->flags, kOpenReadOnly);
  StoreLe16(&b[4], 9);  // name longer than the body
  EXPECT_EQ(OpenRequest::Decode(b).code(), EINVAL);
  Bytes big;
  BodyWriter w(&big);
  w.U32(0);
  w.U16(64);
  w.U16(0);
  big.resize(big.size() + 64, std::byte{'a'});
  EXPECT_EQ(OpenRequest::Decode(big).code(), EINVAL);
  Bytes flags = Encode(OpenRequest{.flags = 2, .name = "x"});
  EXPECT_EQ(OpenRequest::Decode(flags).code(), EINVAL);
}

TEST(WireTest, WriteRequestCarriesData) {
  const char payload[] = "hello";
  Bytes b;
  WriteRequest{.handle = 2, .offset = 10}.EncodeFixedTo(&b);
  b.insert(b.end(), reinterpret_cast<const std::byte*>(payload),
           reinterpret_cast<const std::byte*>(payload) + 5);
  auto d = WriteRequest::Decode(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->offset, 10u);
  EXPECT_EQ(d->data.size(), 5u);
  EXPECT_EQ(WriteRequest::Decode(std::span(b).first(15)).code(), EINVAL);
}

TEST(WireTest, ServerStatRoundTripsAndBoundsCount) {
  ServerStatReply s{.uptime_ns = 5, .connections = 2};
  s.exports.push_back({.name = "a", .read_only = true, .size_bytes = 4096});
  s.exports.push_back({.name = "bb", .read_only = false, .size_bytes = 1});
  Bytes b = Encode(s);
  auto d = ServerStatReply::Decode(b);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->exports.size(), 2u);
  EXPECT_EQ(d->exports[0].name, "a");
  EXPECT_TRUE(d->exports[0].read_only);
  EXPECT_EQ(d->exports[1].size_bytes, 1u);
  StoreLe32(&b[12], 3);  // claims a third export that is not there
  EXPECT_EQ(ServerStatReply::Decode(b).code(), EINVAL);
  StoreLe32(&b[12], kMaxExportsInStat + 1);
  EXPECT_EQ(ServerStatReply::Decode(b).code(), EINVAL);
}

TEST(WireTest, EncodeFrameSetsBodyLength) {
  Bytes body = Encode(U64Reply{.value = 42});
  Bytes f = EncodeFrame({.opcode = 9, .flags = kFlagReply, .request_id = 1}, body);
  ASSERT_EQ(f.size(), kHeaderBytes + 8);
  auto h = DecodeHeader(std::span(f).first<kHeaderBytes>(), kMaxBodyBytes);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->body_bytes, 8u);
  EXPECT_EQ(U64Reply::Decode(std::span(f).subspan(kHeaderBytes))->value, 42u);
}

// Remote mapping bodies (protocol.md §8).
Bytes Page(uint8_t fill) { return Bytes(kPageBytes, std::byte{fill}); }

TEST(WireTest, PageGetRequestLayoutAndLimits) {
  PageGetRequest g{.handle = 3, .access = kAccessRead, .count = 4, .first_page = 7,
                   .have_version = 9};
  Bytes b = Encode(g);
  ASSERT_EQ(b.size(), 24u);
  EXPECT_EQ(static_cast<uint8_t>(b[4]), kAccessRead);
  EXPECT_EQ(LoadLe16(&b[6]), 4u);
  EXPECT_EQ(LoadLe64(&b[8]), 7u);
  EXPECT_EQ(LoadLe64(&b[16]), 9u);
  auto d = PageGetRequest::Decode(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->count, 4u);
  EXPECT_EQ(d->have_version, 9u);
  auto refused = [&](auto mutate) {
    Bytes c = b;
    mutate(c);
    return PageGetRequest::Decode(c).code();
  };
  EXPECT_EQ(refused([](Bytes& c) { c[4] = std::byte{3}; }), EINVAL);           // access
  EXPECT_EQ(refused([](Bytes& c) { c[5] = std::byte{1}; }), EINVAL);           // reserved
  EXPECT_EQ(refused([](Bytes& c) { StoreLe16(&c[6], 0); }), EINVAL);           // count 0
  EXPECT_EQ(refused([](Bytes& c) { StoreLe16(&c[6], kMaxPagesPerGet + 1); }), EINVAL);
  EXPECT_EQ(refused([](Bytes& c) { c[4] = std::byte{kAccessWrite}; }), EINVAL);  // write, 4 pages
  EXPECT_EQ(refused([](Bytes& c) { c.pop_back(); }), EINVAL);
  EXPECT_TRUE(PageGetRequest::Decode(Encode(PageGetRequest{.access = kAccessWrite})).ok());
}

TEST(WireTest, PageGetReplyCarriesDataOnlyWhenFlagged) {
  Bytes data = Page(0xab);
  PageGetReply r{.epoch = 77, .flags = kSegmentLostPages};
  r.grants.push_back({.page = 5, .version = 2, .flags = kGrantData, .data = data});
  r.grants.push_back({.page = 6, .version = 3, .flags = 0});  // an upgrade: no data
  Bytes b = Encode(r);
  ASSERT_EQ(b.size(), 16 + 24 + kPageBytes + 24);
  auto d = PageGetReply::Decode(b);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->epoch, 77u);
  EXPECT_EQ(d->flags, kSegmentLostPages);
  ASSERT_EQ(d->grants.size(), 2u);
  ASSERT_EQ(d->grants[0].data.size(), kPageBytes);
  EXPECT_EQ(d->grants[0].data[100], std::byte{0xab});
  EXPECT_TRUE(d->grants[1].data.empty());
  Bytes truncated(b.begin(), b.end() - 1);
  EXPECT_EQ(PageGetReply::Decode(truncated).code(), EINVAL);
  Bytes none = Encode(PageGetReply{.epoch = 1});  // no grant at all
  EXPECT_EQ(PageGetReply::Decode(none).code(), EINVAL);
  Bytes many = b;
  StoreLe32(&many[12], kMaxPagesPerGet + 1);
  EXPECT_EQ(PageGetReply::Decode(many).code(), EINVAL);
  Bytes flags = b;
  StoreLe32(&flags[8], 2);
  EXPECT_EQ(PageGetReply::Decode(flags).code(), EINVAL);
}

TEST(WireTest, PagePutAndDropNeedWholePages) {
  Bytes data = Page(1);
  Bytes put = Encode(PagePutRequest{.handle = 1, .page = 2, .version = 3, .data = data});
  ASSERT_EQ(put.size(), 24 + kPageBytes);
  auto p = PagePutRequest::Decode(put);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->version, 3u);
  EXPECT_EQ(PagePutRequest::Decode(std::span(put).first(24)).code(), EINVAL);
  Bytes clean = Encode(PageDropRequest{.handle = 1, .page = 2, .version = 3});
  ASSERT_EQ(clean.size(), 24u);
  EXPECT_TRUE(PageDropRequest::Decode(clean).ok());
  Bytes dirty = Encode(PageDropRequest{.handle = 1, .flags = kPageDirty, .page = 2, .data = data});
  ASSERT_EQ(dirty.size(), 24 + kPageBytes);
  EXPECT_TRUE(PageDropRequest::Decode(dirty).ok());
  StoreLe32(&clean[4], kPageDirty);  // claims data that is not there
  EXPECT_EQ(PageDropRequest::Decode(clean).code(), EINVAL);
  StoreLe32(&dirty[4], 0);  // data without the flag
  EXPECT_EQ(PageDropRequest::Decode(dirty).code(), EINVAL);
}

TEST(WireTest, OwnerProbesKeepTheirLimits) {
  Bytes alive = Encode(OwnerAliveRequest{.handle = 3, .host_index = 255, .tid = kMaxOwnerTid});
  ASSERT_EQ(alive.size(), 16u);
  EXPECT_EQ(OwnerAliveRequest::Decode(alive)->tid, kMaxOwnerTid);
  const std::pair<size_t, uint32_t> bad_alive[] = {
      {4, 0}, {4, 256}, {8, 0}, {8, kMaxOwnerTid + 1}, {12, 1}};  // index, tid, reserved
  for (const auto& [at, value] : bad_alive) {
    Bytes b = alive;
    StoreLe32(&b[at], value);
    EXPECT_EQ(OwnerAliveRequest::Decode(b).code(), EINVAL) << at << " " << value;
  }
  Bytes probe = Encode(OwnerProbeRequest{.handle = 3, .tid = 7, .local_domain = 0x77});
  ASSERT_EQ(probe.size(), 16u);
  EXPECT_EQ(OwnerProbeRequest::Decode(probe)->local_domain, 0x77u);
  Bytes no_tid = probe;
  StoreLe32(&no_tid[4], 0);
  EXPECT_EQ(OwnerProbeRequest::Decode(no_tid).code(), EINVAL);
  Bytes no_domain = probe;
  std::memset(no_domain.data() + 8, 0, 8);
  EXPECT_EQ(OwnerProbeRequest::Decode(no_domain).code(), EINVAL);
  Bytes state = Encode(OwnerStateReply{.state = kOwnerDead});
  ASSERT_EQ(state.size(), 8u);
  EXPECT_EQ(OwnerStateReply::Decode(state)->state, kOwnerDead);
  for (const std::pair<size_t, uint32_t>& bad : {std::pair<size_t, uint32_t>{0, 3}, {4, 1}}) {
    Bytes b = state;
    StoreLe32(&b[bad.first], bad.second);
    EXPECT_EQ(OwnerStateReply::Decode(b).code(), EINVAL) << bad.first;
  }
  EXPECT_EQ(OpcodeName(static_cast<uint8_t>(Opcode::kOwnerAlive)), "OWNER_ALIVE");
  EXPECT_EQ(OpcodeName(static_cast<uint8_t>(Opcode::kOwnerProbe)), "OWNER_PROBE");
}

TEST(WireTest, OwnerIndexesAndHostStatesKeepTheirLimits) {
  Bytes req = Encode(MapOwnerRequest{.handle = 3, .local_domain = 0x55});
  ASSERT_EQ(req.size(), 16u);
  EXPECT_EQ(MapOwnerRequest::Decode(req)->local_domain, 0x55u);
  StoreLe32(&req[4], 1);  // reserved
  EXPECT_EQ(MapOwnerRequest::Decode(req).code(), EINVAL);
  Bytes zero = Encode(MapOwnerRequest{.handle = 3, .local_domain = 1});
  std::memset(zero.data() + 8, 0, 8);
  EXPECT_EQ(MapOwnerRequest::Decode(zero).code(), EINVAL);
  Bytes reply = Encode(MapOwnerReply{.domain = 99, .host_index = 255});
  ASSERT_EQ(reply.size(), 16u);
  EXPECT_EQ(MapOwnerReply::Decode(reply)->host_index, 255u);
  for (uint32_t bad : {0u, 256u}) {
    Bytes b = reply;
    StoreLe32(&b[8], bad);
    EXPECT_EQ(MapOwnerReply::Decode(b).code(), EINVAL) << bad;
  }
  Bytes local = Encode(MapOwnerReply{.domain = 99, .host_index = 1});
  std::memset(local.data(), 0, 8);
  local[0] = std::byte{1};  // a local domain value
  EXPECT_EQ(MapOwnerReply::Decode(local).code(), EINVAL);
  MapHostsReply hosts{.domain = 7};
  hosts.live[0] = 0b0110;
  hosts.dead[3] = uint64_t{1} << 63;
  Bytes h = Encode(hosts);
  ASSERT_EQ(h.size(), 72u);
  auto decoded = MapHostsReply::Decode(h);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->live, hosts.live);
  EXPECT_EQ(decoded->dead, hosts.dead);
  hosts.dead[0] = 0b0100;  // index 2 both live and dead
  EXPECT_EQ(MapHostsReply::Decode(Encode(hosts)).code(), EINVAL);
  hosts.dead[0] = 0;
  hosts.live[0] = 1;  // index 0 is the home, never a host
  EXPECT_EQ(MapHostsReply::Decode(Encode(hosts)).code(), EINVAL);
  EXPECT_EQ(MapHostsReply::Decode(std::span(h).first(64)).code(), EINVAL);
}

TEST(WireTest, RecallAndItsAcknowledgement) {
  Bytes req = Encode(RecallRequest{.handle = 4, .page = 8, .version = 2});
  ASSERT_EQ(req.size(), 24u);
  EXPECT_EQ(RecallRequest::Decode(req)->page, 8u);
  StoreLe32(&req[4], 1);
  EXPECT_EQ(RecallRequest::Decode(req).code(), EINVAL);
  Bytes data = Page(7);
  Bytes ack = Encode(RecallReply{.flags = kPageDirty, .data = data});
  ASSERT_EQ(ack.size(), 8 + kPageBytes);
  EXPECT_EQ(RecallReply::Decode(ack)->data[0], std::byte{7});
  EXPECT_EQ(Encode(RecallReply{}).size(), 8u);
  StoreLe32(&ack[0], 3);
  EXPECT_EQ(RecallReply::Decode(ack).code(), EINVAL);
  EXPECT_EQ(OpcodeName(static_cast<uint8_t>(Opcode::kInvalidate)), "INVALIDATE");
  EXPECT_EQ(OpcodeName(static_cast<uint8_t>(Opcode::kPageGet)), "PAGE_GET");
}

TEST(WireMappingStatTest, FixedLayoutFlagsAndReservedChecked) {
  Bytes b = Encode(MappingStatReply{.flags = kMappingStatPager, .epoch = 9, .pages_lost = 3,
                                    .read_ahead = 7, .resident_pages = 5});
  ASSERT_EQ(b.size(), 200u);
  EXPECT_EQ(LoadLe64(&b[8 + 14 * 8]), 7u);  // read_ahead follows fetches
  auto r = MappingStatReply::Decode(b);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->epoch, 9u);
  EXPECT_EQ(r->pages_lost, 3u);
  EXPECT_EQ(r->read_ahead, 7u);
  EXPECT_EQ(r->resident_pages, 5u);
  EXPECT_EQ(MappingStatReply::Decode(std::span(b).first(199)).code(), EINVAL);
  Bytes bad = b;
  StoreLe32(&bad[0], 2);  // an unknown flag
  EXPECT_EQ(MappingStatReply::Decode(bad).code(), EINVAL);
  bad = b;
  StoreLe32(&bad[4], 1);  // reserved
  EXPECT_EQ(MappingStatReply::Decode(bad).code(), EINVAL);
  EXPECT_EQ(OpcodeName(static_cast<uint8_t>(Opcode::kMappingStat)), "MAPPING_STAT");
}

}  // namespace
}  // namespace rams::wire
