// SPDX-License-Identifier: MIT
// ramsd's log file and HTTP endpoint: /health, Prometheus /metrics counting
// operations, bytes, errors, connections and authentication failures, and
// log lines for connections and failed authentications.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

#include "rams/remote.h"
#include "ramsd_process.h"

namespace rams::test {
namespace {

std::string HttpRequest(uint16_t port, const std::string& method, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "";
  }
  const std::string req = method + " " + path + " HTTP/1.0\r\nHost: x\r\n\r\n";
  EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

std::string HttpGet(uint16_t port, const std::string& path) {
  return HttpRequest(port, "GET", path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ObservabilityTest, HealthMetricsAndLogs) {
  const std::string key = "observability-key-0123456789";
  TempSegment seg(8192, "obs");
  RamsdProcess ramsd;
  ramsd.Start({"--export", seg.name(), "--key-file", WriteKeyFile(key), "--http", "127.0.0.1:0"});
  ASSERT_NE(ramsd.http_port(), 0);

  const std::string health = HttpGet(ramsd.http_port(), "/health");
  EXPECT_NE(health.find("200 OK"), std::string::npos) << health;
  EXPECT_NE(HttpGet(ramsd.http_port(), "/nope").find("404"), std::string::npos);

  EXPECT_EQ(RemoteSession::Connect("127.0.0.1", ramsd.port(), {.key = "wrong-key-0123456789"}).code(),
            EACCES);
  auto s = RemoteSession::Connect("127.0.0.1", ramsd.port(), {.key = key});
  ASSERT_TRUE(s.ok());
  auto r = s->Open(seg.name());
  ASSERT_TRUE(r.ok());
  std::vector<std::byte> data(1000, std::byte{1});
  ASSERT_TRUE((*r)->Write(0, data).ok());
  ASSERT_TRUE((*r)->Read(0, data).ok());
  // Refused by the client's range check before sending: no READ reaches ramsd.
  EXPECT_EQ((*r)->Read(8190, data).code(), EINVAL);
  // Refused by ramsd: a range held by another handle of the session.
  auto other = s->Open(seg.name());
  ASSERT_TRUE(other.ok());
  auto held = (*r)->Lock(0, 8, {.timeout = std::chrono::nanoseconds(0)});
  ASSERT_TRUE(held.ok());
  EXPECT_EQ((*other)->Lock(0, 8, {.timeout = std::chrono::nanoseconds(0)}).code(), EWOULDBLOCK);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->Ping().ok());

  const std::string metrics = HttpGet(ramsd.http_port(), "/metrics");
  for (const char* want :
       {"ramsd_ops_total{op=\"PING\"} 5", "ramsd_ops_total{op=\"WRITE\"} 1",
        "ramsd_ops_total{op=\"READ\"} 1", "ramsd_op_errors_total{op=\"LOCK\"} 1", "ramsd_bytes_written_total 1000",
        "ramsd_bytes_read_total 1000", "ramsd_connections_total 2", "ramsd_auth_failures_total 1",
        "ramsd_op_latency_seconds_bucket{le=\"+Inf\"}", "# TYPE ramsd_op_latency_seconds histogram"}) {
    EXPECT_NE(metrics.find(want), std::string::npos) << want << " missing in\n" << metrics;
  }
  EXPECT_EQ(ramsd.Stop(SIGTERM), 0);
  const std::string log = ReadFile(ramsd.log_dir() + "/ramsd.log");
  for (const char* want : {"listening on", "authentication failed", "authenticated", "closed",
                           "graceful shutdown"}) {
    EXPECT_NE(log.find(want), std::string::npos) << want << " missing in the log";
  }
}

// HEAD, a query string, other methods, and the build and process metrics.
TEST(ObservabilityTest, HeadQueryStringsAndProcessMetrics) {
  TempSegment seg(4096, "obs-head");
  RamsdProcess ramsd;
  ramsd.Start({"--export", seg.name(), "--http", "127.0.0.1:0"});
  ASSERT_NE(ramsd.http_port(), 0);

  const std::string get = HttpGet(ramsd.http_port(), "/health");
  const std::string head = HttpRequest(ramsd.http_port(), "HEAD", "/health");
  ASSERT_NE(head.find("200 OK"), std::string::npos) << head;
  // The same head as GET's (Content-Length of the body it would send), no body.
  EXPECT_EQ(head, get.substr(0, get.find("\r\n\r\n") + 4));
  EXPECT_NE(head.find("Content-Length: 3\r\n"), std::string::npos) << head;

  const std::string post = HttpRequest(ramsd.http_port(), "POST", "/health");
  EXPECT_NE(post.find("405"), std::string::npos) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos) << post;

  const std::string metrics = HttpGet(ramsd.http_port(), "/metrics?name[]=ramsd_ops_total");
  ASSERT_NE(metrics.find("200 OK"), std::string::npos) << metrics;
  for (const char* want :
       {"ramsd_build_info{version=\"", "# TYPE process_cpu_seconds_total counter",
        "process_resident_memory_bytes ", "process_virtual_memory_bytes ", "process_open_fds ",
        "process_max_fds ", "process_start_time_seconds "}) {
    EXPECT_NE(metrics.find(want), std::string::npos) << want << " missing in\n" << metrics;
  }
  // Plausible values: ramsd holds a few descriptors and started in the last day.
  const size_t fds = metrics.find("\nprocess_open_fds ");
  ASSERT_NE(fds, std::string::npos);
  EXPECT_GE(std::stod(metrics.substr(fds + 18)), 3.0);
  const size_t start = metrics.find("\nprocess_start_time_seconds ");
  ASSERT_NE(start, std::string::npos);
  EXPECT_NEAR(std::stod(metrics.substr(start + 28)), static_cast<double>(time(nullptr)), 86400.0);
  EXPECT_EQ(ramsd.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace rams::test
