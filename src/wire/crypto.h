/* SPDX-License-Identifier: MIT */
// The cryptography the handshake needs (wire/auth.h), behind one interface:
// libsodium on Linux (crypto_sodium.cc) and Windows' CNG (BCrypt) in the
// Windows client (crypto_win.cc), where Debian has no libsodium build.
//
// Thread safety: all functions are safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <string_view>

namespace rams::wire::crypto {

inline constexpr size_t kSha256Bytes = 32;
using Sha256 = std::array<std::byte, kSha256Bytes>;

// HMAC-SHA-256 (RFC 2104) under `key` of the concatenation of `parts`.
Sha256 HmacSha256(std::string_view key, std::initializer_list<std::span<const std::byte>> parts);

// Fills `out` from the system's CSPRNG (aborts when there is none: no safe
// way to run without one).
void RandomBytes(std::span<std::byte> out);

// a == b in time that depends only on the length. REQUIRES: equal sizes.
bool ConstantTimeEqual(std::span<const std::byte> a, std::span<const std::byte> b);

// Clears key material in a way the compiler does not optimise away.
void Wipe(std::span<std::byte> bytes);

}  // namespace rams::wire::crypto
