/* SPDX-License-Identifier: MIT */
// ramsd's HTTP endpoint: GET /health (200 "ok", 503 while shutting down) and
// GET /metrics (Prometheus text format). HTTP/1.0 style: one request per
// connection, request head bounded to 4 KiB and 5 seconds; the server bounds
// the number of exchanges open at once (ServerOptions::max_http_connections).
//
// Thread safety: runs on the server's io thread.
#pragma once

#include <asio.hpp>

#include <cstdint>
#include <memory>

namespace ramsd {

class Server;

// Serves one request on `socket`, then closes it. `*open` counts the
// exchanges alive (incremented now, decremented when this one ends).
void ServeHttp(asio::ip::tcp::socket socket, Server& server, std::shared_ptr<uint32_t> open);

}  // namespace ramsd
