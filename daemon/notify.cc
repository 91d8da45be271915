// SPDX-License-Identifier: MIT
#include "notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sys/sys.h"

namespace ramsd {

rams::Status NotifyServiceManager(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') return rams::Status::Ok();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t len = std::strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path)) {
    return rams::Error(EINVAL, std::string("NOTIFY_SOCKET '") + path + "': want /PATH or @NAME");
  }
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  rams::sys::UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return rams::ErrnoError("socket for NOTIFY_SOCKET");
  const ssize_t n = rams::sys::RetryEintr([&] {
    return sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                  reinterpret_cast<const sockaddr*>(&addr), addr_len);
  });
  if (n < 0) return rams::ErrnoError(std::string("notify ") + path);
  return rams::Status::Ok();
}

}  // namespace ramsd
