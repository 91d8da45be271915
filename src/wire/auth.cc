// SPDX-License-Identifier: MIT
// Challenge–response MACs over HMAC-SHA-256 (wire/crypto.h), and key files.
#include "wire/auth.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "wire/crypto.h"

namespace rams::wire {
namespace {

Mac ComputeMac(std::string_view key, std::string_view label, const Nonce& first,
               const Nonce& second) {
  static_assert(kMacBytes == crypto::kSha256Bytes);
  return crypto::HmacSha256(key, {std::as_bytes(std::span(label)), first, second});
}

}  // namespace

Nonce RandomNonce() {
  Nonce n{};
  crypto::RandomBytes(n);
  return n;
}

Mac ClientMac(std::string_view key, const Nonce& server_nonce, const Nonce& client_nonce) {
  return ComputeMac(key, "rams/1 client", server_nonce, client_nonce);
}

Mac ServerMac(std::string_view key, const Nonce& client_nonce, const Nonce& server_nonce) {
  return ComputeMac(key, "rams/1 server", client_nonce, server_nonce);
}

FrameMacKeys DeriveFrameMacKeys(std::string_view key, const Nonce& client_nonce,
                                const Nonce& server_nonce) {
  static_assert(sizeof(FrameMacKey) == sizeof(Mac));
  FrameMacKeys keys;
  const Mac c2s = ComputeMac(key, "rams/1 frame client", server_nonce, client_nonce);
  const Mac s2c = ComputeMac(key, "rams/1 frame server", client_nonce, server_nonce);
  std::copy(c2s.begin(), c2s.end(), keys.client_to_server.begin());
  std::copy(s2c.begin(), s2c.end(), keys.server_to_client.begin());
  return keys;
}

bool MacEqual(const Mac& a, const Mac& b) { return crypto::ConstantTimeEqual(a, b); }

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
#ifndef _WIN32
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return ErrnoError("stat key file " + path);
  if ((st.st_mode & 007) != 0) {
    return Error(EACCES, "key file " + path + " is accessible by others (chmod o-rwx it)");
  }
#endif
  // On Windows the file's ACL decides who may read it: the C runtime's
  // st_mode copies the owner's bits to group and others for every file, so
  // it cannot tell.
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
