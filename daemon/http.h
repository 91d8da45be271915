// ramsd's HTTP endpoint: GET /health (200 "ok", 503 while shutting down) and
// GET /metrics (Prometheus text format). HTTP/1.0 style: one request per
// connection, request head bounded to 4 KiB and 5 seconds.
//
// Thread safety: runs on the server's io thread.
#pragma once

#include <asio.hpp>

namespace ramsd {

class Server;

// Serves one request on `socket`, then closes it.
void ServeHttp(asio::ip::tcp::socket socket, Server& server);

}  // namespace ramsd
