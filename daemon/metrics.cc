// SPDX-License-Identifier: MIT
// Prometheus text rendering of ramsd's counters.
#include "metrics.h"

#include <cstdio>

#include <sstream>

#include "wire/frame.h"

namespace ramsd {

// Relaxed: independent counters, paired with nothing (see metrics.h).
namespace {

void AppendHead(std::string& out, std::string_view name, std::string_view type,
                std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out.append(name).append(" ").append(type).append("\n").append(name).append(" ");
}

}  // namespace

void AppendMetric(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, uint64_t value) {
  AppendHead(out, name, type, help);
  out.append(std::to_string(value)).append("\n");
}

void AppendMetric(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, double value) {
  AppendHead(out, name, type, help);
  char v[32];
  snprintf(v, sizeof v, "%.17g\n", value);
  out.append(v);
}

void Metrics::CountOp(uint8_t opcode, bool error, std::chrono::nanoseconds latency) {
  ops_[opcode].fetch_add(1, std::memory_order_relaxed);
  if (error) errors_[opcode].fetch_add(1, std::memory_order_relaxed);
  const auto ns = static_cast<uint64_t>(std::max<int64_t>(0, latency.count()));
  latency_sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBucketsUs.size() && ns > kBucketsUs[b] * 1000) ++b;
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::RenderPrometheus() const {
  std::ostringstream o;
  // Relaxed: independent counters, paired with nothing (see metrics.h).
  auto load = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  o << "# HELP ramsd_ops_total Requests handled, by opcode.\n# TYPE ramsd_ops_total counter\n";
  for (size_t i = 0; i < kOpcodes; ++i) {
    if (load(ops_[i]) == 0) continue;
    o << "ramsd_ops_total{op=\"" << rams::wire::OpcodeName(static_cast<uint8_t>(i)) << "\"} "
      << load(ops_[i]) << "\n";
  }
  o << "# HELP ramsd_op_errors_total Requests answered with an error, by opcode.\n"
       "# TYPE ramsd_op_errors_total counter\n";
  for (size_t i = 0; i < kOpcodes; ++i) {
    if (load(errors_[i]) == 0) continue;
    o << "ramsd_op_errors_total{op=\"" << rams::wire::OpcodeName(static_cast<uint8_t>(i))
      << "\"} " << load(errors_[i]) << "\n";
  }
  o << "# HELP ramsd_op_latency_seconds Service time of requests (parked ones excluded).\n"
       "# TYPE ramsd_op_latency_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t b = 0; b < kBucketsUs.size(); ++b) {
    cumulative += load(buckets_[b]);
    o << "ramsd_op_latency_seconds_bucket{le=\"" << static_cast<double>(kBucketsUs[b]) / 1e6
      << "\"} " << cumulative << "\n";
  }
  cumulative += load(buckets_[kBucketsUs.size()]);
  o << "ramsd_op_latency_seconds_bucket{le=\"+Inf\"} " << cumulative << "\n"
    << "ramsd_op_latency_seconds_sum " << static_cast<double>(load(latency_sum_ns_)) / 1e9 << "\n"
    << "ramsd_op_latency_seconds_count " << cumulative << "\n";
  auto line = [&](const char* name, const char* type, const char* help, auto value) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
      << name << " " << value << "\n";
  };
  line("ramsd_bytes_read_total", "counter", "Segment bytes sent to clients (READ).",
       load(bytes_read_));
  line("ramsd_bytes_written_total", "counter", "Segment bytes received from clients (WRITE).",
       load(bytes_written_));
  line("ramsd_connections", "gauge", "Open client connections.", load(connections_));
  line("ramsd_connections_total", "counter", "Client connections accepted.",
       load(connections_total_));
  line("ramsd_connections_refused_total", "counter",
       "Connections closed at once (limit, or non-loopback without a key).",
       load(connections_refused_));
  line("ramsd_auth_failures_total", "counter", "Failed authentications.", load(auth_failures_));
  line("ramsd_protocol_errors_total", "counter", "Connections closed for a protocol violation.",
       load(protocol_errors_));
  line("ramsd_parked_ops", "gauge", "WAITs and LOCKs parked on this host.", load(parked_));
  return o.str();
}

}  // namespace ramsd
