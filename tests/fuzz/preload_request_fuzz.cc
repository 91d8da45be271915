// SPDX-License-Identifier: MIT
// Fuzzes fss run's check of a preload-channel message (preload_wire.h), the
// supervisor's only reading of bytes a program sends on that socket: the
// input is the message, received into a request's worth of private memory
// as ServePeer does (a longer one is cut, its length still reported). What
// the check accepts must be exactly one request of a served call.
#include <sys/syscall.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "preload_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fss_preload_request q{};
  std::memcpy(&q, data, size < sizeof(q) ? size : sizeof(q));
  const bool ok = fss_preload_request_ok(&q, static_cast<long>(size)) != 0;
  uint32_t magic = 0;
  int32_t nr = 0;
  if (size >= sizeof(q)) {
    std::memcpy(&magic, data + offsetof(fss_preload_request, magic), sizeof(magic));
    std::memcpy(&nr, data + offsetof(fss_preload_request, nr), sizeof(nr));
  }
  const bool served = nr == SYS_openat || nr == SYS_unlinkat || nr == SYS_utimensat;
  const bool expected = size == sizeof(q) && magic == FSS_PRELOAD_MAGIC && served;
  if (ok != expected) abort();
  return 0;
}
