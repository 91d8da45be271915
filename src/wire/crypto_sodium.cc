// SPDX-License-Identifier: MIT
// The handshake's cryptography over libsodium.
#include "wire/crypto.h"

#include <sodium.h>

#include <cstdlib>

#include "check.h"

namespace rams::wire::crypto {
namespace {

void InitSodium() {
  // sodium_init is thread-safe and idempotent; it fails only when no entropy
  // source exists, which leaves no safe way to run.
  static const int ok = sodium_init();
  if (ok < 0) std::abort();
}

}  // namespace

Sha256 HmacSha256(std::string_view key, std::initializer_list<std::span<const std::byte>> parts) {
  InitSodium();
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                              key.size());
  for (std::span<const std::byte> part : parts) {
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(part.data()),
                                  part.size());
  }
  Sha256 mac{};
  static_assert(kSha256Bytes == crypto_auth_hmacsha256_BYTES);
  crypto_auth_hmacsha256_final(&state, reinterpret_cast<unsigned char*>(mac.data()));
  sodium_memzero(&state, sizeof(state));
  return mac;
}

void RandomBytes(std::span<std::byte> out) {
  InitSodium();
  randombytes_buf(out.data(), out.size());
}

bool ConstantTimeEqual(std::span<const std::byte> a, std::span<const std::byte> b) {
  RAMS_CHECK(a.size() == b.size());
  InitSodium();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void Wipe(std::span<std::byte> bytes) { sodium_memzero(bytes.data(), bytes.size()); }

}  // namespace rams::wire::crypto
