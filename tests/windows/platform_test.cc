// SPDX-License-Identifier: MIT
// The remote client's platform layer, on every platform it is built for:
// the protocol's status codes against the platform's errno values (on
// mingw-w64 many differ), errno names without glibc, and the handshake's
// HMAC-SHA-256 (libsodium on Linux, CNG on Windows) against RFC 4231, and
// the classification of socket addresses as loopback.
#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>

#include "rams/status.h"
#include "remote/loopback.h"
#include "wire/crypto.h"
#include "wire/errno_codes.h"

namespace rams::wire {
namespace {

TEST(ErrnoCodesTest, ProtocolCodesMapToThisPlatformsErrno) {
  // The protocol's values are Linux's (docs/protocol.md §6), whatever the
  // platform's are.
  EXPECT_EQ(ErrnoFromWire(110), ETIMEDOUT);
  EXPECT_EQ(ErrnoFromWire(104), ECONNRESET);
  EXPECT_EQ(ErrnoFromWire(71), EPROTO);
  EXPECT_EQ(ErrnoFromWire(35), EDEADLK);
  EXPECT_EQ(ErrnoFromWire(37), ENOLCK);
  EXPECT_EQ(ErrnoFromWire(131), ENOTRECOVERABLE);
  EXPECT_EQ(ErrnoFromWire(130), EOWNERDEAD);
  EXPECT_EQ(ErrnoFromWire(125), ECANCELED);
  EXPECT_EQ(ErrnoFromWire(95), EOPNOTSUPP);
  EXPECT_EQ(ErrnoFromWire(11), EAGAIN);
  EXPECT_EQ(ErrnoFromWire(13), EACCES);
  EXPECT_EQ(ErrnoFromWire(0), 0);
  EXPECT_EQ(ErrnoToWire(ETIMEDOUT), 110u);
  EXPECT_EQ(ErrnoToWire(EWOULDBLOCK), 11u);
  EXPECT_EQ(ErrnoToWire(ENOTSUP), 95u);
  EXPECT_EQ(ErrnoToWire(0), 0u);
#ifdef _WIN32
  // mingw-w64's own values, which the wire must never carry.
  EXPECT_EQ(ETIMEDOUT, 138);
  EXPECT_EQ(ErrnoFromWire(138), EIO);  // no protocol code is 138
#endif
}

TEST(ErrnoCodesTest, TableRoundTripsAndHasNoDuplicateCodes) {
  std::set<uint32_t> wire_codes;
  std::set<int> local_codes;
  int differing = 0;
  for (const ErrnoCode& c : ErrnoCodes()) {
    EXPECT_EQ(ErrnoToWire(c.local), c.wire) << c.name;
    // An alias maps back to its canonical name's errno, which has the same code.
    EXPECT_EQ(ErrnoToWire(ErrnoFromWire(c.wire)), c.wire) << c.name;
    const bool alias = !wire_codes.insert(c.wire).second;
    if (!alias) {
      EXPECT_TRUE(local_codes.insert(c.local).second) << c.name << " shares a local value";
      EXPECT_EQ(ErrnoFromWire(c.wire), c.local) << c.name;
    }
    differing += static_cast<int>(c.wire) != c.local;
    EXPECT_NE(ErrnoCodeName(c.local), nullptr) << c.name;
  }
  EXPECT_GE(wire_codes.size(), 70u);
#ifdef __linux__
  EXPECT_EQ(differing, 0);
#elif defined(_WIN32)
  // ETIMEDOUT, ECONNRESET, EPROTO, ... (EWOULDBLOCK and ENOTSUP too).
  EXPECT_GE(differing, 13);
#endif
}

TEST(ErrnoCodesTest, UnknownWireCodesAreNotMisread) {
#ifdef __linux__
  EXPECT_EQ(ErrnoFromWire(4000), 4000);  // Linux: the protocol's codes are errno values
#else
  EXPECT_EQ(ErrnoFromWire(4000), EIO);
  EXPECT_EQ(ErrnoToWire(4000), 5u);
#endif
  EXPECT_EQ(ErrnoFromWire(0x80000000u), EIO);
}

TEST(ErrnoCodesTest, NamesWithoutGlibc) {
  EXPECT_EQ(ErrnoName(ETIMEDOUT), "ETIMEDOUT");
  EXPECT_EQ(ErrnoName(ECONNREFUSED), "ECONNREFUSED");
  EXPECT_EQ(ErrnoName(EACCES), "EACCES");
  EXPECT_STREQ(ErrnoCodeName(ETIMEDOUT), "ETIMEDOUT");
  EXPECT_STREQ(ErrnoCodeName(EPROTO), "EPROTO");
  EXPECT_EQ(ErrnoCodeName(-7), nullptr);
  EXPECT_EQ(ErrnoName(-7), "E-7");
  EXPECT_EQ(Error(ETIMEDOUT, "lock").message(), "lock: ETIMEDOUT");
}

std::string Hex(std::span<const std::byte> bytes) {
  std::string out;
  char buf[3];
  for (std::byte b : bytes) {
    snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(b));
    out += buf;
  }
  return out;
}

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

TEST(CryptoTest, HmacSha256MatchesRfc4231) {
  // RFC 4231 test case 2: key "Jefe".
  EXPECT_EQ(Hex(crypto::HmacSha256("Jefe", {Bytes("what do ya want for nothing?")})),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // The same message in parts gives the same MAC.
  EXPECT_EQ(Hex(crypto::HmacSha256("Jefe", {Bytes("what do ya "), Bytes(""),
                                            Bytes("want for nothing?")})),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a 131-byte key, longer than the block (hashed first).
  const std::string key(131, '\xaa');
  EXPECT_EQ(Hex(crypto::HmacSha256(key, {Bytes("Test Using Larger Than Block-Size Key - Hash Key First")})),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(CryptoTest, ConstantTimeEqualAndRandomBytes) {
  crypto::Sha256 a{}, b{};
  EXPECT_TRUE(crypto::ConstantTimeEqual(a, b));
  b[31] = std::byte{1};
  EXPECT_FALSE(crypto::ConstantTimeEqual(a, b));
  b[31] = std::byte{0};
  b[0] = std::byte{0x80};
  EXPECT_FALSE(crypto::ConstantTimeEqual(a, b));
  crypto::Sha256 r1{}, r2{};
  crypto::RandomBytes(r1);
  crypto::RandomBytes(r2);
  EXPECT_NE(r1, r2);  // 2^-256 to fail by chance
  EXPECT_NE(r1, crypto::Sha256{});
}

// A socket address of `text` (IPv6 when it has a colon).
sockaddr_storage Address(const char* text) {
  sockaddr_storage ss{};
  if (std::strchr(text, ':') != nullptr) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(7000);
    EXPECT_EQ(inet_pton(AF_INET6, text, &a.sin6_addr), 1) << text;
    std::memcpy(&ss, &a, sizeof(a));
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(7000);
    EXPECT_EQ(inet_pton(AF_INET, text, &a.sin_addr), 1) << text;
    std::memcpy(&ss, &a, sizeof(a));
  }
  return ss;
}

TEST(LoopbackAddressTest, LoopbackInEveryForm) {
  using remote_internal::net::IsLoopbackAddress;
  for (const char* yes : {"127.0.0.1", "127.255.255.254", "127.1.2.3", "::1", "::ffff:127.0.0.1",
                          "::ffff:127.9.8.7"}) {
    EXPECT_TRUE(IsLoopbackAddress(Address(yes))) << yes;
  }
  for (const char* no : {"0.0.0.0", "10.0.0.1", "128.0.0.1", "126.255.255.255", "1.0.0.127",
                         "192.168.1.127", "::", "::2", "fe80::1", "::ffff:10.0.0.1",
                         "::ffff:128.0.0.1", "::127.0.0.1", "64:ff9b::127.0.0.1",
                         "2001:db8::1"}) {
    EXPECT_FALSE(IsLoopbackAddress(Address(no))) << no;
  }
  sockaddr_storage other{};
  other.ss_family = AF_UNSPEC;
  EXPECT_FALSE(IsLoopbackAddress(other));
}

}  // namespace
}  // namespace rams::wire
