// The one way librams' kernel backend calls ioctl(2) on /dev/rams.
//
// Thread safety: stateless.
#pragma once

#include <sys/ioctl.h>

#include <cerrno>

namespace rams::kernel {

// ioctl, retried on EINTR; -1 with errno on failure.
inline int Ioctl(int fd, unsigned long cmd, void* arg) {
  int r;
  do {
    r = ioctl(fd, cmd, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

}  // namespace rams::kernel
