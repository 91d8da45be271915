/* SPDX-License-Identifier: MIT */
// The one way librams' kernel backend calls ioctl(2) on /dev/rams.
//
// Thread safety: stateless.
#pragma once

#include <sys/ioctl.h>

#include "sys/sys.h"

namespace rams::kernel {

// ioctl, retried on EINTR; -1 with errno on failure.
inline int Ioctl(int fd, unsigned long cmd, void* arg) {
  return sys::RetryEintr([&] { return ioctl(fd, cmd, arg); });
}

}  // namespace rams::kernel
