// SPDX-License-Identifier: MIT
// Minimal HTTP responder for health and metrics.
#include "http.h"

#include <cstdint>
#include <memory>
#include <string>

#include "process_metrics.h"
#include "server.h"

namespace ramsd {
namespace {

constexpr size_t kMaxRequestHeadBytes = 4096;

struct HttpExchange : std::enable_shared_from_this<HttpExchange> {
  HttpExchange(asio::ip::tcp::socket s, Server& srv, std::shared_ptr<uint32_t> open_count)
      : socket(std::move(s)),
        server(srv),
        timer(server.io()),
        request(kMaxRequestHeadBytes),
        open(std::move(open_count)) {
    ++*open;
  }
  ~HttpExchange() { --*open; }

  void Start() {
    timer.expires_after(std::chrono::seconds(5));
    timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (!ec) self->socket.close();
    });
    asio::async_read_until(socket, request, "\r\n\r\n",
                           [self = shared_from_this()](const std::error_code& ec, size_t) {
                             self->OnRequest(ec);
                           });
  }

  void OnRequest(const std::error_code& ec) {
    if (ec) return Finish();
    std::istream in(&request);
    std::string method, target;
    in >> method >> target;
    // The query string selects nothing here (a scraper may add one).
    if (const size_t q = target.find('?'); q != std::string::npos) target.resize(q);
    // HEAD answers as GET would, without the body.
    const bool head = method == "HEAD";
    std::string status = "200 OK", type = "text/plain; charset=utf-8", body, extra;
    if (method != "GET" && !head) {
      status = "405 Method Not Allowed";
      extra = "Allow: GET, HEAD\r\n";
      body = "GET or HEAD only\n";
    } else if (target == "/health") {
      if (server.shutting_down()) status = "503 Service Unavailable";
      body = server.shutting_down() ? "shutting down\n" : "ok\n";
    } else if (target == "/metrics") {
      type = "text/plain; version=0.0.4; charset=utf-8";
      body = server.metrics().RenderPrometheus() + server.mapping().RenderPrometheus() +
             server.RenderExtraMetrics() + RenderProcessMetrics();
    } else {
      status = "404 Not Found";
      body = "try /health or /metrics\n";
    }
    response = "HTTP/1.0 " + status + "\r\nContent-Type: " + type +
               "\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n" + extra + "Connection: close\r\n\r\n" + (head ? "" : body);
    asio::async_write(socket, asio::buffer(response),
                      [self = shared_from_this()](const std::error_code&, size_t) {
                        self->Finish();
                      });
  }

  void Finish() {
    std::error_code ec;
    timer.cancel();
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  asio::ip::tcp::socket socket;
  Server& server;
  asio::steady_timer timer;
  asio::streambuf request;
  std::string response;
  std::shared_ptr<uint32_t> open;  // the server's count of open exchanges
};

}  // namespace

void ServeHttp(asio::ip::tcp::socket socket, Server& server, std::shared_ptr<uint32_t> open) {
  std::make_shared<HttpExchange>(std::move(socket), server, std::move(open))->Start();
}

}  // namespace ramsd
