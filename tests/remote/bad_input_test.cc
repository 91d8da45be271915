// SPDX-License-Identifier: MIT
// Bad input against ramsd over raw sockets: truncated, oversized, wrong-magic,
// wrong-version, bad-checksum, unauthenticated, wrong-key, out-of-bounds,
// unexported-segment frames and raw garbage. Each is refused with an error
// reply or a closed connection; a well-behaved client keeps working
// throughout, and the segment's bytes never change.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "rams/remote.h"
#include "ramsd_process.h"
#include "raw_client.h"
#include "wire/auth.h"
#include "wire/messages.h"

namespace rams::test {
namespace {

namespace wire = rams::wire;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto map = seg_.segment().Map();
    ASSERT_TRUE(map.ok());
    for (size_t i = 0; i < map->size(); ++i) (*map)[i] = static_cast<std::byte>(i * 13);
    before_ = seg_.Bytes();
  }
  void StartServer(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--export", seg_.name()};
    args.insert(args.end(), extra.begin(), extra.end());
    ramsd_.Start(args);
  }
  // A good client still works and the segment is unchanged.
  void ExpectUnharmed(const RemoteOptions& options = {}) {
    auto s = RemoteSession::Connect("127.0.0.1", ramsd_.port(), options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto seg = s->Open(seg_.name());
    ASSERT_TRUE(seg.ok());
    std::vector<std::byte> head(64);
    ASSERT_TRUE((*seg)->Read(0, head).ok());
    EXPECT_TRUE(std::equal(head.begin(), head.end(), before_.begin()));
    EXPECT_EQ(seg_.Bytes(), before_);
  }

  TempSegment seg_{8192, "bad"};
  RamsdProcess ramsd_;
  std::vector<std::byte> before_;
};

wire::Bytes WriteBody(uint32_t handle, uint64_t offset, size_t n) {
  wire::Bytes body;
  wire::WriteRequest{.handle = handle, .offset = offset}.EncodeFixedTo(&body);
  body.resize(body.size() + n, std::byte{0xEE});
  return body;
}

TEST_F(BadInputTest, MalformedFramesAreRefusedOthersUnaffected) {
  StartServer();
  {
    SCOPED_TRACE("truncated header");
    RawClient c(ramsd_.port());
    auto f = wire::EncodeFrame({.opcode = 1, .request_id = 1}, wire::Bytes(16));
    c.SendBytes(std::span(f).first(10));
    c.ShutdownWrite();
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    SCOPED_TRACE("truncated body");
    RawClient c(ramsd_.port());
    c.Hello();
    auto f = wire::EncodeFrame({.opcode = 7, .request_id = 2}, WriteBody(1, 0, 64));
    c.SendBytes(std::span(f).first(f.size() - 20));
    c.ShutdownWrite();
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    SCOPED_TRACE("oversized before authentication");
    RawClient c(ramsd_.port());
    c.Send(wire::Opcode::kHello, 1, wire::Bytes(wire::kMaxBodyBytesBeforeAuth + 1));
    EXPECT_EQ(c.NextStatus(), EPROTO);
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    SCOPED_TRACE("oversized after authentication");
    RawClient c(ramsd_.port());
    c.Hello();
    wire::FrameHeader h{.opcode = 7, .request_id = 3, .body_bytes = wire::kMaxBodyBytes + 1};
    auto hb = wire::EncodeHeader(h);
    c.SendBytes(hb);
    EXPECT_EQ(c.NextStatus(), EPROTO);
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    SCOPED_TRACE("wrong magic");
    RawClient c(ramsd_.port());
    auto f = wire::EncodeFrame({.opcode = 1, .request_id = 1}, wire::Bytes(16));
    f[0] = std::byte{'X'};
    c.SendBytes(f);
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    SCOPED_TRACE("wrong version");
    RawClient c(ramsd_.port());
    auto f = wire::EncodeFrame({.opcode = 1, .request_id = 1}, wire::Bytes(16));
    f[wire::kOffVersion] = std::byte{9};
    wire::StoreLe32(&f[wire::kOffHeaderCrc], wire::Crc32c(std::span(f).first(wire::kOffHeaderCrc)));
    c.SendBytes(f);
    EXPECT_EQ(c.NextStatus(), EPROTONOSUPPORT);
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    SCOPED_TRACE("bad header checksum");
    RawClient c(ramsd_.port());
    auto f = wire::EncodeFrame({.opcode = 1, .request_id = 1}, wire::Bytes(16));
    f[wire::kOffRequestId] ^= std::byte{0x40};
    c.SendBytes(f);
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    SCOPED_TRACE("request before HELLO");
    RawClient c(ramsd_.port());
    c.Send(wire::Opcode::kWrite, 5, WriteBody(1, 0, 8));
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    SCOPED_TRACE("raw garbage");
    std::mt19937 rng(42);
    for (int round = 0; round < 20; ++round) {
      RawClient c(ramsd_.port());
      wire::Bytes junk(1 + rng() % 300);
      for (auto& b : junk) b = static_cast<std::byte>(rng());
      c.SendBytes(junk);
      c.ShutdownWrite();
      EXPECT_TRUE(c.ClosedByServer());
    }
  }
  ExpectUnharmed();
}

TEST_F(BadInputTest, SemanticErrorsGetErrorRepliesAndTheConnectionStays) {
  StartServer();
  RawClient c(ramsd_.port());
  c.Hello();
  c.SendMsg(wire::Opcode::kOpen, 2, wire::OpenRequest{.name = "not.exported"});
  EXPECT_EQ(c.NextStatus(), ENOENT);
  c.SendMsg(wire::Opcode::kOpen, 3, wire::OpenRequest{.name = seg_.name()});
  auto opened = c.Receive();
  ASSERT_TRUE(opened.has_value());
  ASSERT_EQ(opened->first.status, 0u);
  const uint32_t handle = wire::OpenReply::Decode(opened->second)->handle;
  c.Send(wire::Opcode::kWrite, 4, WriteBody(handle, 8192 - 4, 8));       // past the end
  EXPECT_EQ(c.NextStatus(), EINVAL);
  c.Send(wire::Opcode::kWrite, 5, WriteBody(handle + 7, 0, 8));          // no such handle
  EXPECT_EQ(c.NextStatus(), EBADF);
  c.SendMsg(wire::Opcode::kRead, 6,
            wire::ReadRequest{.handle = handle, .length = 16, .offset = UINT64_MAX - 8});
  EXPECT_EQ(c.NextStatus(), EINVAL);
  c.SendMsg(wire::Opcode::kRead, 7,
            wire::ReadRequest{.handle = handle, .length = wire::kMaxIoBytes + 1, .offset = 0});
  EXPECT_EQ(c.NextStatus(), EINVAL);
  c.SendMsg(wire::Opcode::kFetchAdd, 8, wire::FetchAddRequest{.handle = handle, .offset = 3});
  EXPECT_EQ(c.NextStatus(), EINVAL);
  wire::Bytes reserved;
  wire::CasRequest{.handle = handle}.EncodeTo(&reserved);
  reserved[4] = std::byte{1};  // reserved field not zero
  c.Send(wire::Opcode::kCas, 9, reserved);
  EXPECT_EQ(c.NextStatus(), EINVAL);
  c.Send(static_cast<wire::Opcode>(99), 10, {});
  EXPECT_EQ(c.NextStatus(), EOPNOTSUPP);
  c.Send(wire::Opcode::kPing, 11, {});
  EXPECT_EQ(c.NextStatus(), 0);
  ExpectUnharmed();
}

TEST_F(BadInputTest, KeyedServerRefusesUnauthenticatedAndWrongKeys) {
  const std::string key = "a-pre-shared-key-of-enough-length";
  StartServer({"--key-file", WriteKeyFile(key), "--http", "127.0.0.1:0"});
  EXPECT_EQ(RemoteSession::Connect("127.0.0.1", ramsd_.port()).code(), EACCES);
  EXPECT_EQ(RemoteSession::Connect("127.0.0.1", ramsd_.port(),
                                   {.key = "another-key-of-enough-length"})
                .code(),
            EACCES);
  {
    SCOPED_TRACE("request after HELLO without AUTH");
    RawClient c(ramsd_.port());
    c.SendMsg(wire::Opcode::kHello, 1, wire::HelloRequest{});
    auto hello = c.Receive();
    ASSERT_TRUE(hello.has_value());
    EXPECT_EQ(wire::HelloReply::Decode(hello->second)->auth_flags, wire::kAuthKeyRequired);
    c.SendMsg(wire::Opcode::kOpen, 2, wire::OpenRequest{.name = seg_.name()});
    EXPECT_EQ(c.NextStatus(), EACCES);
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    SCOPED_TRACE("replayed MAC for another nonce");
    RawClient c(ramsd_.port());
    c.SendMsg(wire::Opcode::kHello, 1, wire::HelloRequest{});
    ASSERT_TRUE(c.Receive().has_value());
    wire::AuthRequest auth{.client_nonce = wire::RandomNonce()};
    auth.client_mac = wire::ClientMac(key, wire::RandomNonce(), auth.client_nonce);
    c.SendMsg(wire::Opcode::kAuth, 2, auth);
    EXPECT_EQ(c.NextStatus(), EACCES);
    EXPECT_TRUE(c.ClosedByServer());
  }
  ExpectUnharmed({.key = key});
}

TEST(RamsdStartTest, RefusesNonLoopbackWithoutKey) {
  TempSegment seg(4096, "nokey");
  const std::string cmd = RamsdPath() + " --listen 0.0.0.0:0 --export " + seg.name() +
                          " --log-dir " + ::testing::TempDir() + "/ramsd-nokey 2>/dev/null";
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
}

}  // namespace
}  // namespace rams::test
