// SPDX-License-Identifier: MIT
#include "futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

namespace rams::internal {

int FutexWait(const std::atomic<uint32_t>* word, uint32_t expected, Timeout timeout) {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout) {
    int64_t ns = timeout->count() < 0 ? 0 : timeout->count();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  long rc = syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word), FUTEX_WAIT, expected, tsp,
                    nullptr, 0);
  if (rc == 0) return 0;
  return errno == EWOULDBLOCK ? EAGAIN : errno;
}

uint32_t FutexWake(const std::atomic<uint32_t>* word, uint32_t count) {
  int n = count > INT_MAX ? INT_MAX : static_cast<int>(count);
  long rc = syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word), FUTEX_WAKE, n, nullptr,
                    nullptr, 0);
  return rc < 0 ? 0 : static_cast<uint32_t>(rc);
}

}  // namespace rams::internal
