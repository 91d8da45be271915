/* SPDX-License-Identifier: MIT */
// Pre-shared-key challenge–response of the rams wire protocol
// (docs/protocol.md §2): nonces, the client's and the server's MACs
// (HMAC-SHA-256, wire/crypto.h), constant-time comparison, the per-frame MAC
// keys, and loading the key file.
//
// Thread safety: all functions are safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "rams/status.h"
#include "wire/frame_mac.h"
#include "wire/messages.h"

namespace rams::wire {

// 32 bytes from the system's CSPRNG.
Nonce RandomNonce();

// MAC(key, "rams/1 client" || server_nonce || client_nonce).
Mac ClientMac(std::string_view key, const Nonce& server_nonce, const Nonce& client_nonce);
// MAC(key, "rams/1 server" || client_nonce || server_nonce).
Mac ServerMac(std::string_view key, const Nonce& client_nonce, const Nonce& server_nonce);

bool MacEqual(const Mac& a, const Mac& b);

// The per-frame MAC keys of a session that negotiated kFeatureFrameMac
// (frame_mac.h), from the handshake's key and nonces:
//   client_to_server = MAC(key, "rams/1 frame client" || server_nonce || client_nonce)
//   server_to_client = MAC(key, "rams/1 frame server" || client_nonce || server_nonce)
struct FrameMacKeys {
  FrameMacKey client_to_server{};
  FrameMacKey server_to_client{};
};
FrameMacKeys DeriveFrameMacKeys(std::string_view key, const Nonce& client_nonce,
                                const Nonce& server_nonce);

// The key held in `path`: its content without trailing newlines, between
// kMinKeyBytes and kMaxKeyBytes long. EINVAL for a key of the wrong size,
// EACCES for a file others (not its owner or group) may access.
Result<std::string> LoadKeyFile(const std::string& path);

// EINVAL unless kMinKeyBytes <= key.size() <= kMaxKeyBytes.
Status ValidateKey(std::string_view key);

}  // namespace rams::wire
