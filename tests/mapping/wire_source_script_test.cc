// SPDX-License-Identifier: MIT
// The client connection of a mapping session against a scripted raw server
// (this test plays the home frame by frame): INVALIDATE/DOWNGRADE requests
// reach the CoherenceSink one at a time in the order sent, each reply carries
// its request's id (and the page, flagged kPageDirty, when the sink had
// written it); a reply to an id the client never sent, or a server request on
// a session without the mapping feature, closes the connection (EPROTO);
// a disconnect is Lost. And a host pager serving such a session: a home that
// stalls its MAP_OWNER answer stalls only the OPEN that asked.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster.h"
#include "mapping/wire_page_source.h"
#include "rams/remote.h"
#include "../remote/raw_client.h"

namespace rams::mapping {
namespace {

namespace wire = rams::wire;
constexpr uint32_t kHandle = 7;

struct RecordingSink : CoherenceSink {
  Status Invalidate(uint64_t page, uint64_t /*version*/, std::span<std::byte> dirty_out,
                    bool* dirty) override {
    return Record('I', page, dirty_out, dirty);
  }
  Status Downgrade(uint64_t page, uint64_t /*version*/, std::span<std::byte> dirty_out,
                   bool* dirty) override {
    return Record('D', page, dirty_out, dirty);
  }
  void Lost(Status why) override {
    std::lock_guard l(mu);
    lost.push_back(why.code());
  }
  void PagesLost() override {
    std::lock_guard l(mu);
    ++pages_lost;
  }
  Status Record(char what, uint64_t page, std::span<std::byte> out, bool* dirty) {
    std::lock_guard l(mu);
    events.push_back(std::string(1, what) + std::to_string(page));
    *dirty = page % 2 == 1;  // odd pages were written here
    if (*dirty) std::fill(out.begin(), out.end(), std::byte(0xd0 + page));
    return Status::Ok();
  }
  std::vector<std::string> Events() {
    std::lock_guard l(mu);
    return events;
  }
  std::vector<int> Lost() {
    std::lock_guard l(mu);
    return lost;
  }
  std::mutex mu;
  std::vector<std::string> events;
  std::vector<int> lost;
  int pages_lost = 0;
};

// A listening loopback socket; Accept() hands the connection to a RawClient.
class ScriptedServer {
 public:
  ScriptedServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
    socklen_t len = sizeof a;
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
  }
  ~ScriptedServer() { close(fd_); }
  uint16_t port() const { return port_; }
  std::unique_ptr<test::RawClient> Accept() {
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(c, 0);
    return std::make_unique<test::RawClient>(test::RawClient::Adopt{}, c);
  }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// Answers HELLO granting what was asked (minus `withheld`).
void AnswerHello(test::RawClient& peer, uint64_t withheld = 0) {
  auto hello = peer.Receive();
  ASSERT_TRUE(hello.has_value());
  ASSERT_EQ(hello->first.opcode, static_cast<uint8_t>(wire::Opcode::kHello));
  auto req = wire::HelloRequest::Decode(hello->second);
  ASSERT_TRUE(req.ok());
  peer.SendFrame({.opcode = hello->first.opcode, .flags = wire::kFlagReply,
                  .request_id = hello->first.request_id},
                 wire::HelloReply{.features = req->features & ~withheld,
                                  .max_body_bytes = wire::kMaxBodyBytes});
}

// Plays the home up to an opened mapping session; `source` is the client's.
struct Session {
  ScriptedServer server;
  std::unique_ptr<test::RawClient> peer;
  std::unique_ptr<WirePageSource> source;
  RecordingSink sink;

  void Open() {
    auto opening = std::async(std::launch::async, [&] {
      return WirePageSource::Open("127.0.0.1", server.port(), "seg", false,
                                  RemoteOptions{.timeout = std::chrono::milliseconds(5000)});
    });
    peer = server.Accept();
    AnswerHello(*peer);
    auto open = peer->Receive();
    ASSERT_TRUE(open.has_value());
    ASSERT_EQ(open->first.opcode, static_cast<uint8_t>(wire::Opcode::kOpen));
    peer->SendFrame({.opcode = open->first.opcode, .flags = wire::kFlagReply,
                     .request_id = open->first.request_id},
                    wire::OpenReply{.handle = kHandle, .size_bytes = 4 * kPageBytes});
    auto s = opening.get();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    source = std::move(*s);
    source->SetSink(&sink);
  }
  void Recall(wire::Opcode op, uint64_t id, uint64_t page) {
    peer->SendMsg(op, id, wire::RecallRequest{.handle = kHandle, .page = page, .version = 1});
  }
};

TEST(WireSourceScriptTest, RecallsReachTheSinkInOrderAndRepliesCarryIdsAndDirtyData) {
  Session s;
  ASSERT_NO_FATAL_FAILURE(s.Open());
  const uint64_t bit = wire::kServerRequestIdBit;
  s.Recall(wire::Opcode::kInvalidate, bit | 10, 0);
  s.Recall(wire::Opcode::kDowngrade, bit | 11, 1);
  s.Recall(wire::Opcode::kInvalidate, bit | 12, 3);
  const uint64_t ids[] = {bit | 10, bit | 11, bit | 12};
  const uint64_t pages[] = {0, 1, 3};
  for (int i = 0; i < 3; ++i) {
    auto reply = s.peer->Receive();
    ASSERT_TRUE(reply.has_value());
    EXPECT_TRUE(reply->first.is_reply());
    EXPECT_EQ(reply->first.request_id, ids[i]);
    EXPECT_EQ(reply->first.status, 0u);
    auto r = wire::RecallReply::Decode(reply->second);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (pages[i] % 2 == 1) {
      EXPECT_EQ(r->flags, wire::kPageDirty);
      ASSERT_EQ(r->data.size(), kPageBytes);
      EXPECT_EQ(r->data[0], std::byte(0xd0 + pages[i]));
      EXPECT_EQ(r->data[kPageBytes - 1], std::byte(0xd0 + pages[i]));
    } else {
      EXPECT_EQ(r->flags, 0u);
      EXPECT_TRUE(r->data.empty());
    }
  }
  EXPECT_EQ(s.sink.Events(), (std::vector<std::string>{"I0", "D1", "I3"}));
  EXPECT_TRUE(s.sink.Lost().empty());
  // Counted just after the reply went out.
  for (int i = 0; i < 200 && s.source->recalls_answered() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(s.source->recalls_answered(), 3u);
}

// PAGE_PUT answered EPERM: stale when an INVALIDATE of the page crossed it
// (the acknowledgement carries the data home), a real error otherwise.
TEST(WireSourceScriptTest, AnEpermPutIsStaleOnlyWhenARecallCrossedIt) {
  Session s;
  ASSERT_NO_FATAL_FAILURE(s.Open());
  const std::vector<std::byte> data(kPageBytes, std::byte{0x42});
  auto refuse_put = [&](bool recall_first) {
    auto put = s.peer->Receive();
    ASSERT_TRUE(put.has_value());
    ASSERT_EQ(put->first.opcode, static_cast<uint8_t>(wire::Opcode::kPagePut));
    if (recall_first) s.Recall(wire::Opcode::kInvalidate, wire::kServerRequestIdBit | 20, 1);
    s.peer->SendBytes(wire::EncodeFrame({.opcode = put->first.opcode, .flags = wire::kFlagReply,
                                         .request_id = put->first.request_id,
                                         .status = EPERM},
                                        {}));
  };
  auto lone = std::async(std::launch::async, [&] { return s.source->Put(2, data); });
  ASSERT_NO_FATAL_FAILURE(refuse_put(false));
  Status no_recall = lone.get();
  EXPECT_EQ(no_recall.code(), EPERM) << no_recall.ToString();
  auto crossed = std::async(std::launch::async, [&] { return s.source->Put(1, data); });
  ASSERT_NO_FATAL_FAILURE(refuse_put(true));
  Status stale = crossed.get();
  EXPECT_TRUE(stale.ok()) << stale.ToString();
  auto ack = s.peer->Receive();  // the INVALIDATE's acknowledgement, with the dirty page
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->first.request_id, wire::kServerRequestIdBit | 20);
  EXPECT_TRUE(s.sink.Lost().empty());
}

// A PAGE_GET reply flagged kSegmentLostPages tells the sink, once per
// flagged reply; the grant is used as usual.
TEST(WireSourceScriptTest, ALostPagesFlagReachesTheSink) {
  Session s;
  ASSERT_NO_FATAL_FAILURE(s.Open());
  const std::vector<std::byte> data(kPageBytes, std::byte{0x61});
  for (uint32_t flags : {wire::kSegmentLostPages, 0u}) {
    std::vector<std::byte> page(kPageBytes);
    auto get = std::async(std::launch::async,
                          [&] { return s.source->Get(2, Access::kRead, 0, page); });
    auto req = s.peer->Receive();
    ASSERT_TRUE(req.has_value());
    ASSERT_EQ(req->first.opcode, static_cast<uint8_t>(wire::Opcode::kPageGet));
    s.peer->SendFrame({.opcode = req->first.opcode, .flags = wire::kFlagReply,
                       .request_id = req->first.request_id},
                      wire::PageGetReply{.epoch = 5, .flags = flags,
                                         .grants = {{.page = 2, .version = 1,
                                                     .flags = wire::kGrantData, .data = data}}});
    auto g = get.get();
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_EQ(page, data);
    std::lock_guard l(s.sink.mu);
    EXPECT_EQ(s.sink.pages_lost, 1);
  }
}

// A read-ahead PAGE_GET asks for the range, and the home's extra grants reach
// the caller in order; bad ranges are refused before anything is sent, and a
// reply that grants pages out of order or outside the range is EPROTO.
TEST(WireSourceScriptTest, ReadAheadAsksForARangeAndChecksTheGrants) {
  Session s;
  ASSERT_NO_FATAL_FAILURE(s.Open());
  std::vector<std::byte> page(kPageBytes);
  std::vector<AheadGrant> ahead;
  EXPECT_EQ(s.source->GetAhead(0, 0, 0, page, &ahead).code(), EINVAL);  // no page
  EXPECT_EQ(s.source->GetAhead(2, 3, 0, page, &ahead).code(), EINVAL);  // past the 4th page
  EXPECT_EQ(s.source->GetAhead(0, kMaxReadAheadPages + 1, 0, page, &ahead).code(), EINVAL);
  const std::vector<std::byte> d1(kPageBytes, std::byte{1}), d3(kPageBytes, std::byte{3});
  auto answer = [&](std::vector<wire::PageGrant> grants) {
    auto get = s.peer->Receive();
    ASSERT_TRUE(get.has_value());  // the refused ranges above sent nothing
    ASSERT_EQ(get->first.opcode, static_cast<uint8_t>(wire::Opcode::kPageGet));
    auto req = wire::PageGetRequest::Decode(get->second);
    ASSERT_TRUE(req.ok());
    EXPECT_EQ(req->first_page, 1u);
    EXPECT_EQ(req->count, 3u);
    EXPECT_EQ(req->access, wire::kAccessRead);
    wire::PageGetReply reply{.epoch = 5};
    reply.grants = std::move(grants);
    s.peer->SendFrame({.opcode = get->first.opcode, .flags = wire::kFlagReply,
                       .request_id = get->first.request_id},
                      reply);
  };
  auto good = std::async(std::launch::async, [&] {
    return s.source->GetAhead(1, 3, 0, page, &ahead);
  });
  ASSERT_NO_FATAL_FAILURE(answer({{.page = 1, .version = 2, .flags = wire::kGrantData, .data = d1},
                                  {.page = 3, .version = 4, .flags = wire::kGrantData, .data = d3}}));
  auto g = good.get();
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->version, 2u);
  EXPECT_EQ(page[0], std::byte{1});
  ASSERT_EQ(ahead.size(), 1u);  // page 2 left out by the home
  EXPECT_EQ(ahead[0].page, 3u);
  EXPECT_EQ(ahead[0].version, 4u);
  ASSERT_EQ(ahead[0].data.size(), kPageBytes);
  EXPECT_EQ(ahead[0].data[0], std::byte{3});
  const std::vector<std::vector<wire::PageGrant>> hostile = {
      {{.page = 1, .version = 2, .flags = wire::kGrantData, .data = d1},
       {.page = 4, .version = 2, .flags = wire::kGrantData, .data = d1}},  // outside the range
      {{.page = 1, .version = 2, .flags = wire::kGrantData, .data = d1},
       {.page = 3, .version = 2, .flags = wire::kGrantData, .data = d1},
       {.page = 2, .version = 2, .flags = wire::kGrantData, .data = d1}},  // out of order
      {{.page = 1, .version = 2, .flags = wire::kGrantData, .data = d1},
       {.page = 1, .version = 2, .flags = wire::kGrantData, .data = d1}},  // twice
  };
  for (const auto& grants : hostile) {
    ahead.clear();
    auto bad = std::async(std::launch::async, [&] {
      return s.source->GetAhead(1, 3, 0, page, &ahead);
    });
    ASSERT_NO_FATAL_FAILURE(answer(grants));
    EXPECT_EQ(bad.get().code(), EPROTO);
    EXPECT_TRUE(ahead.empty());
  }
}

TEST(WireSourceScriptTest, AReplyToAnIdNeverSentClosesWithEproto) {
  Session s;
  ASSERT_NO_FATAL_FAILURE(s.Open());
  s.peer->SendFrame({.opcode = static_cast<uint8_t>(wire::Opcode::kPageGet),
                     .flags = wire::kFlagReply,
                     .request_id = wire::kServerRequestIdBit | 99},
                    wire::RecallRequest{});
  EXPECT_TRUE(s.peer->ClosedByServer());
  std::vector<std::byte> page(kPageBytes);
  auto g = s.source->Get(0, Access::kRead, 0, page);
  // Later calls fail with the connection's end and name why it ended.
  EXPECT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("to no request of ours"), std::string::npos)
      << g.status().ToString();
  for (int i = 0; i < 200 && s.sink.Lost().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(s.sink.Lost(), std::vector<int>{EPROTO});
}

TEST(WireSourceScriptTest, ADisconnectIsLostOnce) {
  Session s;
  ASSERT_NO_FATAL_FAILURE(s.Open());
  s.peer.reset();
  for (int i = 0; i < 200 && s.sink.Lost().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<std::byte> page(kPageBytes);
  EXPECT_FALSE(s.source->Get(0, Access::kRead, 0, page).ok());
  EXPECT_EQ(s.sink.Lost().size(), 1u);
}

TEST(WireSourceScriptTest, AServerRequestWithoutTheMappingFeatureClosesWithEproto) {
  ScriptedServer server;
  auto connecting = std::async(std::launch::async, [&] {
    return RemoteSession::Connect("127.0.0.1", server.port());
  });
  auto peer = server.Accept();
  ASSERT_NO_FATAL_FAILURE(AnswerHello(*peer, wire::kFeatureMapping));
  auto session = connecting.get();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  peer->SendMsg(wire::Opcode::kInvalidate, wire::kServerRequestIdBit | 1,
                wire::RecallRequest{.handle = 1});
  // Without a reader of its own the session meets the request on its next call.
  Status ping = session->Ping();
  EXPECT_EQ(ping.code(), EPROTO) << ping.ToString();
  EXPECT_TRUE(peer->ClosedByServer());
}

// The owner index of an OPEN is a round trip to the home (MAP_OWNER). A home
// that stalls it after the segment was opened stalls that OPEN only: another
// segment's OPEN and faults on the same pager are served meanwhile.
TEST(WireSourceScriptTest, AStalledOwnerAnswerStallsOnlyItsOwnOpen) {
  testing::Cluster c({.hosts = 1});
  RAMS_ASSERT_CLUSTER_UP(c);
  Session s;
  ASSERT_NO_FATAL_FAILURE(s.Open());
  ASSERT_TRUE(c.pagers[0]
                  ->AddSegment("stalling", std::move(s.source),
                               {.owner_uid = geteuid(), .owner_gid = getegid(), .mode = 0600})
                  .ok());
  // With host_states the mapping asks for an owner index in its OPEN.
  MapOptions with_owner{.write = true, .host_states = [] {
                          return Result<HostStates>(Error(ENOTCONN, "not asked here"));
                        }};
  auto stalled = std::async(std::launch::async, [&] {
    return MappedSegment::Open(c.socket(0), "stalling", with_owner);
  });
  auto owner_q = s.peer->Receive();
  ASSERT_TRUE(owner_q.has_value());
  ASSERT_EQ(owner_q->first.opcode, static_cast<uint8_t>(wire::Opcode::kMapOwner));
  // Not answered yet: the other segment maps and faults meanwhile.
  auto other = std::async(std::launch::async, [&]() -> int {
    auto m = c.Map(0);
    if (!m.ok()) return m.code();
    volatile std::byte* p = (*m)->data().data();
    p[kPageBytes + 5] = std::byte{9};
    return static_cast<std::byte>(p[kPageBytes + 5]) == std::byte{9} ? 0 : -1;
  });
  // Well inside the owner question's own timeout (5 s).
  ASSERT_EQ(other.wait_for(std::chrono::seconds(3)), std::future_status::ready)
      << "a stalled MAP_OWNER stalled another segment's OPEN and faults";
  EXPECT_EQ(other.get(), 0);
  EXPECT_EQ(stalled.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  s.peer->SendFrame({.opcode = owner_q->first.opcode, .flags = wire::kFlagReply,
                     .request_id = owner_q->first.request_id},
                    wire::MapOwnerReply{.domain = 77, .host_index = 3});
  auto m = stalled.get();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->owner_domain(), 77u);
  EXPECT_EQ((*m)->owner_index(), 3u);
}

}  // namespace
}  // namespace rams::mapping
