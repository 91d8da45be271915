// SPDX-License-Identifier: MIT
// ramsd as the home of remote mappings (docs/protocol.md §8,
// docs/remote-mapping.md), spoken to frame by frame by raw "hosts": grants
// with read-ahead, downgrades and invalidations answered with dirty data,
// upgrades without data, a silent host cut off while the others proceed,
// pages lost with their host, and every refusal of bad input.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "ramsd_process.h"
#include "raw_client.h"
#include "wire/messages.h"

namespace rams::test {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kPage = wire::kPageBytes;

// A raw host: HELLO asking for mapping, then OPEN of the segment.
class Host {
 public:
  Host(uint16_t port, const std::string& segment, bool mapping = true, bool read_only = false,
       uint64_t more_features = 0)
      : c_(port) {
    c_.SendMsg(wire::Opcode::kHello, 1,
               wire::HelloRequest{.features = wire::kAllFeatures | more_features |
                                              (mapping ? wire::kFeatureMapping : 0)});
    auto hello = c_.Receive();
    EXPECT_TRUE(hello && hello->first.status == 0);
    if (hello) {
      auto r = wire::HelloReply::Decode(hello->second);
      EXPECT_TRUE(r.ok());
      granted_ = r.ok() && (r->features & wire::kFeatureMapping) != 0;
    }
    c_.SendMsg(wire::Opcode::kOpen, 2,
               wire::OpenRequest{.flags = read_only ? wire::kOpenReadOnly : 0u, .name = segment});
    auto open = c_.Receive();
    EXPECT_TRUE(open && open->first.status == 0);
    if (open) handle_ = wire::OpenReply::Decode(open->second)->handle;
  }
  RawClient& raw() { return c_; }
  bool granted() const { return granted_; }
  uint32_t handle() const { return handle_; }

  void SendGet(uint64_t id, uint64_t first, uint16_t count, bool write, uint64_t have = 0) {
    c_.SendMsg(wire::Opcode::kPageGet, id,
               wire::PageGetRequest{.handle = handle_,
                                    .access = write ? wire::kAccessWrite : wire::kAccessRead,
                                    .count = count, .first_page = first, .have_version = have});
  }
  // The next frame, which must be the reply to request `id`.
  std::pair<wire::FrameHeader, wire::Bytes> Expect(uint64_t id) {
    auto f = c_.Receive();
    EXPECT_TRUE(f.has_value());
    if (!f) return {};
    EXPECT_EQ(f->first.request_id, id) << "opcode " << int(f->first.opcode);
    return *f;
  }
  wire::PageGetReply Grant(const wire::Bytes& body) {
    auto r = wire::PageGetReply::Decode(body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : wire::PageGetReply{};
  }
  // Takes `page` exclusively (request `id`); its version, 0 on failure.
  uint64_t TakeExclusive(uint64_t id, uint64_t page) {
    SendGet(id, page, 1, true);
    auto [h, body] = Expect(id);
    EXPECT_EQ(h.status, 0u);
    if (h.status != 0) return 0;
    const wire::PageGetReply g = Grant(body);
    return g.grants.empty() ? 0 : g.grants[0].version;
  }
  // Reads the next frame, which must be a recall `op`, and answers it.
  void AnswerNext(wire::Opcode op, uint8_t fill) {
    auto recall = c_.Receive();
    ASSERT_TRUE(recall.has_value());
    EXPECT_EQ(recall->first.opcode, static_cast<uint8_t>(op));
    Answer(recall->first, fill);
  }
  // Answers a recall frame, dirty with `fill` bytes when fill != 0.
  void Answer(const wire::FrameHeader& recall, uint8_t fill) {
    wire::Bytes data(kPage, std::byte{fill});
    wire::RecallReply reply{.flags = fill != 0 ? wire::kPageDirty : 0u};
    if (fill != 0) reply.data = data;
    wire::Bytes body;
    reply.EncodeTo(&body);
    c_.SendBytes(wire::EncodeFrame({.opcode = recall.opcode, .flags = wire::kFlagReply,
                                    .request_id = recall.request_id},
                                   body));
  }

 private:
  RawClient c_;
  bool granted_ = false;
  uint32_t handle_ = 0;
};

std::string HttpMetrics(uint16_t port) { return HttpResponse(port, "/metrics"); }

uint64_t Metric(const std::string& page, const std::string& name) {
  return MetricValue(page, name);
}

class MappingHomeTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    // Page i holds the byte i + 1; the last page is partial.
    std::vector<std::byte> init(seg_size_);
    for (size_t i = 0; i < init.size(); ++i) init[i] = std::byte(i / kPage + 1);
    ASSERT_TRUE(seg_.segment().Write(0, init).ok());
    std::vector<std::string> args = {"--export", seg_.name(), "--export", ro_.name() + ":ro",
                                     "--http", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    ramsd_.Start(args);
  }
  const uint64_t seg_size_ = 5 * kPage + 100;
  TempSegment seg_{5 * kPage + 100, "maphome"};
  TempSegment ro_{kPage, "maphome-ro"};
  RamsdProcess ramsd_;
};

TEST_F(MappingHomeTest, ReadGrantsWithReadAheadCarryTheHomesDataAndEpoch) {
  Start();
  Host a(ramsd_.port(), seg_.name());
  ASSERT_TRUE(a.granted());
  a.SendGet(10, 2, 4, false);
  auto [h, body] = a.Expect(10);
  ASSERT_EQ(h.status, 0u);
  wire::PageGetReply g = a.Grant(body);
  EXPECT_NE(g.epoch, 0u);
  ASSERT_EQ(g.grants.size(), 4u);  // pages 2..5, the last one partial
  for (size_t i = 0; i < g.grants.size(); ++i) {
    EXPECT_EQ(g.grants[i].page, 2 + i);
    ASSERT_EQ(g.grants[i].flags, wire::kGrantData);
    EXPECT_EQ(g.grants[i].data[0], std::byte(3 + i));
  }
  // The last page is zero-padded past the segment's end.
  EXPECT_EQ(g.grants[3].data[99], std::byte(6));
  EXPECT_EQ(g.grants[3].data[100], std::byte(0));
  EXPECT_GE(Metric(HttpMetrics(ramsd_.http_port()), "ramsd_mapping_pages_granted_total"), 4u);
}

// Pages granted ahead make the host a sharer like the page it asked for: a
// write on another host invalidates each of them before it is granted.
TEST_F(MappingHomeTest, AWriteElsewhereInvalidatesThePagesGrantedAhead) {
  Start();
  Host a(ramsd_.port(), seg_.name());
  Host b(ramsd_.port(), seg_.name());
  a.SendGet(10, 0, 4, false);
  auto [ha, ga] = a.Expect(10);
  ASSERT_EQ(ha.status, 0u);
  ASSERT_EQ(a.Grant(ga).grants.size(), 4u);
  for (uint64_t page : {3u, 1u}) {
    b.SendGet(20 + page, page, 1, true);
    auto recall = a.raw().Receive();
    ASSERT_TRUE(recall.has_value());
    EXPECT_EQ(recall->first.opcode, static_cast<uint8_t>(wire::Opcode::kInvalidate));
    auto rr = wire::RecallRequest::Decode(recall->second);
    ASSERT_TRUE(rr.ok());
    EXPECT_EQ(rr->page, page);
    a.Answer(recall->first, 0);
    auto [hb, gb] = b.Expect(20 + page);
    ASSERT_EQ(hb.status, 0u);
    EXPECT_EQ(b.Grant(gb).grants.at(0).page, page);
  }
  EXPECT_GE(Metric(HttpMetrics(ramsd_.http_port()), "ramsd_mapping_invalidations_total"), 2u);
}

TEST_F(MappingHomeTest, ADowngradeBringsTheWritersDataAndAnInvalidateLetsTheOtherUpgrade) {
  Start();
  Host a(ramsd_.port(), seg_.name());
  Host b(ramsd_.port(), seg_.name());
  a.SendGet(10, 0, 1, true);
  auto [ha, ga] = a.Expect(10);
  ASSERT_EQ(ha.status, 0u);
  const uint64_t va = a.Grant(ga).grants.at(0).version;

  // B reads: A is told to downgrade and answers with what it wrote.
  b.SendGet(20, 0, 1, false);
  auto recall = a.raw().Receive();
  ASSERT_TRUE(recall.has_value());
  EXPECT_EQ(recall->first.opcode, static_cast<uint8_t>(wire::Opcode::kDowngrade));
  EXPECT_NE(recall->first.request_id & wire::kServerRequestIdBit, 0u);
  EXPECT_FALSE(recall->first.is_reply());
  auto rr = wire::RecallRequest::Decode(recall->second);
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(rr->handle, a.handle());
  EXPECT_EQ(rr->page, 0u);
  EXPECT_EQ(rr->version, va);
  a.Answer(recall->first, 0xAB);
  auto [hb, gb] = b.Expect(20);
  ASSERT_EQ(hb.status, 0u);
  wire::PageGetReply grant_b = b.Grant(gb);
  ASSERT_EQ(grant_b.grants.size(), 1u);
  EXPECT_EQ(grant_b.grants[0].data[0], std::byte{0xAB});
  // The home stored it too.
  EXPECT_EQ(seg_.Bytes()[0], std::byte{0xAB});

  // B writes the page it holds: A (shared) is invalidated, B is upgraded
  // without data since its version is current.
  b.SendGet(21, 0, 1, true, grant_b.grants[0].version);
  a.AnswerNext(wire::Opcode::kInvalidate, 0);
  auto [hu, gu] = b.Expect(21);
  ASSERT_EQ(hu.status, 0u);
  wire::PageGetReply up = b.Grant(gu);
  ASSERT_EQ(up.grants.size(), 1u);
  EXPECT_EQ(up.grants[0].flags, 0u) << "an upgrade carries no data";

  // B writes back: the home has B's data, B keeps the page shared.
  wire::Bytes data(kPage, std::byte{0xCD});
  b.raw().SendMsg(wire::Opcode::kPagePut, 22,
                  wire::PagePutRequest{.handle = b.handle(), .page = 0,
                                       .version = up.grants[0].version, .data = data});
  auto [hp, bp] = b.Expect(22);
  EXPECT_EQ(hp.status, 0u);
  EXPECT_EQ(seg_.Bytes()[0], std::byte{0xCD});
  const std::string m = HttpMetrics(ramsd_.http_port());
  EXPECT_GE(Metric(m, "ramsd_mapping_downgrades_total"), 1u);
  EXPECT_GE(Metric(m, "ramsd_mapping_invalidations_total"), 1u);
  EXPECT_GE(Metric(m, "ramsd_mapping_upgrades_total"), 1u);
}

// One-sided READ, WRITE and CAS on a mapped segment recall the hosts' copies
// first: READ sees what the exclusive holder wrote, WRITE invalidates the
// sharers and bumps the version, CAS works on the holder's data.
TEST_F(MappingHomeTest, OneSidedOperationsRecallTheHostsCopiesFirst) {
  Start();
  Host a(ramsd_.port(), seg_.name());
  Host plain(ramsd_.port(), seg_.name(), /*mapping=*/false);
  a.SendGet(10, 1, 1, true);
  auto [hg, g] = a.Expect(10);
  ASSERT_EQ(hg.status, 0u);
  const uint64_t v1 = a.Grant(g).grants.at(0).version;

  plain.raw().SendMsg(wire::Opcode::kRead, 30,
                      wire::ReadRequest{.handle = plain.handle(), .length = 16,
                                        .offset = kPage - 8});
  a.AnswerNext(wire::Opcode::kDowngrade, 0xCD);
  auto [hr, read] = plain.Expect(30);
  ASSERT_EQ(hr.status, 0u);
  ASSERT_EQ(read.size(), 16u);
  EXPECT_EQ(read[0], std::byte{1});    // page 0, never held
  EXPECT_EQ(read[8], std::byte{0xCD});  // page 1, as host A wrote it

  const std::vector<std::byte> bytes(4, std::byte{0x42});
  plain.raw().SendMsg(wire::Opcode::kWrite, 31,
                      wire::WriteRequest{.handle = plain.handle(), .offset = kPage, .data = bytes});
  a.AnswerNext(wire::Opcode::kInvalidate, 0);
  ASSERT_EQ(plain.Expect(31).first.status, 0u);
  a.SendGet(11, 1, 1, false, v1);
  auto [hg2, g2] = a.Expect(11);
  ASSERT_EQ(hg2.status, 0u);
  wire::PageGetReply again = a.Grant(g2);
  ASSERT_TRUE(again.grants.at(0).flags & wire::kGrantData);
  EXPECT_GT(again.grants[0].version, v1);
  EXPECT_EQ(again.grants[0].data[0], std::byte{0x42});
  EXPECT_EQ(again.grants[0].data[4], std::byte{0xCD});

  a.SendGet(12, 2, 1, true);
  ASSERT_EQ(a.Expect(12).first.status, 0u);
  plain.raw().SendMsg(wire::Opcode::kCas, 32,
                      wire::CasRequest{.handle = plain.handle(), .offset = 2 * kPage,
                                       .expected = 0x0505050505050505, .desired = 7});
  a.AnswerNext(wire::Opcode::kInvalidate, 0x05);
  auto [hc, cas] = plain.Expect(32);
  ASSERT_EQ(hc.status, 0u);
  auto prev = wire::U64Reply::Decode(cas);
  ASSERT_TRUE(prev.ok());
  EXPECT_EQ(prev->value, 0x0505050505050505u);
  std::vector<std::byte> home(8);
  ASSERT_TRUE(seg_.segment().Read(2 * kPage, home).ok());
  EXPECT_EQ(home[0], std::byte{7});
}

// WAIT on a mapped segment compares the word with its current value: the
// exclusive copy of its page is downgraded first (a host's store to it makes
// the WAIT answer EAGAIN at once, where the home's own copy would have let
// it park). A WAKE from the host then ends a WAIT parked on the home's copy.
// The sync agent's opcodes are refused there (EOPNOTSUPP): the agent would
// run the object on the home's copy while a host holds its page.
TEST_F(MappingHomeTest, WaitComparesTheCurrentCopyAndSyncAgentOpsAreRefused) {
  Start();
  Host a(ramsd_.port(), seg_.name());
  Host plain(ramsd_.port(), seg_.name(), /*mapping=*/false);
  const uint64_t v1 = a.TakeExclusive(10, 1);
  ASSERT_NE(v1, 0u);

  // Page 1 holds 0x02 bytes at the home; host A wrote 0xCD into its copy.
  plain.raw().SendMsg(wire::Opcode::kWait, 40,
                      wire::WaitRequest{.handle = plain.handle(), .expected = 0x02020202,
                                        .offset = kPage, .timeout_ns = 5'000'000'000});
  a.AnswerNext(wire::Opcode::kDowngrade, 0xCD);
  EXPECT_EQ(plain.Expect(40).first.status, static_cast<uint32_t>(EAGAIN));

  // Now the home has 0xCD: a WAIT for it parks, A takes the page back (an
  // upgrade: no data), changes it in its copy and wakes.
  plain.raw().SendMsg(wire::Opcode::kWait, 41,
                      wire::WaitRequest{.handle = plain.handle(), .expected = 0xCDCDCDCD,
                                        .offset = kPage, .timeout_ns = 5'000'000'000});
  EXPECT_EQ(plain.Expect(41).first.status, 0u);  // parked
  a.SendGet(11, 1, 1, true, v1);
  auto up = a.raw().Receive();
  ASSERT_TRUE(up.has_value());
  ASSERT_EQ(up->first.status, 0u);
  a.raw().SendMsg(wire::Opcode::kWake, 12,
                  wire::WakeRequest{.handle = a.handle(), .count = 1, .offset = kPage});
  EXPECT_EQ(a.Expect(12).first.status, 0u);
  auto woken = plain.raw().Receive();  // the WAKEUP push, well within the 5 s timeout
  ASSERT_TRUE(woken.has_value());
  EXPECT_EQ(woken->first.opcode, static_cast<uint8_t>(wire::Opcode::kWakeup));
  EXPECT_EQ(woken->first.request_id, 41u);
  auto result = wire::U32Reply::Decode(woken->second);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->value, 0u);  // woken, not timed out

  for (wire::Opcode op : {wire::Opcode::kMutexLock, wire::Opcode::kCondSignal,
                          wire::Opcode::kBarrierJoin}) {
    plain.raw().SendMsg(op, 50, wire::SyncRequest{.handle = plain.handle(), .offset = 0});
    auto [hs, body] = plain.Expect(50);
    EXPECT_EQ(hs.status, static_cast<uint32_t>(EOPNOTSUPP)) << wire::OpcodeName(uint8_t(op));
  }
}

TEST_F(MappingHomeTest, AHostThatNeverAcknowledgesIsCutOffAndTheOthersProceed) {
  Start({"--recall-timeout-ms", "200"});
  Host a(ramsd_.port(), seg_.name());
  Host b(ramsd_.port(), seg_.name());
  a.SendGet(10, 1, 1, true);
  ASSERT_EQ(a.Expect(10).first.status, 0u);
  const auto start = std::chrono::steady_clock::now();
  b.SendGet(20, 1, 1, true);
  // A gets the INVALIDATE and stays silent.
  auto recall = a.raw().Receive();
  ASSERT_TRUE(recall.has_value());
  EXPECT_EQ(recall->first.opcode, static_cast<uint8_t>(wire::Opcode::kInvalidate));
  auto [hb, gb] = b.Expect(20);
  ASSERT_EQ(hb.status, 0u);
  wire::PageGetReply g = b.Grant(gb);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  // A's exclusive copy was lost: B gets the home's last copy, flagged.
  EXPECT_EQ(g.flags, wire::kSegmentLostPages);
  EXPECT_EQ(g.grants.at(0).data[0], std::byte{2});
  EXPECT_TRUE(a.raw().ClosedByServer());
  const std::string m = HttpMetrics(ramsd_.http_port());
  EXPECT_EQ(Metric(m, "ramsd_mapping_hosts_cut_off_total"), 1u);
  EXPECT_EQ(Metric(m, "ramsd_mapping_pages_lost_total"), 1u);
}

TEST_F(MappingHomeTest, AHostGoneWhileExclusiveLosesItsCopyAndTheLossIsFlaggedOnce) {
  Start();
  Host b(ramsd_.port(), seg_.name());
  // B has asked before the loss: the flag is news "since its previous PAGE_GET".
  b.SendGet(5, 0, 1, false);
  ASSERT_EQ(b.Expect(5).first.status, 0u);
  {
    Host a(ramsd_.port(), seg_.name());
    a.SendGet(10, 3, 1, true);
    ASSERT_EQ(a.Expect(10).first.status, 0u);
  }  // A's connection closes while it holds page 3 exclusively
  wire::PageGetReply g;
  wire::Bytes body;  // g's grants point into it
  for (int i = 0; i < 100; ++i) {  // the close reaches ramsd asynchronously
    b.SendGet(20 + i, 3, 1, false);
    auto reply = b.Expect(20 + i);
    ASSERT_EQ(reply.first.status, 0u);
    body = std::move(reply.second);
    g = b.Grant(body);
    if (g.flags != 0) break;
    b.raw().SendMsg(wire::Opcode::kPageDrop, 500 + i,
                    wire::PageDropRequest{.handle = b.handle(), .page = 3,
                                          .version = g.grants.at(0).version});
    ASSERT_EQ(b.Expect(500 + i).first.status, 0u);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(g.flags, wire::kSegmentLostPages);
  EXPECT_EQ(g.grants.at(0).data[0], std::byte{4});
  b.SendGet(200, 3, 1, false);
  auto [h2, body2] = b.Expect(200);
  EXPECT_EQ(b.Grant(body2).flags, 0u) << "flagged once per session";
  EXPECT_EQ(Metric(HttpMetrics(ramsd_.http_port()), "ramsd_mapping_pages_lost_total"), 1u);
}

TEST_F(MappingHomeTest, BadRequestsAreRefusedAndChangeNothing) {
  Start();
  {  // Without the feature bit: EOPNOTSUPP, the connection stays.
    Host plain(ramsd_.port(), seg_.name(), /*mapping=*/false);
    EXPECT_FALSE(plain.granted());
    plain.SendGet(10, 0, 1, false);
    EXPECT_EQ(plain.Expect(10).first.status, static_cast<uint32_t>(EOPNOTSUPP));
    plain.raw().Send(wire::Opcode::kPing, 11, {});
    EXPECT_EQ(plain.Expect(11).first.status, 0u);
  }
  Host a(ramsd_.port(), seg_.name());
  a.raw().SendMsg(wire::Opcode::kPageGet, 10,
                  wire::PageGetRequest{.handle = 99, .access = wire::kAccessRead});
  EXPECT_EQ(a.Expect(10).first.status, static_cast<uint32_t>(EBADF));
  a.SendGet(11, 6, 1, false);  // past the last page (5)
  EXPECT_EQ(a.Expect(11).first.status, static_cast<uint32_t>(EINVAL));
  a.SendGet(12, 4, 3, false);  // runs past the end
  EXPECT_EQ(a.Expect(12).first.status, static_cast<uint32_t>(EINVAL));
  a.SendGet(16, 0, wire::kMaxPagesPerGet + 1, false);  // longer than a PAGE_GET may ask
  EXPECT_EQ(a.Expect(16).first.status, static_cast<uint32_t>(EINVAL));
  a.SendGet(17, 0, 2, true);  // read-ahead is for reads only
  EXPECT_EQ(a.Expect(17).first.status, static_cast<uint32_t>(EINVAL));
  a.SendGet(13, 0, 1, false, 1000);  // a version the home never had
  EXPECT_EQ(a.Expect(13).first.status, static_cast<uint32_t>(EINVAL));
  wire::Bytes data(kPage, std::byte{0x77});
  a.raw().SendMsg(wire::Opcode::kPagePut, 14,
                  wire::PagePutRequest{.handle = a.handle(), .page = 0, .version = 0, .data = data});
  EXPECT_EQ(a.Expect(14).first.status, static_cast<uint32_t>(EPERM));
  // A layout break (count 0) is EINVAL too.
  wire::Bytes body;
  wire::PageGetRequest{.handle = a.handle(), .count = 1}.EncodeTo(&body);
  body[6] = std::byte{0};
  body[7] = std::byte{0};
  a.raw().Send(wire::Opcode::kPageGet, 15, body);
  EXPECT_EQ(a.Expect(15).first.status, static_cast<uint32_t>(EINVAL));
  EXPECT_NE(seg_.Bytes()[0], std::byte{0x77});

  Host ro(ramsd_.port(), ro_.name(), true, /*read_only=*/true);
  ro.SendGet(10, 0, 1, true);
  EXPECT_EQ(ro.Expect(10).first.status, static_cast<uint32_t>(EROFS));
  ro.SendGet(11, 0, 1, false);
  EXPECT_EQ(ro.Expect(11).first.status, 0u);

  // A reply to a request the server never sent: EPROTO, closed.
  wire::Bytes ack;
  wire::RecallReply{}.EncodeTo(&ack);
  a.raw().SendBytes(wire::EncodeFrame({.opcode = static_cast<uint8_t>(wire::Opcode::kInvalidate),
                                       .flags = wire::kFlagReply,
                                       .request_id = wire::kServerRequestIdBit | 5},
                                      ack));
  EXPECT_TRUE(a.raw().ClosedByServer());
  // A client request in the server's id range: EPROTO, closed.
  Host c(ramsd_.port(), seg_.name());
  c.raw().Send(wire::Opcode::kPing, wire::kServerRequestIdBit | 1, {});
  EXPECT_EQ(c.raw().NextStatus(), EPROTO);
  EXPECT_TRUE(c.raw().ClosedByServer());
}

// Owners across hosts: MAP_OWNER hands each (host, PID namespace) its own
// index in the segment's mapping domain, the same one when asked again;
// MAP_HOSTS (on any session with the segment open) reports the index live,
// and dead once its session ends; bad requests are refused.
// MAP_OWNER and MAP_HOSTS on `h`'s session, expected to succeed.
wire::MapOwnerReply AskOwner(Host& h, uint64_t id, uint64_t local_domain) {
  h.raw().SendMsg(wire::Opcode::kMapOwner, id,
                  wire::MapOwnerRequest{.handle = h.handle(), .local_domain = local_domain});
  auto f = h.Expect(id);
  EXPECT_EQ(f.first.status, 0);
  auto r = wire::MapOwnerReply::Decode(f.second);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : wire::MapOwnerReply{};
}
wire::MapHostsReply AskHosts(Host& h, uint64_t id) {
  h.raw().SendMsg(wire::Opcode::kMapHosts, id, wire::HandleRequest{.handle = h.handle()});
  auto f = h.Expect(id);
  EXPECT_EQ(f.first.status, 0);
  auto r = wire::MapHostsReply::Decode(f.second);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : wire::MapHostsReply{};
}
bool Bit(const std::array<uint64_t, 4>& bits, uint32_t i) {
  return ((bits[i / 64] >> (i % 64)) & 1) != 0;
}

TEST_F(MappingHomeTest, OwnerIndexesNameHostsAndDieWithTheirSession) {
  Start();
  Host plain(ramsd_.port(), seg_.name(), /*mapping=*/false);
  EXPECT_EQ(AskHosts(plain, 10).domain, 0u);  // no host maps it yet: nothing known
  Host a(ramsd_.port(), seg_.name());
  const wire::MapOwnerReply a1 = AskOwner(a, 11, 0x1234);
  EXPECT_GT(a1.domain, 1u);
  EXPECT_GE(a1.host_index, 1u);
  EXPECT_EQ(AskOwner(a, 12, 0x1234).host_index, a1.host_index);  // asked again: the same
  const wire::MapOwnerReply a2 = AskOwner(a, 13, 0x5678);       // another PID namespace
  EXPECT_EQ(a2.domain, a1.domain);
  EXPECT_NE(a2.host_index, a1.host_index);
  uint32_t b_index = 0;
  {
    Host b(ramsd_.port(), seg_.name());
    const wire::MapOwnerReply b1 = AskOwner(b, 14, 0x1234);  // another host, same namespace id
    EXPECT_EQ(b1.domain, a1.domain);
    EXPECT_NE(b1.host_index, a1.host_index);
    EXPECT_NE(b1.host_index, a2.host_index);
    b_index = b1.host_index;
    const wire::MapHostsReply live = AskHosts(plain, 15);
    EXPECT_EQ(live.domain, a1.domain);
    EXPECT_TRUE(Bit(live.live, a1.host_index) && Bit(live.live, a2.host_index) &&
                Bit(live.live, b_index));
    EXPECT_FALSE(Bit(live.dead, b_index));
  }
  // b's session ended: its index is dead, a's are still live.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  wire::MapHostsReply after;
  do {
    after = AskHosts(plain, 16);
  } while (!Bit(after.dead, b_index) && std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(Bit(after.dead, b_index));
  EXPECT_FALSE(Bit(after.live, b_index));
  EXPECT_TRUE(Bit(after.live, a1.host_index) && !Bit(after.dead, a1.host_index));
  // Refusals: MAP_OWNER needs the mapping feature, a known handle and a
  // non-zero local domain; the connection stays open.
  plain.raw().SendMsg(wire::Opcode::kMapOwner, 17,
                      wire::MapOwnerRequest{.handle = plain.handle(), .local_domain = 1});
  EXPECT_EQ(plain.Expect(17).first.status, EOPNOTSUPP);
  a.raw().SendMsg(wire::Opcode::kMapOwner, 18,
                  wire::MapOwnerRequest{.handle = a.handle() + 100, .local_domain = 1});
  EXPECT_EQ(a.Expect(18).first.status, EBADF);
  wire::Bytes zero_domain;
  wire::MapOwnerRequest{.handle = a.handle(), .local_domain = 1}.EncodeTo(&zero_domain);
  std::memset(zero_domain.data() + 8, 0, 8);
  a.raw().SendBytes(wire::EncodeFrame(
      {.opcode = static_cast<uint8_t>(wire::Opcode::kMapOwner), .request_id = 19}, zero_domain));
  EXPECT_EQ(a.Expect(19).first.status, EINVAL);
  // At most kMaxOwnerIndexesPerSession per session.
  int refused = 0;
  for (uint64_t d = 0; d < wire::kMaxOwnerIndexesPerSession + 1; ++d) {
    a.raw().SendMsg(wire::Opcode::kMapOwner, 100 + d,
                    wire::MapOwnerRequest{.handle = a.handle(), .local_domain = 0x9000 + d});
    refused += a.Expect(100 + d).first.status == ENOSPC;
  }
  EXPECT_EQ(refused, 3);  // two of the 16 were taken above
  EXPECT_EQ(AskHosts(a, 200).domain, a1.domain);
}

// The mapping domain is the segment's, kept across a restart of the home,
// so that sync objects made in the mapping before it stay usable; the new
// directory knows none of the earlier host indexes and reports every index
// it has not handed out dead (their owners lost their mappings with the old
// directory), and it hands out indexes from another place than the first.
TEST_F(MappingHomeTest, TheDomainOutlivesARestartAndEarlierIndexesAreDead) {
  Start();
  uint64_t domain = 0;
  uint32_t before = 0;
  uint64_t epoch = 0;
  {
    Host a(ramsd_.port(), seg_.name());
    const wire::MapOwnerReply r = AskOwner(a, 11, 0x1234);
    domain = r.domain;
    before = r.host_index;
    const wire::MapHostsReply states = AskHosts(a, 12);
    EXPECT_TRUE(Bit(states.live, before));
    for (uint32_t i = 1; i <= wire::kMaxOwnerHosts; ++i) {
      EXPECT_EQ(Bit(states.dead, i), i != before) << i;  // never given out here: dead
    }
    a.SendGet(13, 0, 1, false);
    epoch = a.Grant(a.Expect(13).second).epoch;
  }
  ramsd_.Stop();
  ramsd_.Start({"--export", seg_.name(), "--http", "127.0.0.1:0"});
  Host b(ramsd_.port(), seg_.name());
  b.SendGet(20, 0, 1, false);
  EXPECT_NE(b.Grant(b.Expect(20).second).epoch, epoch);  // a new directory
  const wire::MapOwnerReply r = AskOwner(b, 21, 0x1234);
  EXPECT_EQ(r.domain, domain);
  const wire::MapHostsReply states = AskHosts(b, 22);
  EXPECT_EQ(states.domain, domain);
  EXPECT_TRUE(Bit(states.live, r.host_index));
  EXPECT_FALSE(Bit(states.live, before) && before != r.host_index);
  EXPECT_TRUE(before == r.host_index || Bit(states.dead, before));  // the earlier owner: dead
}

// OWNER_ALIVE about a live host's thread is forwarded to that host as an
// OWNER_PROBE (with the PID-namespace domain its MAP_OWNER named) and its
// answer goes back to the asker; an error reply, a host that ends before
// answering, or a host that takes no probes is "cannot tell"; a dead index,
// or one never handed out, is dead at once.
TEST_F(MappingHomeTest, OwnerAliveIsAskedOfTheOwnersHost) {
  Start();
  Host owner(ramsd_.port(), seg_.name(), true, false, wire::kFeatureOwnerProbe);
  const uint32_t index = AskOwner(owner, 11, 0x1234).host_index;
  Host plain(ramsd_.port(), seg_.name(), /*mapping=*/false);
  auto ask = [&](uint64_t id, uint32_t host_index) {
    plain.raw().SendMsg(wire::Opcode::kOwnerAlive, id,
                        wire::OwnerAliveRequest{.handle = plain.handle(),
                                                .host_index = host_index, .tid = 42});
  };
  auto state = [&](uint64_t id) {
    auto f = plain.Expect(id);
    EXPECT_EQ(f.first.status, 0u);
    auto r = wire::OwnerStateReply::Decode(f.second);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->state : 99u;
  };
  // The probe, as the owner's host sees it.
  auto probe = [&] {
    auto f = owner.raw().Receive();
    EXPECT_TRUE(f.has_value());
    if (!f) return wire::FrameHeader{};
    EXPECT_EQ(f->first.opcode, static_cast<uint8_t>(wire::Opcode::kOwnerProbe));
    EXPECT_NE(f->first.request_id & wire::kServerRequestIdBit, 0u);
    auto r = wire::OwnerProbeRequest::Decode(f->second);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) {
      EXPECT_EQ(r->handle, owner.handle());
      EXPECT_EQ(r->tid, 42u);
      EXPECT_EQ(r->local_domain, 0x1234u);
    }
    return f->first;
  };
  ask(20, index);
  wire::FrameHeader p = probe();
  owner.raw().SendFrame({.opcode = p.opcode, .flags = wire::kFlagReply, .request_id = p.request_id},
                        wire::OwnerStateReply{.state = wire::kOwnerDead});
  EXPECT_EQ(state(20), wire::kOwnerDead);
  ask(21, index);
  p = probe();
  owner.raw().SendFrame({.opcode = p.opcode, .flags = wire::kFlagReply, .request_id = p.request_id},
                        wire::OwnerStateReply{.state = wire::kOwnerAlive});
  EXPECT_EQ(state(21), wire::kOwnerAlive);
  ask(22, index);
  p = probe();
  owner.raw().SendBytes(wire::EncodeFrame(
      {.opcode = p.opcode, .flags = wire::kFlagReply, .request_id = p.request_id, .status = EIO},
      {}));
  EXPECT_EQ(state(22), wire::kOwnerCannotTell);
  // A host without the probe bit: cannot tell, at once.
  Host quiet(ramsd_.port(), seg_.name());
  const uint32_t quiet_index = AskOwner(quiet, 12, 0x1234).host_index;
  ask(23, quiet_index);
  EXPECT_EQ(state(23), wire::kOwnerCannotTell);
  // An index never handed out names an owner of an earlier directory: dead.
  uint32_t unused = 1;
  while (unused == index || unused == quiet_index) ++unused;
  ask(24, unused);
  EXPECT_EQ(state(24), wire::kOwnerDead);
  // The owner's host ends with a probe unanswered: the asker is told
  // "cannot tell", and the index is dead from then on.
  ask(25, index);
  (void)probe();
  owner.raw().ShutdownWrite();
  EXPECT_EQ(state(25), wire::kOwnerCannotTell);
  ask(26, index);
  EXPECT_EQ(state(26), wire::kOwnerDead);
  // A malformed probe reply cuts its sender off.
  Host hostile(ramsd_.port(), seg_.name(), true, false, wire::kFeatureOwnerProbe);
  const uint32_t hostile_index = AskOwner(hostile, 13, 0x99).host_index;
  ask(27, hostile_index);
  auto f = hostile.raw().Receive();
  ASSERT_TRUE(f.has_value());
  hostile.raw().SendFrame(
      {.opcode = f->first.opcode, .flags = wire::kFlagReply, .request_id = f->first.request_id},
      wire::OwnerStateReply{.state = 7});
  EXPECT_EQ(state(27), wire::kOwnerCannotTell);
  EXPECT_TRUE(hostile.raw().ClosedByServer());
}

TEST_F(MappingHomeTest, NoMappingFlagKeepsTheFeatureOff) {
  Start({"--no-mapping"});
  Host a(ramsd_.port(), seg_.name());
  EXPECT_FALSE(a.granted());
  a.SendGet(10, 0, 1, false);
  EXPECT_EQ(a.Expect(10).first.status, static_cast<uint32_t>(EOPNOTSUPP));
}

}  // namespace
}  // namespace rams::test
