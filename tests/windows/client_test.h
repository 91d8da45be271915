/* SPDX-License-Identifier: MIT */
// What the Windows client tests share: the home's address and key from the
// environment scripts/windows-test sets (RAMS_WINDOWS_PORT, _OPEN_PORT,
// _IMPOSTOR_PORT, _MAC_PORT, _TAMPER_PORT, _PREFIX, _KEY_FILE), and
// connecting to it.
//
// Thread safety: the functions may be called from any thread.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "home_layout.h"
#include "rams/remote.h"

namespace rams::test {

inline std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

inline uint16_t EnvPort(const char* name) { return static_cast<uint16_t>(std::atoi(Env(name).c_str())); }

// The segment of the home named by `suffix` (home_layout.h).
inline std::string HomeSegment(const char* suffix) { return Env("RAMS_WINDOWS_PREFIX") + suffix; }

inline std::string HomeKey() {
  auto key = LoadRemoteKey(Env("RAMS_WINDOWS_KEY_FILE"));
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return key.ok() ? *key : std::string();
}

inline RemoteOptions KeyedOptions() {
  RemoteOptions options;
  options.key = HomeKey();
  options.timeout = std::chrono::seconds(20);
  return options;
}

// A session with the keyed ramsd (the one the tests use unless they test
// authentication).
inline Result<RemoteSession> ConnectHome() {
  return RemoteSession::Connect("127.0.0.1", EnvPort("RAMS_WINDOWS_PORT"), KeyedOptions());
}

}  // namespace rams::test
