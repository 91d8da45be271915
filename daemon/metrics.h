/* SPDX-License-Identifier: MIT */
// ramsd's metrics, rendered in the Prometheus text format for the HTTP
// endpoint: operations and errors per opcode, bytes read and written,
// connections, authentication failures, protocol errors, parked operations and
// a latency histogram of request service times.
//
// Thread safety: counters are relaxed atomics (they order nothing; a scrape
// may see one counter a little ahead of another); safe from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace ramsd {

// One unlabelled metric in the Prometheus text format: its HELP and TYPE
// lines and its value (integers exactly, doubles to 17 digits).
void AppendMetric(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, uint64_t value);
void AppendMetric(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, double value);

class Metrics {
 public:
  static constexpr size_t kOpcodes = 256;
  // Upper bounds of the latency buckets, in microseconds (+Inf is implicit).
  static constexpr std::array<uint64_t, 14> kBucketsUs = {1,    2,    5,     10,    20,   50,  100,
                                                          200,  500,  1000,  5000,  20000, 100000,
                                                          1000000};

  // Relaxed throughout (here, in metrics.cc and in RenderPrometheus): each
  // counter is a value of its own, published to no one and paired with no
  // other operation; a scrape may see one counter a little ahead of another.
  void CountOp(uint8_t opcode, bool error, std::chrono::nanoseconds latency);
  void AddBytesRead(uint64_t n) { bytes_read_.fetch_add(n, std::memory_order_relaxed); }
  void AddBytesWritten(uint64_t n) { bytes_written_.fetch_add(n, std::memory_order_relaxed); }
  void ConnectionOpened() {
    connections_.fetch_add(1, std::memory_order_relaxed);
    connections_total_.fetch_add(1, std::memory_order_relaxed);
  }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  void ConnectionRefused() { connections_refused_.fetch_add(1, std::memory_order_relaxed); }
  void AuthFailure() { auth_failures_.fetch_add(1, std::memory_order_relaxed); }
  void ProtocolError() { protocol_errors_.fetch_add(1, std::memory_order_relaxed); }
  void Parked(int delta) { parked_.fetch_add(delta, std::memory_order_relaxed); }

  uint32_t connections() const {
    return static_cast<uint32_t>(connections_.load(std::memory_order_relaxed));
  }
  std::string RenderPrometheus() const;

 private:
  std::array<std::atomic<uint64_t>, kOpcodes> ops_{};
  std::array<std::atomic<uint64_t>, kOpcodes> errors_{};
  std::array<std::atomic<uint64_t>, kBucketsUs.size() + 1> buckets_{};
  std::atomic<uint64_t> latency_sum_ns_{0};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<int64_t> connections_{0};
  std::atomic<uint64_t> connections_total_{0};
  std::atomic<uint64_t> connections_refused_{0};
  std::atomic<uint64_t> auth_failures_{0};
  std::atomic<uint64_t> protocol_errors_{0};
  std::atomic<int64_t> parked_{0};
};

}  // namespace ramsd
