// SPDX-License-Identifier: MIT
// Who is on the other end of a loopback connection: ramsd's sock_diag lookup
// and its /proc/net/tcp fallback (the one qemu-user uses) against a live
// connection, and the fallback's "cannot tell" cases on made-up tables.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "peer_user.h"

namespace ramsd {
namespace {

using asio::ip::tcp;

// A connected loopback pair; `server` is ramsd's end.
struct LoopbackPair {
  explicit LoopbackPair(const asio::ip::address& address)
      : acceptor(io, tcp::endpoint(address, 0)), client(io), server(io) {
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
  asio::io_context io;
  tcp::acceptor acceptor;
  tcp::socket client;
  tcp::socket server;
};

TEST(PeerUserTest, BothLookupsNameThisProcessOnIpv4) {
  LoopbackPair pair(asio::ip::make_address("127.0.0.1"));
  const auto local = pair.server.local_endpoint();
  const auto peer = pair.server.remote_endpoint();
  auto via_proc = ProcNetPeerUid(local, peer);
  ASSERT_TRUE(via_proc.ok()) << via_proc.status().ToString();
  EXPECT_EQ(*via_proc, getuid());
  auto uid = LoopbackPeerUid(local, peer);
  ASSERT_TRUE(uid.ok()) << uid.status().ToString();
  EXPECT_EQ(*uid, getuid());
  // A peer port nobody uses matches no socket.
  const tcp::endpoint nobody(peer.address(), 1);
  auto missing = ProcNetPeerUid(local, nobody);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ENOENT);
}

TEST(PeerUserTest, BothLookupsNameThisProcessOnIpv6) {
  std::unique_ptr<LoopbackPair> pair;
  try {
    pair = std::make_unique<LoopbackPair>(asio::ip::make_address("::1"));
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  const auto local = pair->server.local_endpoint();
  const auto peer = pair->server.remote_endpoint();
  auto via_proc = ProcNetPeerUid(local, peer);
  ASSERT_TRUE(via_proc.ok()) << via_proc.status().ToString();
  EXPECT_EQ(*via_proc, getuid());
}

// A scratch directory holding made-up tcp and tcp6 tables.
class ProcNetTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("rams-procnet-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void WriteTcp(const std::string& rows) {
    std::ofstream(dir_ / "tcp") << kTitles << rows;
    std::ofstream(dir_ / "tcp6") << kTitles;
  }
  rams::Result<uid_t> Lookup() const { return ProcNetPeerUid(local_, peer_, dir_.string()); }

  static constexpr const char* kTitles =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode\n";
  // ramsd listens on 127.0.0.1:8080 (1F90); the peer is 127.0.0.1:40000 (9C40).
  const tcp::endpoint local_{asio::ip::make_address("127.0.0.1"), 8080};
  const tcp::endpoint peer_{asio::ip::make_address("127.0.0.1"), 40000};
  std::filesystem::path dir_;
};

// 127.0.0.1 as the kernel prints it: the address word in host order.
std::string Loopback4() {
  char out[9];
  const uint32_t word = htonl(INADDR_LOOPBACK);
  std::snprintf(out, sizeof out, "%08X", word);
  return out;
}

std::string Row(const std::string& local, const std::string& remote, const std::string& state,
                unsigned uid, unsigned long inode) {
  return "   0: " + local + " " + remote + " " + state + " 00000000:00000000 00:00000000 00000000 " +
         std::to_string(uid) + "        0 " + std::to_string(inode) +
         " 1 0000000000000000 20 4 30 10 -1\n";
}

TEST_F(ProcNetTableTest, FindsTheExactFourTuple) {
  const std::string lo = Loopback4();
  WriteTcp(Row(lo + ":1F90", lo + ":0000", "0A", 0, 100) +       // the listener
           Row(lo + ":1F90", lo + ":9C40", "01", 0, 101) +       // ramsd's end
           Row(lo + ":9C41", lo + ":1F90", "01", 2000, 102) +    // another peer
           Row(lo + ":9C40", lo + ":1F91", "01", 3000, 103) +    // another server
           Row(lo + ":9C40", lo + ":1F90", "01", 1234, 104));    // the peer
  auto uid = Lookup();
  ASSERT_TRUE(uid.ok()) << uid.status().ToString();
  EXPECT_EQ(*uid, 1234u);
}

TEST_F(ProcNetTableTest, ALineReadTwiceIsOneSocket) {
  const std::string lo = Loopback4();
  WriteTcp(Row(lo + ":9C40", lo + ":1F90", "01", 1234, 104) +
           Row(lo + ":9C40", lo + ":1F90", "01", 1234, 104));
  auto uid = Lookup();
  ASSERT_TRUE(uid.ok()) << uid.status().ToString();
  EXPECT_EQ(*uid, 1234u);
}

TEST_F(ProcNetTableTest, NoMatchingLineIsEnoent) {
  const std::string lo = Loopback4();
  WriteTcp(Row(lo + ":9C41", lo + ":1F90", "01", 1234, 104));
  auto uid = Lookup();
  ASSERT_FALSE(uid.ok());
  EXPECT_EQ(uid.status().code(), ENOENT);
}

// TIME_WAIT and orphaned sockets print uid 0 and inode 0: not root.
TEST_F(ProcNetTableTest, ASocketWithoutInodeCannotTell) {
  const std::string lo = Loopback4();
  WriteTcp(Row(lo + ":9C40", lo + ":1F90", "06", 0, 0));
  auto uid = Lookup();
  ASSERT_FALSE(uid.ok());
  EXPECT_EQ(uid.status().code(), EACCES);
}

TEST_F(ProcNetTableTest, TwoSocketsWithOneTupleCannotTell) {
  const std::string lo = Loopback4();
  WriteTcp(Row(lo + ":9C40", lo + ":1F90", "01", 1234, 104) +
           Row(lo + ":9C40", lo + ":1F90", "01", 0, 105));
  auto uid = Lookup();
  ASSERT_FALSE(uid.ok());
  EXPECT_EQ(uid.status().code(), EACCES);
}

TEST_F(ProcNetTableTest, AMalformedLineCannotTell) {
  const std::string lo = Loopback4();
  WriteTcp(Row(lo + ":9C40", lo + ":1F90", "01", 1234, 104) + "   1: garbage\n");
  auto uid = Lookup();
  ASSERT_FALSE(uid.ok());
  EXPECT_EQ(uid.status().code(), EACCES);
}

TEST_F(ProcNetTableTest, AnUnreadableTableCannotTell) {
  auto uid = ProcNetPeerUid(local_, peer_, (dir_ / "missing").string());
  // No tcp table at all: not "nobody is there".
  ASSERT_FALSE(uid.ok());
  EXPECT_EQ(uid.status().code(), EACCES);
}

}  // namespace
}  // namespace ramsd
