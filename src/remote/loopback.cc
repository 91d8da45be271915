// SPDX-License-Identifier: MIT
// Loopback classification of a socket address, byte by byte, so that it reads
// the same with glibc's and Winsock's headers.
#include "remote/loopback.h"

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <cstdint>
#include <cstring>

namespace rams::remote_internal::net {

bool IsLoopbackAddress(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    sockaddr_in v4;
    std::memcpy(&v4, &address, sizeof(v4));
    uint8_t a[4];
    std::memcpy(a, &v4.sin_addr, sizeof(a));  // network order: a[0] is the first octet
    return a[0] == 127;
  }
  if (address.ss_family != AF_INET6) return false;
  sockaddr_in6 v6;
  std::memcpy(&v6, &address, sizeof(v6));
  uint8_t a[16];
  std::memcpy(a, &v6.sin6_addr, sizeof(a));
  static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a, kLoopback, sizeof(a)) == 0) return true;
  return std::memcmp(a, kV4MappedPrefix, sizeof(kV4MappedPrefix)) == 0 && a[12] == 127;
}

}  // namespace rams::remote_internal::net
