// ramsd's server: accepts client connections (with a connection limit and the
// loopback-only rule for servers without a key), owns the export table, the
// metrics, the HTTP endpoint and the pool for parked operations, and shuts
// down gracefully: stop accepting, let in-flight requests finish, cancel
// parked ones, close.
//
// Thread safety: everything runs on the one thread running the io_context,
// except the BlockingPool's jobs and the sync agents, which only post back to
// it (agents through the SyncGate), and Metrics.
#pragma once

#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "blocking_pool.h"
#include "metrics.h"
#include "rams/backend.h"
#include "remote/messages.h"
#include "sync_agent.h"

namespace ramsd {

namespace wire = rams::wire;
class Session;

struct Export {
  std::string name;
  bool read_only = false;
};

struct ServerOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 7070;
  std::vector<Export> exports;
  std::string key;  // empty: no key (loopback peers only)
  std::string http_host;  // empty: no HTTP endpoint
  uint16_t http_port = 0;
  uint32_t max_connections = 256;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds drain_timeout{5000};
  rams::Backend* backend = nullptr;
};

class Server {
 public:
  Server(asio::io_context& io, ServerOptions options);
  ~Server();

  // Binds the listening sockets. EADDRINUSE etc.; EINVAL for a non-loopback
  // address without a key.
  rams::Status Listen();
  uint16_t port() const { return port_; }
  uint16_t http_port() const { return http_port_; }
  // Graceful shutdown; the io_context runs out of work once it is done.
  void Shutdown();
  bool shutting_down() const { return shutting_down_; }

  // For connections.
  const ServerOptions& options() const { return options_; }
  const Export* FindExport(std::string_view name) const;
  Metrics& metrics() { return metrics_; }
  BlockingPool& pool() { return pool_; }
  const std::shared_ptr<SyncGate>& sync_gate() { return sync_gate_; }
  asio::io_context& io() { return io_; }
  bool TryReserveParked();
  void ReleaseParked();
  wire::ServerStatReply StatReply() const;
  void Forget(Session* session);

 private:
  void Accept();
  void OnAccept(const std::error_code& ec, asio::ip::tcp::socket socket);
  void AcceptHttp();
  void FinishShutdown();

  asio::io_context& io_;
  const ServerOptions options_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  Metrics metrics_;
  BlockingPool pool_{wire::kMaxWaitsPerServer};
  const std::shared_ptr<SyncGate> sync_gate_ =
      std::make_shared<SyncGate>(io_, wire::kMaxSyncAgentsPerServer);
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::acceptor http_acceptor_;
  asio::steady_timer drain_timer_;
  uint16_t port_ = 0;
  uint16_t http_port_ = 0;
  std::set<std::shared_ptr<Session>> sessions_;
  uint64_t next_connection_id_ = 1;
  uint32_t parked_ = 0;
  bool shutting_down_ = false;
};

// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
bool IsLoopback(const asio::ip::address& address);

}  // namespace ramsd
