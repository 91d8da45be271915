// SPDX-License-Identifier: MIT
// The listening sockets of socket activation (LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES).
#include "socket_activation.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace ramsd {
namespace {

constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START

// `text` as a decimal number, or -1.
long long Number(const char* text) {
  if (text == nullptr) return -1;
  const std::string_view s(text);
  long long v = -1;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return -1;
  return v;
}

// OK when `fd` is a listening IPv4/IPv6 TCP socket.
rams::Status CheckListening(int fd) {
  const std::string what = "socket activation: fd " + std::to_string(fd);
  struct stat st{};
  if (fstat(fd, &st) != 0) return rams::ErrnoError(what);
  if (!S_ISSOCK(st.st_mode)) return rams::Error(EINVAL, what + " is not a socket");
  int type = 0, listening = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return rams::ErrnoError(what);
  len = sizeof(listening);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) {
    return rams::ErrnoError(what);
  }
  sockaddr_storage ss{};
  len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return rams::ErrnoError(what);
  if (type != SOCK_STREAM || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
    return rams::Error(EINVAL, what + " is not a TCP socket (ListenStream=ADDR:PORT)");
  }
  if (listening == 0) return rams::Error(EINVAL, what + " is not listening");
  return rams::Status::Ok();
}

}  // namespace

rams::Result<InheritedSockets> TakeInheritedSockets() {
  const long long pid = Number(std::getenv("LISTEN_PID"));
  const char* fds_text = std::getenv("LISTEN_FDS");
  const long long count = Number(fds_text);
  const char* names_text = std::getenv("LISTEN_FDNAMES");
  const std::string names_joined = names_text != nullptr ? names_text : "";
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  InheritedSockets out;
  if (pid != static_cast<long long>(getpid())) return out;  // for another process, or none
  if (count < 0) {
    return rams::Error(EINVAL, std::string("socket activation: LISTEN_FDS '") +
                                   (fds_text != nullptr ? fds_text : "") + "' is not a number");
  }
  if (count == 0) return out;
  if (count > 2) {
    return rams::Error(EINVAL, "socket activation: " + std::to_string(count) +
                                   " sockets passed; ramsd takes one for the protocol and "
                                   "at most one for HTTP");
  }
  std::vector<std::string> names;
  if (names_text != nullptr) {
    for (size_t at = 0;;) {
      const size_t colon = names_joined.find(':', at);
      names.push_back(names_joined.substr(at, colon - at));
      if (colon == std::string::npos) break;
      at = colon + 1;
    }
  }
  for (int i = 0; i < count; ++i) {
    const int fd = kFirstFd + i;
    RAMS_RETURN_IF_ERROR(CheckListening(fd));
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return rams::ErrnoError("socket activation: fd");
    const bool http = names.size() == static_cast<size_t>(count) ? names[i] == "http" : i == 1;
    int& slot = http ? out.http_fd : out.listen_fd;
    if (slot >= 0) {
      return rams::Error(EINVAL, "socket activation: two sockets for " +
                                     std::string(http ? "HTTP" : "the protocol") +
                                     " (LISTEN_FDNAMES '" + names_joined + "')");
    }
    slot = fd;
  }
  if (out.listen_fd < 0) {
    return rams::Error(EINVAL, "socket activation: no socket for the protocol, only one named "
                               "http (LISTEN_FDNAMES '" + names_joined + "')");
  }
  return out;
}

}  // namespace ramsd
