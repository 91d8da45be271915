// SPDX-License-Identifier: MIT
// Challenge–response MACs over libsodium's HMAC-SHA-256.
#include "wire/auth.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace rams::wire {
namespace {

void InitSodium() {
  // sodium_init is thread-safe and idempotent; it fails only when no entropy
  // source exists, which leaves no safe way to run.
  static const int ok = sodium_init();
  if (ok < 0) std::abort();
}

Mac ComputeMac(std::string_view key, std::string_view label, const Nonce& first,
               const Nonce& second) {
  InitSodium();
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                              key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(label.data()),
                                label.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(first.data()),
                                first.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(second.data()),
                                second.size());
  Mac mac{};
  static_assert(kMacBytes == crypto_auth_hmacsha256_BYTES);
  crypto_auth_hmacsha256_final(&state, reinterpret_cast<unsigned char*>(mac.data()));
  sodium_memzero(&state, sizeof(state));
  return mac;
}

}  // namespace

Nonce RandomNonce() {
  InitSodium();
  Nonce n{};
  randombytes_buf(n.data(), n.size());
  return n;
}

Mac ClientMac(std::string_view key, const Nonce& server_nonce, const Nonce& client_nonce) {
  return ComputeMac(key, "rams/1 client", server_nonce, client_nonce);
}

Mac ServerMac(std::string_view key, const Nonce& client_nonce, const Nonce& server_nonce) {
  return ComputeMac(key, "rams/1 server", client_nonce, server_nonce);
}

bool MacEqual(const Mac& a, const Mac& b) {
  InitSodium();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status ValidateKey(std::string_view key) {
  if (key.size() < kMinKeyBytes || key.size() > kMaxKeyBytes) {
    return Error(EINVAL, "key of " + std::to_string(key.size()) + " bytes (want " +
                             std::to_string(kMinKeyBytes) + " to " +
                             std::to_string(kMaxKeyBytes) + ")");
  }
  return Status::Ok();
}

Result<std::string> LoadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("open key file " + path);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return ErrnoError("stat key file " + path);
  if ((st.st_mode & 007) != 0) {
    return Error(EACCES, "key file " + path + " is accessible by others (chmod o-rwx it)");
  }
  std::string key;
  char buf[kMaxKeyBytes + 2];
  in.read(buf, sizeof(buf));
  key.assign(buf, static_cast<size_t>(in.gcount()));
  if (!in.eof()) return Error(EINVAL, "key file " + path + " longer than " +
                                          std::to_string(kMaxKeyBytes) + " bytes");
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  Status valid = ValidateKey(key);
  if (!valid.ok()) return Error(EINVAL, "key file " + path + ": " + valid.message());
  return key;
}

}  // namespace rams::wire
