/* SPDX-License-Identifier: MIT */
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
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "blocking_pool.h"
#include "log_limiter.h"
#include "mapping_home.h"
#include "metrics.h"
#include "rams/backend.h"
#include "rams/remote.h"
#include "wire/messages.h"
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
  // Listening sockets passed by the service manager (socket_activation.h),
  // served instead of binding listen_host / http_host; -1: none.
  int listen_fd = -1;
  int http_fd = -1;
  std::vector<Export> exports;
  std::string key;  // empty: no key (loopback peers only)
  // The per-frame MAC (docs/protocol.md §2) on keyed sessions: kAuto grants
  // it to whoever asks and requires it from non-loopback peers; kRequire
  // requires it from every peer (it needs a key); kRefuse never grants it.
  rams::FrameMac frame_mac = rams::FrameMac::kAuto;
  std::string http_host;  // empty: no HTTP endpoint
  uint16_t http_port = 0;
  bool http_public = false;  // allow a non-loopback http_host
  uint32_t max_connections = 256;  // sessions past the handshake
  // Connections still in the handshake have their own caps (per peer address
  // and in all), and this deadline.
  uint32_t max_unauthenticated = 64;
  uint32_t max_unauthenticated_per_peer = 8;
  uint32_t max_http_connections = 16;
  std::chrono::milliseconds handshake_timeout{2000};
  std::chrono::milliseconds drain_timeout{5000};
  // Remote mapping (docs/remote-mapping.md): granted to clients that ask;
  // a host that leaves a recall unanswered this long is cut off.
  bool mapping = true;
  std::chrono::milliseconds recall_timeout{2000};
  rams::Backend* backend = nullptr;
};

class Server {
 public:
  Server(asio::io_context& io, ServerOptions options);
  ~Server();

  // Binds the listening sockets (or takes the inherited ones). EADDRINUSE
  // etc.; EINVAL for a non-loopback address without a key.
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
  LogLimiter& log_limiter() { return log_limiter_; }
  BlockingPool& pool() { return pool_; }
  MappingHome& mapping() { return mapping_; }
  // More /metrics text (the host pager's), rendered on each scrape.
  void AddMetrics(std::function<std::string()> render) { extra_metrics_.push_back(std::move(render)); }
  std::string RenderExtraMetrics() const {
    std::string out;
    for (const auto& render : extra_metrics_) out += render();
    return out;
  }
  // The host pager's part of MAPPING_STAT (it sets kMappingStatPager).
  void SetPagerStat(std::function<void(wire::MappingStatReply*)> fill) {
    pager_stat_ = std::move(fill);
  }
  wire::MappingStatReply MappingStatReply() const;
  const std::shared_ptr<SyncGate>& sync_gate() { return sync_gate_; }
  asio::io_context& io() { return io_; }
  // A session finishing its handshake: false when --max-connections
  // sessions are past it already.
  bool AdmitReady();
  bool TryReserveParked();
  void ReleaseParked();
  wire::ServerStatReply StatReply() const;
  void Forget(Session* session);

  // Hot reads (Session::PollSocket): while the event loop polls (--poll busy,
  // or adaptive after activity), a session that read work is read directly by
  // PollHot instead of through the reactor. The loop turns them on when it
  // starts polling, and CoolHot gives every hot session its asynchronous read
  // back (and turns them off) before it sleeps.
  bool hot_reads() const { return hot_reads_; }
  void StartHotReads() { hot_reads_ = true; }
  void AddHot(std::shared_ptr<Session> session);
  // Reads every hot session once; how many found something.
  size_t PollHot();
  void CoolHot();

 private:
  void Accept();
  void OnAccept(const std::error_code& ec, asio::ip::tcp::socket socket);
  // Makes room for one more unauthenticated connection from `address` by
  // closing the oldest one of that peer (or of all) when a cap is reached:
  // idle sockets cannot lock anybody out for longer than a handshake.
  void MakeRoomUnauthenticated(const std::string& address);
  void AcceptHttp();
  void OnAcceptError(const std::error_code& ec, asio::steady_timer& timer,
                     std::function<void()> again);
  void FinishShutdown();

  asio::io_context& io_;
  const ServerOptions options_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  Metrics metrics_;
  LogLimiter log_limiter_;
  BlockingPool pool_{wire::kMaxWaitsPerServer};
  const std::shared_ptr<SyncGate> sync_gate_ =
      std::make_shared<SyncGate>(io_, wire::kMaxSyncAgentsPerServer);
  MappingHome mapping_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::acceptor http_acceptor_;
  asio::steady_timer drain_timer_;
  asio::steady_timer accept_backoff_timer_;
  asio::steady_timer http_backoff_timer_;
  uint16_t port_ = 0;
  uint16_t http_port_ = 0;
  std::set<std::shared_ptr<Session>> sessions_;
  bool hot_reads_ = false;
  std::vector<std::shared_ptr<Session>> hot_;  // Session::hot(), each once
  // Held while hot_ is not empty: hot sessions have no operation outstanding
  // that would keep the io_context from running out of work.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> hot_work_;
  uint64_t next_connection_id_ = 1;
  uint32_t parked_ = 0;
  uint32_t ready_sessions_ = 0;
  std::shared_ptr<uint32_t> http_connections_ = std::make_shared<uint32_t>(0);
  bool shutting_down_ = false;
  std::vector<std::function<std::string()>> extra_metrics_;
  std::function<void(wire::MappingStatReply*)> pager_stat_;
};

// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (remote/loopback.h).
bool IsLoopback(const asio::ip::tcp::endpoint& endpoint);

}  // namespace ramsd
