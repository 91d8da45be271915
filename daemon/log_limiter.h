/* SPDX-License-Identifier: MIT */
// LogLimiter: rate limit for ramsd's log lines about repeated failures
// (wrong keys, refused connections, protocol violations, accept errors), so
// that a peer repeating one failure cannot rotate the log history away. Per
// key (the kind of failure, optionally with the peer's address), at most
// kBurst lines per kWindow are written; the rest are counted and reported in
// one line when the next window opens.
//
// Thread safety: used only on the server's io thread.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace ramsd {

class LogLimiter {
 public:
  static constexpr uint32_t kBurst = 10;
  static constexpr std::chrono::seconds kWindow{10};
  // Keys kept at most; beyond, the oldest window's keys are forgotten.
  static constexpr size_t kMaxKeys = 4096;

  void Log(spdlog::level::level_enum level, const std::string& key, const std::string& line);

 private:
  struct Window {
    std::chrono::steady_clock::time_point start;
    uint32_t written = 0;
    uint64_t suppressed = 0;
  };
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace ramsd
