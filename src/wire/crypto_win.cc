// SPDX-License-Identifier: MIT
// The handshake's cryptography over Windows' CNG (bcrypt.dll): HMAC-SHA-256
// with BCryptCreateHash on an HMAC algorithm provider, random bytes from the
// system-preferred RNG. Comparison is a plain constant-time loop.
#include "wire/crypto.h"

#include <windows.h>
#include <bcrypt.h>

#include <cstdio>
#include <cstdlib>

#include "check.h"

namespace rams::wire::crypto {
namespace {

bool Ok(NTSTATUS status) { return status >= 0; }

// CNG failing on a built-in algorithm leaves no safe way to authenticate.
void Require(NTSTATUS status, const char* what) {
  if (Ok(status)) return;
  fprintf(stderr, "rams: %s failed (NTSTATUS 0x%08lx)\n", what, static_cast<unsigned long>(status));
  std::abort();
}

// The HMAC-SHA-256 provider, opened once (provider handles are thread-safe).
BCRYPT_ALG_HANDLE HmacProvider() {
  static const BCRYPT_ALG_HANDLE provider = [] {
    BCRYPT_ALG_HANDLE h = nullptr;
    Require(BCryptOpenAlgorithmProvider(&h, BCRYPT_SHA256_ALGORITHM, nullptr,
                                        BCRYPT_ALG_HANDLE_HMAC_FLAG),
            "BCryptOpenAlgorithmProvider(SHA256, HMAC)");
    return h;
  }();
  return provider;
}

}  // namespace

Sha256 HmacSha256(std::string_view key, std::initializer_list<std::span<const std::byte>> parts) {
  BCRYPT_HASH_HANDLE hash = nullptr;
  Require(BCryptCreateHash(HmacProvider(), &hash, nullptr, 0,
                           reinterpret_cast<PUCHAR>(const_cast<char*>(key.data())),
                           static_cast<ULONG>(key.size()), 0),
          "BCryptCreateHash");
  for (std::span<const std::byte> part : parts) {
    Require(BCryptHashData(hash, reinterpret_cast<PUCHAR>(const_cast<std::byte*>(part.data())),
                           static_cast<ULONG>(part.size()), 0),
            "BCryptHashData");
  }
  Sha256 mac{};
  Require(BCryptFinishHash(hash, reinterpret_cast<PUCHAR>(mac.data()), mac.size(), 0),
          "BCryptFinishHash");
  BCryptDestroyHash(hash);
  return mac;
}

void RandomBytes(std::span<std::byte> out) {
  Require(BCryptGenRandom(nullptr, reinterpret_cast<PUCHAR>(out.data()),
                          static_cast<ULONG>(out.size()), BCRYPT_USE_SYSTEM_PREFERRED_RNG),
          "BCryptGenRandom");
}

bool ConstantTimeEqual(std::span<const std::byte> a, std::span<const std::byte> b) {
  RAMS_CHECK(a.size() == b.size());
  // Every byte is compared; the volatile accumulator keeps the compiler from
  // ending the loop at the first difference.
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

void Wipe(std::span<std::byte> bytes) { SecureZeroMemory(bytes.data(), bytes.size()); }

}  // namespace rams::wire::crypto
