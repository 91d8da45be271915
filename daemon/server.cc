// SPDX-License-Identifier: MIT
// ramsd server: listening, connection limit, exports, graceful shutdown.
#include "server.h"

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "session.h"
#include "http.h"
#include "check.h"
#include "remote/loopback.h"

namespace ramsd {

bool IsLoopback(const asio::ip::tcp::endpoint& endpoint) {
  sockaddr_storage ss{};
  std::memcpy(&ss, endpoint.data(), std::min<size_t>(endpoint.size(), sizeof(ss)));
  return rams::remote_internal::net::IsLoopbackAddress(ss);
}

Server::Server(asio::io_context& io, ServerOptions options)
    : io_(io),
      options_(std::move(options)),
      mapping_(io, options_.backend, options_.recall_timeout),
      acceptor_(io),
      http_acceptor_(io),
      drain_timer_(io),
      accept_backoff_timer_(io),
      http_backoff_timer_(io) {
  RAMS_CHECK(options_.backend != nullptr);
}

Server::~Server() {
  // Agents exit once their connections are gone; one stuck in a Barrier::Wait
  // without a timeout is left behind (it is detached) and posts nothing more.
  const uint32_t stuck = sync_gate_->Close(std::chrono::seconds(2));
  if (stuck > 0) spdlog::warn("{} sync agents still blocked at exit", stuck);
}

namespace {

rams::Result<asio::ip::tcp::endpoint> Endpoint(const std::string& host, uint16_t port) {
  std::error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return rams::Error(EINVAL, "listen address '" + host + "' is not an IP address");
  return asio::ip::tcp::endpoint(address, port);
}

rams::Status Bind(asio::ip::tcp::acceptor& acceptor, const asio::ip::tcp::endpoint& ep,
                  uint16_t* port) {
  std::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return rams::Error(ec.value(), "listen on " + ep.address().to_string() + ":" +
                                       std::to_string(ep.port()));
  }
  *port = acceptor.local_endpoint().port();
  return rams::Status::Ok();
}

// Serves on `fd`, a listening TCP socket passed by the service manager.
rams::Result<asio::ip::tcp::endpoint> Adopt(asio::ip::tcp::acceptor& acceptor, int fd,
                                             uint16_t* port) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return rams::ErrnoError("inherited socket " + std::to_string(fd));
  }
  std::error_code ec;
  acceptor.assign(ss.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd, ec);
  asio::ip::tcp::endpoint ep;
  if (!ec) ep = acceptor.local_endpoint(ec);
  if (ec) return rams::Error(ec.value(), "inherited socket " + std::to_string(fd));
  *port = ep.port();
  return ep;
}

}  // namespace

rams::Status Server::Listen() {
  asio::ip::tcp::endpoint ep;
  if (options_.listen_fd >= 0) {
    RAMS_ASSIGN_OR_RETURN(ep, Adopt(acceptor_, options_.listen_fd, &port_));
  } else {
    RAMS_ASSIGN_OR_RETURN(ep, Endpoint(options_.listen_host, options_.listen_port));
  }
  if (options_.key.empty() && !IsLoopback(ep)) {
    return rams::Error(EINVAL, "listen on " + ep.address().to_string() +
                                   " without a key: only loopback addresses may (use --key-file)");
  }
  if (options_.listen_fd < 0) RAMS_RETURN_IF_ERROR(Bind(acceptor_, ep, &port_));
  if (options_.http_fd >= 0 || !options_.http_host.empty()) {
    asio::ip::tcp::endpoint hep;
    if (options_.http_fd >= 0) {
      RAMS_ASSIGN_OR_RETURN(hep, Adopt(http_acceptor_, options_.http_fd, &http_port_));
    } else {
      RAMS_ASSIGN_OR_RETURN(hep, Endpoint(options_.http_host, options_.http_port));
    }
    if (!options_.http_public && !IsLoopback(hep)) {
      return rams::Error(EINVAL, "--http on " + hep.address().to_string() +
                                     ": not loopback (add --http-public to serve metrics there)");
    }
    if (options_.http_fd < 0) RAMS_RETURN_IF_ERROR(Bind(http_acceptor_, hep, &http_port_));
    AcceptHttp();
  }
  Accept();
  return rams::Status::Ok();
}

void Server::Accept() {
  acceptor_.async_accept([this](const std::error_code& ec, asio::ip::tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void Server::OnAcceptError(const std::error_code& ec, asio::steady_timer& timer,
                           std::function<void()> again) {
  if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
      ec.value() == ENFILE || ec.value() == ENOMEM) {
    // Out of descriptors: the pending connection stays in the backlog, so
    // accepting again at once would spin. Give closing connections a moment.
    log_limiter_.Log(spdlog::level::err, "accept", "accept: " + ec.message() + " (backing off)");
    timer.expires_after(std::chrono::milliseconds(100));
    timer.async_wait([again = std::move(again)](const std::error_code& e) {
      if (!e) again();
    });
    return;
  }
  log_limiter_.Log(spdlog::level::err, "accept", "accept: " + ec.message());
  again();
}

void Server::OnAccept(const std::error_code& ec, asio::ip::tcp::socket socket) {
  if (shutting_down_ || ec == asio::error::operation_aborted) return;
  if (ec) return OnAcceptError(ec, accept_backoff_timer_, [this] { Accept(); });
  std::error_code pe;
  const asio::ip::tcp::endpoint remote = socket.remote_endpoint(pe);
  const bool loopback = !pe && IsLoopback(remote);
  const std::string address = pe ? "?" : remote.address().to_string();
  if (options_.key.empty() && !loopback) {
    metrics_.ConnectionRefused();
    log_limiter_.Log(spdlog::level::warn, "refused:" + address,
                     "refused " + address + ": not loopback and no key configured");
  } else {
    MakeRoomUnauthenticated(address);
    auto session = std::make_shared<Session>(*this, std::move(socket), next_connection_id_++,
                                             loopback);
    sessions_.insert(session);
    session->Start();
  }
  Accept();
}

void Server::MakeRoomUnauthenticated(const std::string& address) {
  uint32_t all = 0, of_peer = 0;
  std::shared_ptr<Session> oldest, oldest_of_peer;
  for (const auto& s : sessions_) {
    if (s->ready()) continue;
    ++all;
    if (!oldest || s->id() < oldest->id()) oldest = s;
    if (s->peer_address() != address) continue;
    ++of_peer;
    if (!oldest_of_peer || s->id() < oldest_of_peer->id()) oldest_of_peer = s;
  }
  std::shared_ptr<Session> victim;
  if (of_peer >= options_.max_unauthenticated_per_peer) {
    victim = oldest_of_peer;
  } else if (all >= options_.max_unauthenticated) {
    victim = oldest;
  }
  if (!victim) return;
  metrics_.ConnectionRefused();
  log_limiter_.Log(spdlog::level::warn, "evict:" + address,
                   "closing unauthenticated connection from " + victim->peer() +
                       ": too many connections in the handshake");
  victim->Abort();
}

bool Server::AdmitReady() {
  if (ready_sessions_ >= options_.max_connections) {
    metrics_.ConnectionRefused();
    log_limiter_.Log(spdlog::level::warn, "limit",
                     "refused a session: connection limit " +
                         std::to_string(options_.max_connections) + " reached");
    return false;
  }
  ++ready_sessions_;
  return true;
}

void Server::AcceptHttp() {
  http_acceptor_.async_accept([this](const std::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || shutting_down_) return;
    if (ec) return OnAcceptError(ec, http_backoff_timer_, [this] { AcceptHttp(); });
    if (*http_connections_ >= options_.max_http_connections) {
      // Over the limit: closed at once, without reading.
      metrics_.ConnectionRefused();
      log_limiter_.Log(spdlog::level::warn, "http-limit",
                       "refused an HTTP connection: limit " +
                           std::to_string(options_.max_http_connections) + " reached");
    } else {
      ServeHttp(std::move(socket), *this, http_connections_);
    }
    AcceptHttp();
  });
}

const Export* Server::FindExport(std::string_view name) const {
  for (const Export& e : options_.exports) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

bool Server::TryReserveParked() {
  if (parked_ >= wire::kMaxWaitsPerServer) return false;
  ++parked_;
  return true;
}

void Server::ReleaseParked() {
  RAMS_CHECK(parked_ > 0);
  --parked_;
}

wire::ServerStatReply Server::StatReply() const {
  wire::ServerStatReply reply{
      .uptime_ns = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::steady_clock::now() - started_).count()),
      .connections = metrics_.connections()};
  for (const Export& e : options_.exports) {
    if (reply.exports.size() == wire::kMaxExportsInStat) break;
    rams::Result<rams::SegmentInfo> info = options_.backend->Stat(e.name);
    reply.exports.push_back({.name = e.name, .read_only = e.read_only,
                             .size_bytes = info.ok() ? info->size_bytes : 0});
  }
  return reply;
}

wire::MappingStatReply Server::MappingStatReply() const {
  const MappingCounters c = mapping_.counters();
  wire::MappingStatReply r{.epoch = mapping_.epoch(),
                           .segments = c.segments,
                           .hosts = mapping_.hosts(),
                           .pages_granted = c.pages.faults_served,
                           .invalidations = c.pages.invalidations,
                           .downgrades = c.pages.downgrades,
                           .upgrades = c.pages.upgrades,
                           .page_bounces = c.pages.bounces,
                           .recalls_timed_out = c.pages.recalls_timed_out,
                           .hosts_cut_off = mapping_.hosts_cut_off(),
                           .pages_lost = c.pages.pages_lost};
  if (pager_stat_) pager_stat_(&r);
  return r;
}

void Server::Forget(Session* session) {
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (it->get() != session) continue;
    if (session->ready()) --ready_sessions_;
    // Destroyed once its pending handlers (which hold references) have run.
    sessions_.erase(it);
    break;
  }
  if (shutting_down_ && sessions_.empty()) FinishShutdown();
}

void Server::AddHot(std::shared_ptr<Session> session) {
  if (hot_.empty()) hot_work_.emplace(io_.get_executor());
  hot_.push_back(std::move(session));
}

size_t Server::PollHot() {
  size_t found = 0;
  // By index: a session's requests may make others hot (push_back), and
  // only this loop and CoolHot take one off (so `s` stays alive).
  for (size_t i = 0; i < hot_.size();) {
    Session* s = hot_[i].get();
    if (s->PollSocket()) ++found;
    if (s->hot()) {
      ++i;
      continue;
    }
    hot_[i] = std::move(hot_.back());
    hot_.pop_back();
  }
  if (hot_.empty()) hot_work_.reset();
  return found;
}

void Server::CoolHot() {
  hot_reads_ = false;
  // CoolDown only starts an asynchronous read (its handler runs later).
  for (const std::shared_ptr<Session>& s : hot_) s->CoolDown();
  hot_.clear();
  hot_work_.reset();
}

void Server::Shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  spdlog::info("shutting down: {} connections to drain", sessions_.size());
  mapping_.Stop();
  std::error_code ec;
  acceptor_.close(ec);
  // Copy: BeginShutdown may close and Forget a connection at once.
  const std::vector<std::shared_ptr<Session>> sessions(sessions_.begin(), sessions_.end());
  for (const auto& c : sessions) c->BeginShutdown();
  if (sessions_.empty()) return FinishShutdown();
  drain_timer_.expires_after(options_.drain_timeout);
  drain_timer_.async_wait([this](const std::error_code& e) {
    if (e) return;
    spdlog::warn("shutdown: {} connections did not drain in time; closing them",
                 sessions_.size());
    const std::vector<std::shared_ptr<Session>> left(sessions_.begin(), sessions_.end());
    for (const auto& c : left) c->Abort();
  });
}

void Server::FinishShutdown() {
  drain_timer_.cancel();
  std::error_code ec;
  http_acceptor_.close(ec);
  spdlog::info("shut down");
}

}  // namespace ramsd
