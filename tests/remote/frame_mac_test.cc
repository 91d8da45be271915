// SPDX-License-Identifier: MIT
// The per-frame MAC (docs/protocol.md §2, "Frame MAC"): the MAC function
// against values computed with another HMAC implementation, the running
// streams (replay and reordering fail), and ramsd and the client through a
// relay that alters, replays and reorders frames in flight; the negotiation
// both ways, on loopback and off it, and keyless sessions without it.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rams/remote.h"
#include "ramsd_process.h"
#include "raw_client.h"
#include "wire/auth.h"
#include "wire/frame_mac.h"
#include "wire/messages.h"

namespace rams::test {
namespace {

using namespace std::chrono_literals;

std::string Hex(std::span<const std::byte> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out += digits[static_cast<uint8_t>(b) >> 4];
    out += digits[static_cast<uint8_t>(b) & 15];
  }
  return out;
}

template <size_t N>
std::array<std::byte, N> Iota(uint8_t first) {
  std::array<std::byte, N> a{};
  for (size_t i = 0; i < N; ++i) a[i] = static_cast<std::byte>(first + i);
  return a;
}

// Expected values from Python's hmac module (an implementation independent
// of libsodium): hmac.new(key, pack('<Q', seq) + header + body, sha256).
TEST(FrameMacFunctionTest, MatchesAnIndependentHmac) {
  const wire::FrameMacKey key = Iota<32>(0);
  const auto header = Iota<wire::kHeaderBytes>(0x40);
  const std::string body = "rams frame body";
  const auto body_bytes = std::as_bytes(std::span(body.data(), body.size()));
  EXPECT_EQ(Hex(wire::FrameMac(key, 5, header, body_bytes)),
            "c09f0848d49859963e5f26ed481abbd73a8b4152084995c7009078d5d1346c32");
  // The body may come in two pieces (a request's fixed part and its data).
  EXPECT_EQ(Hex(wire::FrameMac(key, 5, header, body_bytes.first(4), body_bytes.subspan(4))),
            "c09f0848d49859963e5f26ed481abbd73a8b4152084995c7009078d5d1346c32");
  EXPECT_EQ(Hex(wire::FrameMac(key, 0, header, {})),
            "269bfa21e5975a54cbf33755d63bc5424973335835363a6ec827ec93f8c8f857");
}

TEST(FrameMacFunctionTest, KeysComeFromTheHandshake) {
  wire::Nonce client_nonce, server_nonce;
  client_nonce.fill(std::byte{1});
  server_nonce.fill(std::byte{2});
  const wire::FrameMacKeys keys =
      wire::DeriveFrameMacKeys("0123456789abcdef", client_nonce, server_nonce);
  EXPECT_EQ(Hex(keys.client_to_server),
            "883e5f11d7eadb5d886033dd49a42b7317e435bf062567fe3c78e2663b707948");
  EXPECT_EQ(Hex(keys.server_to_client),
            "222a780edf27143bb5bbaac349b27f1dd548c07f5be8437196c1f092d99ff725");
}

// A frame as a sender makes it, and its MAC.
struct SignedFrame {
  wire::Bytes frame;
  wire::FrameMacTag mac;
};
SignedFrame Sign(wire::FrameMacStream& stream, uint64_t id, std::string_view text) {
  SignedFrame f;
  f.frame = wire::EncodeFrame({.opcode = static_cast<uint8_t>(wire::Opcode::kWrite),
                               .request_id = id},
                              std::as_bytes(std::span(text.data(), text.size())));
  const auto bytes = std::span<const std::byte>(f.frame);
  f.mac = stream.Sign(bytes.first<wire::kHeaderBytes>(), bytes.subspan(wire::kHeaderBytes));
  return f;
}
bool Verify(wire::FrameMacStream& stream, const SignedFrame& f) {
  const auto bytes = std::span<const std::byte>(f.frame);
  return stream.Verify(bytes.first<wire::kHeaderBytes>(), bytes.subspan(wire::kHeaderBytes),
                       f.mac);
}

TEST(FrameMacStreamTest, InOrderFramesVerifyAndAnyChangeFails) {
  const wire::FrameMacKey key = Iota<32>(7);
  wire::FrameMacStream tx(key), rx(key);
  const SignedFrame a = Sign(tx, 1, "first"), b = Sign(tx, 2, "second");
  EXPECT_TRUE(Verify(rx, a));
  EXPECT_TRUE(Verify(rx, b));
  EXPECT_EQ(rx.next_seq(), 2u);
  for (size_t i = 0; i < a.frame.size(); ++i) {  // every byte of header and body
    wire::FrameMacStream tx2(key), rx2(key);
    SignedFrame f = Sign(tx2, 1, "first");
    f.frame[i] ^= std::byte{0x01};
    EXPECT_FALSE(Verify(rx2, f)) << "byte " << i;
  }
}

TEST(FrameMacStreamTest, ReplayedAndReorderedFramesFail) {
  const wire::FrameMacKey key = Iota<32>(9);
  {
    wire::FrameMacStream tx(key), rx(key);
    const SignedFrame a = Sign(tx, 1, "add one");
    EXPECT_TRUE(Verify(rx, a));
    EXPECT_FALSE(Verify(rx, a));  // the same frame again
  }
  {
    wire::FrameMacStream tx(key), rx(key);
    const SignedFrame a = Sign(tx, 1, "x=1"), b = Sign(tx, 2, "x=2");
    EXPECT_FALSE(Verify(rx, b));  // b before a
  }
  {
    // The other direction's key does not verify this one's frames (no reflection).
    wire::Nonce n{};
    const wire::FrameMacKeys keys = wire::DeriveFrameMacKeys("0123456789abcdef", n, n);
    wire::FrameMacStream tx(keys.client_to_server), rx(keys.server_to_client);
    EXPECT_FALSE(Verify(rx, Sign(tx, 1, "reflected")));
  }
}

// A relay between one client and ramsd that knows the frames of both
// directions (with their MAC trailers once the handshake ended) and hands
// each to `edit`, which returns what to forward in its place: nothing (held
// or dropped), the frame altered, or several frames.
class FrameRelay {
 public:
  // `to_server`: the frame's direction; `index`: its number in it.
  using Edit = std::function<std::vector<wire::Bytes>(bool to_server, size_t index,
                                                      wire::Bytes frame)>;
  FrameRelay(uint16_t server_port, Edit edit) : server_port_(server_port), edit_(std::move(edit)) {
    listen_fd_ = ListenLoopback(&port_);
    accepter_ = std::thread([this] { Run(); });
  }
  ~FrameRelay() {
    shutdown(listen_fd_, SHUT_RDWR);
    for (int fd : {client_fd_.load(), server_fd_.load()}) {
      if (fd >= 0) shutdown(fd, SHUT_RDWR);
    }
    accepter_.join();
    close(listen_fd_);
    for (int fd : {client_fd_.load(), server_fd_.load()}) {
      if (fd >= 0) close(fd);
    }
  }
  uint16_t port() const { return port_; }
  bool mac_granted() const { return mac_granted_; }

  // Flips bit 0 of byte `at` of a frame; keeps the header CRC valid, so
  // that only the MAC can tell.
  static wire::Bytes Flip(wire::Bytes frame, size_t at) {
    frame[at] ^= std::byte{0x01};
    wire::StoreLe32(&frame[wire::kOffHeaderCrc],
                    wire::Crc32c(std::span<const std::byte>(frame).first(wire::kOffHeaderCrc)));
    return frame;
  }
  static uint8_t Opcode(const wire::Bytes& frame) { return static_cast<uint8_t>(frame[5]); }
  static bool IsReply(const wire::Bytes& frame) {
    return (wire::LoadLe16(&frame[wire::kOffFlags]) & wire::kFlagReply) != 0;
  }

 private:
  void Run() {
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    client_fd_ = client;
    const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    server_fd_ = server;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(server, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return;
    std::thread up([&] { Pump(client, server, true); });
    Pump(server, client, false);
    up.join();
  }

  static bool ReadExactly(int fd, std::byte* out, size_t n) {
    for (size_t got = 0; got < n;) {
      const ssize_t r = recv(fd, out + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }

  // Frames from `from` to `to` until either side closes.
  void Pump(int from, int to, bool to_server) {
    bool mac = false;  // this direction carries MACs from the end of AUTH on
    for (size_t index = 0;; ++index) {
      wire::Bytes frame(wire::kHeaderBytes);
      if (!ReadExactly(from, frame.data(), frame.size())) break;
      const uint32_t body_bytes = wire::LoadLe32(&frame[wire::kOffBodyBytes]);
      if (body_bytes > wire::kMaxBodyBytes) break;
      frame.resize(wire::FrameWireBytes(body_bytes, mac));
      if (!ReadExactly(from, frame.data() + wire::kHeaderBytes, frame.size() - wire::kHeaderBytes)) {
        break;
      }
      const bool reply = IsReply(frame);
      if (!to_server && reply && Opcode(frame) == static_cast<uint8_t>(wire::Opcode::kHello) &&
          body_bytes >= 8) {
        mac_granted_ = (wire::LoadLe64(&frame[wire::kHeaderBytes]) & wire::kFeatureFrameMac) != 0;
      }
      if (Opcode(frame) == static_cast<uint8_t>(wire::Opcode::kAuth) && reply != to_server) {
        mac = mac_granted_;  // the AUTH request (to the server) or its reply ends the handshake
      }
      for (const wire::Bytes& out : edit_(to_server, index, std::move(frame))) {
        if (send(to, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
          break;
        }
      }
    }
    shutdown(to, SHUT_RDWR);
    shutdown(from, SHUT_RDWR);
  }

  const uint16_t server_port_;
  const Edit edit_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> client_fd_{-1};
  std::atomic<int> server_fd_{-1};
  std::atomic<bool> mac_granted_{false};
  std::thread accepter_;
};

FrameRelay::Edit PassThrough() {
  return [](bool, size_t, wire::Bytes f) { return std::vector<wire::Bytes>{std::move(f)}; };
}

// An edit that applies `change` to the first frame of `opcode` in one
// direction (requests to the server, replies to the client).
FrameRelay::Edit ChangeFirst(bool to_server, wire::Opcode opcode,
                             std::function<std::vector<wire::Bytes>(wire::Bytes)> change) {
  auto done = std::make_shared<std::atomic<bool>>(false);
  return [=](bool dir, size_t, wire::Bytes f) {
    if (dir == to_server && FrameRelay::Opcode(f) == static_cast<uint8_t>(opcode) &&
        !done->exchange(true)) {
      return change(std::move(f));
    }
    return std::vector<wire::Bytes>{std::move(f)};
  };
}

class FrameMacTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--export", seg_.name(), "--key-file", key_file_};
    args.insert(args.end(), extra.begin(), extra.end());
    ramsd_.Start(args);
  }
  RemoteOptions Options(FrameMac mode = FrameMac::kRequire) const {
    return {.key = key_, .timeout = 5000ms, .frame_mac = mode};
  }
  // A session of another client (straight to ramsd) still works.
  void ExpectOthersServed() {
    auto other = RemoteSession::Connect("127.0.0.1", ramsd_.port(), Options());
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    auto seg = other->Open(seg_.name());
    ASSERT_TRUE(seg.ok()) << seg.status().ToString();
    const std::string text = "still served";
    ASSERT_TRUE((*seg)->Write(128, std::as_bytes(std::span(text.data(), text.size()))).ok());
    std::string back(text.size(), '\0');
    ASSERT_TRUE((*seg)->Read(128, std::as_writable_bytes(std::span(back.data(), back.size()))).ok());
    EXPECT_EQ(back, text);
  }
  uint64_t LocalWord(uint64_t offset) {
    const std::vector<std::byte> bytes = seg_.Bytes();
    uint64_t v = 0;
    std::memcpy(&v, bytes.data() + offset, sizeof(v));
    return v;
  }

  const std::string key_ = "frame-mac-test-key-0123456789";
  const std::string key_file_ = WriteKeyFile(key_);
  TempSegment seg_{1u << 20, "framemac"};
  RamsdProcess ramsd_;
};

TEST_F(FrameMacTest, UntamperedSessionWorksThroughTheRelay) {
  StartServer();
  FrameRelay relay(ramsd_.port(), PassThrough());
  auto session = RemoteSession::Connect("127.0.0.1", relay.port(), Options());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_TRUE(relay.mac_granted());
  auto seg = session->Open(seg_.name());
  ASSERT_TRUE(seg.ok());
  std::vector<std::byte> big(300000, std::byte{0x5a}), back(big.size());
  ASSERT_TRUE((*seg)->Write(0, big).ok());  // one frame > the relay's reads
  ASSERT_TRUE((*seg)->Read(0, back).ok());
  EXPECT_EQ(back, big);
  RemoteBatch batch;
  uint64_t prev[8];
  for (uint64_t& p : prev) batch.FetchAdd(**seg, 4096, 1, &p);
  ASSERT_TRUE(batch.Run().ok());
  EXPECT_EQ(LocalWord(4096), 0x5a5a5a5a5a5a5a5aULL + 8);
}

TEST_F(FrameMacTest, AlteredRequestBodyClosesTheSessionOthersUnaffected) {
  StartServer();
  FrameRelay relay(ramsd_.port(), ChangeFirst(true, wire::Opcode::kWrite, [](wire::Bytes f) {
    return std::vector<wire::Bytes>{FrameRelay::Flip(std::move(f), wire::kHeaderBytes + 16)};
  }));
  auto session = RemoteSession::Connect("127.0.0.1", relay.port(), Options());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto seg = session->Open(seg_.name());
  ASSERT_TRUE(seg.ok());
  const std::string text = "A";  // flipped in flight into "@"
  EXPECT_FALSE((*seg)->Write(0, std::as_bytes(std::span(text.data(), 1))).ok());
  EXPECT_FALSE(session->Ping().ok());
  EXPECT_EQ(seg_.Bytes()[0], std::byte{0});  // neither byte was written
  ExpectOthersServed();
}

TEST_F(FrameMacTest, AlteredRequestHeaderClosesTheSession) {
  StartServer();
  // The FETCH_ADD's request id, CRC fixed: the server would answer another id.
  FrameRelay relay(ramsd_.port(), ChangeFirst(true, wire::Opcode::kFetchAdd, [](wire::Bytes f) {
    return std::vector<wire::Bytes>{FrameRelay::Flip(std::move(f), wire::kOffRequestId + 1)};
  }));
  auto session = RemoteSession::Connect("127.0.0.1", relay.port(), Options());
  ASSERT_TRUE(session.ok());
  auto seg = session->Open(seg_.name());
  ASSERT_TRUE(seg.ok());
  const auto start = std::chrono::steady_clock::now();
  Result<uint64_t> r = (*seg)->FetchAdd(0, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.code(), ETIMEDOUT) << "the server must close, not answer or wait";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  EXPECT_EQ(LocalWord(0), 0u);
  ExpectOthersServed();
}

TEST_F(FrameMacTest, AlteredReplyIsRefusedByTheClient) {
  StartServer();
  {
    // A data byte of a READ reply.
    FrameRelay relay(ramsd_.port(), ChangeFirst(false, wire::Opcode::kRead, [](wire::Bytes f) {
      return std::vector<wire::Bytes>{FrameRelay::Flip(std::move(f), wire::kHeaderBytes + 3)};
    }));
    auto session = RemoteSession::Connect("127.0.0.1", relay.port(), Options());
    ASSERT_TRUE(session.ok());
    auto seg = session->Open(seg_.name());
    ASSERT_TRUE(seg.ok());
    std::vector<std::byte> out(4096);
    Status s = (*seg)->Read(0, out);
    EXPECT_EQ(s.code(), EPROTO) << s.ToString();
  }
  {
    // The status of a WRITE reply: success turned into EIO.
    FrameRelay relay(ramsd_.port(), ChangeFirst(false, wire::Opcode::kWrite, [](wire::Bytes f) {
      return std::vector<wire::Bytes>{FrameRelay::Flip(FrameRelay::Flip(std::move(f),
                                                                        wire::kOffStatus),
                                                       wire::kOffStatus + 2)};
    }));
    auto session = RemoteSession::Connect("127.0.0.1", relay.port(), Options());
    ASSERT_TRUE(session.ok());
    auto seg = session->Open(seg_.name());
    ASSERT_TRUE(seg.ok());
    const std::string text = "ok";
    Status s = (*seg)->Write(0, std::as_bytes(std::span(text.data(), text.size())));
    EXPECT_EQ(s.code(), EPROTO) << s.ToString();
  }
  ExpectOthersServed();
}

TEST_F(FrameMacTest, ReplayedRequestIsRefused) {
  StartServer();
  FrameRelay relay(ramsd_.port(), ChangeFirst(true, wire::Opcode::kFetchAdd, [](wire::Bytes f) {
    return std::vector<wire::Bytes>{f, f};  // the same frame twice
  }));
  auto session = RemoteSession::Connect("127.0.0.1", relay.port(), Options());
  ASSERT_TRUE(session.ok());
  auto seg = session->Open(seg_.name());
  ASSERT_TRUE(seg.ok());
  (void)(*seg)->FetchAdd(0, 1);  // its reply may still arrive before the close
  EXPECT_FALSE(session->Ping().ok());
  EXPECT_EQ(LocalWord(0), 1u) << "the replayed FETCH_ADD was applied";
  ExpectOthersServed();
}

TEST_F(FrameMacTest, ReorderedRequestsAreRefused) {
  StartServer();
  // Holds the first WRITE and sends it after the second.
  auto held = std::make_shared<std::optional<wire::Bytes>>();
  auto swapped = std::make_shared<bool>(false);
  FrameRelay relay(ramsd_.port(), [=](bool to_server, size_t, wire::Bytes f) {
    std::vector<wire::Bytes> out;
    if (to_server && !*swapped && FrameRelay::Opcode(f) == static_cast<uint8_t>(wire::Opcode::kWrite)) {
      if (!*held) {
        *held = std::move(f);
        return out;
      }
      out.push_back(std::move(f));
      out.push_back(std::move(**held));
      *swapped = true;
      return out;
    }
    out.push_back(std::move(f));
    return out;
  });
  auto session = RemoteSession::Connect("127.0.0.1", relay.port(), Options());
  ASSERT_TRUE(session.ok());
  auto seg = session->Open(seg_.name());
  ASSERT_TRUE(seg.ok());
  const std::string first = "1", second = "2";
  RemoteBatch batch;
  batch.Write(**seg, 0, std::as_bytes(std::span(first.data(), 1)));
  batch.Write(**seg, 0, std::as_bytes(std::span(second.data(), 1)));
  EXPECT_FALSE(batch.Run().ok());
  EXPECT_EQ(seg_.Bytes()[0], std::byte{0}) << "a reordered write was applied";
  ExpectOthersServed();
}

TEST_F(FrameMacTest, NegotiationOnLoopback) {
  StartServer();
  {
    // kAuto on loopback: not asked for, the session works without it.
    FrameRelay relay(ramsd_.port(), PassThrough());
    auto session = RemoteSession::Connect("127.0.0.1", relay.port(), Options(FrameMac::kAuto));
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    EXPECT_TRUE(session->Ping().ok());
    EXPECT_FALSE(relay.mac_granted());
  }
  {
    auto session = RemoteSession::Connect("127.0.0.1", ramsd_.port(), Options(FrameMac::kRefuse));
    EXPECT_TRUE(session.ok()) << session.status().ToString();
  }
  // Without a key there is nothing to key the MAC with.
  auto keyless = RemoteSession::Connect("127.0.0.1", ramsd_.port(),
                                        {.timeout = 5000ms, .frame_mac = FrameMac::kRequire});
  EXPECT_EQ(keyless.code(), EINVAL);
}

TEST_F(FrameMacTest, ClientRequiringItRefusesAServerThatRefusesIt) {
  StartServer({"--frame-mac", "refuse"});
  auto session = RemoteSession::Connect("127.0.0.1", ramsd_.port(), Options(FrameMac::kRequire));
  EXPECT_EQ(session.code(), EACCES) << session.status().ToString();
  EXPECT_TRUE(RemoteSession::Connect("127.0.0.1", ramsd_.port(), Options(FrameMac::kAuto)).ok());
}

TEST_F(FrameMacTest, ServerRequiringItRefusesAClientThatRefusesIt) {
  StartServer({"--frame-mac", "require"});
  auto session = RemoteSession::Connect("127.0.0.1", ramsd_.port(), Options(FrameMac::kRefuse));
  EXPECT_EQ(session.code(), EACCES) << session.status().ToString();
  // kAuto on loopback does not ask either.
  EXPECT_EQ(RemoteSession::Connect("127.0.0.1", ramsd_.port(), Options(FrameMac::kAuto)).code(),
            EACCES);
  EXPECT_TRUE(RemoteSession::Connect("127.0.0.1", ramsd_.port(), Options(FrameMac::kRequire)).ok());
}

TEST(FrameMacStartTest, RequireWithoutAKeyIsRefused) {
  TempSegment seg(4096, "macnokey");
  const std::string cmd = RamsdPath() + " --frame-mac require --export " + seg.name() +
                          " --listen 127.0.0.1:0 --log-dir " + ::testing::TempDir() +
                          "/ramsd-macnokey 2>/dev/null";
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
}

// A non-loopback IPv4 address of this host (empty when it has none).
std::string NonLoopbackAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string out;
  for (ifaddrs* i = list; i != nullptr && out.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET_ADDRSTRLEN];
    const auto* a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if (inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text)) != nullptr) out = text;
  }
  freeifaddrs(list);
  return out;
}

TEST_F(FrameMacTest, OnByDefaultForNonLoopbackPeers) {
  const std::string address = NonLoopbackAddress();
  if (address.empty()) GTEST_SKIP() << "no non-loopback IPv4 address on this host";
  std::vector<std::string> args = {"--export", seg_.name(), "--key-file", key_file_};
  ramsd_.Start(args, address);
  // Both defaults: the client asks, the server grants.
  auto session = RemoteSession::Connect(address, ramsd_.port(), Options(FrameMac::kAuto));
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_TRUE(session->Ping().ok());
  // A client that does not ask is refused by the default server.
  auto plain = RemoteSession::Connect(address, ramsd_.port(), Options(FrameMac::kRefuse));
  EXPECT_EQ(plain.code(), EACCES) << plain.status().ToString();
}

TEST(FrameMacKeylessTest, KeylessSessionsAreUnaffected) {
  TempSegment seg(4096, "mackeyless");
  RamsdProcess ramsd;
  ramsd.Start({"--export", seg.name()});
  // Asking for the bit gets no MAC without a key; frames stay plain.
  RawClient c(ramsd.port());
  c.SendMsg(wire::Opcode::kHello, 1,
            wire::HelloRequest{.features = wire::kAllFeatures | wire::kFeatureFrameMac});
  auto hello = c.Receive();
  ASSERT_TRUE(hello.has_value());
  ASSERT_EQ(hello->first.status, 0u);
  auto reply = wire::HelloReply::Decode(hello->second);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->features & wire::kFeatureFrameMac, 0u);
  c.Send(wire::Opcode::kPing, 2, {});
  EXPECT_EQ(c.NextStatus(), 0);
  auto session = RemoteSession::Connect("127.0.0.1", ramsd.port(), {.timeout = 5000ms});
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_TRUE(session->Ping().ok());
}

}  // namespace
}  // namespace rams::test
