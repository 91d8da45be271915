// SPDX-License-Identifier: MIT
// The Windows client's per-frame MAC (src/wire/frame_mac.*, with CNG's
// HMAC-SHA-256 from src/wire/crypto_win.cc) against the Linux home's ramsd
// that requires it (--frame-mac require, RAMS_WINDOWS_MAC_PORT): a session
// with the MAC serves reads, writes, atomics and batches; a client that does
// not ask for it, or holds a wrong key, is refused; and through the home's
// tampering relay (RAMS_WINDOWS_TAMPER_PORT), a flipped bit in a reply is
// refused by the client and one in a request by the server, which applies
// nothing. Byte ranges: kRw from 3 MiB on, used by no other test.
#include <cstring>
#include <vector>

#include "client_test.h"

namespace rams::test {
namespace {

namespace home = windows_home;
using namespace std::chrono_literals;

constexpr uint64_t kBase = uint64_t{3} << 20;

RemoteOptions MacOptions(FrameMac mode = FrameMac::kRequire) {
  RemoteOptions options = KeyedOptions();
  options.frame_mac = mode;
  return options;
}

Result<RemoteSession> ConnectMac(FrameMac mode = FrameMac::kRequire) {
  return RemoteSession::Connect("127.0.0.1", EnvPort("RAMS_WINDOWS_MAC_PORT"), MacOptions(mode));
}

std::unique_ptr<RemoteAttachment> OpenOn(RemoteSession& s, const char* suffix, bool read_only) {
  auto seg = s.Open(HomeSegment(suffix), read_only);
  EXPECT_TRUE(seg.ok()) << seg.status().ToString();
  return seg.ok() ? std::move(*seg) : nullptr;
}

TEST(WindowsFrameMacTest, SessionWithTheMacServesReadsWritesAtomicsAndBatches) {
  ASSERT_NE(EnvPort("RAMS_WINDOWS_MAC_PORT"), 0) << "run by scripts/windows-test (no home set)";
  auto s = ConnectMac();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto seg = OpenOn(*s, home::kRw, false);
  ASSERT_NE(seg, nullptr);
  // Larger than one request: split into several MACed frames.
  std::vector<std::byte> big(300000), back(big.size());
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i * 31 + 5);
  ASSERT_TRUE(seg->Write(kBase, big).ok());
  ASSERT_TRUE(seg->Read(kBase, back).ok());
  EXPECT_EQ(back, big);
  const uint64_t word = kBase + big.size() + 64;
  auto prev = seg->FetchAdd(word, 5);
  ASSERT_TRUE(prev.ok()) << prev.status().ToString();
  EXPECT_EQ(*prev, 0u);
  auto cas = seg->CompareExchange(word, 5, 9);
  ASSERT_TRUE(cas.ok()) << cas.status().ToString();
  EXPECT_EQ(*cas, 5u);
  RemoteBatch batch;
  uint64_t before[4];
  for (uint64_t& b : before) batch.FetchAdd(*seg, word, 1, &b);
  ASSERT_TRUE(batch.Run().ok());
  EXPECT_EQ(before[0], 9u);
  EXPECT_EQ(before[3], 12u);
  EXPECT_TRUE(s->Ping().ok());
}

TEST(WindowsFrameMacTest, ClientsWithoutTheMacOrWithAWrongKeyAreRefused) {
  ASSERT_NE(EnvPort("RAMS_WINDOWS_MAC_PORT"), 0);
  EXPECT_EQ(ConnectMac(FrameMac::kRefuse).code(), EACCES);
  // kAuto does not ask for it on loopback.
  EXPECT_EQ(ConnectMac(FrameMac::kAuto).code(), EACCES);
  RemoteOptions wrong = MacOptions();
  wrong.key = std::string(32, 'w');
  EXPECT_EQ(RemoteSession::Connect("127.0.0.1", EnvPort("RAMS_WINDOWS_MAC_PORT"), wrong).code(),
            EACCES);
}

TEST(WindowsFrameMacTest, AFlippedBitInAReplyIsRefusedByTheClient) {
  const uint16_t tamper = EnvPort("RAMS_WINDOWS_TAMPER_PORT");
  ASSERT_NE(tamper, 0);
  auto s = RemoteSession::Connect("127.0.0.1", tamper, MacOptions());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto seg = OpenOn(*s, home::kRo, true);
  ASSERT_NE(seg, nullptr);
  std::vector<std::byte> got(home::kRoBytes);
  // The relay flips a data byte of this READ's reply.
  EXPECT_EQ(seg->Read(0, got).code(), EPROTO);
  EXPECT_FALSE(s->Ping().ok());
}

TEST(WindowsFrameMacTest, AFlippedBitInARequestIsRefusedByTheServer) {
  const uint16_t tamper = EnvPort("RAMS_WINDOWS_TAMPER_PORT");
  ASSERT_NE(tamper, 0);
  const uint64_t at = kBase + (uint64_t{512} << 10);
  auto s = RemoteSession::Connect("127.0.0.1", tamper, MacOptions());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto seg = OpenOn(*s, home::kRw, false);
  ASSERT_NE(seg, nullptr);
  const std::byte a{'A'};  // flipped in flight into '@'
  EXPECT_FALSE(seg->Write(at, std::span(&a, 1)).ok());
  EXPECT_FALSE(s->Ping().ok());
  // Neither byte was written: the server closed instead of applying it.
  auto direct = ConnectMac();
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  auto check = OpenOn(*direct, home::kRw, true);
  ASSERT_NE(check, nullptr);
  std::byte back{0x7f};
  ASSERT_TRUE(check->Read(at, std::span(&back, 1)).ok());
  EXPECT_EQ(back, std::byte{0});
}

}  // namespace
}  // namespace rams::test
